#!/usr/bin/env bash
# What the exposure log costs /v1/recommend, measured with two servers in
# turn (docs/benchmarks.md): the synthetic catalog of
# bench/exposure_cost.sh (10k items, 1M events, 20k users, no fitted
# models), two copies of it, one served with `server.exposure_log` on and
# one with it off, both running at once. `bench http-recommend
# --alternate WINDOW` sends all the load to one, then to the other, WINDOW
# seconds each, so a spell of the machine's noise falls on both alike
# instead of on whichever run it came in; it reports each server's
# latencies, and the p99 of the server with the log over the one without,
# with a 90 % bootstrap interval over cycles of turns (the turns go 1 2 2
# 1 1 2 …, so neither server always goes first). ROUNDS times, both
# servers are started afresh, in turn first (a process's own luck — its
# memory layout, where its threads land — is part of what varies), warmed
# 3 s each, then
# run SECONDS in a closed loop on 4 connections and SECONDS at each of
# RATES requests a second (16 connections; latency counted from when a
# request was due). BIN is the build measured (default: a release build of
# this checkout). SECOND=false runs the second server without the log too:
# an A/A run, which shows what the method reads when there is no
# difference. Bounded: every request goes to a server this script
# starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN:-}" ] || cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin=${BIN:-"${CARGO_TARGET_DIR:-target}/release/sommelier"}
rounds=${ROUNDS:-4} rates=${RATES:-1000 2000} seconds=${SECONDS_EACH:-120} window=${WINDOW:-2}
off_port=18217 on_port=18218 second=${SECOND:-true}
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD); $rounds rounds, $seconds s a load, $window s a turn"
w=$(mktemp -d "${DATA_ROOT:-/var/tmp}/exposure-in-turn.XXXX")
trap 'pkill -f "$w/" 2>/dev/null || true; rm -rf "$w"' EXIT
"$bin" --data-dir "$w/off" bench gen-catalog --items 10000 --events 1000000 --users 20000 --clusters 100 >/dev/null
start() { # start ON PORT DATA
  SOMMELIER__SERVER__EXPOSURE_LOG=$1 SOMMELIER__AUTH__ENABLED=false SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$bin" --data-dir "$3" serve --addr "127.0.0.1:$2" >/dev/null 2>&1 &
  until curl -sf -H 'content-type: application/json' -d '{"user_id":"u1","k":10}' \
      "http://127.0.0.1:$2/v1/recommend" >/dev/null; do sleep 0.2; done
}
load() { "$bin" bench http-recommend --users 20000 "$@"; }
# The first start builds and saves the graph; then the copy with the log.
start false $off_port "$w/off"
pkill -TERM -f "$w/off"; while pgrep -f "$w/off" >/dev/null; do sleep 0.2; done
cp -r "$w/off" "$w/on"
urls="http://127.0.0.1:$off_port,http://127.0.0.1:$on_port"
for r in $(seq 1 "$rounds"); do
  echo "round $r (server 1: exposure_log=false, server 2: exposure_log=$second)"
  if [ $((r % 2)) = 1 ]; then
    start false $off_port "$w/off"; start "$second" $on_port "$w/on"
  else
    start "$second" $on_port "$w/on"; start false $off_port "$w/off"
  fi
  for p in $off_port $on_port; do
    load --url "http://127.0.0.1:$p" --connections 4 --seconds 3 >/dev/null
  done
  load --url "$urls" --alternate "$window" --connections 4 --seconds "$seconds"
  for rate in $rates; do
    load --url "$urls" --alternate "$window" --connections 16 --rate "$rate" --seconds "$seconds"
  done
  pkill -TERM -f "$w/" || true
  while pgrep -f "$w/" >/dev/null; do sleep 0.2; done
done
echo "exposures logged: $(sqlite3 "$w/on/sommelier.exposures.db" 'SELECT COUNT(*) FROM exposures' 2>/dev/null || echo '(sqlite3 not installed)')"

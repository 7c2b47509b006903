#!/usr/bin/env bash
# What the exposure log costs /v1/recommend (docs/benchmarks.md): one
# synthetic catalog (10k items, 1M events, 20k users, no fitted models: the
# cheapest requests, where a fixed cost weighs most), served with
# `server.exposure_log` on and off, alternated ROUNDS times (on, off, off,
# on). Each server gets 3 s of warm-up, then 15 s of closed-loop load on 4
# connections (both cores saturated), then 15 s of open-loop load at each
# of RATES requests a second (16 connections; latency counted from when a
# request was due). BINS="a b" alternates several builds of the binary in
# each round: every step of on, off, off, on is run by each build in turn,
# so that a quiet or noisy spell of the machine falls on all of them; on
# the same catalog (each build on a copy of its own, so that one build's
# log never carries into another's file); the load generator is always the
# first. DATA_ROOT (default
# /var/tmp) is where the data folders go: /dev/shm takes the disk out.
# Bounded: every request goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BINS:-}" ] || cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bins=${BINS:-"${CARGO_TARGET_DIR:-target}/release/sommelier"}
client=${bins%% *}
rounds=${ROUNDS:-3} rates=${RATES:-1000 2000} port=18215
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD)"
w=$(mktemp -d "${DATA_ROOT:-/var/tmp}/exposure-cost.XXXX")
trap 'pkill -f "$w/data" 2>/dev/null || true; rm -rf "$w"' EXIT
"$client" --data-dir "$w/data" bench gen-catalog --items 10000 --events 1000000 --users 20000 --clusters 100 >/dev/null
run() {
  local bin=${2:-$client} data=${3:-$w/data}
  SOMMELIER__SERVER__EXPOSURE_LOG=$1 SOMMELIER__AUTH__ENABLED=false SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$bin" --data-dir "$data" serve --addr 127.0.0.1:$port >/dev/null 2>&1 &
  local pid=$!
  until curl -sf -H 'content-type: application/json' -d '{"user_id":"u1","k":10}' \
      "http://127.0.0.1:$port/v1/recommend" >/dev/null; do sleep 0.2; done
  "$client" bench http-recommend --url "http://127.0.0.1:$port" --users 20000 --connections 4 --seconds 3 >/dev/null
  label=$1; [ "$bins" = "$bin" ] || label="$1 $(basename "$bin")"
  printf "exposure_log=%-5s " "$label"
  "$client" bench http-recommend --url "http://127.0.0.1:$port" --users 20000 --connections 4 --seconds 15 | tail -1
  for rate in $rates; do
    printf "exposure_log=%-5s " "$label"
    "$client" bench http-recommend --url "http://127.0.0.1:$port" --users 20000 --connections 16 --rate "$rate" --seconds 15 | tail -1
  done
  kill -TERM $pid; wait $pid || true
}
run true # the first start builds and saves the graph
rm -f "$w"/data/sommelier.exposures.db*
i=0; for b in $bins; do i=$((i + 1)); cp -r "$w/data" "$w/data-$i"; done
for r in $(seq 1 "$rounds"); do
  for on in true false false true; do
    i=0
    for b in $bins; do
      i=$((i + 1)); run "$on" "$b" "$w/data-$i"
    done
  done
done
i=0; for b in $bins; do
  i=$((i + 1))
  echo "exposures logged by $(basename "$b"): $(sqlite3 "$w/data-$i/sommelier.exposures.db" 'SELECT COUNT(*) || " rows, " || CAST(AVG(LENGTH(body)) AS INT) || " bytes of body stored on average" FROM exposures' 2>/dev/null || echo '(sqlite3 not installed)')"
done

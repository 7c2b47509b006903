#!/usr/bin/env bash
# Where the exposure log's CPU goes (docs/benchmarks.md, "Both servers in
# turn"): the synthetic catalog of bench/exposure_cost.sh in memory
# (/dev/shm), one server with the log on, 4 connections of closed-loop load,
# and `perf record -g` of the server for 15 s of it; then the share of each
# thread and the writer's own symbols. BIN is the build profiled (default: a
# release build of this checkout). Needs `perf`. Bounded: every request
# goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN:-}" ] || cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin=${BIN:-"${CARGO_TARGET_DIR:-target}/release/sommelier"}
port=18219
w=$(mktemp -d /dev/shm/exposure-profile.XXXX)
trap 'pkill -f "$w/" 2>/dev/null || true; rm -rf "$w"' EXIT
"$bin" --data-dir "$w/data" bench gen-catalog --items 10000 --events 1000000 --users 20000 --clusters 100 >/dev/null
SOMMELIER__SERVER__EXPOSURE_LOG=true SOMMELIER__AUTH__ENABLED=false SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
  "$bin" --data-dir "$w/data" serve --addr 127.0.0.1:$port >/dev/null 2>&1 &
pid=$!
until curl -sf -H 'content-type: application/json' -d '{"user_id":"u1","k":10}' \
    "http://127.0.0.1:$port/v1/recommend" >/dev/null; do sleep 0.2; done
"$bin" bench http-recommend --url "http://127.0.0.1:$port" --users 20000 --connections 4 --seconds 3 >/dev/null
"$bin" bench http-recommend --url "http://127.0.0.1:$port" --users 20000 --connections 4 --seconds 17 >"$w/load.txt" &
load=$!
sleep 1
perf record -F 999 -g -p $pid -o "$w/perf.data" -- sleep 15 2>/dev/null
wait $load
tail -1 "$w/load.txt"
kill -TERM $pid; wait $pid || true
report() { perf report -i "$w/perf.data" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep -v '^$'; }
echo "== share of the server's samples, by thread"
report --no-children --sort comm
echo "== the writer's samples, by symbol (self)"
report --no-children --comm exposure-log --sort dso,sym | head -40
echo "== the request's side of the log (with what it calls)"
report --children --sort sym | grep -E 'log_recommendation|queue_exposure|new_request_id' || true

#!/usr/bin/env bash
# Restart time, memory and store counts at scale, for docs/benchmarks.md.
# A synthetic catalog (ITEMS items with 384-d vectors, EVENTS events, USERS
# users) is written once; the server is then started alternately with the
# online features rebuilt from the whole log (`features_save_secs = 0`, as
# before they were saved) and loaded from their last save, ROUNDS times each.
# Per start: seconds to /healthz (the features are ready before the port
# answers), seconds to the first /v1/recommend answered (the catalog
# snapshot and its vector graph are ready), and RSS after that answer. Then
# GET /v1/stats from the kept counters against `sommelier stats --check`,
# which counts the rows the way /v1/stats did before (full scans).
# DATA=folder reuses a folder an earlier run prepared (kept afterwards).
# Bounded: every request goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="${CARGO_TARGET_DIR:-target}/release/sommelier"
items=${ITEMS:-1000000} events=${EVENTS:-10000000} users=${USERS:-200000} rounds=${ROUNDS:-3}
work=$(mktemp -d /var/tmp/sommelier-restart.XXXX)
data=${DATA:-$work/data}
port=18099
trap 'pkill -f "$data serve" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB; commit $(git rev-parse --short HEAD)"
since() { echo "$(date +%s.%N) - $1" | bc; }
if [ -z "${DATA:-}" ]; then
  t0=$(date +%s.%N)
  "$bin" --data-dir "$data" bench gen-catalog --items "$items" --events "$events" --users "$users" --clusters 200 >/dev/null
  echo "generated $items items, $events events, $users users in $(since "$t0") s"
fi
key=$("$bin" --data-dir "$data" keys create --name bench --scopes all --rate 1000000 2>/dev/null)

start() { # mode: rebuild | saved
  local save=60
  [ "$1" = rebuild ] && save=0
  SOMMELIER__SERVER__FEATURES_SAVE_SECS=$save SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$bin" --data-dir "$data" serve --addr 127.0.0.1:$port >"$work/serve.log" 2>&1 &
  pid=$!
  local t=$(date +%s.%N)
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done
  health=$(since "$t")
  until curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' \
      -d '{"user_id":"u1","k":10}' "http://127.0.0.1:$port/v1/recommend" >/dev/null; do sleep 0.1; done
  first=$(since "$t")
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }

# A first start builds the vector graph and saves it, and saves the features.
if [ -z "${DATA:-}" ]; then
  start saved
  echo "first start (graph built): healthz ${health} s, first recommend ${first} s, RSS ${rss} MiB"
  stop
fi
for round in $(seq 1 "$rounds"); do
  for mode in rebuild saved; do
    start "$mode"
    line=$(grep -m1 'online features ready' "$work/serve.log" | sed 's/.*online features ready //' || true)
    echo "round $round $mode: healthz ${health} s, first recommend ${first} s, RSS ${rss} MiB | $line"
    if [ "$round" = 1 ] && [ "$mode" = saved ]; then
      for i in 1 2 3; do
        curl -s -o /dev/null -w "  GET /v1/stats (kept counters): %{time_total} s\n" \
          -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/stats"
      done
    fi
    stop
  done
done
grep -m1 'online features saved' "$work/serve.log" | sed 's/.*INFO //' || true
du -h "$data/features/online.bin" | awk '{print "saved features: " $1}'
for i in 1 2; do
  "$bin" --data-dir "$data" stats --check 2>&1 >/dev/null | grep 'counted the rows' | sed 's/^/  rows counted as before: /'
done

#!/usr/bin/env bash
# What authentication costs `/v1/recommend` (docs/benchmarks.md): one
# synthetic catalog, then servers with auth on (a key, no rate limit to speak
# of) and off, alternated ROUNDS times, each measured with the same load.
# Bounded: every request goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="${CARGO_TARGET_DIR:-target}/release/sommelier"
work=$(mktemp -d /var/tmp/sommelier-auth.XXXX)
trap 'pkill -f "$work/data serve" 2>/dev/null || true; rm -rf "$work"' EXIT
items=${ITEMS:-10000} events=${EVENTS:-1000000} users=${USERS:-20000}
rounds=${ROUNDS:-6} seconds=${SECONDS_EACH:-15} conns=${CONNECTIONS:-4}
"$bin" --data-dir "$work/data" bench gen-catalog --items "$items" --events "$events" --users "$users" --clusters 100 >/dev/null
SOMMELIER__MODELS__SASREC__MAX_SECONDS=60 "$bin" --data-dir "$work/data" fit >/dev/null
key=$("$bin" --data-dir "$work/data" keys create --name bench --scopes read --rate 1000000 2>/dev/null)
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD); $items items, $events events, $users users, $conns connections, ${seconds} s per run"
run() { # on|off
  local enabled=true
  [ "$1" = off ] && enabled=false
  SOMMELIER__AUTH__ENABLED=$enabled SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$bin" --data-dir "$work/data" serve --addr 127.0.0.1:18211 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18211/healthz >/dev/null && break; sleep 0.2; done
  # A warm-up run (index, features, models loaded), then the measured one.
  SOMMELIER_API_KEY=$key "$bin" bench http-recommend --url http://127.0.0.1:18211 --users "$users" --connections "$conns" --seconds 3 >/dev/null
  printf "auth %-3s " "$1"
  SOMMELIER_API_KEY=$key "$bin" bench http-recommend --url http://127.0.0.1:18211 --users "$users" --connections "$conns" --seconds "$seconds" | tail -1
  kill -TERM $pid; wait $pid || true
}
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then run on; run off; else run off; run on; fi
done

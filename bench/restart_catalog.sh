#!/usr/bin/env bash
# Restarts with the catalog snapshot saved, side by side with an older
# build, for docs/benchmarks.md. DATA: a folder bench/restart.sh prepared
# (1M items, 10M events, a saved graph); BEFORE: an older release binary.
# The folder is copied once for this build (which migrates the store), a
# first start here writes the catalog save, then starts alternate ROUNDS
# times: seconds to /healthz, to the first /v1/recommend, RSS after it, and
# the load's own log line. Then six single-item upserts on each build.
# Bounded: every request goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?DATA=folder prepared by bench/restart.sh}" "${BEFORE:?BEFORE=older release binary}"
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="${CARGO_TARGET_DIR:-target}/release/sommelier"
rounds=${ROUNDS:-3} port=18099
work=$(mktemp -d /var/tmp/sommelier-restart-catalog.XXXX)
trap 'pkill -f "$work/data serve" 2>/dev/null || true; rm -rf "$work"' EXIT
# One key in both copies: made in DATA before the copy.
key=$("$BEFORE" --data-dir "$DATA" keys create --name bench-catalog --scopes all --rate 1000000 2>/dev/null)
cp -a "$DATA" "$work/data"
echo "machine: $(nproc) cores; commit $(git rev-parse --short HEAD) against $BEFORE"
since() { echo "$(date +%s.%N) - $1" | bc; }
start() { # binary folder [seconds to hold]
  SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 "$1" --data-dir "$2" serve --addr 127.0.0.1:$port >"$work/serve.log" 2>&1 &
  pid=$!
  local t=$(date +%s.%N)
  until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done
  health=$(since "$t")
  until curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' \
      -d '{"user_id":"u1","k":10}' "http://127.0.0.1:$port/v1/recommend" >/dev/null; do sleep 0.05; done
  first=$(since "$t")
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
  sleep "${3:-0}"
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }
upserts() {
  for i in 1 2 3 4 5 6; do
    curl -s -o /dev/null -w "%{time_total} " -H "Authorization: Bearer $key" -H 'content-type: application/json' \
      -d "[{\"id\":\"upsert-$1-$i-$RANDOM\",\"kind\":\"movie\",\"title\":\"Harbour lantern $i\",\"categories\":[\"Comedy\"]}]" \
      "http://127.0.0.1:$port/v1/items"
    sleep 0.5
  done
  echo
}
start "$bin" "$work/data" 30 # the first save is written on its own task
echo "first start (catalog read from the store, then saved): first recommend ${first} s"
grep -m1 'catalog snapshot saved' "$work/serve.log" | sed 's/.*INFO //' || true
stop
for round in $(seq 1 "$rounds"); do
  start "$BEFORE" "$DATA"
  echo "round $round before: healthz ${health} s, first recommend ${first} s, RSS ${rss} MiB"
  stop
  start "$bin" "$work/data"
  echo "round $round this build: healthz ${health} s, first recommend ${first} s, RSS ${rss} MiB"
  grep -m1 'catalog snapshot loaded' "$work/serve.log" | sed 's/.*INFO //' || true
  stop
done
start "$BEFORE" "$DATA"; echo -n "single-item upserts, before (s): "; upserts before; stop
start "$bin" "$work/data"; echo -n "single-item upserts, this build (s): "; upserts after; stop

#!/usr/bin/env bash
# Server memory with an `i8` vector graph, this build against another
# (BEFORE=path of its `sommelier` binary), for docs/benchmarks.md. DATA is a
# folder `bench/restart.sh` prepared (1M items / 10M events by default); a
# first start with `vectors.quantization = "i8"` builds and saves the `i8`
# graph, then the two binaries start alternately ROUNDS times each, loading
# it; per start: RSS after the first /v1/recommend answered, and its time.
# Bounded: every request goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?DATA=folder prepared by bench/restart.sh}" "${BEFORE:?BEFORE=path of the other sommelier binary}"
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
after="${CARGO_TARGET_DIR:-target}/release/sommelier"
rounds=${ROUNDS:-2} port=18097
trap 'pkill -f "$DATA serve" 2>/dev/null || true' EXIT
echo "machine: $(nproc) cores; this build $(git rev-parse --short HEAD); before: $BEFORE"
key=$("$after" --data-dir "$DATA" keys create --name vectors --scopes all --rate 1000000 2>/dev/null)
run() { # binary label
  local t=$(date +%s.%N)
  SOMMELIER__VECTORS__QUANTIZATION=i8 SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$1" --data-dir "$DATA" serve --addr 127.0.0.1:$port >/tmp/vector-copies.log 2>&1 &
  local pid=$!
  until curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' \
      -d '{"user_id":"u1","k":10}' "http://127.0.0.1:$port/v1/recommend" >/dev/null; do sleep 0.2; done
  echo "$2: first recommend $(echo "$(date +%s.%N) - $t" | bc) s, RSS $(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status) MiB, storage $(curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/admin/dashboard" | python3 -c 'import json,sys; print(json.load(sys.stdin)["index"]["storage"])')"
  # A graph built at this start is saved in the background: wait for it.
  if grep -q "vector index built" /tmp/vector-copies.log && ! grep -q "loaded from its last save" /tmp/vector-copies.log; then
    until grep -q "vector index saved" /tmp/vector-copies.log; do sleep 1; done
  fi
  kill -TERM "$pid"; wait "$pid" || true
}
run "$after" "first start (i8 graph built and saved)"
for r in $(seq 1 "$rounds"); do
  run "$BEFORE" "round $r before"
  run "$after" "round $r this build"
done

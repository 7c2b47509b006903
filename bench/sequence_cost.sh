#!/usr/bin/env bash
# What the sequence model costs /v1/recommend (docs/benchmarks.md): one
# synthetic catalog fitted twice, with `models.sequential_model = "sasrec"`
# (the default) and `"transitions"`, then servers of each alternated three
# times. Bounded: every request goes to a server this script starts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="${CARGO_TARGET_DIR:-target}/release/sommelier"
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD)"
w=$(mktemp -d /var/tmp/seq.XXXX)
trap 'pkill -f "$w/" 2>/dev/null || true; rm -rf "$w"' EXIT
"$bin" --data-dir "$w/sasrec" bench gen-catalog --items 10000 --events 1000000 --users 20000 --clusters 100 >/dev/null
cp -r "$w/sasrec" "$w/transitions"
SOMMELIER__MODELS__SASREC__MAX_SECONDS=60 "$bin" --data-dir "$w/sasrec" fit >/dev/null
SOMMELIER__MODELS__SEQUENTIAL_MODEL=transitions "$bin" --data-dir "$w/transitions" fit >/dev/null
run() {
  local v=$1
  SOMMELIER__MODELS__SEQUENTIAL_MODEL=$v SOMMELIER__AUTH__ENABLED=false SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$bin" --data-dir "$w/$v" serve --addr 127.0.0.1:18213 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18213/healthz >/dev/null && break; sleep 0.2; done
  "$bin" bench http-recommend --url http://127.0.0.1:18213 --users 20000 --connections 4 --seconds 3 >/dev/null
  printf "%-11s " "$v"; "$bin" bench http-recommend --url http://127.0.0.1:18213 --users 20000 --connections 4 --seconds 15 | tail -1
  kill -TERM $pid; wait $pid || true
}
for r in 1 2 3; do run sasrec; run transitions; run transitions; run sasrec; done

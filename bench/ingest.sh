#!/usr/bin/env bash
# Ingest benchmarks for docs/benchmarks.md: bulk file import of 1M synthetic
# events (JSONL and CSV) and HTTP batch ingest, on this machine. Bounded: every
# request goes to a server this script starts on loopback, and it stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="${CARGO_TARGET_DIR:-target}/release/sommelier"
work=$(mktemp -d /var/tmp/sommelier-bench.XXXX)
trap 'pkill -f "$work/http serve" 2>/dev/null || true; rm -rf "$work"' EXIT
n=${EVENTS:-1000000}
"$bin" bench gen-events --events "$n" --out "$work/events.jsonl" >/dev/null
"$bin" bench gen-events --events "$n" --out "$work/events.csv" >/dev/null
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for fmt in jsonl csv; do
  for run in 1 2 3; do
    rm -rf "$work/file"
    /usr/bin/time -f "  command wall %e s, peak RSS %M KiB" \
      "$bin" --data-dir "$work/file" ingest events "$work/events.$fmt" --no-progress 2>&1 | sed "s|$work/||"
  done
done
rm -rf "$work/file"
for batch in 1000 100; do
  rm -rf "$work/http"
  # Authentication is on: a key made with the CLI, with no rate limit to speak of.
  SOMMELIER_API_KEY=$("$bin" --data-dir "$work/http" keys create --name bench --scopes all --rate 1000000 2>/dev/null)
  export SOMMELIER_API_KEY
  "$bin" --data-dir "$work/http" serve --addr 127.0.0.1:18097 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18097/healthz >/dev/null && break; sleep 0.2; done
  "$bin" bench http-ingest --url http://127.0.0.1:18097 --file "$work/events.jsonl" --batch "$batch" --connections 2
  echo "  server peak RSS $(grep VmHWM /proc/$pid/status | awk '{print $2}') KiB"
  kill -TERM $pid; wait $pid || true
done

#!/usr/bin/env bash
# What the exposure log's writer thread costs per row (docs/benchmarks.md):
# one synthetic catalog (10k items, 1M events, 20k users, no fitted models),
# each build of BINS on a copy of its own, served with the log on and
# loaded at RATE requests a second for 15 s (16 connections, open loop);
# the CPU time of the `exposure-log` thread and of the whole server, from
# /proc, divided by the requests served. Builds alternate, ROUNDS times.
# Bounded: every request goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BINS:-}" ] || cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bins=${BINS:-"${CARGO_TARGET_DIR:-target}/release/sommelier"}
client=${bins%% *}
rounds=${ROUNDS:-3} rate=${RATE:-1000} port=18216
tick=$(getconf CLK_TCK)
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD)"
w=$(mktemp -d /var/tmp/exposure-writer.XXXX)
trap 'pkill -f "$w/data" 2>/dev/null || true; rm -rf "$w"' EXIT
"$client" --data-dir "$w/data" bench gen-catalog --items 10000 --events 1000000 --users 20000 --clusters 100 >/dev/null
cpu() { awk '{print $14 + $15}' "$1/stat"; } # user + system, in clock ticks
serve() {
  SOMMELIER__SERVER__EXPOSURE_LOG=true SOMMELIER__AUTH__ENABLED=false SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$1" --data-dir "$2" serve --addr 127.0.0.1:$port >/dev/null 2>&1 &
  pid=$!
  until curl -sf -H 'content-type: application/json' -d '{"user_id":"u1","k":10}' \
      "http://127.0.0.1:$port/v1/recommend" >/dev/null; do sleep 0.2; done
}
serve "$client" "$w/data" # the first start builds and saves the graph
kill -TERM $pid; wait $pid || true
rm -f "$w"/data/sommelier.exposures.db*
i=0; for b in $bins; do i=$((i + 1)); cp -r "$w/data" "$w/data-$i"; done
for r in $(seq 1 "$rounds"); do
  i=0
  for b in $bins; do
    i=$((i + 1))
    serve "$b" "$w/data-$i"
    "$client" bench http-recommend --url "http://127.0.0.1:$port" --users 20000 --connections 4 --seconds 3 >/dev/null
    writer=""
    for t in /proc/$pid/task/*; do [ "$(cat "$t/comm")" = exposure-log ] && writer=$t; done
    s0=$(cpu /proc/$pid) w0=$(cpu "$writer")
    out=$("$client" bench http-recommend --url "http://127.0.0.1:$port" --users 20000 --connections 16 --rate "$rate" --seconds 15 | tail -1)
    s1=$(cpu /proc/$pid) w1=$(cpu "$writer")
    n=$(echo "$out" | awk '{print $1}')
    p99=$(echo "$out" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
    awk -v b="$(basename "$b")" -v n="$n" -v w=$((w1 - w0)) -v s=$((s1 - s0)) -v t="$tick" -v p="$p99" -v r="$r" \
      'BEGIN { printf "round %d %-20s %6d requests: writer %5.1f us per row, server %5.0f us per request, p99 %s ms\n", r, b, n, w / t * 1e6 / n, s / t * 1e6 / n, p }'
    kill -TERM $pid; wait $pid || true
  done
done

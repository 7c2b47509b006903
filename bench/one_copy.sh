#!/usr/bin/env bash
# One copy of the item vectors (the index's), side by side with an older
# build whose snapshot kept its own (docs/benchmarks.md). DATA: a folder
# the older build served once (bench/restart.sh, 1M items); BEFORE: that
# build's release binary. The folder is copied once for this build, whose
# first start migrates it and writes its saves; then starts alternate
# ROUNDS times: RSS after the first /v1/recommend, the top 10 of 200 users
# (before any load: exposure caps count what was served), then closed-loop
# load (4 connections, 20 s after 5 s of warm-up) and RSS after it. At the
# end, how many of each build's answers the other shares.
# Bounded: every request goes to a server this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?DATA=folder served once by BEFORE}" "${BEFORE:?BEFORE=older release binary}"
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="${CARGO_TARGET_DIR:-target}/release/sommelier"
rounds=${ROUNDS:-3} port=18101 users=${USERS:-200000}
work=$(mktemp -d /var/tmp/sommelier-one-copy.XXXX)
trap 'pkill -f "serve --addr 127.0.0.1:$port" 2>/dev/null || true; rm -rf "$work"' EXIT
cp -a "$DATA" "$work/data"
echo "machine: $(nproc) cores; commit $(git rev-parse --short HEAD) against $BEFORE"
url=http://127.0.0.1:$port
ask() { curl -sf -H 'content-type: application/json' -d "{\"user_id\":\"$1\",\"k\":10}" "$url/v1/recommend"; }
serve() { # binary folder
  SOMMELIER__AUTH__ENABLED=false SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 \
    "$1" --data-dir "$2" serve --addr 127.0.0.1:$port >"$work/serve.log" 2>&1 &
  pid=$!
  until ask u1 >/dev/null; do sleep 0.1; done
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
measure() { # label binary folder round
  serve "$2" "$3"
  local first; first=$(rss)
  for u in $(seq 0 1000 199000); do
    ask "u$u" | python3 -c 'import json,sys; print(" ".join(i["item"] for i in json.load(sys.stdin)["items"]))'
  done >"$work/$1.$4.answers"
  "$bin" bench http-recommend --url "$url" --users "$users" --connections 4 --seconds 5 >/dev/null
  local load; load=$("$bin" bench http-recommend --url "$url" --users "$users" --connections 4 --seconds 20 | tail -1)
  echo "round $4 $1: RSS ${first} MiB after the first request, $(rss) MiB after the load; $load"
  stop
}
serve "$bin" "$work/data"; sleep 30; stop # the first start's saves are written
for round in $(seq 1 "$rounds"); do
  measure before "$BEFORE" "$DATA" "$round"
  measure this "$bin" "$work/data" "$round"
done
python3 - "$work" "$rounds" <<'PY'
import sys
work, rounds = sys.argv[1], int(sys.argv[2])
def lists(label, r):
    return [set(l.split()) for l in open(f"{work}/{label}.{r}.answers")]
def shared(a, b):
    return sum(len(x & y) for x, y in zip(a, b)) / max(1, sum(len(x) for x in a))
for r in range(1, rounds + 1):
    print(f"round {r}: top-10 shared, this build vs before {shared(lists('this', r), lists('before', r)):.3f}; "
          f"before vs its round 1 {shared(lists('before', r), lists('before', 1)):.3f}")
PY

#!/usr/bin/env bash
# The sequence model's request stage (`timings_ms.sequence_model` of
# /v1/recommend), this build against another (BEFORE=its sommelier binary),
# for docs/benchmarks.md: a synthetic catalog (ITEMS items, 300k events), a
# short fit (the stage's cost does not depend on the epochs), then each
# binary serves alternately ROUNDS times and one client asks for USERS
# users once each, sequentially. Bounded: loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BEFORE:?BEFORE=path of the other sommelier binary}"
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
after="${CARGO_TARGET_DIR:-target}/release/sommelier"
items=${ITEMS:-10000} users=${USERS:-2000} rounds=${ROUNDS:-2} port=18096
work=$(mktemp -d /var/tmp/sommelier-seq.XXXX)
trap 'pkill -f "$work/data serve" 2>/dev/null || true; rm -rf "$work"' EXIT
"$after" --data-dir "$work/data" bench gen-catalog --items "$items" --events 300000 --users 5000 --clusters 100 --dim 32 >/dev/null
SOMMELIER__MODELS__SASREC__MAX_SECONDS=60 "$after" --data-dir "$work/data" fit >/dev/null
key=$("$after" --data-dir "$work/data" keys create --name seq --scopes all --rate 1000000 2>/dev/null)
echo "machine: $(nproc) cores; this build $(git rev-parse --short HEAD); before: $BEFORE; $items items, $users requests per run"
run() { # binary label
  SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0 "$1" --data-dir "$work/data" serve --addr 127.0.0.1:$port >/dev/null 2>&1 &
  local pid=$!
  until curl -sf http://127.0.0.1:$port/healthz >/dev/null; do sleep 0.1; done
  KEY=$key PORT=$port USERS=$users LABEL=$2 python3 - <<'PY'
import http.client, json, os, statistics
conn = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT"]), timeout=60)
h = {"content-type": "application/json", "authorization": "Bearer " + os.environ["KEY"]}
stage, total = [], []
for u in range(int(os.environ["USERS"]) + 50):
    conn.request("POST", "/v1/recommend", json.dumps({"user_id": f"u{u % 5000}", "k": 10}), h)
    r = json.loads(conn.getresponse().read())
    if u < 50:
        continue  # warm-up: snapshot, features, models
    t = r["timings_ms"]
    if "sequence_model" in t:
        stage.append(t["sequence_model"])
    total.append(t["total"])
q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
print(f"{os.environ['LABEL']}: sequence_model median {statistics.median(stage):.3f} ms, p95 {q(stage, .95):.3f}, p99 {q(stage, .99):.3f} ({len(stage)} requests); whole request median {statistics.median(total):.2f} ms, p99 {q(total, .99):.2f}")
PY
  kill -TERM "$pid"; wait "$pid" || true
}
for r in $(seq 1 "$rounds"); do
  run "$BEFORE" "round $r before"
  run "$after" "round $r this build"
done

#!/usr/bin/env bash
# Measures the LLM stage of chat turns (docs/llm.md, "Measured"): serves
# DATA_DIR with BIN, sends each line of chat_requests.txt as the first turn
# of its own session to POST /v1/chat, and prints the share of turns whose
# items include a model-written sentence that passed the gate, the share
# whose order the model changed, the re-rank stage's latency and the turn's
# (p50, p95), the fallbacks, and the load average before and after.
#   BIN=target/release/sommelier DATA_DIR=/tmp/chatbench crates/llm/tests/measure/chat.sh [out.jsonl]
# DATA_DIR holds ml-latest-small after `sommelier demo --no-serve` and `sommelier fit`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${BIN:-target/release/sommelier}"
data="${DATA_DIR:?set DATA_DIR}"
addr="${ADDR:-127.0.0.1:18088}"
out="${1:-$(mktemp)}"
"$bin" --data-dir "$data" --log warn serve --addr "$addr" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 1 120); do curl -sf "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 1; done
# One turn first, not counted: the model's content-free calibration and the
# system message's keys are computed once per process.
curl -sf -X POST "http://$addr/v1/chat" -H 'content-type: application/json' \
  -d '{"message":"a good film"}' >/dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$out"
while IFS= read -r line; do
  [ -z "$line" ] && continue
  start=$(date +%s%N)
  body=$(jq -cn --arg m "$line" '{message: $m}')
  r=$(curl -sf -X POST "http://$addr/v1/chat" -H 'content-type: application/json' -d "$body")
  wall=$(( ($(date +%s%N) - start) / 1000000 ))
  jq -c --arg m "$line" --argjson wall "$wall" '{message: $m, wall_ms: $wall,
      llm_sentence: ([.items[] | select(.why_source == "llm")] | length > 0),
      order_changed: (.llm.rerank.order_changed // false),
      fallback: (.fallback // null), rerank_ms: (.llm.rerank.ms // null),
      intent_ms: (.llm.intent.ms // null), turn_ms: (.timings_ms.total // null),
      whys: [.items[] | select(.why_source == "llm") | .why], follow_ups: .follow_ups}' <<<"$r" >>"$out"
done <"$here/chat_requests.txt"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
jq -rs '
  def q(p): sort | .[((length * p) | ceil) - 1];
  "turns \(length)",
  "model sentence shown (passed the gate) \(100 * ([.[] | select(.llm_sentence)] | length) / length | floor) %",
  "order changed by the model \(100 * ([.[] | select(.order_changed)] | length) / length | floor) %",
  "re-rank stage ms p50 \([.[].rerank_ms | select(. != null)] | q(0.5) | floor)  p95 \([.[].rerank_ms | select(. != null)] | q(0.95) | floor)",
  "turn ms (server) p50 \([.[].turn_ms] | q(0.5) | floor)  p95 \([.[].turn_ms] | q(0.95) | floor)",
  "turn ms (client) p50 \([.[].wall_ms] | q(0.5))  p95 \([.[].wall_ms] | q(0.95))",
  "fallbacks \([.[].fallback | select(. != null)] | group_by(.) | map("\(.[0]) \(length)") | join(", "))"
' "$out"
echo "turns: $out"

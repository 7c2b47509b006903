#!/usr/bin/env bash
# Replicas over PostgreSQL (docs/benchmarks.md, docs/scale-out.md). One
# synthetic catalog (ITEMS items, EVENTS events, USERS users) written into a
# PostgreSQL 18 started here on loopback (scripts/postgres), one fit into a
# shared models folder; then 1, 2 and 3 replicas on this one machine, each
# count given the same total load:
#   - /v1/recommend, closed loop, CONNECTIONS connections spread over them;
#   - /v1/events, a file of INGEST fresh events posted in batches of 1,000
#     over 3 connections spread over them.
# Then, with three replicas: how long until replica 2's features hold an
# event replica 1 took, while replica 1 ingests at full speed (the lag);
# and how long replica 2, killed with kill -9, takes to answer again, with
# its saved features and with none (rebuilt from the whole log).
# STREAM=nats sends events through a NATS JetStream stream (scripts/nats)
# that every replica consumes, and also reports replica 2's consumer lag
# (sommelier_stream_consumer_lag) while replica 1 ingests.
# Bounded: every request goes to servers this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres
. bench/postgres_common.sh
. scripts/nats
stream=${STREAM:-none}
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/sommelier"
items=${ITEMS:-10000} events=${EVENTS:-1000000} users=${USERS:-20000}
ingest=${INGEST:-200000} conns=${CONNECTIONS:-6} seconds=${SECONDS_EACH:-15}
pg_port=${PG_PORT:-55440} base_port=18230
w=$(mktemp -d /var/tmp/sommelier-replicas.XXXX)
chmod 755 "$w"
trap 'pkill -9 -f "$w/r" 2>/dev/null || true; pkill -9 -f "$w/sqlite" 2>/dev/null || true; postgres_stop "$w/pg"; nats_stop "$w/nats"; rm -rf "$w"' EXIT
postgres_start "$w/pg" "$pg_port"
if [ "$stream" = nats ]; then
  nats_start "$w/nats" "${NATS_PORT:-54240}"
  export SOMMELIER__STREAM__BACKEND=nats SOMMELIER__STREAM__URL="$NATS_URL"
fi
bench_over_postgres "$pg_port" "$w"
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD); $items items, $events events, $users users; stream: $stream"
t=$(now)
"$bin" --data-dir "$w/r1" bench gen-catalog --items "$items" --events "$events" --users "$users" --clusters 100 >/dev/null
printf "catalog and %s events written into PostgreSQL: %.1f s\n" "$events" "$(since "$t")"
t=$(now)
SOMMELIER__MODELS__SASREC__MAX_SECONDS=60 "$bin" --data-dir "$w/r1" fit >/dev/null
printf "fit: %.1f s\n" "$(since "$t")"
"$bin" bench gen-events --events "$ingest" --users "$users" --items "$items" --out "$w/events.jsonl" --seed 9 >/dev/null

pids=()
start() { # replica number
  local n=$1
  SOMMELIER__STREAM__CONSUMER="replica-$n" "$bin" --data-dir "$w/r$n" serve --addr "127.0.0.1:$((base_port + n))" >"$w/r$n.log" 2>&1 &
  pids[$n]=$!
}
ready() { # replica number; waits until it answers a recommendation
  until curl -sf -H 'content-type: application/json' -d '{"user_id":"u1","k":10}' \
    "http://127.0.0.1:$((base_port + $1))/v1/recommend" >/dev/null 2>&1; do sleep 0.05; done
}
pg_cpu() { # CPU seconds the PostgreSQL processes used so far
  for p in $(pgrep -x postgres); do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done |
    awk -v hz="$(getconf CLK_TCK)" '{ s += $1 } END { printf "%.1f", s / hz }'
}
urls() { # first N replicas
  local n=$1 out=""
  for i in $(seq 1 "$n"); do out="$out${out:+,}http://127.0.0.1:$((base_port + i))"; done
  echo "$out"
}

# The same catalog and fit on the embedded SQLite store, one process: the
# reference a replica is compared with.
SOMMELIER__STORE__BACKEND=sqlite SOMMELIER__STREAM__BACKEND=none "$bin" --data-dir "$w/sqlite" bench gen-catalog --items "$items" --events "$events" --users "$users" --clusters 100 >/dev/null
SOMMELIER__STORE__BACKEND=sqlite SOMMELIER__STREAM__BACKEND=none "$bin" --data-dir "$w/sqlite" serve --addr "127.0.0.1:$base_port" >"$w/sqlite.log" 2>&1 &
sqlite_pid=$!
until curl -sf -H 'content-type: application/json' -d '{"user_id":"u1","k":10}' \
  "http://127.0.0.1:$base_port/v1/recommend" >/dev/null 2>&1; do sleep 0.05; done
"$bin" bench http-recommend --url "http://127.0.0.1:$base_port" --users "$users" --connections "$conns" --seconds 3 >/dev/null
printf "SQLite, one process, recommend: "
"$bin" bench http-recommend --url "http://127.0.0.1:$base_port" --users "$users" --connections "$conns" --seconds "$seconds" | tail -1
kill -TERM "$sqlite_pid"
wait "$sqlite_pid" || true

for n in 1 2 3; do
  start "$n"
  ready "$n"
  "$bin" bench http-recommend --url "$(urls "$n")" --users "$users" --connections "$conns" --seconds 3 >/dev/null
  cpu=$(pg_cpu)
  printf "%s replica(s), recommend: " "$n"
  "$bin" bench http-recommend --url "$(urls "$n")" --users "$users" --connections "$conns" --seconds "$seconds" | tail -1
  echo "  PostgreSQL CPU during it: $(awk -v a="$cpu" -v b="$(pg_cpu)" 'BEGIN { print b - a }') s of ${seconds} s"
  # Fresh ids for each run (the file's ids would be duplicates the second time).
  sed "s/\"id\":\"e/\"id\":\"n$n-e/" "$w/events.jsonl" >"$w/events-$n.jsonl"
  printf "%s replica(s), ingest: " "$n"
  "$bin" bench http-ingest --url "$(urls "$n")" --file "$w/events-$n.jsonl" --batch 1000 --connections 3 | tail -1
done

# Lag while replica 1 ingests (a file five times the size above): a probe
# event to replica 1, timed until replica 2's features hold it.
"$bin" bench gen-events --events "$((ingest * 5))" --users "$users" --items "$items" --out "$w/events-lag.jsonl" --seed 11 >/dev/null
sed -i "s/\"id\":\"e/\"id\":\"lag-e/" "$w/events-lag.jsonl"
"$bin" bench http-ingest --url "$(urls 1)" --file "$w/events-lag.jsonl" --batch 1000 --connections 3 >/dev/null &
loader=$!
sleep 2
lags=()
consumer_lags=()
for i in $(seq 1 30); do
  t=$(now)
  curl -sf -H 'content-type: application/json' -d "[{\"id\":\"probe-$i\",\"user\":\"probe-$i\",\"item\":\"i1\",\"kind\":\"click\",\"timestamp\":1700000000}]" \
    "http://127.0.0.1:$((base_port + 1))/v1/events" >/dev/null
  until curl -sf "http://127.0.0.1:$((base_port + 2))/v1/users/probe-$i/features" >/dev/null 2>&1; do sleep 0.01; done
  lags+=("$(awk -v a="$t" -v b="$(now)" 'BEGIN { print (b - a) * 1000 }')")
  if [ "$stream" = nats ]; then
    consumer_lags+=("$(curl -sf "http://127.0.0.1:$((base_port + 2))/metrics" | awk '$1 == "sommelier_stream_consumer_lag" { print $2 }')")
  fi
  kill -0 $loader 2>/dev/null || break
done
wait $loader || true
printf "lag under ingest (ms, %s probes): " "${#lags[@]}"
printf "%s\n" "${lags[@]}" | sort -n | awk '{a[NR]=$1} END {printf "min %.0f, median %.0f, p90 %.0f, max %.0f\n", a[1], a[int((NR+1)/2)], a[int(NR*0.9+0.5)], a[NR]}'
if [ "$stream" = nats ]; then
  printf "replica 2's consumer lag under ingest (messages, %s reads): " "${#consumer_lags[@]}"
  printf "%s\n" "${consumer_lags[@]}" | sort -n | awk '{a[NR]=$1} END {printf "min %d, median %d, p90 %d, max %d\n", a[1], a[int((NR+1)/2)], a[int(NR*0.9+0.5)], a[NR]}'
fi

# Recovery of a replica killed with kill -9, at the log's full size.
total=$(curl -sf "http://127.0.0.1:$((base_port + 1))/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
for saved in yes no; do
  kill -9 "${pids[2]}"
  wait "${pids[2]}" 2>/dev/null || true
  [ "$saved" = no ] && rm -f "$w/r2/features/online.bin"
  t=$(now)
  start 2
  ready 2
  printf "replica killed at %s events, answering again (saved features: %s): %.1f s\n" "$total" "$saved" "$(since "$t")"
done

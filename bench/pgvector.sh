#!/usr/bin/env bash
# The catalog's vectors searched inside PostgreSQL (vectors.index =
# "pgvector") against the in-process HNSW graph (the default), on the same
# database (docs/benchmarks.md, docs/scale-out.md). One synthetic catalog
# (ITEMS items with DIM-dimensional clustered vectors, EVENTS events, USERS
# users) in a PostgreSQL 18 started here on loopback (scripts/postgres), one
# fit; then one replica at a time, ROUNDS rounds alternating the two kinds:
#   - the time until it answers from a first start on an empty data_dir
#     (the graph built, or the pgvector index built on the very first start),
#     and from a restart (the graph loaded from its save);
#   - /v1/recommend, closed loop, CONNECTIONS connections for SECONDS_EACH s
#     (each request searches the vectors with the user's profile and reads
#     the ranked candidates' vectors);
#   - the replica's resident memory after the load, and the CPU seconds
#     PostgreSQL and the replica used during it.
# Bounded: every request goes to servers this script starts on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres
. bench/postgres_common.sh
cargo build --release --locked -p sommelier-cli >/dev/null 2>&1
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/sommelier"
items=${ITEMS:-100000} dim=${DIM:-384} events=${EVENTS:-300000} users=${USERS:-20000}
conns=${CONNECTIONS:-4} seconds=${SECONDS_EACH:-15} rounds=${ROUNDS:-3}
pg_port=${PG_PORT:-55441} port=18260
w=$(mktemp -d /var/tmp/sommelier-pgvector.XXXX)
chmod 755 "$w"
trap 'pkill -9 -f "$w/r-" 2>/dev/null || true; postgres_stop "$w/pg"; rm -rf "$w"' EXIT
postgres_start "$w/pg" "$pg_port"
bench_over_postgres "$pg_port" "$w"
echo "machine: $(nproc) cores; $(git rev-parse --short HEAD); $items items of dim $dim, $events events, $users users"
t=$(now)
"$bin" --data-dir "$w/r-gen" bench gen-catalog --items "$items" --events "$events" --users "$users" --clusters 100 --dim "$dim" >/dev/null
printf "catalog written into PostgreSQL: %.1f s\n" "$(since "$t")"
SOMMELIER__MODELS__SASREC__MAX_SECONDS=30 "$bin" --data-dir "$w/r-gen" fit >/dev/null

pid=
start() { # index kind; starts a replica on its own data_dir, waits until its snapshot is built
  SOMMELIER__VECTORS__INDEX=$1 "$bin" --data-dir "$w/r-$1" serve --addr "127.0.0.1:$port" >>"$w/r-$1.log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/v1/admin/dashboard" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("index") else 1)' 2>/dev/null; do
    sleep 0.1
  done
  curl -sf -H 'content-type: application/json' -d '{"user_id":"u1","k":10}' "http://127.0.0.1:$port/v1/recommend" >/dev/null
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || true
}
rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }
cpu() { # CPU seconds used so far by the PostgreSQL processes, and by the replica
  for p in $(pgrep -x postgres); do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done |
    awk -v hz="$(getconf CLK_TCK)" '{ s += $1 } END { printf "%.1f", s / hz }'
  printf " "
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$pid/stat"
}

for kind in memory pgvector; do
  t=$(now)
  start "$kind"
  printf "%s: first start, answering after %.1f s\n" "$kind" "$(since "$t")"
  stop
done
grep -h "pgvector HNSW index built" "$w/r-pgvector.log" | sed 's/^/  /' | cut -c1-200 || true

for round in $(seq 1 "$rounds"); do
  for kind in memory pgvector; do
    t=$(now)
    start "$kind"
    restart=$(since "$t")
    "$bin" bench http-recommend --url "http://127.0.0.1:$port" --users "$users" --connections "$conns" --seconds 3 >/dev/null
    printf "round %s, %s (restart %.1f s): " "$round" "$kind" "$restart"
    read -r pg0 rep0 <<<"$(cpu)"
    out=$("$bin" bench http-recommend --url "http://127.0.0.1:$port" --users "$users" --connections "$conns" --seconds "$seconds" | tail -1)
    read -r pg1 rep1 <<<"$(cpu)"
    echo "$out; RSS $(rss_mb) MB; CPU s during it: PostgreSQL $(awk -v a="$pg0" -v b="$pg1" 'BEGIN { print b - a }'), replica $(awk -v a="$rep0" -v b="$rep1" 'BEGIN { print b - a }')"
    stop
  done
done

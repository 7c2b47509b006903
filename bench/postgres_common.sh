# What the benchmarks over PostgreSQL share (sourced by bench/replicas.sh
# and bench/pgvector.sh after scripts/postgres has started the server):
# a database `bench` on it, every `sommelier` of the script pointed at it
# and at one shared folder of fitted models, and two clock helpers.
bench_over_postgres() { # port, work folder
  "$POSTGRES_BIN/psql" "$POSTGRES_URL" -qc "CREATE DATABASE bench"
  export SOMMELIER__STORE__BACKEND=postgres
  export SOMMELIER__STORE__URL="postgres://postgres@127.0.0.1:$1/bench"
  export SOMMELIER__MODELS__DIR="$2/fitted"
  export SOMMELIER__MODELS__REFIT_INTERVAL_SECS=0
  export SOMMELIER__AUTH__ENABLED=false
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }

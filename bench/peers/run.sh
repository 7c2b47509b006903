#!/usr/bin/env bash
# Sommelier and its peers side by side, in one command, on the same split files.
#
#   bench/peers/run.sh [DATASET] [extra `sommelier eval` flags...]
#
# DATASET is movielens-100k (default) or movielens-small. Builds the release
# binary, runs `sommelier eval` (which writes the split files and its report),
# installs the pinned peers into bench/peers/.venv if needed, runs them on the
# split, and prints one markdown table per cutoff. Everything lands in
# $DATA_DIR/eval, where the server's dashboard shows the latest report (override
# with EVAL_OUT). DATA_DIR (default: data) is where the data set and the
# embedding model are fetched to. PEERS_FLAGS goes to peers.py, e.g.
# PEERS_FLAGS="--peers ease,sasrec,transitions --threads 2 --seed 0" (default:
# every peer, MostPop, ItemKNN, EASE, ALS, BPR, SASRec, GRU4Rec and the
# last-item transition count; SASRec alone takes ~20 minutes on ml-100k).
# The split folder also holds tied.csv (the test users whose held-out item
# shares its second with their last training item); the peers report their
# metrics on the untied users too, and join the report JSON as systems.
set -euo pipefail
cd "$(dirname "$0")/../.."
ds="${1:-movielens-100k}"
shift || true
data="${DATA_DIR:-data}"
out="${EVAL_OUT:-$data/eval}"
cargo build --release --locked -p sommelier-cli
bin="${CARGO_TARGET_DIR:-target}/release/sommelier"
venv=bench/peers/.venv
# (Re)installs when requirements.txt differs from what the venv was built from.
if [ ! -x "$venv/bin/python" ] || ! cmp -s bench/peers/requirements.txt "$venv/requirements.installed"; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r bench/peers/requirements.txt
  cp bench/peers/requirements.txt "$venv/requirements.installed"
fi
"$bin" --data-dir "$data" eval --dataset "$ds" --out "$out" "$@" > /dev/null
# The last report written is this run's.
report="$(ls -t "$out"/report-*.json | head -1)"
split="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["split_dir"])' "$report")"
"$venv/bin/python" bench/peers/peers.py --split "$split" --out "${report%.json}.peers.json" \
  --sommelier "$report" --k 1,5,10,20 ${PEERS_FLAGS:-}

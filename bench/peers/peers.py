#!/usr/bin/env python3
"""Peers of `sommelier eval`, on the exact split files it writes.

Reads SPLIT/train.csv, test.csv, items.csv and tied.csv (if present); fits MostPop, ItemKNN, EASE,
implicit ALS and BPR, and the sequential peers of sequential.py (SASRec and
GRU4Rec with a full-catalog cross-entropy, a last-item transition count) on the
training part; ranks the full catalog for every
test user with their training items masked; computes the same metrics as
crates/eval/src/metrics.rs (binary gains, log2 discount, AP normalised by
min(|relevant|, k), coverage over the catalog, diversity = 1 - Jaccard of
categories, novelty = -log2(train users share), popularity bias = mean train
popularity of recommended items over the catalog mean).

    bench/peers/.venv/bin/python bench/peers/peers.py --split DIR --out peers.json \
        [--sommelier REPORT.json] [--k 1,5,10,20] [--peers mostpop,...,transitions] \
        [--seed 0] [--threads 2] [--lists DIR]

With --lists, each peer's ranked lists (of its first seed) go to
DIR/<peer>.csv as user_id,rank,item_id, the form of the lists `sommelier eval`
writes, for bench/peers/paired.py.

Peers (--peers, default all): mostpop, itemknn, ease, als, bpr, sasrec, gru4rec,
transitions.
"""
import argparse
import csv
import json
import math
import os
import sys
import time
from collections import defaultdict

# numpy's BLAS on both cores (EASE's inverse); implicit takes --threads itself.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import numpy as np
import scipy.sparse as sp

from metrics import user_metrics

COLD_MAX = 5
ALL_PEERS = ("mostpop", "itemknn", "ease", "als", "bpr", "sasrec", "gru4rec", "transitions")


def read_split(d):
    items, cats = [], {}
    with open(os.path.join(d, "items.csv"), newline="") as f:
        for r in csv.DictReader(f):
            items.append(r["item_id"])
            cats[r["item_id"]] = set(c for c in r["categories"].split("|") if c)
    index = {i: n for n, i in enumerate(items)}
    train = defaultdict(list)
    with open(os.path.join(d, "train.csv"), newline="") as f:
        for r in csv.DictReader(f):
            train[r["user_id"]].append(r["item_id"])
    test = defaultdict(list)
    with open(os.path.join(d, "test.csv"), newline="") as f:
        for r in csv.DictReader(f):
            test[r["user_id"]].append(r["item_id"])
    tied = set()
    tied_path = os.path.join(d, "tied.csv")
    if os.path.exists(tied_path):
        with open(tied_path, newline="") as f:
            tied = {r["user_id"] for r in csv.DictReader(f)}
    return items, index, cats, train, test, tied



def summarise(lists, test, k, catalog_size, cats, pop, train_users):
    s = dict(users=0, hr=0.0, recall=0.0, ndcg=0.0, mrr=0.0, map=0.0)
    distinct, div, divn, nov, popsum, n = set(), 0.0, 0, 0.0, 0.0, 0
    for u in sorted(test):
        ranked = lists.get(u, [])
        m = user_metrics(ranked, test[u], k)
        s["users"] += 1
        s["hr"] += m["hit"]
        s["recall"] += m["recall"]
        s["ndcg"] += m["ndcg"]
        s["mrr"] += m["mrr"]
        s["map"] += m["ap"]
        top = ranked[:k]
        for it in top:
            distinct.add(it)
            p = pop.get(it, 0)
            nov += -math.log2(max(p, 1) / max(train_users, 1))
            popsum += p
            n += 1
        if len(top) > 1:
            d, pairs = 0.0, 0
            for a in range(len(top)):
                for b in range(a + 1, len(top)):
                    ca, cb = cats.get(top[a], set()), cats.get(top[b], set())
                    u_ = len(ca | cb)
                    d += 1.0 - (len(ca & cb) / u_ if u_ else 0.0)
                    pairs += 1
            div += d / pairs
            divn += 1
    if s["users"]:
        for key in ("hr", "recall", "ndcg", "mrr", "map"):
            s[key] /= s["users"]
    s["coverage"] = len(distinct) / max(catalog_size, 1)
    s["diversity"] = div / divn if divn else 0.0
    s["novelty"] = nov / n if n else 0.0
    mean_pop = sum(pop.values()) / max(catalog_size, 1)
    s["popularity_bias"] = (popsum / n) / mean_pop if n else 0.0
    return s


def list_file(name):
    """The file name of a system's lists: the name up to its first space
    (`EASE λ=100` is `EASE`), `:` as `_`."""
    return name.split(" ")[0].replace(":", "_") + ".csv"


def write_lists(d, name, lists):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, list_file(name)), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "rank", "item_id"])
        for u in sorted(lists):
            for n, it in enumerate(lists[u]):
                w.writerow([u, n + 1, it])


def top_k(scores, seen_idx, k):
    scores = scores.astype(np.float64, copy=True)
    scores[seen_idx] = -np.inf
    # Best first; ties by item index (items.csv order), whatever k is.
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--k", default="1,5,10,20")
    ap.add_argument("--peers", "--models", dest="models", default=",".join(ALL_PEERS),
                    help="comma-separated peers to run (default: all)")
    ap.add_argument("--ease-lambda", type=float, default=100.0)
    ap.add_argument("--threads", type=int, default=2, help="threads for implicit and torch")
    ap.add_argument("--seed", type=int, default=0, help="seed of SASRec and GRU4Rec")
    ap.add_argument("--sasrec-epochs", type=int, help="at most this many epochs (default 300; "
                    "early stopping on the validation split usually ends it sooner)")
    ap.add_argument("--gru4rec-epochs", type=int, help="at most this many epochs (default 200)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds averaged for ALS and BPR")
    ap.add_argument("--sommelier", help="a sommelier eval report JSON to show beside the peers")
    ap.add_argument("--lists", help="write each peer's ranked lists to LISTS/<peer>.csv")
    a = ap.parse_args()
    ks = [int(x) for x in a.k.split(",")]
    unknown = set(a.models.split(",")) - set(ALL_PEERS)
    if unknown:
        ap.error(f"unknown peers {sorted(unknown)}; known: {','.join(ALL_PEERS)}")
    kmax = max(ks)

    items, index, cats, train, test, tied = read_split(a.split)
    users = sorted(train)
    uindex = {u: n for n, u in enumerate(users)}
    rows, cols = [], []
    for u, its in train.items():
        for it in set(its):
            rows.append(uindex[u])
            cols.append(index[it])
    X = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
    pop_arr = np.asarray(X.sum(axis=0)).ravel()
    pop = {items[j]: int(pop_arr[j]) for j in range(len(items)) if pop_arr[j] > 0}
    test_users = [u for u in sorted(test) if u in uindex]
    cold = {u: test[u] for u in test_users if len(train[u]) <= COLD_MAX}
    testd = {u: test[u] for u in test_users}
    untied = {u: test[u] for u in test_users if u not in tied}

    def run(name, fit, score, seeds=(None,), info=None):
        """Fits and scores once per seed; metrics are the mean over seeds.
        info(state), when given, is recorded as the system's "training"."""
        runs, infos = [], []
        for seed in seeds:
            t0 = time.time()
            state = fit() if seed is None else fit(seed)
            fit_s = time.time() - t0
            if info is not None:
                infos.append(info(state))
            t1 = time.time()
            lists = {}
            for u in test_users:
                r = uindex[u]
                seen = X.indices[X.indptr[r]:X.indptr[r + 1]]
                lists[u] = [items[j] for j in top_k(score(state, r), seen, kmax)]
            ms = (time.time() - t1) * 1e3 / max(len(test_users), 1)
            if a.lists and not runs:
                write_lists(a.lists, name, lists)
            runs.append({
                "at": {str(k): summarise(lists, testd, k, len(items), cats, pop, len(users)) for k in ks},
                "cold": {str(k): summarise(lists, cold, k, len(items), cats, pop, len(users)) for k in ks},
                "untied": {str(k): summarise(lists, untied, k, len(items), cats, pop, len(users)) for k in ks},
                "ms_per_user": ms,
                "fit_seconds": fit_s,
            })

        def mean(parts):
            return {key: sum(p[key] for p in parts) / len(parts) for key in parts[0]}
        res = {
            "system": name if len(seeds) == 1 else f"{name} ×{len(seeds)} seeds",
            "at": {k: mean([r_["at"][k] for r_ in runs]) for k in runs[0]["at"]},
            "cold": {k: mean([r_["cold"][k] for r_ in runs]) for k in runs[0]["cold"]},
            "untied": {k: mean([r_["untied"][k] for r_ in runs]) for k in runs[0]["untied"]},
            "peer": True,
            "ms_per_user": sum(r_["ms_per_user"] for r_ in runs) / len(runs),
            "fit_seconds": sum(r_["fit_seconds"] for r_ in runs) / len(runs),
        }
        if infos:
            res["training"] = infos[0] if len(infos) == 1 else infos
        if len(seeds) > 1 and "10" in runs[0]["at"]:
            nd = [r_["at"]["10"]["ndcg"] for r_ in runs]
            res["ndcg10_range"] = [min(nd), max(nd)]
        print(f"{name:10s} HR@10 {res['at'].get('10', {}).get('hr', float('nan')):.4f} "
              f"NDCG@10 {res['at'].get('10', {}).get('ndcg', float('nan')):.4f}  fit {fit_s:.1f}s",
              file=sys.stderr)
        return res

    results = []
    wanted = a.models.split(",")
    if "mostpop" in wanted:
        results.append(run("MostPop", lambda: pop_arr, lambda s, r: s))
    if "itemknn" in wanted:
        def fit_knn(neighbors=100):
            norms = np.sqrt(pop_arr) + 1e-9
            S = (X.T @ X).toarray().astype(np.float32)
            S /= norms[:, None]
            S /= norms[None, :]
            np.fill_diagonal(S, 0.0)
            # Keep each item's strongest neighbours.
            idx = np.argpartition(-S, neighbors, axis=1)[:, neighbors:]
            np.put_along_axis(S, idx, 0.0, axis=1)
            return S
        results.append(run("ItemKNN", fit_knn, lambda S, r: np.asarray(X[r] @ S).ravel()))
    if "ease" in wanted:
        def fit_ease():
            G = (X.T @ X).toarray().astype(np.float64)
            G[np.diag_indices_from(G)] += a.ease_lambda
            P = np.linalg.inv(G)
            B = -P / np.diag(P)
            np.fill_diagonal(B, 0.0)
            return B
        results.append(run(f"EASE λ={a.ease_lambda:g}", fit_ease, lambda B, r: np.asarray(X[r] @ B).ravel()))
    if "als" in wanted or "bpr" in wanted:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits
        # implicit runs its own threads; BLAS threads on top only contend.
        threadpool_limits(1, "blas")
        if "als" in wanted:
            def fit_als(seed):
                m = AlternatingLeastSquares(factors=64, iterations=15, random_state=seed,
                                            num_threads=a.threads, calculate_training_loss=False)
                m.fit(X, show_progress=False)
                return m
            results.append(run("ALS (implicit)", fit_als,
                               lambda m, r: m.item_factors @ m.user_factors[r], seeds=range(a.seeds)))
        if "bpr" in wanted:
            def fit_bpr(seed):
                m = BayesianPersonalizedRanking(factors=64, iterations=100, random_state=seed,
                                                num_threads=a.threads)
                m.fit(X, show_progress=False)
                return m
            results.append(run("BPR (implicit)", fit_bpr,
                               lambda m, r: m.item_factors @ m.user_factors[r], seeds=range(a.seeds)))

    seq = [m for m in ("sasrec", "gru4rec", "transitions") if m in wanted]
    if seq:
        import sequential
        data = sequential.Data(train, index, users, pop_arr)
        get_info = lambda st: st["info"]
        if "sasrec" in wanted or "gru4rec" in wanted:
            import torch
            torch.set_num_threads(a.threads)
            torch.set_num_interop_threads(1)
        for m in ("sasrec", "gru4rec"):
            if m not in wanted:
                continue
            hp = dict(sequential.SASREC_DEFAULTS if m == "sasrec" else sequential.GRU4REC_DEFAULTS)
            if getattr(a, f"{m}_epochs"):
                hp["max_epochs"] = getattr(a, f"{m}_epochs")
            name = "SASRec (full CE)" if m == "sasrec" else "GRU4Rec (full CE)"
            results.append(run(name, lambda seed, m=m, hp=hp: sequential.fit_neural(m, data, hp, seed, a.threads),
                               lambda st, r: sequential.score_neural(st, data, r), seeds=(a.seed,), info=get_info))
        if "transitions" in wanted:
            results.append(run("Last-item transitions", lambda: sequential.fit_transitions(data),
                               lambda st, r: sequential.score_transitions(st, data, r), info=get_info))

    with open(a.out, "w") as f:
        json.dump({"split": a.split, "systems": results}, f, indent=1)

    rows_ = []
    if a.sommelier:
        # The peers join the report as systems beside sommelier's own (a
        # rerun replaces the peers of an earlier run on the same report).
        with open(a.sommelier) as f:
            rep = json.load(f)
        names = {r["system"] for r in results}
        rep["systems"] = [s for s in rep["systems"] if not s.get("peer") and s["system"] not in names]
        rows_.extend(rep["systems"])
        rep["systems"].extend(results)
        tmp = a.sommelier + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=1)
        os.replace(tmp, a.sommelier)
    rows_.extend(results)
    print(f"\n{len(test_users)} test users; {len(untied)} untied (held-out item not in their last training second).")
    for k in ks:
        print(f"\n@{k}\n\n| system | HR | NDCG | MRR | MAP | coverage | diversity | novelty | pop. bias | cold HR | cold NDCG | untied HR | untied NDCG |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in rows_:
            m = s["at"][str(k)]
            c = s["cold"][str(k)]
            u = s.get("untied", {}).get(str(k), {"users": 0})
            cold_hr = f"{c['hr']:.4f}" if c["users"] else "–"
            cold_nd = f"{c['ndcg']:.4f}" if c["users"] else "–"
            un_hr = f"{u['hr']:.4f}" if u["users"] else "–"
            un_nd = f"{u['ndcg']:.4f}" if u["users"] else "–"
            print(f"| {s['system']} | {m['hr']:.4f} | {m['ndcg']:.4f} | {m['mrr']:.4f} | {m['map']:.4f} | "
                  f"{m['coverage']:.3f} | {m['diversity']:.3f} | {m['novelty']:.2f} | {m['popularity_bias']:.2f} | "
                  f"{cold_hr} | {cold_nd} | {un_hr} | {un_nd} |")

if __name__ == "__main__":
    main()

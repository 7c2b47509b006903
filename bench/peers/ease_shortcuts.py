"""EASE (λ = 100, numpy, as peers.py fits it) against the shortcuts an
engine can take with it, each measured alone on one split's test users
(docs/quality.md, "Why temporal differs"):

- the history scored from: whole, or only the most recent N items;
- the item table kept: dense, or each item's K strongest neighbours
  (positive weights only, or by magnitude, keeping negative ones).

    bench/peers/.venv/bin/python bench/peers/ease_shortcuts.py SPLIT_DIR

Prints NDCG@10 (metrics.py, shared with peers.py and paired.py) per variant, on
all test users and on those whose held-out item is not tied in time with
their last training item (tied.csv).
"""

import csv
import os
import sys
from collections import defaultdict

import numpy as np
import scipy.sparse as sp

from metrics import user_metrics


def load(folder):
    train = defaultdict(list)
    with open(f"{folder}/train.csv") as f:
        for r in csv.DictReader(f):
            train[r["user_id"]].append((int(r["timestamp"]), r["item_id"]))
    test = defaultdict(set)
    with open(f"{folder}/test.csv") as f:
        for r in csv.DictReader(f):
            test[r["user_id"]].add(r["item_id"])
    return train, test


def fit(train, items):
    col = {i: n for n, i in enumerate(items)}
    users = sorted(train)
    rows = [n for n, u in enumerate(users) for _ in train[u]]
    cols = [col[i] for u in users for _, i in train[u]]
    X = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)))
    X.data[:] = 1.0
    G = (X.T @ X).toarray()
    G[np.diag_indices_from(G)] += 100.0
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    return B


def keep_top(B, k, by_magnitude):
    """Each row's k largest weights (or largest in magnitude), the rest 0."""
    key = np.abs(B) if by_magnitude else np.where(B > 0, B, -np.inf)
    top = np.argpartition(-key, k, axis=1)[:, :k]
    out = np.zeros_like(B)
    r = np.arange(B.shape[0])[:, None]
    out[r, top] = B[r, top]
    if not by_magnitude:
        out[out < 0] = 0.0
    return out


def ndcg(B, train, test, items, last_n, skip=frozenset()):
    col = {i: n for n, i in enumerate(items)}
    total, count = 0.0, 0
    for u, relevant in test.items():
        if u not in train or u in skip:
            continue
        history = sorted(train[u])
        query = [col[i] for _, i in (history[-last_n:] if last_n else history)]
        scores = B[query].sum(axis=0)
        scores[[col[i] for _, i in history]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:10]
        total += user_metrics([items[j] for j in top], relevant, 10)["ndcg"]
        count += 1
    return total / count, count


def main(folder):
    train, test = load(folder)
    items = sorted({i for h in train.values() for _, i in h})
    B = fit(train, items)
    variants = [("dense", B, 0)]
    variants += [(f"dense, last {n}", B, n) for n in (200, 50)]
    variants.append(("positive weights only", np.where(B > 0, B, 0.0), 0))
    for k in (200, 1000):
        engine = " (the engine's table)" if k == 200 else ""
        variants.append((f"top {k} positive", keep_top(B, k, False), 0))
        variants.append((f"top {k} by magnitude{engine}", keep_top(B, k, True), 0))
    tied = set()
    if os.path.exists(f"{folder}/tied.csv"):
        with open(f"{folder}/tied.csv") as f:
            tied = {r["user_id"] for r in csv.DictReader(f)}
    for name, table, n in variants:
        v, count = ndcg(table, train, test, items, n)
        line = f"{name:<42} NDCG@10 {v:.4f} over {count} users"
        if tied:
            u, c = ndcg(table, train, test, items, n, tied)
            line += f"; untied {u:.4f} over {c}"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])

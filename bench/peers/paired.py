#!/usr/bin/env python3
"""How sure is a ratio of NDCG@k between two systems on one split?

Reads the split's test.csv (and tied.csv for --untied) and two lists files
(user_id,rank,item_id: what `sommelier eval` writes under lists-<split>/ and
peers.py under --lists), scores each test user's NDCG@k in both (metrics.py,
shared with peers.py: binary gains, log2 discount, as
crates/eval/src/metrics.rs; a user missing from a list scores 0), and
resamples the users with replacement: the same users in both systems of a
draw, so what the two share is not counted as noise.

    python3 bench/peers/paired.py --split DIR A.csv B.csv [--k 10] \
        [--draws 10000] [--seed 0] [--target 1.10] [--untied]

Prints the ratio mean(A) / mean(B), its 95 % bootstrap interval, and the share
of draws at or above --target. Only the standard library is needed.
"""
import argparse
import csv
import os
import random
import sys
from collections import defaultdict

from metrics import user_metrics


def read_test(split, untied):
    test = defaultdict(set)
    with open(os.path.join(split, "test.csv"), newline="") as f:
        for r in csv.DictReader(f):
            test[r["user_id"]].add(r["item_id"])
    if untied:
        with open(os.path.join(split, "tied.csv"), newline="") as f:
            for r in csv.DictReader(f):
                test.pop(r["user_id"], None)
    return test


def read_lists(path):
    rows = defaultdict(list)
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows[r["user_id"]].append((int(r["rank"]), r["item_id"]))
    return {u: [it for _, it in sorted(v)] for u, v in rows.items()}


def ndcg(ranked, relevant, k):
    return user_metrics(ranked, relevant, k)["ndcg"]


def paired_ratio(a, b, draws, seed):
    """(ratio of means, 2.5 % and 97.5 % quantiles, the draws' ratios)."""
    n = len(a)
    rng = random.Random(seed)
    ratios = []
    for _ in range(draws):
        idx = [rng.randrange(n) for _ in range(n)]
        sb = sum(b[i] for i in idx)
        if sb > 0:
            ratios.append(sum(a[i] for i in idx) / sb)
    ratios.sort()
    q = lambda p: ratios[min(len(ratios) - 1, int(p * len(ratios)))]
    return sum(a) / sum(b), q(0.025), q(0.975), ratios


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", type=float, default=1.10)
    ap.add_argument("--untied", action="store_true", help="only the users whose held-out item is not tied")
    x = ap.parse_args()
    test = read_test(x.split, x.untied)
    la, lb = read_lists(x.a), read_lists(x.b)
    users = sorted(test)
    a = [ndcg(la.get(u, []), test[u], x.k) for u in users]
    b = [ndcg(lb.get(u, []), test[u], x.k) for u in users]
    if not users or sum(b) == 0:
        sys.exit(f"{x.b} scores 0 on every test user of {x.split}: no ratio to take")
    ratio, lo, hi, ratios = paired_ratio(a, b, x.draws, x.seed)
    above = sum(r >= x.target for r in ratios) / len(ratios)
    wins = sum(p > q for p, q in zip(a, b))
    losses = sum(p < q for p, q in zip(a, b))
    print(f"{len(users)} users; NDCG@{x.k} {sum(a) / len(a):.4f} ({os.path.basename(x.a)}) against "
          f"{sum(b) / len(b):.4f} ({os.path.basename(x.b)}); better for {wins}, worse for {losses}")
    print(f"ratio {ratio:.3f}, 95 % interval {lo:.3f}-{hi:.3f}; "
          f"{above:.1%} of {len(ratios)} draws at or above {x.target:g}")


if __name__ == "__main__":
    main()

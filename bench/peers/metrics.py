"""One user's ranking metrics, as crates/eval/src/metrics.rs computes them
(binary gains, log2 discount, AP normalised by min(|relevant|, k)): shared
by peers.py and paired.py, with the standard library only."""
import math


def user_metrics(ranked, relevant, k):
    rel = set(relevant)
    hits, dcg, psum, mrr = 0, 0.0, 0.0, 0.0
    for i, it in enumerate(ranked[:k]):
        if it in rel:
            hits += 1
            dcg += 1.0 / math.log2(i + 2)
            psum += hits / (i + 1)
            if mrr == 0.0:
                mrr = 1.0 / (i + 1)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return {
        "hit": 1.0 if hits else 0.0,
        "recall": hits / len(rel),
        "ndcg": dcg / ideal,
        "mrr": mrr,
        "ap": psum / min(len(rel), k),
    }

"""How long after the user's last known event the choice a model must
predict comes: the ranker's training examples against the temporal
protocol's test users (docs/quality.md, "Why temporal differs").

    python3 bench/peers/gaps.py SPLIT_DIR [SPLIT_DIR ...]

For each split folder `sommelier eval` wrote (train.csv, test.csv):
- the ranker's examples: `sommelier fit` holds out each training user's last
  item and learns to rank it from the rest; the gap is the time between
  that item and the user's one before it (leave-last-out's test items are
  made the same way, on the whole log);
- the test users: the time from their last training event to the end of
  the training log. Under the temporal protocol every held-out item comes
  after that end, so this is the least their gap can be (and it is what
  the engine's clock sees when it answers them).
Prints quantiles in hours and the share of gaps over a day.
"""

import csv
import sys
from collections import defaultdict


def quantiles(gaps):
    g = sorted(gaps)
    n = len(g)
    q = [g[min(n - 1, int(n * p))] / 3600 for p in (0.1, 0.25, 0.5, 0.75, 0.9)]
    over_day = sum(x > 86400 for x in g) / n
    return "n %5d  hours q10 %8.2f q25 %8.2f median %8.2f q75 %8.2f q90 %8.2f  over a day %5.1f %%" % (
        n, *q, 100 * over_day)


def main(folders):
    for folder in folders:
        times = defaultdict(list)
        with open(f"{folder}/train.csv") as f:
            for r in csv.DictReader(f):
                times[r["user_id"]].append(int(r["timestamp"]))
        with open(f"{folder}/test.csv") as f:
            test_users = {r["user_id"] for r in csv.DictReader(f)}
        end = max(max(t) for t in times.values())
        ranker = []
        for t in times.values():
            t.sort()
            if len(t) >= 2:
                ranker.append(t[-1] - t[-2])
        test = [end - max(times[u]) for u in test_users if u in times]
        print(folder)
        print("  ranker's training examples ", quantiles(ranker))
        print("  test users, to the cut       ", quantiles(test))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Summary of bench/exposure_cost.sh's output: per load and build, the p99
of each run, the ratio of p99 with the log to p99 without it in each round
(the mean of its two "on" runs over the mean of its two "off" runs), the
geometric mean of those ratios, and a 90 % bootstrap interval of it
(rounds resampled, 10,000 draws, seeded); beside it, the same ratio from
the better run of each pair (one stall in a run of a pair does not move
it) and its median over rounds; then the closed loop's mean throughput per
build, with the log and without.

    bench/exposure_cost.sh > out.txt
    python3 bench/exposure_summary.py out.txt
"""
import math
import random
import re
import statistics
import sys
from collections import defaultdict

LINE = re.compile(
    r"exposure_log=(true|false)\s+(?:([A-Za-z]\S*)\s+)?\d+ requests over \d+ connections"
    r"(?: \(open loop, (\d+) req/s offered\))?.* p99 ([\d.]+) ms"
)


def main() -> None:
    runs = defaultdict(list)  # (build, load) -> [(on, p99)] in order
    rps = defaultdict(list)  # (build, on) -> closed-loop req/s
    lines = open(sys.argv[1]).read().splitlines()
    # The first start (it builds and saves the graph) is not part of a round.
    first = True
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        on, build, rate, p99 = m.group(1) == "true", m.group(2) or "-", m.group(3), float(m.group(4))
        if first and on:
            if rate == max_rate(lines):
                first = False
            continue
        runs[(build, rate or "closed")].append((on, p99))
        if not rate:
            rps[(build, on)].append(float(re.search(r"s: ([\d.]+) req/s", line).group(1)))
    rng = random.Random(7)
    print(
        "| build | load | rounds | p99 with the log | p99 without | ratio per round | geometric mean | 90 % interval "
        "| better of each pair, per round | its median |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (build, load), rs in runs.items():
        ratios, better = [], []
        for i in range(0, len(rs) - 3, 4):
            block = rs[i : i + 4]
            on = [p for o, p in block if o]
            off = [p for o, p in block if not o]
            ratios.append((sum(on) / len(on)) / (sum(off) / len(off)))
            better.append(min(on) / min(off))
        if not ratios:
            continue  # not one whole round yet
        logs = [math.log(r) for r in ratios]
        gm = math.exp(sum(logs) / len(logs))
        draws = sorted(
            math.exp(sum(rng.choice(logs) for _ in logs) / len(logs)) for _ in range(10_000)
        )
        lo, hi = draws[499], draws[9_499]
        on = [p for o, p in rs if o]
        off = [p for o, p in rs if not o]
        print(
            f"| {build} | {load} | {len(ratios)} | {min(on):.2f}–{max(on):.2f} ms | {min(off):.2f}–{max(off):.2f} ms "
            f"| {', '.join(f'{r:.2f}' for r in ratios)} | {gm:.3f} | {lo:.2f}–{hi:.2f} "
            f"| {', '.join(f'{r:.2f}' for r in better)} | {statistics.median(better):.2f} |"
        )
    print()
    for build in sorted({b for b, _ in rps}):
        on, off = rps[(build, True)], rps[(build, False)]
        if on and off:
            print(
                f"{build}: closed loop {sum(on) / len(on):,.0f} req/s with the log, "
                f"{sum(off) / len(off):,.0f} without ({sum(on) / sum(off) * len(off) / len(on) - 1:+.1%})"
            )


def max_rate(lines):
    """The last open-loop rate of a start (the first start ends with it)."""
    rates = [m.group(3) for m in map(LINE.match, lines) if m and m.group(3)]
    return max(rates, key=int) if rates else None


if __name__ == "__main__":
    main()

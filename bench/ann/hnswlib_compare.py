"""Python hnswlib 0.8.0 on the vectors `sommelier bench ann --export DIR` wrote,
with the same graph parameters (M=16, ef_construction=128), build threads (2),
query threads (1), k and ef values. Prints the same table.

    /var/tmp/st-venv/bin/pip install hnswlib==0.8.0
    /var/tmp/st-venv/bin/python bench/ann/hnswlib_compare.py DIR [ef,ef,...]
"""
import json
import sys
import time

import hnswlib
import numpy as np


def main() -> None:
    d = sys.argv[1]
    efs = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "16,32,64,128,256").split(",")]
    meta = json.load(open(f"{d}/truth.json"))
    dim, k, truth = meta["dim"], meta["k"], meta["truth"]
    base = np.fromfile(f"{d}/base.f32", dtype="<f4").reshape(-1, dim)
    queries = np.fromfile(f"{d}/queries.f32", dtype="<f4").reshape(-1, dim)
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=len(base), ef_construction=128, M=16)
    index.set_num_threads(2)
    started = time.perf_counter()
    index.add_items(base, np.arange(len(base)))
    build = time.perf_counter() - started
    print(f"hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else '0.8.0'}: {len(base)} vectors of dim {dim} built in {build:.2f}s on 2 threads ({len(base) / build:.0f} inserts/s); {len(queries)} queries, k={k}")
    index.set_num_threads(1)
    for ef in efs:
        index.set_ef(ef)
        started = time.perf_counter()
        results = [index.knn_query(q, k=k)[0][0] for q in queries]
        qps = len(queries) / (time.perf_counter() - started)
        found = sum(len(set(r.tolist()) & set(t)) for r, t in zip(results, truth))
        total = sum(len(t) for t in truth)
        print(f"  hnsw ef={ef:<4} recall {found / total:.4f}  {qps:>8.0f} QPS (1 thread, one query per call)")


if __name__ == "__main__":
    main()

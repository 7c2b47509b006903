"""Embedding throughput of Python sentence-transformers on the same texts, model,
batch size and thread count as `sommelier bench embed` (see docs/benchmarks.md).

    /var/tmp/st-venv/bin/python bench/embed/throughput.py MODEL_DIR TEXTS_FILE [BATCH] [THREADS]
"""
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main() -> None:
    model_dir, texts_file = sys.argv[1], sys.argv[2]
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    texts = [line.rstrip("\n") for line in open(texts_file, encoding="utf-8")]
    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(texts[:batch], batch_size=batch, normalize_embeddings=True)  # warm-up
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=batch, normalize_embeddings=True)
    secs = time.perf_counter() - started
    print(
        f"sentence-transformers {len(vectors)} texts (batch {batch}, {threads} threads) in {secs:.2f}s: "
        f"{len(vectors) / secs:.1f} texts/s, {secs * 1e3 / len(vectors):.2f} ms/text"
    )


if __name__ == "__main__":
    main()

"""Inserts into the exposure log's table, as its two schemas lay it out:
version 1 (`WITHOUT ROWID`, keyed by the request id) and version 2 (a
rowid table with a unique index on the request id). 100,000 rows of 740
bytes of body, 20 per transaction (a 20 ms batch at 1,000 req/s), WAL,
`synchronous = NORMAL`, as the writer commits them; six repetitions, the
order of the two alternated. Time per row, including Python's own cost,
which is the same for both.

    python3 bench/exposure_table.py
"""
import os
import sqlite3
import statistics
import tempfile
import time

COLUMNS = "request_id TEXT {key}, at_ms INTEGER NOT NULL, user_id TEXT, surface TEXT NOT NULL, variant TEXT, body TEXT NOT NULL"
SCHEMAS = {
    "version 1 (WITHOUT ROWID)": f"CREATE TABLE exposures ({COLUMNS.format(key='PRIMARY KEY')}) WITHOUT ROWID",
    "version 2 (rowid, unique request id)": f"CREATE TABLE exposures ({COLUMNS.format(key='NOT NULL UNIQUE')})",
}
ROWS, BATCH, REPEAT = 100_000, 20, 6


def per_row(schema: str, body: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        c = sqlite3.connect(os.path.join(d, "log.db"), isolation_level=None)
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = NORMAL")
        c.execute(schema)
        start = time.perf_counter()
        for n in range(0, ROWS, BATCH):
            c.execute("BEGIN IMMEDIATE")
            c.executemany(
                "INSERT OR IGNORE INTO exposures VALUES (?, ?, ?, ?, ?, ?)",
                [(f"{n + i:016x}{12345:012x}", n + i, f"u{(n + i) % 20000}", "recommend", None, body) for i in range(BATCH)],
            )
            c.execute("COMMIT")
        took = time.perf_counter() - start
        c.close()
    return took / ROWS * 1e6


def main() -> None:
    body = os.urandom(370).hex()  # incompressible, as a packed body is
    times = {name: [] for name in SCHEMAS}
    for rep in range(REPEAT):
        order = list(SCHEMAS.items())
        for name, schema in order if rep % 2 == 0 else reversed(order):
            times[name].append(per_row(schema, body))
    for name, ts in times.items():
        print(f"{name}: {', '.join(f'{t:.1f}' for t in ts)} µs a row (median {statistics.median(ts):.1f})")


if __name__ == "__main__":
    main()

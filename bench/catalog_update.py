#!/usr/bin/env python3
"""Reads while the catalog changes: recommendation latency with and without
item writes, the writes' own latency, and whether a new item is served as soon
as its POST returns.

    bench/catalog_update.py http://127.0.0.1:8080 [--seconds 30] [--every 2]

One reader thread asks POST /v1/recommend for random users back to back; for
the first half of the run nothing else happens, for the second half a writer
POSTs one new item to /v1/items every `--every` seconds and then asks
GET /v1/items/{id}/similar for it at once. Standard library only.
"""
import argparse, json, random, threading, time, urllib.error, urllib.request
import os

# A server with authentication on needs a key (docs/security.md).
HEADERS = {"content-type": "application/json"}
if os.environ.get("SOMMELIER_API_KEY"):
    HEADERS["authorization"] = "Bearer " + os.environ["SOMMELIER_API_KEY"]


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers=HEADERS)
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    return status, (time.perf_counter() - t) * 1e3


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--every", type=float, default=2)
    a = ap.parse_args()
    users = [u["user"] for u in json.load(urllib.request.urlopen(urllib.request.Request(a.base + "/v1/users?n=200", headers=HEADERS)))]
    reads = {"quiet": [], "writing": []}
    phase = ["quiet"]
    stop = threading.Event()

    def reader():
        rng = random.Random(7)
        while not stop.is_set():
            _, ms = call(a.base, "POST", "/v1/recommend", {"user_id": rng.choice(users), "k": 10})
            reads[phase[0]].append(ms)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(a.seconds / 2)
    phase[0] = "writing"
    writes, served = [], []
    end = time.time() + a.seconds / 2
    n = 0
    while time.time() < end:
        n += 1
        item = {"id": f"bench-new-{int(time.time() * 1000)}-{n}", "title": f"A brand new space adventure with robots, part {n}",
                "categories": ["Sci-Fi", "Adventure"], "release_date": "2016"}
        status, ms = call(a.base, "POST", "/v1/items", item)
        assert status == 200, status
        writes.append(ms)
        status, _ = call(a.base, "GET", f"/v1/items/{item['id']}/similar?k=5")
        served.append(status == 200)
        time.sleep(a.every)
    stop.set()
    t.join()
    for k, xs in reads.items():
        print(f"reads while {k:8s}: {len(xs):5d} requests, p50 {pct(xs, .5):8.2f} ms, p99 {pct(xs, .99):8.2f} ms, max {max(xs):8.1f} ms")
    print(f"item writes: {len(writes)}, p50 {pct(writes, .5):.0f} ms, max {max(writes):.0f} ms; "
          f"new item served by /similar right after its POST: {sum(served)}/{len(served)}")


if __name__ == "__main__":
    main()

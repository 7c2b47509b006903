"""Sequential latency of POST /v1/recommend on a running server (loopback only,
one keep-alive connection, bounded number of requests).

    sommelier --data-dir DATA serve --addr 127.0.0.1:18088 &
    python3 bench/recommend_latency.py 127.0.0.1 18088 [requests]

DATA is a demo data folder (ml-latest-small imported and embedded). Prints
client-side and server-side (timings_ms.total) p50/p99 for known users, a cold
user, and known users with a query (the query is embedded per request).
"""
import http.client
import os
import json
import random
import sys
import time

# A server with authentication on needs a key (docs/security.md).
HEADERS = {"content-type": "application/json"}
if os.environ.get("SOMMELIER_API_KEY"):
    HEADERS["authorization"] = "Bearer " + os.environ["SOMMELIER_API_KEY"]

QUERIES = ["space adventure", "romantic comedy in paris", "scary haunted house", "animated movie for kids"]


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    conn = http.client.HTTPConnection(host, port, timeout=30)

    def recommend(body):
        conn.request("POST", "/v1/recommend", body=json.dumps(body), headers=HEADERS)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data
        return json.loads(data)

    recommend({"user_id": "1"})  # warm-up: builds the vector index
    rng = random.Random(1)
    cases = [
        ("known users", lambda: {"user_id": str(rng.randint(1, 671)), "k": 10}),
        ("cold user", lambda: {"user_id": "nobody", "k": 10}),
        ("query + user", lambda: {"user_id": str(rng.randint(1, 671)), "query": rng.choice(QUERIES), "k": 10}),
    ]
    for label, make in cases:
        client, server = [], []
        for _ in range(n):
            started = time.perf_counter()
            r = recommend(make())
            client.append((time.perf_counter() - started) * 1e3)
            server.append(r["timings_ms"]["total"])
        client.sort()
        server.sort()
        pct = lambda a, q: a[int((len(a) - 1) * q)]
        print(f"{label:13s} client p50 {pct(client, .5):.2f} ms, p99 {pct(client, .99):.2f} ms | server p50 {pct(server, .5):.2f} ms, p99 {pct(server, .99):.2f} ms")


if __name__ == "__main__":
    main()

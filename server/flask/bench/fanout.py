#!/usr/bin/env python3
"""Fan-out benchmark of the Flask server: publish → delivery latency to many waiting
clients (WebSockets and long polls at once), and the Redis connections that costs.

    /usr/bin/python3 server/flask/bench/fanout.py [--sockets 100] [--polls 100] [--messages 50]

Runs demo/flask/server.py in three set-ups — gevent + memory store, gevent + Redis,
gunicorn 2 workers + Redis (a throwaway redis-server) — and prints one Markdown table. A
message carries its publish time; each client notes when it arrived (one machine, one
clock). Reports what it measured, asserts nothing.
"""

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent)]

from redis_server import RedisServer  # noqa: E402
from test_demo import Demo  # noqa: E402
from wsclient import Closed, WsClient  # noqa: E402


def percentile(xs, q):
    """The value at index q * len(xs) of the sorted xs (the last one past the end)."""
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run(label, args, n_sockets, n_polls, n_messages, every_ms):
    demo = Demo(*args)
    latencies = {"websocket": [], "longpoll": []}
    lock = threading.Lock()
    stop = threading.Event()
    try:
        status, _, body = demo.request("GET", "/live/bench")
        head = json.loads(body)["cursor"]
        sockets = [
            WsClient(demo.port, f"/live/bench?cursor={head}", timeout=30) for _ in range(n_sockets)
        ]
        for ws in sockets:
            ws.next_of("hello")

        def read_socket(ws):
            got = 0
            while got < n_messages:
                try:
                    frame = ws.next()
                except (Closed, OSError):
                    return
                if frame.get("type") == "msg":
                    with lock:
                        latencies["websocket"].append(time.time() - frame["data"]["t"])
                    got += 1

        def long_poll():
            cursor, got = head, 0
            while got < n_messages and not stop.is_set():
                status, _, b = demo.request("GET", f"/live/bench?cursor={cursor}&wait=20000")
                if status != 200:
                    continue
                msgs = json.loads(b)["messages"]
                now = time.time()
                with lock:
                    latencies["longpoll"].extend(now - m["data"]["t"] for m in msgs)
                got += len(msgs)
                cursor = json.loads(b)["cursor"]

        threads = [threading.Thread(target=read_socket, args=(ws,)) for ws in sockets]
        threads += [threading.Thread(target=long_poll) for _ in range(n_polls)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # the long polls are held
        for i in range(n_messages):
            demo.request(
                "POST",
                "/admin/publish",
                json.dumps({"stream": "bench", "data": {"i": i, "t": time.time()}}),
            )
            time.sleep(every_ms / 1000)
        for t in threads:
            t.join(60)
        stop.set()
        stats = json.loads(demo.request("GET", "/admin/stats")[2])
        for ws in sockets:
            ws.close()
    finally:
        demo.stop()
    row = [label]
    for kind in ("websocket", "longpoll"):
        xs = sorted(latencies[kind])
        expected = n_messages * (n_sockets if kind == "websocket" else n_polls)
        if xs:
            row.append(
                f"{len(xs)}/{expected}, median {statistics.median(xs) * 1000:.1f} ms, "
                f"p99 {percentile(xs, 0.99) * 1000:.1f} ms"
            )
        else:
            row.append(f"0/{expected}")
    row.append(str(stats.get("redisConnections", "-")))
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sockets", type=int, default=100)
    p.add_argument("--polls", type=int, default=100)
    p.add_argument("--messages", type=int, default=50)
    p.add_argument("--every", type=int, default=50, help="ms between publishes")
    a = p.parse_args()
    redis = RedisServer().start()
    try:
        rows = [
            run("gevent, memory", [], a.sockets, a.polls, a.messages, a.every),
            run("gevent, Redis", ["--redis", redis.url], a.sockets, a.polls, a.messages, a.every),
            run(
                "gunicorn 2 workers, Redis",
                ["--gunicorn", "2", "--redis", redis.url],
                a.sockets,
                a.polls,
                a.messages,
                a.every,
            ),
        ]
    finally:
        redis.remove()
    print(
        f"{a.sockets} WebSockets + {a.polls} long polls waiting on one stream, {a.messages} "
        f"messages {a.every} ms apart; publish → delivery (delivered/expected)\n"
    )
    print("| server | WebSocket | long poll | Redis connections (one process) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

"""The Redis store (LIFELINE_REDIS_URL): layout, cursors across losses of history, Redis
going away and coming back, connections per process, and several processes on one Redis.
Every test starts its own redis-server (redis_server.py) and stops it whatever happens."""

import json
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from lifeline_flask import Lifeline, StoreUnavailable
from lifeline_flask.stores.redis import COMMAND_CONNECTIONS, READ_REUSE, RedisStore
from test_gevent import wait_until
from test_demo import Demo
from wsclient import WsClient

ROOT = Path(__file__).resolve().parents[3]


def redis_app(url, **options):
    app = Flask("redis_test")
    app.config["LIFELINE_REDIS_URL"] = url
    live = Lifeline(app, **options)
    live.on_send(lambda stream, data, request: live.publish(stream, data))
    return app, live


def body(resp):
    return json.loads(resp.data)


# ---- the store ---------------------------------------------------------------------------


def test_config_key_selects_the_redis_store_with_the_layout(redis_server):
    app, live = redis_app(redis_server.url)
    assert isinstance(app.extensions["lifeline"].store, RedisStore)
    c1 = live.publish("news", {"a": 1})
    epoch, offset = c1.split("-")
    assert offset == "1"
    assert redis_server.cli("HGET", "lifeline:{news}:meta", "epoch") == epoch
    assert redis_server.cli("HGET", "lifeline:{news}:meta", "offset") == "1"
    assert redis_server.cli("XLEN", "lifeline:{news}:log") == "1"
    entry = redis_server.cli("XRANGE", "lifeline:{news}:log", "-", "+").split("\n")
    assert entry[0] == c1 and entry[1:3] == ["d", '{"a":1}'] and entry[3] == "t"
    r = app.test_client().get("/live/news?cursor=0")
    assert body(r) == {"cursor": c1, "messages": [{"cursor": c1, "data": {"a": 1}}]}


def test_retention_drops_the_oldest_and_a_cursor_that_fell_out_resets(redis_server):
    app, live = redis_app(redis_server.url, retention=2)
    cursors = [live.publish("s", i) for i in range(4)]
    c = app.test_client()
    assert [m["data"] for m in body(c.get("/live/s?cursor=0"))["messages"]] == [2, 3]
    assert c.get(f"/live/s?cursor={cursors[1]}").status_code == 200  # oldest retained - 1
    r = c.get(f"/live/s?cursor={cursors[0]}")
    assert r.status_code == 410 and body(r)["cursor"] == cursors[3]


def test_retention_by_age(redis_server):
    app, live = redis_app(redis_server.url, retention_ms=300)
    first = live.publish("s", "old")
    time.sleep(0.5)
    live.publish("s", "new")
    c = app.test_client()
    assert [m["data"] for m in body(c.get("/live/s?cursor=0"))["messages"]] == ["new"]
    assert c.get(f"/live/s?cursor={first}").status_code == 200  # right before "new"
    assert c.get(f"/live/s?cursor={first.split('-')[0]}-0").status_code == 410


def test_flushall_resets_old_cursors_once(redis_server):
    app, live = redis_app(redis_server.url)
    old = live.publish("s", 1)
    redis_server.cli("FLUSHALL")
    c = app.test_client()
    r = c.get(f"/live/s?cursor={old}")
    assert r.status_code == 410
    new_head = body(r)["cursor"]
    fresh = live.publish("s", "after")
    assert fresh.split("-")[0] != old.split("-")[0]  # a new epoch
    r = c.get(f"/live/s?cursor={new_head}")
    assert [m["data"] for m in body(r)["messages"]] == ["after"]  # nothing lost after it


def test_restart_with_aof_keeps_history_and_cursors(redis_server):
    redis_server.kill()
    redis_server.start(appendonly=True)
    app, live = redis_app(redis_server.url)
    c1 = live.publish("s", 1)
    redis_server.stop()
    redis_server.start(appendonly=True)
    c2 = live.publish("s", 2)
    assert c2.split("-")[0] == c1.split("-")[0]
    r = app.test_client().get(f"/live/s?cursor={c1}")
    assert r.status_code == 200 and [m["data"] for m in body(r)["messages"]] == [2]


def test_restart_without_persistence_is_exactly_one_reset(redis_server):
    app, live = redis_app(redis_server.url)
    c = app.test_client()
    cursor = live.publish("s", 1)
    redis_server.kill()
    redis_server.start()
    resets = 0
    seen = []
    published = False
    for _ in range(6):
        r = c.get(f"/live/s?cursor={cursor}")
        if r.status_code == 410:
            resets += 1
            cursor = body(r)["cursor"]
        elif r.status_code == 200:
            seen += [m["data"] for m in body(r)["messages"]]
            cursor = body(r)["cursor"]
        if not published:
            live.publish("s", "after restart")
            published = True
    assert resets == 1
    assert seen == ["after restart"]


# ---- Redis going away ---------------------------------------------------------------------


def test_redis_down_is_503_1012_and_store_unavailable_then_everything_resumes(
    redis_server, gevent_server
):
    app, live = redis_app(redis_server.url)
    srv = gevent_server(app)
    c0 = live.publish("s", 0)
    ws = WsClient(srv.port, f"/live/s?cursor={c0}")
    ws.next_of("hello")
    held = []
    t = threading.Thread(
        target=lambda: held.append(srv.get_json(f"/live/s?cursor={c0}&wait=20000"))
    )
    t.start()
    wait_until(lambda: app.extensions["lifeline"].sessions.count("long_poll") == 1)

    redis_server.kill()
    frames, code = ws.expect_close()
    assert code == 1012
    t.join(15)
    assert held[0][0] == 503 and held[0][1]["retry-after"] == "1"
    status, headers, b = srv.get_json(f"/live/s?cursor={c0}")
    assert status == 503 and headers["retry-after"] == "1" and b["error"] == "unavailable"
    status, headers, b = srv.get_json("/live/s", headers={})
    assert status == 503
    with pytest.raises(StoreUnavailable):
        live.publish("s", "lost?")
    status, _, _ = srv.request("POST", "/live/s", json.dumps({"id": 1, "data": 1}))
    assert status == 503

    redis_server.start()  # back, empty: no app restart
    wait_until(lambda: srv.get_json("/live/s")[0] == 200, timeout=10, what="polls back")
    ws = WsClient(srv.port, "/live/s")
    hello = ws.next_of("hello")
    fresh = live.publish("s", "back")
    assert ws.next() == {"type": "msg", "cursor": fresh, "data": "back"}
    ws.close()
    r = srv.get_json(f"/live/s?cursor={c0}")
    assert r[0] == 410  # the old epoch is gone: one reset
    assert hello["cursor"] == "0-0"


def test_connections_stay_constant_however_many_wait(redis_server, gevent_server):
    app, live = redis_app(redis_server.url)
    srv = gevent_server(app)
    store = app.extensions["lifeline"].store
    c0 = live.publish("s", 0)
    sockets = [WsClient(srv.port, f"/live/s?cursor={c0}") for _ in range(20)]
    for ws in sockets:
        ws.next_of("hello")
    results = []
    polls = [
        threading.Thread(
            target=lambda: results.append(
                srv.get_json(f"/live/s?cursor={c0}&wait=20000", timeout=30)
            )
        )
        for _ in range(20)
    ]
    for t in polls:
        t.start()
    wait_until(lambda: app.extensions["lifeline"].sessions.count("long_poll") == 20)
    clients = int(redis_server.cli("INFO", "clients").split("connected_clients:")[1].split()[0])
    assert clients <= COMMAND_CONNECTIONS + 1 + 1  # + the redis-cli asking
    assert store.connection_count() <= COMMAND_CONNECTIONS + 1
    c1 = live.publish("s", "all")
    for t in polls:
        t.join(15)
    assert [r[0] for r in results] == [200] * 20
    for ws in sockets:
        assert ws.next() == {"type": "msg", "cursor": c1, "data": "all"}
        ws.close()


# ---- several processes ------------------------------------------------------------------


def test_two_gunicorn_workers_share_streams_through_redis(redis_server):
    d = Demo("--gunicorn", "2", "--redis", redis_server.url, "--name", "g")
    try:
        sockets, names = [], set()
        end = time.monotonic() + 20
        while len(names) < 2 and time.monotonic() < end:  # one socket on each worker
            ws = WsClient(d.port, "/live/shared")
            name = ws.next_of("hello")["server"]
            if name in names:
                ws.close()
                continue
            names.add(name)
            sockets.append(ws)
        assert len(names) == 2, f"both workers answered: {names}"
        status, _, stats_body = d.request("GET", "/admin/stats")
        assert json.loads(stats_body)["redisConnections"] <= COMMAND_CONNECTIONS + 1
        for i in range(6):  # publishes land on either worker
            status, headers, b = d.request(
                "POST", "/admin/publish", json.dumps({"stream": "shared", "data": i})
            )
            assert status == 200
        for ws in sockets:
            got = [ws.next()["data"] for _ in range(6)]
            assert got == list(range(6))
            ws.close()
    finally:
        d.stop()


def test_concurrent_reads_of_one_question_share_one_redis_call(redis_server):
    store = RedisStore(redis_server.url)
    cursor = store.append("s", "1")
    store.append("s", "2")
    calls = []
    gate = threading.Event()
    real = store._read_now

    def slow_read(*args):
        calls.append(args)
        gate.wait(10)
        return real(*args)

    store._read_now = slow_read
    results = []
    readers = [
        threading.Thread(target=lambda: results.append(store.read("s", cursor, 10)))
        for _ in range(10)
    ]
    for t in readers:
        t.start()
    wait_until(
        lambda: len(store._reads.get("s", {})) == 1
        and next(iter(store._reads["s"].values())).followers == 9,
        what="nine readers waiting on the first one's call",
    )
    gate.set()
    for t in readers:
        t.join(10)
    assert len(calls) == 1
    assert len(results) == 10 and all(r == results[0] for r in results)
    assert [m.json for m in results[0].messages] == ["2"]
    store.read("s", cursor, 10)  # a later read asks Redis again (no subscriber here: no reuse)
    assert len(calls) == 2
    store.close()


def test_a_read_is_answered_by_redis_once_a_second_while_no_news_comes(redis_server):
    """An idle stream's long polls renewing ask Redis once per READ_REUSE, not once each;
    news of the stream (from another process) and this process's own append ask again at
    once."""
    store = RedisStore(redis_server.url)
    other = RedisStore(redis_server.url)  # another process on the same Redis
    try:
        a = store.append("s", "1")
        store.subscribe("s", lambda: None)  # a waiter: the subscriber starts
        wait_until(lambda: store._hears("s"), what="the subscriber is subscribed")
        assert store.probe() is True  # published after a's news: that news is in
        calls = []
        real = store._read_now
        store._read_now = lambda *args: (calls.append(args), real(*args))[1]
        assert store.read("s", a, 10) == store.read("s", a, 10)
        assert store.head("s") == store.head("s") == a
        assert len(calls) == 2, "one call for the read at a, one for the head"

        b = other.append("s", "2")  # news reaches this process
        wait_until(lambda: store.read("s", a, 10).cursor == b, what="the news drops the answer")
        assert store.head("s") == b

        c = store.append("s", "3")  # its own append: before its news comes
        assert [m.json for m in store.read("s", b, 10).messages] == ["3"]

        before = len(calls)
        store.read("s", c, 10)
        store.read("s", c, 10)
        assert len(calls) == before + 1
        time.sleep(READ_REUSE + 0.1)
        store.read("s", c, 10)
        assert len(calls) == before + 2, "asked again after READ_REUSE"
    finally:
        store.close()
        other.close()


def test_python_and_node_processes_share_streams_on_one_redis(redis_server):
    """A message published from Python reaches a client of a Node process, and the other
    way round: one layout, one pair of Lua scripts."""
    flask = Demo("--redis", redis_server.url, "--name", "py")
    node = Demo(
        argv=[
            "node",
            str(ROOT / "demo" / "server.mjs"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--redis",
            redis_server.url,
            "--name",
            "js",
        ]
    )
    try:
        at_node = WsClient(node.port, "/live/mixed")
        at_flask = WsClient(flask.port, "/live/mixed")
        assert at_node.next_of("hello")["server"] == "js"
        assert at_flask.next_of("hello")["server"] == "py"
        cursors = []
        for demo, data in ((flask, "from python"), (node, "from node"), (flask, {"n": 3})):
            status, _, b = demo.request(
                "POST", "/admin/publish", json.dumps({"stream": "mixed", "data": data})
            )
            assert status == 200
            cursors.append(json.loads(b)["cursor"])
        epochs = {c.split("-")[0] for c in cursors}
        assert len(epochs) == 1 and [c.split("-")[1] for c in cursors] == ["1", "2", "3"]
        expected = [
            {"type": "msg", "cursor": c, "data": d}
            for c, d in zip(cursors, ["from python", "from node", {"n": 3}])
        ]
        assert [at_node.next() for _ in range(3)] == expected
        assert [at_flask.next() for _ in range(3)] == expected
        # and a poll of either reads the same history
        for demo in (flask, node):
            status, _, b = demo.request("GET", "/live/mixed?cursor=0")
            assert json.loads(b)["messages"] == [
                {"cursor": e["cursor"], "data": e["data"]} for e in expected
            ]
        at_node.close()
        at_flask.close()
    finally:
        flask.stop()
        node.stop()


def test_under_flask_run_another_process_publish_wakes_a_long_poll(redis_server, threaded_server):
    """Threads, not greenlets: the subscriber is a thread and wakes a threading.Event."""
    app, live = redis_app(redis_server.url)
    srv = threaded_server(app)
    other = RedisStore(redis_server.url)  # stands in for another process
    c0 = other.append("s", "0")
    out = []
    t = threading.Thread(target=lambda: out.append(srv.get_json(f"/live/s?cursor={c0}&wait=20000")))
    t.start()
    wait_until(lambda: app.extensions["lifeline"].sessions.count("long_poll") == 1)
    c1 = other.append("s", '"elsewhere"')
    t.join(15)
    assert out[0][0] == 200 and out[0][2]["messages"] == [{"cursor": c1, "data": "elsewhere"}]
    other.close()


def test_a_server_started_while_redis_is_down_answers_503_until_it_is_there():
    from redis_server import RedisServer

    redis = RedisServer()  # a port with no Redis yet
    d = Demo("--redis", redis.url)
    try:
        status, headers, _ = d.request("GET", "/live/s")
        assert status == 503 and headers["retry-after"] == "1"
        redis.start()
        wait_until(
            lambda: d.request("GET", "/live/s")[0] == 200,
            timeout=10,
            what="polls answered once Redis is there",
        )
        status, _, b = d.request("POST", "/admin/publish", json.dumps({"stream": "s", "data": 1}))
        assert status == 200
    finally:
        d.stop()
        redis.remove()


def test_appends_from_many_clients_are_atomic_and_totally_ordered(redis_server):
    stores = [RedisStore(redis_server.url) for _ in range(4)]  # 4 connections, as 4 processes
    cursors = []
    lock = threading.Lock()

    def append_many(store, who):
        for i in range(50):
            c = store.append("race", json.dumps({"who": who, "i": i}))
            with lock:
                cursors.append(c)

    threads = [threading.Thread(target=append_many, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len({c.split("-")[0] for c in cursors}) == 1  # one epoch
    assert sorted(int(c.split("-")[1]) for c in cursors) == list(range(1, 201))
    log = stores[0].read("race", "0", 500)
    assert [m.cursor for m in log.messages] == sorted(cursors, key=lambda c: int(c.split("-")[1]))
    for who in range(4):  # each writer in order
        mine = [json.loads(m.json)["i"] for m in log.messages if json.loads(m.json)["who"] == who]
        assert mine == list(range(50))
    for s in stores:
        s.close()

"""The Flask stores in production conditions (issue #21): bounded state (idle streams
expire, the meta outlives the log, the memory store caps its streams), a failover's READONLY
and a paused Redis as StoreUnavailable / 503 + Retry-After within COMMAND_TIMEOUT, and the
probe that finds a subscription that no longer delivers. Each test starts its own
redis-server (redis_server.py)."""

import json
import threading
import time

import pytest
from flask import Flask

from lifeline_flask import Lifeline, MemoryStore, StoreUnavailable, TooManyStreams
from lifeline_flask.stores.redis import COMMAND_TIMEOUT, RedisStore, parse_redis_url


def test_memory_store_keeps_a_tombstone_after_stream_ttl_and_forgets_it_after_twice_that():
    t = [1000]
    s = MemoryStore(clock_ms=lambda: t[0], stream_ttl=10_000)
    c1 = s.append("a", "1")
    c2 = s.append("a", "2")
    t[0] += 10_001
    assert s.read("a", c2, 10) == ([], c2, False)  # caught up stays caught up
    assert s.read("a", c1, 10) == ([], c2, True)  # an older cursor: exact reset
    assert s.health()["tombstones"] == 1 and s.health()["streams"] == 0
    c3 = s.append("a", "3")  # goes on in its epoch
    assert c3.split("-")[0] == c2.split("-")[0] and c3.endswith("-3")
    assert s.read("a", c2, 10).messages == [(c3, "3")]
    t[0] += 20_002
    assert s.stream_count() == 0
    assert s.read("a", c3, 10).reset  # the forgotten history resets
    assert s.head("a").split("-")[0] != c3.split("-")[0]


def test_memory_store_caps_streams_with_too_many_streams_and_tombstones_make_room():
    t = [1000]
    s = MemoryStore(clock_ms=lambda: t[0], stream_ttl=10_000, max_streams=3)
    for n in "abc":
        s.append(n, "1")
    with pytest.raises(TooManyStreams) as e:
        s.append("d", "1")
    assert isinstance(e.value, StoreUnavailable) and e.value.code == "too_many_streams"
    t[0] += 10_001
    s.append("d", "1")
    assert s.stream_count() == 3


def test_a_send_beyond_max_streams_is_503_too_many_streams():
    app = Flask("cap")
    live = Lifeline(app, max_streams=1)
    live.on_send(lambda stream, data, request: live.publish(stream, data))
    c = app.test_client()
    assert c.post("/live/a", json={"id": 1, "data": 1}).status_code == 200
    r = c.post("/live/b", json={"id": 2, "data": 1})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.get_json()["error"] == "too_many_streams"


def test_parse_redis_url():
    assert parse_redis_url("redis://h:1/0") == ("single", "redis://h:1/0", None)
    assert parse_redis_url("redis-cluster://a:1,b:2") == ("cluster", [("a", 1), ("b", 2)], None)
    assert parse_redis_url("redis-sentinel://a:1/m") == ("sentinel", [("a", 1)], "m")
    for bad in ("redis-sentinel://a:1", "http://a", "redis-cluster://a"):
        with pytest.raises(ValueError):
            parse_redis_url(bad)


def test_redis_keys_expire_meta_twice_as_late_and_an_old_cursor_resets(redis_server):
    store = RedisStore(redis_server.url, stream_ttl=400)
    try:
        c1 = store.append("s", '"a"')
        c2 = store.append("s", '"b"')
        assert 0 < int(redis_server.cli("PTTL", "lifeline:{s}:log")) <= 400
        assert 400 < int(redis_server.cli("PTTL", "lifeline:{s}:meta")) <= 800
        time.sleep(0.5)
        assert redis_server.cli("EXISTS", "lifeline:{s}:log") == "0"
        assert store.read("s", c2, 10) == ([], c2, False)
        assert store.read("s", c1, 10) == ([], c2, True)
        time.sleep(0.4)
        assert redis_server.cli("DBSIZE") == "0"
        assert store.read("s", c2, 10).reset
        assert store.append("s", '"c"').split("-")[0] != c1.split("-")[0]
    finally:
        store.close()


def test_readonly_replica_is_store_unavailable_and_503_with_retry_after(redis_server):
    app = Flask("ro")
    app.config["LIFELINE_REDIS_URL"] = redis_server.url
    live = Lifeline(app)
    live.on_send(lambda stream, data, request: live.publish(stream, data))
    c = app.test_client()
    try:
        live.publish("s", 1)
        redis_server.cli("REPLICAOF", "127.0.0.1", "1")
        with pytest.raises(StoreUnavailable):
            live.publish("s", 2)
        r = c.post("/live/s", json={"id": 1, "data": 2})
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert r.get_json()["error"] == "unavailable"
        redis_server.cli("REPLICAOF", "NO", "ONE")
        assert live.publish("s", 3).endswith("-1000000002")  # promoted again: after a gap
    finally:
        app.extensions["lifeline"].store.close()


def test_a_paused_redis_fails_a_command_after_command_timeout(redis_server):
    store = RedisStore(redis_server.url)
    try:
        store.append("s", "1")
        redis_server.cli("CLIENT", "PAUSE", "5000", "ALL")
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.append("s", "2")
        waited = time.monotonic() - t0
        assert COMMAND_TIMEOUT - 0.1 <= waited < COMMAND_TIMEOUT + 1.5, waited
        redis_server.cli("CLIENT", "UNPAUSE")
        assert store.append("s", "3").split("-")[1] in ("2", "3")  # the timed-out one may be in
    finally:
        store.close()


def test_the_probe_finds_a_subscription_that_no_longer_delivers_and_subscribes_again(redis_server):
    store = RedisStore(redis_server.url)
    other = RedisStore(redis_server.url)
    try:
        store.subscribe("s", lambda: None)  # starts the listener
        end = time.monotonic() + 5
        while not store._listening and time.monotonic() < end:
            time.sleep(0.02)
        assert store.probe() is True
        # the silent stall: the listener's connection stays, but no longer subscribed
        store._pubsub.unsubscribe(store._channel)
        head = store.head("s")
        woken = []
        waiter = threading.Thread(target=lambda: woken.append(store.wait("s", head, 15000)))
        waiter.start()
        time.sleep(0.2)  # waiting now
        t0 = time.monotonic()
        other.append("s", '"news"')  # its notification is lost
        waiter.join(15)
        assert woken == [True]
        took = time.monotonic() - t0
        assert 1 < took < 10, took  # woken by the probe, not the news
        h = store.health()
        assert h["probe"]["failures"] == 1 and h["probe"]["resubscribes"] == 1
        end = time.monotonic() + 3
        while not store.health()["subscribed"] and time.monotonic() < end:
            time.sleep(0.05)
        assert store.probe() is True
    finally:
        store.close()
        other.close()


def test_flask_lifeline_health_reports_the_store(redis_server):
    app = Flask("health")
    app.config["LIFELINE_REDIS_URL"] = redis_server.url
    live = Lifeline(app)
    try:
        result = app.test_cli_runner().invoke(args=["lifeline", "health"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["ok"] is True and report["store"] == "redis" and report["mode"] == "single"
        redis_server.kill()
        result = app.test_cli_runner().invoke(args=["lifeline", "health"])
        assert result.exit_code == 1 and json.loads(result.output)["connected"] is False
        assert live.health()["ok"] is False
    finally:
        app.extensions["lifeline"].store.close()

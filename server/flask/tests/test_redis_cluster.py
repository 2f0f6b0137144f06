"""The Flask Redis store on a real Redis Cluster (3 primaries + 3 replicas,
redis_server.RedisClusterServers): appends and reads on every shard, waiters woken through
sharded Pub/Sub (redis-py 4.3.4 has none: the store's own SSUBSCRIBE loop), connections
constant in the number of streams waited on, and a primary killed: appends resume and a
waiter subscribed before the failover is woken by an append after it."""

import threading
import time

import pytest

from lifeline_flask.stores.redis import RedisStore


@pytest.fixture(scope="module")
def cluster():
    from redis_server import RedisClusterServers

    c = RedisClusterServers().start()
    yield c
    c.remove()


def wait_in_thread(store, stream, cursor, timeout):
    """store.wait in a thread; timeout in seconds (the store takes ms)."""
    out = []
    t = threading.Thread(target=lambda: out.append(store.wait(stream, cursor, timeout * 1000)))
    t.start()
    return t, out


def test_streams_on_every_shard_wake_waiters_through_sharded_pubsub(cluster):
    a, b = RedisStore(cluster.url), RedisStore(cluster.url)
    try:
        streams = [f"room-{i}" for i in range(12)]
        heads = {s: b.head(s) for s in streams}
        waiters = {s: wait_in_thread(b, s, heads[s], 10) for s in streams}
        time.sleep(0.5)  # subscribed (SSUBSCRIBE confirmed)
        t0 = time.monotonic()
        cursors = {s: a.append(s, f'"{s}"') for s in streams}
        for s, (t, out) in waiters.items():
            t.join(10)
            assert out == [True], s
        assert time.monotonic() - t0 < 5
        for s in streams:
            assert b.read(s, heads[s], 10).messages == [(cursors[s], f'"{s}"')]
        # constant connections: 200 more streams waited on add no connection
        before = b.connection_count()
        leave = [b.subscribe(f"user-{i}", lambda: None) for i in range(200)]
        time.sleep(0.5)
        assert b.connection_count() <= 6, (before, b.connection_count())
        assert b.probe() is True  # through one of the shards' subscriptions
        for f in leave:
            f()
        assert b.health()["mode"] == "cluster"
    finally:
        a.close()
        b.close()


def test_a_killed_primary_is_failed_over_and_waiters_get_news_from_the_new_one(cluster):
    a, b = RedisStore(cluster.url), RedisStore(cluster.url)
    try:
        stream = "failover"
        c1 = a.append(stream, "1")
        primary = cluster.primary_of(f"lifeline:{{{stream}}}:meta")
        head = b.head(stream)
        t, out = wait_in_thread(b, stream, head, 30)  # subscribed on the old primary
        time.sleep(0.5)
        primary.kill()
        t0 = time.monotonic()
        resumed = None
        while time.monotonic() - t0 < 20:
            try:
                c2 = a.append(stream, "2")
                resumed = time.monotonic() - t0
                break
            except Exception:
                time.sleep(0.1)
        assert resumed is not None and resumed < 10, resumed
        t.join(15)
        assert out == [True]  # woken (by the loss, then the news)

        def read_after(cursor):  # b learns the new topology too
            end = time.monotonic() + 10
            while True:
                try:
                    return b.read(stream, cursor, 10)
                except Exception:
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.1)

        assert [m.json for m in read_after(c1).messages] == ["2"]
        assert c2.split("-")[0] == c1.split("-")[0]  # the same history, nothing lost
        # the sharded subscription now lives on the new primary: news arrives again
        head = read_after(None).cursor
        t, out = wait_in_thread(b, stream, head, 10)
        time.sleep(0.5)
        t1 = time.monotonic()
        a.append(stream, "3")
        t.join(10)
        assert out == [True] and time.monotonic() - t1 < 5
        print(f"cluster failover (flask): appends again {resumed:.2f} s after the kill")
    finally:
        a.close()
        b.close()

"""The Redis store: streams shared by every process and worker on one Redis, a
Sentinel-managed Redis or a Redis Cluster (server/DESIGN.md "Redis layout", "Redis in
production"; `LIFELINE_REDIS_URL` selects it):

    redis://127.0.0.1:6379/0                                  one Redis
    redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster   the master Sentinel names
    redis-cluster://10.0.0.1:7000,10.0.0.2:7000               a Cluster (seed nodes)

Layout: `<prefix>:{<stream>}:log` (a Redis stream, entry ID = the cursor
`<epoch>-<offset>`, field `d` = the message's JSON text, `t` = when it was appended, for
`retention_ms`), `<prefix>:{<stream>}:meta` (hash: `epoch`, `offset`), and notifications:
`<prefix>:notify` (Pub/Sub, one Redis / Sentinel) or `<prefix>:{<stream>}:notify` (sharded
Pub/Sub, Cluster) — the stream name after every append; a wake-up hint, never the truth.
Appends and reads are Lua scripts (lua/*.lua, copies of server/redis/*.lua made by `make
lua-copies`), so the epoch check, the offset and the XADD are one atomic step and a read sees
one instant. `stream_ttl`: the log expires after that long without an append, the meta
twice as late (an old cursor still meets its epoch: a reset, never a gap).

Connections per process, however many long polls, WebSockets and streams: commands take
turns on `COMMAND_CONNECTIONS` connection(s) (concurrent identical reads share one call);
one Pub/Sub subscriber (one Redis / Sentinel), or one sharded subscriber connection per
primary (Cluster: redis-py 4.3.4 has no sharded Pub/Sub, so `_ShardSubscriber` speaks
SSUBSCRIBE itself; a stream is subscribed while this process has a waiter on it). The
subscriber runs in a greenlet when gevent has patched sockets, in a thread otherwise, and
fans each notification out to the local waiters of that stream. When its connection breaks
it wakes every local waiter (their next read raises `StoreUnavailable`: polls answer 503,
WebSockets close 1012) and reconnects with backoff; once back it wakes them all again.

Redis down or failing over — connection errors, no answer within `COMMAND_TIMEOUT` (the same
2 s as Node), READONLY (an old primary), LOADING, MASTERDOWN, CLUSTERDOWN, TRYAGAIN — is
`StoreUnavailable`. No silent stall: when no notification came for `PROBE_EVERY` s, a probe is
published on the subscriber's own channel and must come back within `PROBE_WAIT` s; if not,
the subscriber connection is made again and every waiter woken. `health()` reports it.
"""

import os
import select
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import redis
from redis.crc import key_slot

from ..concurrency import make_event
from ..cursor import parse_cursor
from ..errors import StoreUnavailable
from .base import Message, Read, Store, json_text
from .memory import DEFAULT_STREAM_TTL
from .subscribers import Subscribers

COMMAND_CONNECTIONS = 1  # commands take turns on this many; + 1 subscriber = 2 per process
COMMAND_TIMEOUT = 2.0  # s: longest wait for any Redis command (Node: COMMAND_TIMEOUT_MS)
REPLICA_WAIT_MS = 1000  # with replicas, an append is acknowledged once all connected have it
READ_REUSE = 1.0  # s an answer is reused while no news of its stream came (READ_REUSE_MS)
PROBE_EVERY = 5.0  # s without news before the subscription is probed
PROBE_WAIT = 2.0  # s the probe has to come back
_PROBE_PREFIX = "?probe "  # never a stream name ([A-Za-z0-9_.:-])
_LUA = Path(__file__).resolve().parent / "lua"
_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)
_CLUSTER_DOWN = (
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
    redis.exceptions.TryAgainError,
)
# replies that mean "Redis cannot serve now" (a failover, a load), not "this request is wrong"
_UNAVAILABLE_REPLY = (
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "READONLY",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "NOREPLICAS",
    "MOVED",
    "ASK",
    "You can't write against a read only",
)


def parse_redis_url(url):
    """`redis://…` → ("single", url); `redis-sentinel://h:p,…/name` → ("sentinel", nodes,
    name); `redis-cluster://h:p,…` → ("cluster", nodes, None)."""
    if not isinstance(url, str):
        raise ValueError("the Redis URL must be a string")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return ("single", url, None)
    for mode in ("sentinel", "cluster"):
        head = f"redis-{mode}://"
        if url.startswith(head):
            rest = url[len(head) :]
            hosts, _, name = rest.partition("/")
            nodes = []
            for hp in hosts.split(","):
                host, _, port = hp.rpartition(":")
                if not host or not port.isdigit():
                    raise ValueError(f"not host:port: {hp!r} in {url}")
                nodes.append((host, int(port)))
            if mode == "sentinel" and not name:
                raise ValueError(f"{url}: name the master: redis-sentinel://h:p,…/<name>")
            return (mode, nodes, name or None)
    raise ValueError(
        f"not a Redis URL: {url} (redis://h:p, redis-sentinel://h:p,…/name, "
        "redis-cluster://h:p,…)"
    )


def _unavailable_reply(e):
    return (
        isinstance(e, redis.ResponseError)
        and not isinstance(e, redis.exceptions.NoScriptError)
        and str(e).startswith(_UNAVAILABLE_REPLY)
    )


def _sockets_patched():
    gevent = sys.modules.get("gevent")
    if gevent is None:
        return False
    from gevent import monkey

    return monkey.is_module_patched("socket")


def _sleep(seconds):
    if _sockets_patched():
        import gevent

        gevent.sleep(seconds)
    else:
        time.sleep(seconds)


def _spawn(target, name):
    if _sockets_patched():
        import gevent

        return gevent.spawn(target)
    t = threading.Thread(target=target, daemon=True, name=name)
    t.start()
    return t


def _text(x):
    return x.decode() if isinstance(x, bytes) else x


class _Flight:
    """One Redis read in progress that other readers wait for."""

    __slots__ = ("done", "result", "error", "followers", "until")

    def __init__(self):
        self.followers = 0
        self.until = float("inf")  # in flight; once answered, reused until then (monotonic s)
        self.done = make_event()
        self.result = None
        self.error = None


class RedisStore(Store):
    def __init__(
        self,
        url="redis://127.0.0.1:6379/0",
        key_prefix="lifeline",
        retention=1000,
        retention_ms=None,
        stream_ttl=DEFAULT_STREAM_TTL,
    ):
        self._prefix = key_prefix
        self._channel = f"{key_prefix}:notify"
        self.retention = retention
        self.retention_ms = retention_ms
        if stream_ttl is not None and (not isinstance(stream_ttl, int) or stream_ttl < 1):
            raise ValueError("stream_ttl must be an integer >= 1 or None")
        self.stream_ttl = stream_ttl
        self.mode, nodes, name = parse_redis_url(url)
        timeouts = dict(socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=COMMAND_TIMEOUT)
        self._turns = threading.BoundedSemaphore(COMMAND_CONNECTIONS)
        if self.mode == "single":
            pool = redis.BlockingConnectionPool.from_url(
                url, max_connections=COMMAND_CONNECTIONS, timeout=COMMAND_TIMEOUT, **timeouts
            )
            self._redis = redis.Redis(connection_pool=pool)
            self._sub_pool = redis.ConnectionPool.from_url(url, max_connections=1, **timeouts)
            self._sub_redis = redis.Redis(connection_pool=self._sub_pool)
        elif self.mode == "sentinel":
            from redis.sentinel import Sentinel

            self._sentinel = Sentinel(nodes, sentinel_kwargs=timeouts, **timeouts)
            self._redis = self._sentinel.master_for(name, **timeouts)
            self._sub_redis = self._sentinel.master_for(name, **timeouts)
            self._sub_pool = self._sub_redis.connection_pool
        else:
            from redis.cluster import ClusterNode, RedisCluster

            self._redis = RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in nodes],
                cluster_error_retry_attempts=1,
                **timeouts,
            )
            # redis-py 4.3.4 deep-copies its connection options when it reads the topology
            # again (after a failover), and its own on-connect hook, a bound method of the
            # client, holds locks that cannot be copied: the same hook as a plain function
            self._redis.nodes_manager.connection_kwargs["redis_connect_func"] = _cluster_on_connect
            self._shards = _ShardSubscriber(self, self._redis)
        self._scripts = {
            n: ((_LUA / f"{n}.lua").read_text(), self._redis_sha((_LUA / f"{n}.lua").read_text()))
            for n in ("append", "read")
        }
        self._scripts_loaded = False
        self._lock = threading.Lock()
        self._subs = Subscribers()
        self._local = {}  # Cluster: stream -> local waiters (subscribed while > 0)
        self._reads: Dict[str, Dict[Any, _Flight]] = {}  # stream -> (cursor, limit) -> read
        self._reads_swept = time.monotonic()
        self._listener = None
        self._listening = False
        self._closed = False
        self._probe: Dict[str, Any] = {
            "sent": 0,
            "failures": 0,
            "resubscribes": 0,
            "last_ok": None,
            "last_news": time.monotonic(),
            "pending": None,
            "seq": 0,
        }
        self._probe_id = os.urandom(6).hex()
        self._kick = None  # set by the listener: drop the subscriber connection

    @staticmethod
    def _redis_sha(text):
        import hashlib

        return hashlib.sha1(text.encode()).hexdigest()

    # ---- commands -------------------------------------------------------------------

    def _keys(self, stream):
        return [f"{self._prefix}:{{{stream}}}:meta", f"{self._prefix}:{{{stream}}}:log"]

    def _notify_channel(self, stream):
        return f"{self._prefix}:{{{stream}}}:notify" if self.mode == "cluster" else self._channel

    def _command(self, *args, **options):
        """One command; every failure of Redis is StoreUnavailable."""
        if self._closed:
            raise StoreUnavailable("the Redis store is closed")
        try:
            if self.mode == "single":
                return self._redis.execute_command(*args, **options)
            if not self._turns.acquire(timeout=COMMAND_TIMEOUT):
                raise StoreUnavailable("Redis: no command connection free in time")
            try:
                return self._redis.execute_command(*args, **options)
            finally:
                self._turns.release()
        except _DOWN + _CLUSTER_DOWN as e:
            raise StoreUnavailable(f"Redis is unavailable: {e}") from None
        except redis.ResponseError as e:
            if _unavailable_reply(e):
                raise StoreUnavailable(f"Redis is unavailable: {e}") from None
            raise

    def _run(self, name, keys, args):
        text, sha = self._scripts[name]
        rest = [len(keys), *keys, *args]
        if self.mode == "cluster" and not self._scripts_loaded:
            self._load_scripts()
        try:
            return self._command("EVALSHA", sha, *rest)
        except redis.ResponseError as e:
            if not isinstance(e, redis.exceptions.NoScriptError) and not str(e).startswith(
                "NOSCRIPT"
            ):
                raise
            # (a primary new since a failover: EVAL caches the script there too)
            return self._command("EVAL", text, *rest)

    def _load_scripts(self):
        """Cluster: SCRIPT LOAD on every primary (redis-py logs every NOSCRIPT it meets)."""
        for text, _ in self._scripts.values():
            self._command("SCRIPT", "LOAD", text)
        self._scripts_loaded = True

    # ---- the interface ------------------------------------------------------------

    def append(self, stream, json):
        text = json_text(json)
        keys = self._keys(stream)
        cursor, replicas = self._run(
            "append",
            keys,
            [
                text,
                self._retention,
                self._retention_ms or 0,
                self._notify_channel(stream),
                stream,
                self.stream_ttl or 0,
                1 if self.mode == "cluster" else 0,
            ],
        )
        self._forget_reads(stream)  # this process reads its own append at once, before its news
        cursor = _text(cursor)
        if int(replicas) > 0:
            # acknowledged means on the replicas too (a failover promotes one): WAIT on the
            # connection that appended (commands take turns on one per primary)
            # every connected replica: whichever a failover promotes then has it
            n = int(replicas)
            if self.mode == "cluster":
                node = self._redis.get_node_from_key(keys[0])
                acked = self._command("WAIT", n, REPLICA_WAIT_MS, target_nodes=node)
            else:
                acked = self._command("WAIT", n, REPLICA_WAIT_MS)
            if int(acked) < n:
                raise StoreUnavailable(
                    f"Redis: the append {cursor} reached {acked} of {n} "
                    f"replicas within {REPLICA_WAIT_MS} ms (it may still appear)"
                )
        return cursor

    def head(self, stream):
        return self.read(stream, None, 0).cursor

    def read(self, stream, cursor, limit):
        """Concurrent reads of the same (stream, cursor, limit) share one Redis call: a
        notification wakes every local waiter of a stream, and those that are caught up
        all ask the same question. The answer is reused for READ_REUSE s while no news of
        the stream came, when news of it reaches this process (`_hears`): an idle stream's
        long polls renewing and a fan-out's clients coming back with the same cursor cost
        one script call a second, not one each. News, a reconnect, a failed probe or clear()
        drop the answers at once. What changes with no news: messages expiring by age
        (`retention_ms`), so an answer with messages is not reused then; a stream's keys
        expiring (`stream_ttl`), which shows at most READ_REUSE s late (a quarter of
        stream_ttl when that is shorter than 4 s)."""
        key = (cursor, limit)
        now = time.monotonic()
        with self._lock:
            if now - self._reads_swept >= READ_REUSE:
                self._sweep_reads(now)
            reads = self._reads.setdefault(stream, {})
            flight = reads.get(key)
            if flight is not None and flight.until <= now:
                flight = None
            leader = flight is None
            if flight is None:
                flight = reads[key] = _Flight()
            else:
                flight.followers += 1
        if not leader:
            if not flight.done.wait(COMMAND_TIMEOUT * 5):
                raise StoreUnavailable("Redis read timed out")
            if flight.error is not None:
                raise flight.error
            return flight.result
        try:
            flight.result = self._read_now(stream, cursor, limit)
        except BaseException as e:
            flight.error = e
            raise
        finally:
            with self._lock:
                if self._reads.get(stream, {}).get(key) is flight:  # no news meanwhile
                    result = flight.result
                    reusable = (
                        result is not None
                        and self._hears(stream)
                        and not (self._retention_ms and result.messages)
                    )
                    if reusable:
                        flight.until = time.monotonic() + self._reuse()
                    else:
                        del reads[key]
            flight.done.set()
        return flight.result

    def _reuse(self):
        """How long an answer is reused (s): READ_REUSE, or a quarter of a short stream_ttl
        (whose expiry changes answers with no news)."""
        return min(READ_REUSE, (self.stream_ttl or float("inf")) / 4000)

    def _hears(self, stream):
        """Whether news of ``stream`` reaches this process now (one Redis, Sentinel: the
        subscriber is subscribed; Cluster: the stream's channel is, which it is while this
        process has a waiter on it)."""
        if self.mode == "cluster":
            return self._shards.hears(self._notify_channel(stream))
        return self._listening

    def _sweep_reads(self, now):
        """Drop the answers no longer reused (under the lock, at most once a READ_REUSE)."""
        self._reads_swept = now
        for stream in list(self._reads):
            reads = self._reads[stream]
            for key in [k for k, f in reads.items() if f.until <= now]:
                del reads[key]
            if not reads:
                del self._reads[stream]

    def _forget_reads(self, stream):
        """News of ``stream`` (None: of every stream, or news may have been missed): reads
        asked from now on go to Redis — a read in flight may have been answered before the
        append, and a waiter woken by this news would otherwise get the old answer and wait
        again, its wake-up lost."""
        with self._lock:
            if stream is None:
                self._reads.clear()
            else:
                self._reads.pop(stream, None)

    def _read_now(self, stream, cursor, limit):
        if cursor is None:
            hi = lo = ""
        else:
            pair = parse_cursor(cursor)
            if pair is None:
                raise ValueError(f"invalid cursor {cursor!r}")
            hi, lo = str(pair[0]), str(pair[1])  # decimal, no leading zeros
        out = self._run("read", self._keys(stream), [hi, lo, limit, self._retention_ms or 0])
        out = [_text(x) for x in out]
        if out[0] == "reset":
            return Read([], out[1], True)
        flat = out[2:]
        return Read([Message(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)], out[1], False)

    def subscribe(self, stream, fn):
        unsubscribe = self._subs.add(stream, fn)
        if self.mode == "cluster":
            with self._lock:
                n = self._local[stream] = self._local.get(stream, 0) + 1
            if n == 1:
                self._shards.want(self._notify_channel(stream), True)
            gone: List[Any] = []

            def leave():
                unsubscribe()
                if gone:
                    return
                gone.append(True)
                with self._lock:
                    left = self._local[stream] = self._local.get(stream, 1) - 1
                    if left <= 0:
                        del self._local[stream]
                if left <= 0:
                    self._shards.want(self._notify_channel(stream), False)

            self._ensure_listener()
            return leave
        self._ensure_listener()
        return unsubscribe

    def _ensure_listener(self):
        with self._lock:
            start = self._listener is None and not self._closed
            if start:
                self._listener = True
        if start:
            target = self._shards.run if self.mode == "cluster" else self._listen
            self._listener = _spawn(target, "lifeline-redis-notify")
            _spawn(self._prober, "lifeline-redis-probe")

    def close(self):
        self._closed = True
        self._subs.wake_all()
        try:
            if self.mode == "cluster":
                self._shards.close()
                self._redis.close()
            else:
                self._redis.connection_pool.disconnect()
                self._sub_pool.disconnect()
        except Exception:
            pass

    # ---- beyond the interface -----------------------------------------------------

    def clear(self):
        """Delete every key under the prefix (what a Redis without persistence loses when
        it restarts): every stream's history is gone, and cursors given out reset."""
        try:
            if self.mode == "cluster":
                for node in self._redis.get_primaries():
                    client = self._redis.get_redis_connection(node)
                    for k in list(client.scan_iter(match=f"{self._prefix}:*", count=1000)):
                        client.unlink(k)
            else:
                keys = list(self._redis.scan_iter(match=f"{self._prefix}:*", count=1000))
                for i in range(0, len(keys), 500):
                    self._redis.unlink(*keys[i : i + 500])
        except _DOWN as e:
            raise StoreUnavailable(f"Redis is unavailable: {e}") from None
        self._forget_reads(None)
        self._subs.wake_all()

    def connection_count(self):
        """Redis connections this process holds open now (commands + subscriber)."""
        if self.mode == "cluster":
            return self._shards.connection_count() + sum(
                len(getattr(n.redis_connection.connection_pool, "_available_connections", []))
                + len(getattr(n.redis_connection.connection_pool, "_in_use_connections", []))
                for n in self._redis.get_nodes()
                if n.redis_connection is not None
            )
        pool = self._redis.connection_pool
        if self.mode == "single":
            commands = sum(1 for c in getattr(pool, "_connections", []) if c is not None)
        else:
            commands = len(pool._available_connections) + len(pool._in_use_connections)
        return commands + (1 if self._listening else 0)

    def health(self):
        """The store's state: {ok, store, mode, connected, ping_ms, subscribed, probe}."""
        ping = None
        try:
            t = time.monotonic()
            self._command("PING")
            ping = round((time.monotonic() - t) * 1000, 1)
        except Exception:
            pass
        p = self._probe
        subscribed = self._shards.connected() if self.mode == "cluster" else self._listening
        return {
            "ok": ping is not None and (self._listener is None or subscribed),
            "store": "redis",
            "mode": self.mode,
            "connected": ping is not None,
            "ping_ms": ping,
            "subscribed": subscribed,
            "probe": {
                "sent": p["sent"],
                "failures": p["failures"],
                "resubscribes": p["resubscribes"],
                "last_ok_ago_s": None
                if p["last_ok"] is None
                else round(time.monotonic() - p["last_ok"], 1),
            },
        }

    # ---- the subscriber (one Redis, Sentinel) -------------------------------------

    def _news(self, text):
        self._probe["last_news"] = time.monotonic()
        if text.startswith(_PROBE_PREFIX):
            pending = self._probe["pending"]
            if pending is not None and pending[0] == text:
                pending[1].set()
            return
        self._forget_reads(text)
        self._subs.wake(text)

    def _listen(self):
        backoff = 0.05
        while not self._closed:
            pubsub = self._pubsub = self._sub_redis.pubsub()
            kicked = []
            self._kick = lambda: kicked.append(True)
            try:
                pubsub.subscribe(self._channel)
                while not self._closed and not kicked:
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._listening = True
                        backoff = 0.05
                        self._forget_reads(None)
                        self._subs.wake_all()  # notifications were lost while away
                    elif message["type"] == "message":
                        self._news(_text(message["data"]))
            except _DOWN:
                pass
            except Exception as e:  # never let the listener die: log and go on
                print(f"lifeline: Redis listener: {e!r}", file=sys.stderr)
            finally:
                was = self._listening
                self._listening = False
                self._forget_reads(None)
                try:
                    pubsub.close()
                except Exception:
                    pass
                if was:
                    self._subs.wake_all()  # waiters find out that Redis is gone
            if not self._closed and not kicked:
                _sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    # ---- no silent stall ----------------------------------------------------------

    def _prober(self):
        while not self._closed:
            _sleep(1.0)
            if time.monotonic() - self._probe["last_news"] >= PROBE_EVERY:
                try:
                    self.probe()
                except Exception as e:  # never let the prober die
                    print(f"lifeline: Redis probe: {e!r}", file=sys.stderr)

    def probe(self):
        """Publish a probe on this process's own subscription and wait PROBE_WAIT s for it.
        Not back: the subscriber connection is made again and every waiter woken. Returns
        True (came back), False (did not: resubscribed) or None (Redis down, or nothing
        subscribed to probe)."""
        channel = self._channel
        if self.mode == "cluster":
            with self._lock:
                stream = next(iter(self._local), None)
            if stream is None:
                return None
            channel = self._notify_channel(stream)
        elif not self._listening:
            return None
        self._probe["seq"] += 1
        text = f"{_PROBE_PREFIX}{self._probe_id} {self._probe['seq']}"
        event = make_event()
        self._probe["pending"] = (text, event)
        try:
            try:
                if self.mode == "cluster":  # redis-py 4.3.4 cannot route SPUBLISH itself
                    node = self._redis.get_node_from_key(channel)
                    self._command("SPUBLISH", channel, text, target_nodes=node)
                else:
                    self._command("PUBLISH", channel, text)
            except StoreUnavailable:
                self._probe["last_news"] = time.monotonic()
                return None
            came = bool(event.wait(PROBE_WAIT))
        finally:
            self._probe["pending"] = None
        self._probe["sent"] += 1
        if came:
            self._probe["last_ok"] = self._probe["last_news"] = time.monotonic()
            return True
        self._probe["failures"] += 1
        self._probe["resubscribes"] += 1
        print(
            "lifeline: the Redis notification subscription did not deliver a probe: "
            "subscribing again",
            file=sys.stderr,
        )
        if self.mode == "cluster":
            self._shards.reset()
        elif self._kick is not None:
            self._kick()
        self._probe["last_news"] = time.monotonic()
        return False


class _ShardSubscriber:
    """Sharded Pub/Sub on a Redis Cluster for redis-py 4.3.4 (which has none): one
    connection per primary that serves a wanted channel, SSUBSCRIBE sent by one loop (a
    thread or a greenlet) that also reads every connection. A channel's primary is its slot's
    (the channel carries the stream's hash tag). Any error — a connection lost, a MOVED or
    CLUSTERDOWN answer after a failover — drops every connection, re-reads the topology and
    subscribes everything again, waking every waiter (notifications may have been missed).
    Each confirmed SSUBSCRIBE wakes that stream's waiters: an append before it sent no news
    here."""

    def __init__(self, store, cluster):
        self._store = store
        self._cluster = cluster
        self._lock = threading.Lock()
        self._wanted = set()
        self._changes = []  # (channel, subscribe?) for the loop to send
        self._conns = {}  # node name -> redis.Connection
        self._where = {}  # channel -> node name it is subscribed on
        self._confirmed = set()  # channels whose SSUBSCRIBE was answered (news arrives)
        self._reset = False
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)

    def want(self, channel, on):
        with self._lock:
            (self._wanted.add if on else self._wanted.discard)(channel)
            self._changes.append((channel, on))
        self._poke()

    def reset(self):
        self._reset = True
        self._poke()

    def _poke(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def connected(self):
        return bool(self._conns) or not self._wanted

    def hears(self, channel):
        return channel in self._confirmed and channel in self._wanted

    def connection_count(self):
        return len(self._conns)

    def close(self):
        self._closed = True
        self._poke()

    def _drop_all(self):
        for c in self._conns.values():
            try:
                c.disconnect()
            except Exception:
                pass
        self._conns.clear()
        self._where.clear()
        self._confirmed.clear()

    def _conn_for(self, channel):
        node = self._cluster.nodes_manager.get_node_from_slot(key_slot(channel.encode()))
        conn = self._conns.get(node.name)
        if conn is None:
            conn = redis.Connection(
                host=node.host,
                port=node.port,
                socket_timeout=COMMAND_TIMEOUT,
                socket_connect_timeout=COMMAND_TIMEOUT,
            )
            conn.connect()
            self._conns[node.name] = conn
        return node.name, conn

    def run(self):
        store = self._store
        backoff = 0.05
        while not self._closed and not store._closed:
            try:
                if self._reset:
                    self._reset = False
                    raise redis.ConnectionError("resubscribing")
                with self._lock:
                    changes, self._changes = self._changes, []
                for channel, on in changes:
                    if on and channel not in self._where:
                        name, conn = self._conn_for(channel)
                        conn.send_command("SSUBSCRIBE", channel)
                        self._where[channel] = name
                    elif not on and channel in self._where and channel not in self._wanted:
                        self._confirmed.discard(channel)
                        conn = self._conns.get(self._where.pop(channel))
                        if conn is not None:
                            conn.send_command("SUNSUBSCRIBE", channel)
                socks = [c._sock for c in self._conns.values() if c._sock is not None]
                busy = [c for c in self._conns.values() if c.can_read(timeout=0)]
                if not busy:
                    ready, _, _ = select.select(socks + [self._wake_r], [], [], 1.0)
                    if self._wake_r in ready:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except (BlockingIOError, OSError):
                            pass
                    busy = [c for c in self._conns.values() if c._sock in ready]
                for conn in busy:
                    while conn.can_read(timeout=0):
                        reply = conn.read_response()
                        if isinstance(reply, Exception):
                            raise redis.ConnectionError(f"sharded subscriber: {reply}")
                        kind = _text(reply[0])
                        if kind == "smessage":
                            store._news(_text(reply[2]))
                        elif kind == "ssubscribe":
                            backoff = 0.05
                            self._confirmed.add(_text(reply[1]))
                            stream = _stream_of(_text(reply[1]))
                            store._forget_reads(stream)
                            store._subs.wake(stream)
            except Exception as e:
                if not isinstance(e, (redis.RedisError, OSError)):
                    print(f"lifeline: Redis sharded subscriber: {e!r}", file=sys.stderr)
                self._drop_all()
                store._forget_reads(None)
                store._subs.wake_all()  # waiters re-read (and learn if Redis is down)
                if self._closed or store._closed:
                    break
                _sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                try:
                    self._cluster.nodes_manager.initialize()
                except Exception:
                    pass
                with self._lock:  # subscribe everything again
                    self._changes = [(ch, True) for ch in self._wanted]
        self._drop_all()


def _cluster_on_connect(connection):
    """What RedisCluster.on_connect does (without replica reads)."""
    from redis.cluster import ClusterParser

    connection.set_parser(ClusterParser)
    connection.on_connect()


def _stream_of(channel):
    """`<prefix>:{<stream>}:notify` → stream."""
    return channel[channel.index("{") + 1 : channel.rindex("}")]

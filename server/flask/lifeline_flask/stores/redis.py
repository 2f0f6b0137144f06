"""The Redis store: streams shared by every process and worker on one Redis
(server/DESIGN.md "Redis layout"; `LIFELINE_REDIS_URL` selects it).

Layout: `<prefix>:{<stream>}:log` (a Redis stream, entry ID = the cursor
`<epoch>-<offset>`, field `d` = the message's JSON text, `t` = when it was appended, for
`retention_ms`), `<prefix>:{<stream>}:meta` (hash: `epoch`, `offset`), `<prefix>:notify`
(Pub/Sub: the stream name after every append; a wake-up hint, never the truth). Appends and
reads are Lua scripts (lua/*.lua, copies of server/redis/*.lua made by `make lua-copies`),
so the epoch check, the offset and the XADD are one atomic step and a read sees one instant.

Connections per process, however many long polls and WebSockets wait: one command
connection (a blocking pool of `COMMAND_CONNECTIONS`; callers take turns, and concurrent
identical reads share one call) plus one Pub/Sub subscriber. The subscriber runs in a
greenlet when gevent has patched sockets (gunicorn's gevent worker, the demo server), in a
thread otherwise, and fans each notification out to the local waiters of that stream. When
its connection breaks it wakes every local waiter (their next read raises
`StoreUnavailable`: polls answer 503, WebSockets close 1012) and reconnects with backoff;
once back it wakes them all again, since notifications sent meanwhile were lost.

A stream with no meta has no history: its head is `0-0` (a cursor of an epoch before a
loss resets to it, and `0-0` then reads everything that follows). Reads create nothing.
"""

import sys
import threading
from pathlib import Path

import redis

from ..concurrency import make_event
from ..cursor import parse_cursor
from ..errors import StoreUnavailable
from ..jsontext import dumps
from .base import Read, Store
from .subscribers import Subscribers

COMMAND_CONNECTIONS = 1  # the command pool's size; + 1 subscriber = 2 per process
_LUA = Path(__file__).resolve().parent / "lua"
_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError)


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
        import time

        time.sleep(seconds)


class _Flight:
    """One Redis read in progress that other readers wait for."""

    __slots__ = ("done", "result", "error", "followers")

    def __init__(self):
        self.followers = 0
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
    ):
        self._prefix = key_prefix
        self._channel = f"{key_prefix}:notify"
        self.retention = retention
        self.retention_ms = retention_ms
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=COMMAND_CONNECTIONS,
            timeout=5,
            socket_connect_timeout=1,
            socket_timeout=5,
        )
        self._redis = redis.Redis(connection_pool=pool)
        self._sub_pool = redis.ConnectionPool.from_url(
            url, max_connections=1, socket_connect_timeout=1
        )
        self._sub_redis = redis.Redis(connection_pool=self._sub_pool)
        self._append = self._redis.register_script((_LUA / "append.lua").read_text())
        self._read = self._redis.register_script((_LUA / "read.lua").read_text())
        self._lock = threading.Lock()
        self._subs = Subscribers()
        self._inflight = {}
        self._listener = None
        self._listening = False
        self._closed = False

    # ---- the interface ------------------------------------------------------------

    def _keys(self, stream):
        return [f"{self._prefix}:{{{stream}}}:meta", f"{self._prefix}:{{{stream}}}:log"]

    def append(self, stream, data):
        text = dumps(data)
        try:
            cursor = self._append(
                keys=self._keys(stream),
                args=[text, self._retention, self._retention_ms or 0, self._channel, stream],
            )
        except _DOWN as e:
            raise StoreUnavailable(f"Redis is unavailable: {e}") from None
        return cursor.decode() if isinstance(cursor, bytes) else cursor

    def head(self, stream):
        return self.read(stream, None, 0).cursor

    def read(self, stream, cursor, limit):
        """Concurrent reads of the same (stream, cursor, limit) share one Redis call: a
        notification wakes every local waiter of a stream, and those that are caught up
        all ask the same question."""
        key = (stream, cursor, limit)
        with self._lock:
            found = self._inflight.get(key)
            leader = found is None
            if found is None:
                flight = self._inflight[key] = _Flight()
            else:
                flight = found
                flight.followers += 1
        if not leader:
            if not flight.done.wait(10):
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
                if self._inflight.get(key) is flight:
                    del self._inflight[key]
            flight.done.set()
        return flight.result

    def _forget_reads(self, stream):
        """News of ``stream`` (None: of every stream): a read in flight may have been answered
        before the append, so reads asked from now on must not join it — a waiter woken by
        this news would otherwise get the old answer and wait again, its wake-up lost."""
        with self._lock:
            for key in [k for k in self._inflight if stream is None or k[0] == stream]:
                del self._inflight[key]

    def _read_now(self, stream, cursor, limit):
        if cursor is None:
            hi = lo = ""
        else:
            pair = parse_cursor(cursor)
            if pair is None:
                raise ValueError(f"invalid cursor {cursor!r}")
            hi, lo = str(pair[0]), str(pair[1])  # decimal, no leading zeros
        try:
            out = self._read(keys=self._keys(stream), args=[hi, lo, limit, self._retention_ms or 0])
        except _DOWN as e:
            raise StoreUnavailable(f"Redis is unavailable: {e}") from None
        out = [x.decode() if isinstance(x, bytes) else x for x in out]
        if out[0] == "reset":
            return Read([], out[1], True)
        flat = out[2:]
        return Read([(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)], out[1], False)

    def subscribe(self, stream, fn):
        unsubscribe = self._subs.add(stream, fn)
        with self._lock:
            start = self._listener is None and not self._closed
            if start:
                self._listener = True
        if start:
            self._start_listener()
        return unsubscribe

    def close(self):
        self._closed = True
        self._subs.wake_all()
        try:
            self._redis.connection_pool.disconnect()
            self._sub_pool.disconnect()
        except Exception:
            pass

    # ---- beyond the interface -----------------------------------------------------

    def clear(self):
        """Delete every key under the prefix (what a Redis without persistence loses when
        it restarts): every stream's history is gone, and cursors given out reset."""
        try:
            keys = list(self._redis.scan_iter(match=f"{self._prefix}:*", count=1000))
            for i in range(0, len(keys), 500):
                self._redis.unlink(*keys[i : i + 500])
        except _DOWN as e:
            raise StoreUnavailable(f"Redis is unavailable: {e}") from None
        self._subs.wake_all()

    def connection_count(self):
        """Redis connections this process holds open now (commands + subscriber)."""
        pool = self._redis.connection_pool
        commands = sum(1 for c in getattr(pool, "_connections", []) if c is not None)
        return commands + (1 if self._listening else 0)

    # ---- the subscriber -----------------------------------------------------------

    def _start_listener(self):
        if _sockets_patched():
            import gevent

            self._listener = gevent.spawn(self._listen)
        else:
            self._listener = threading.Thread(
                target=self._listen, daemon=True, name="lifeline-redis-notify"
            )
            self._listener.start()

    def _listen(self):
        backoff = 0.05
        while not self._closed:
            pubsub = self._sub_redis.pubsub()
            try:
                pubsub.subscribe(self._channel)
                while not self._closed:
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._listening = True
                        backoff = 0.05
                        self._forget_reads(None)
                        self._subs.wake_all()  # notifications were lost while away
                    elif message["type"] == "message":
                        data = message["data"]
                        stream = data.decode() if isinstance(data, bytes) else data
                        self._forget_reads(stream)
                        self._subs.wake(stream)
            except _DOWN:
                pass
            except Exception as e:  # never let the listener die: log and go on
                print(f"lifeline: Redis listener: {e!r}", file=sys.stderr)
            finally:
                was = self._listening
                self._listening = False
                try:
                    pubsub.close()
                except Exception:
                    pass
                if was:
                    self._subs.wake_all()  # waiters find out that Redis is gone
            if not self._closed:
                _sleep(backoff)
                backoff = min(backoff * 2, 1.0)

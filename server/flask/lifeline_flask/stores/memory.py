"""The in-memory store: every stream's log in this process, lost when it ends.

The store's epoch is the time in ms it started (or was cleared), so a cursor from before a
restart is never taken for one after it; a stream keeps the epoch it began in. Per stream:
its epoch, the last offset given out, the offset of the newest dropped message (`floor`),
and the retained messages. Retention drops the oldest messages beyond `retention`, and
those older than `retention_ms`.

Bounded state (server/DESIGN.md "Bounded state"), as the Node store: a stream idle (no
append) for `stream_ttl` ms loses its log but keeps its epoch and offset (a tombstone: a
caught-up reader stays caught up, an older cursor resets exactly); after 2 × `stream_ttl`
the tombstone goes too, in batches at most once per `stream_ttl`, and the store's epoch
moves on then (a stream begun again never takes an old cursor for a new one). Streams are
kept in the order of their last append, so a sweep (at most once a second, on a call) visits
only what expires. At most `max_streams` streams (live + tombstones): a new stream beyond
that first pushes out the oldest tombstones; when all are live, its append raises
TooManyStreams (503 `too_many_streams`).

One lock guards everything, held only for list operations (never across I/O or a wait),
so greenlets and threads can share it; subscribers are called after it is released.
"""

import threading
import time
from collections import OrderedDict, deque
from typing import Deque, Tuple

from ..cursor import format_cursor, is_everything, parse_cursor
from ..errors import TooManyStreams
from .base import Message, Read, Store, json_text
from .subscribers import Subscribers


def _now_ms():
    return int(time.time() * 1000)


DEFAULT_STREAM_TTL = 24 * 3600 * 1000  # ms without an append before a stream's log goes
DEFAULT_MAX_STREAMS = 100_000
_SWEEP_EVERY_MS = 1000


class _Stream:
    __slots__ = ("epoch", "offset", "floor", "log", "last")

    def __init__(self, epoch, offset=0):
        self.epoch = epoch
        self.offset = offset  # the last offset given out
        self.floor = offset  # the newest offset dropped by retention (or expiry)
        # (offset, cursor, json_text, appended_ms)
        self.log: Deque[Tuple[int, str, str, float]] = deque()
        self.last = 0  # when the last append was, ms


class MemoryStore(Store):
    """Streams in this process' memory. ``retention``: messages kept per stream;
    ``retention_ms``: also drop messages older than this (None: keep); ``stream_ttl``: ms
    without an append before a stream's log goes (None: never); ``max_streams``: most
    streams held."""

    def __init__(
        self,
        retention=1000,
        retention_ms=None,
        clock_ms=_now_ms,
        stream_ttl=DEFAULT_STREAM_TTL,
        max_streams=DEFAULT_MAX_STREAMS,
    ):
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._subs = Subscribers()
        self._epoch = 0
        self.retention = retention
        self.retention_ms = retention_ms
        if stream_ttl is not None and (not isinstance(stream_ttl, int) or stream_ttl < 1):
            raise ValueError("stream_ttl must be an integer >= 1 or None")
        if not isinstance(max_streams, int) or max_streams < 1:
            raise ValueError("max_streams must be an integer >= 1")
        self.stream_ttl = stream_ttl
        self.max_streams = max_streams
        self._begin()

    def _retention_changed(self):
        with self._lock:
            for s in getattr(self, "_streams", {}).values():
                self._trim(s)

    @property
    def epoch(self):
        return self._epoch

    # ---- the interface ------------------------------------------------------------

    def append(self, stream, json):
        text = json_text(json)
        with self._lock:
            self._sweep()
            now = self._clock_ms()
            s = self._streams.pop(stream, None)  # set again last: the dict stays in append order
            if s is None:
                tomb = self._tombstones.pop(stream, None)
                if tomb is None:
                    self._make_room()
                    s = _Stream(self._epoch)
                else:
                    s = _Stream(tomb[0], tomb[1])
            s.last = now
            self._streams[stream] = s
            s.offset += 1
            cursor = format_cursor(s.epoch, s.offset)
            s.log.append((s.offset, cursor, text, now))
            self._trim(s)
        self._subs.wake(stream)
        return cursor

    def head(self, stream):
        with self._lock:
            self._sweep()
            epoch, offset = self._state(stream)
            return format_cursor(epoch, offset)

    def _state(self, stream):
        """(epoch, offset) of a stream, live, a tombstone or unknown."""
        s = self._streams.get(stream)
        if s is not None:
            return s.epoch, s.offset
        tomb = self._tombstones.get(stream)
        return tomb[:2] if tomb else (self._epoch, 0)

    def read(self, stream, cursor, limit):
        with self._lock:
            self._sweep()
            s = self._streams.get(stream)
            epoch, offset = self._state(stream)
            head = format_cursor(epoch, offset)
            if cursor is None:
                return Read([], head, False)
            pair = parse_cursor(cursor)
            if pair is None:
                raise ValueError(f"invalid cursor {cursor!r}")
            if s is not None:
                self._trim(s)
            floor = s.floor if s else offset
            if is_everything(pair):
                after = floor
            elif pair[0] != epoch or not floor <= pair[1] <= offset:
                return Read([], head, True)
            else:
                after = pair[1]
            if s is None or after == offset or limit <= 0:
                return Read([], format_cursor(epoch, after), False)
            start = after - floor
            log = s.log
            end = min(len(log), start + limit)
            messages = [Message(log[i][1], log[i][2]) for i in range(start, end)]
            return Read(messages, messages[-1].cursor, False)

    def subscribe(self, stream, fn):
        return self._subs.add(stream, fn)

    # ---- beyond the interface -----------------------------------------------------

    def clear(self):
        """Forget every stream and begin a new epoch (what a process restart does):
        every cursor given out so far answers with a reset afterwards."""
        with self._lock:
            self._begin()
        self._subs.wake_all()

    def stream_count(self):
        """Streams held: live ones and tombstones."""
        with self._lock:
            self._sweep()
            return len(self._streams) + len(self._tombstones)

    def health(self):
        """What the store holds (`flask lifeline health`)."""
        with self._lock:
            return {
                "ok": True,
                "store": "memory",
                "streams": len(self._streams),
                "tombstones": len(self._tombstones),
                "max_streams": self.max_streams,
            }

    # ---- inside -------------------------------------------------------------------

    def _new_epoch(self):
        self._epoch = max(self._clock_ms(), self._epoch + 1)  # two within one ms differ

    def _begin(self):
        self._new_epoch()
        self._streams = OrderedDict()  # live streams, oldest append first
        self._tombstones = OrderedDict()  # idle: stream -> (epoch, offset, last), oldest first
        self._last_sweep = self._last_forget = self._clock_ms()

    def _sweep(self, force=False):
        """Expire idle streams: logs after stream_ttl, tombstones after 2 × stream_ttl."""
        now = self._clock_ms()
        ttl = self.stream_ttl
        if ttl is None or (not force and now - self._last_sweep < _SWEEP_EVERY_MS):
            return
        self._last_sweep = now
        while self._streams:
            name, s = next(iter(self._streams.items()))
            if s.last > now - ttl:
                break
            del self._streams[name]
            self._tombstones[name] = (s.epoch, s.offset, s.last)
        if now - self._last_forget >= ttl:
            self._last_forget = now
            forgot = False
            while self._tombstones:
                name, t = next(iter(self._tombstones.items()))
                if t[2] > now - 2 * ttl:
                    break
                del self._tombstones[name]
                forgot = True
            if forgot:
                self._new_epoch()

    def _make_room(self):
        if len(self._streams) + len(self._tombstones) < self.max_streams:
            return
        self._sweep(force=True)
        forgot = False
        while self._tombstones and len(self._streams) + len(self._tombstones) >= self.max_streams:
            self._tombstones.popitem(last=False)
            forgot = True
        if forgot:
            self._new_epoch()
        if len(self._streams) + len(self._tombstones) >= self.max_streams:
            raise TooManyStreams(
                f"the store holds {self.max_streams} streams (max_streams); a stream goes "
                f"after {self.stream_ttl} ms without a message"
            )

    def _trim(self, s):
        log = s.log
        while len(log) > self._retention:
            s.floor = log.popleft()[0]
        if self._retention_ms is not None and log:
            oldest_kept = self._clock_ms() - self._retention_ms
            while log and log[0][3] < oldest_kept:
                s.floor = log.popleft()[0]

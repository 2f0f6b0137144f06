"""The in-memory store: every stream's log in this process, lost when it ends.

One epoch for the whole store: the time in ms it started (or was cleared), so a cursor from
before a restart is never taken for one after it. Per stream: the last offset given out,
the offset of the newest dropped message (`floor`), and the retained messages. Retention
drops the oldest messages beyond `retention`, and those older than `retention_ms`.

One lock guards everything, held only for list operations (never across I/O or a wait),
so greenlets and threads can share it; subscribers are called after it is released.
"""

import threading
import time
from collections import deque
from typing import Deque, Tuple

from ..cursor import format_cursor, is_everything, parse_cursor
from ..jsontext import dumps
from .base import Read, Store
from .subscribers import Subscribers


def _now_ms():
    return int(time.time() * 1000)


class _Stream:
    __slots__ = ("offset", "floor", "log")

    def __init__(self):
        self.offset = 0  # the last offset given out
        self.floor = 0  # the newest offset dropped by retention
        # (offset, cursor, json_text, appended_ms)
        self.log: Deque[Tuple[int, str, str, float]] = deque()


class MemoryStore(Store):
    """Streams in this process' memory. ``retention``: messages kept per stream;
    ``retention_ms``: also drop messages older than this (None: keep)."""

    def __init__(self, retention=1000, retention_ms=None, clock_ms=_now_ms):
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._subs = Subscribers()
        self._epoch = 0
        self.retention = retention
        self.retention_ms = retention_ms
        self._begin()

    def _retention_changed(self):
        with self._lock:
            for s in getattr(self, "_streams", {}).values():
                self._trim(s)

    @property
    def epoch(self):
        return self._epoch

    # ---- the interface ------------------------------------------------------------

    def append(self, stream, data):
        text = dumps(data)
        with self._lock:
            s = self._streams.get(stream)
            if s is None:
                s = self._streams[stream] = _Stream()
            s.offset += 1
            cursor = format_cursor(self._epoch, s.offset)
            s.log.append((s.offset, cursor, text, self._clock_ms()))
            self._trim(s)
        self._subs.wake(stream)
        return cursor

    def head(self, stream):
        with self._lock:
            s = self._streams.get(stream)
            return format_cursor(self._epoch, s.offset if s else 0)

    def read(self, stream, cursor, limit):
        with self._lock:
            s = self._streams.get(stream)
            offset = s.offset if s else 0
            head = format_cursor(self._epoch, offset)
            if cursor is None:
                return Read([], head, False)
            pair = parse_cursor(cursor)
            if pair is None:
                raise ValueError(f"invalid cursor {cursor!r}")
            if s is not None:
                self._trim(s)
            floor = s.floor if s else 0
            if is_everything(pair):
                after = floor
            elif pair[0] != self._epoch or not floor <= pair[1] <= offset:
                return Read([], head, True)
            else:
                after = pair[1]
            if s is None or after == offset or limit <= 0:
                return Read([], format_cursor(self._epoch, after), False)
            start = after - floor
            log = s.log
            end = min(len(log), start + limit)
            messages = [(log[i][1], log[i][2]) for i in range(start, end)]
            return Read(messages, messages[-1][0], False)

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
        with self._lock:
            return len(self._streams)

    # ---- inside -------------------------------------------------------------------

    def _begin(self):
        epoch = self._clock_ms()
        self._epoch = max(epoch, self._epoch + 1)  # two starts within one ms differ
        self._streams = {}

    def _trim(self, s):
        log = s.log
        while len(log) > self._retention:
            s.floor = log.popleft()[0]
        if self._retention_ms is not None and log:
            oldest_kept = self._clock_ms() - self._retention_ms
            while log and log[0][3] < oldest_kept:
                s.floor = log.popleft()[0]

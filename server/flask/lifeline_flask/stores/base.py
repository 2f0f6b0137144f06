"""The store interface (server/DESIGN.md "Store interface"), as plain Python calls.

    append(stream, data)           -> cursor        atomic, totally ordered per stream
    read(stream, cursor, limit)    -> Read          messages after cursor, or a reset
    head(stream)                   -> cursor
    wait(stream, cursor, timeout)  -> bool          True when a message after cursor may exist
                                                    (timeout in ms, as Node's)
    subscribe(stream, fn)          -> unsubscribe   fn() on news: a wake-up, never data
    close()

`cursor` arguments are strings (None: from now). Messages are `(cursor, json_text)` pairs:
a message is encoded once, when it is appended, and written out as it is. A store raises
`StoreUnavailable` when its backend is down.

`wait` is written once, here, on top of `subscribe`: it subscribes, then looks at the head
(so news between the caller's read and the subscription is not lost), then sleeps on an
event that cooperates with gevent or threads (see concurrency.py).
"""

from collections import namedtuple

from ..concurrency import make_event
from ..cursor import parse_cursor

Read = namedtuple("Read", "messages cursor reset")
Read.__doc__ = """A read: `messages` [(cursor, json_text)], `cursor` where the reader is now
(the last message's cursor, or where it asked from when there are none; the head after a
reset), `reset` True when the asked cursor is too old, ahead, or of another epoch."""


def _positive_int(n):
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1


class Store:
    """Base of the stores: `wait` from `subscribe` + `head`, and the retention options."""

    # ---- options: ``retention`` messages kept per stream; ``retention_ms``: also drop
    # messages older than this (None: keep) -------------------------------------------

    @property
    def retention(self):
        return self._retention

    @retention.setter
    def retention(self, n):
        if not _positive_int(n):
            raise ValueError("retention must be an integer >= 1")
        self._retention = n
        self._retention_changed()

    @property
    def retention_ms(self):
        return self._retention_ms

    @retention_ms.setter
    def retention_ms(self, ms):
        if ms is not None and not _positive_int(ms):
            raise ValueError("retention_ms must be an integer >= 1 or None")
        self._retention_ms = ms

    def _retention_changed(self):
        """A smaller retention applies from the next append (MemoryStore: at once)."""

    # ---- the interface (the module's docstring), which each store implements ----------

    def append(self, stream, data):
        raise NotImplementedError

    def read(self, stream, cursor, limit):
        raise NotImplementedError

    def head(self, stream):
        raise NotImplementedError

    def subscribe(self, stream, fn):
        raise NotImplementedError

    def wait(self, stream, cursor, timeout):
        """True when a message after `cursor` may exist, within `timeout` ms (False after)."""
        event = make_event()
        unsubscribe = self.subscribe(stream, event.set)
        try:
            if parse_cursor(self.head(stream)) != parse_cursor(cursor):
                return True
            return bool(event.wait(timeout / 1000.0))
        finally:
            unsubscribe()

    def close(self):
        pass

"""The store interface (server/DESIGN.md "Store interface"), as plain Python calls.

    append(stream, json)              -> cursor       json: the message's JSON text, encoded
                                                      once by publish; atomic, totally ordered
                                                      per stream
    read(stream, cursor, limit)       -> Read         Read(messages, cursor, reset): messages
                                                      after cursor ([Message(cursor, json)]),
                                                      or a reset
    head(stream)                      -> cursor
    wait(stream, cursor, timeout_ms)  -> bool         True when a message after cursor may
                                                      exist, False at the timeout (ms)
    subscribe(stream, fn)             -> unsubscribe  fn() on news: a wake-up, never data
    health()                          -> dict         {ok, store, …}
    clear()                                           forget every stream (what a restart
                                                      without persistence does)
    close()

The same calls, shapes and units as Node's stores/base.mjs. `cursor` arguments are strings
(None: from now). A message is JSON text from the moment it is published (`Lifeline.publish`
encodes it, jsontext.dumps): stored, read and written into frames and poll bodies as it is,
never parsed again. A store raises `StoreUnavailable` when its backend is down.

`wait` is written once, here, on top of `subscribe`: it subscribes, then looks at the head
(so news between the caller's read and the subscription is not lost), then sleeps on an
event that cooperates with gevent or threads (see concurrency.py).
"""

from collections import namedtuple

from ..concurrency import make_event
from ..cursor import parse_cursor

Message = namedtuple("Message", "cursor json")
Message.__doc__ = """A message as stored: its `cursor` and its `json` text."""

Read = namedtuple("Read", "messages cursor reset")
Read.__doc__ = """A read: `messages` [Message(cursor, json)], `cursor` where the reader is
now (the last message's cursor, or where it asked from when there are none; the head after a
reset), `reset` True when the asked cursor is too old, ahead, or of another epoch."""


def json_text(json):
    """`json` when it is the JSON text append takes, else TypeError (publish encodes data)."""
    if not isinstance(json, str):
        raise TypeError(
            f"append takes the message's JSON text (str), not {type(json).__name__}: "
            "Lifeline.publish encodes data"
        )
    return json


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

    def append(self, stream, json):
        raise NotImplementedError

    def read(self, stream, cursor, limit):
        raise NotImplementedError

    def head(self, stream):
        raise NotImplementedError

    def subscribe(self, stream, fn):
        raise NotImplementedError

    def wait(self, stream, cursor, timeout_ms):
        """True when a message after `cursor` may exist, within `timeout_ms` (False after)."""
        event = make_event()
        unsubscribe = self.subscribe(stream, event.set)
        try:
            if parse_cursor(self.head(stream)) != parse_cursor(cursor):
                return True
            return bool(event.wait(timeout_ms / 1000.0))
        finally:
            unsubscribe()

    def health(self):
        """The store's state: a dict with ``ok`` and ``store`` at least."""
        return {"ok": True, "store": type(self).__name__}

    def clear(self):
        """Forget every stream, as a restart without persistence does."""
        raise NotImplementedError

    def close(self):
        pass

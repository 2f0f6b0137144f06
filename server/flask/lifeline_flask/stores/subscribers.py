"""Who in this process waits for news of which stream; both stores use it.

A subscriber is a plain function called with no argument: news is a wake-up, never data
(the subscriber reads the store itself), so a missed or repeated call costs a read, never
a message. A failing subscriber breaks neither the caller nor the other subscribers.
"""

import threading


class Subscribers:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_stream = {}

    def add(self, stream, fn):
        """Add ``fn`` for ``stream``; returns the function that removes it again."""
        with self._lock:
            self._by_stream.setdefault(stream, []).append(fn)

        def remove():
            with self._lock:
                fns = self._by_stream.get(stream)
                if fns is not None and fn in fns:
                    fns.remove(fn)
                    if not fns:
                        del self._by_stream[stream]

        return remove

    def wake(self, stream):
        """Wake every subscriber of ``stream``."""
        with self._lock:
            fns = list(self._by_stream.get(stream, ()))
        _call_each(fns)

    def wake_all(self):
        """Wake every subscriber of every stream (a restart, a lost or regained connection)."""
        with self._lock:
            fns = [fn for stream_fns in self._by_stream.values() for fn in stream_fns]
        _call_each(fns)

    def clear(self):
        with self._lock:
            self._by_stream.clear()


def _call_each(fns):
    for fn in fns:
        try:
            fn()
        except Exception:  # one subscriber's failure is its own
            pass

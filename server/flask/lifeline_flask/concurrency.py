"""Waiting that cooperates with whatever serves the request.

Under gevent (gevent's WSGIServer, gunicorn's GeventWebSocketWorker) a request runs in a
greenlet: a long poll must wait on a gevent Event, or it would block every other request of
the process. Under Werkzeug's threaded server (`flask run`) a request has its own thread and
waits on a threading.Event. Which one is decided per wait, from where the caller runs, so
one app serves both ways. Either event may be set from any thread or greenlet (gevent ≥ 20.12
wakes a greenlet's Event set from a foreign thread), which is what lets `publish` run in a
CLI command, a thread, or a greenlet.
"""

import sys
import threading
import time


def in_gevent():
    """Whether the caller runs in a gevent greenlet (or under gevent's monkey patches)."""
    gevent = sys.modules.get("gevent")
    if gevent is None:
        return False
    try:
        from gevent import monkey

        if monkey.is_module_patched("threading"):
            return True
    except ImportError:  # pragma: no cover - gevent always has monkey
        pass
    return isinstance(gevent.getcurrent(), gevent.Greenlet)


def make_event():
    """An Event for the caller's kind of concurrency (see the module comment)."""
    if in_gevent():
        import gevent.event

        return gevent.event.Event()
    return threading.Event()


def sleep(seconds):
    if in_gevent():
        import gevent

        gevent.sleep(seconds)
    else:
        time.sleep(seconds)


def spawn(fn, *args):
    """Run fn(*args) beside the caller: a greenlet under gevent, a daemon thread otherwise."""
    if in_gevent():
        import gevent

        return gevent.spawn(fn, *args)
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def monotonic_ms():
    return time.monotonic() * 1000.0

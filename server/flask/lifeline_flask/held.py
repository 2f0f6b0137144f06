"""Held connections: long polls and WebSockets that wait for news.

Each has one event, set by the store's wake-up for its stream, by a drop and by a close
request, so its loop sleeps on exactly one thing. The registry lets the process drop them
all at once (a restart) and count them (stats); it never keeps one after its request ended.
"""

import socket
import threading

from .concurrency import make_event, monotonic_ms


def client_socket(environ):
    """The request's client socket, when the server exposes it (None otherwise)."""
    for key in ("lifeline.socket", "gunicorn.sock", "werkzeug.socket"):
        sock = environ.get(key)
        if sock is not None:
            return sock
    try:  # gevent's pywsgi: wsgi.input -> rfile (BufferedReader) -> SocketIO -> socket
        return environ["wsgi.input"].rfile.raw._sock
    except (KeyError, AttributeError):
        return None


def peer_gone(sock):
    """Whether the client closed its end (readable with EOF): a long poll it gave up."""
    if sock is None:
        return False
    try:
        import select

        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def cut(sock):
    """Shut the connection down the way a dying server would."""
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Held:
    """A long poll or a WebSocket session in progress."""

    __slots__ = (
        "kind",
        "stream",
        "event",
        "sock",
        "dropped",
        "frozen",
        "close_request",
        "opened",
        "last_sent",
        "last_recv",
        "reader",
        "request",
        "revoked",
    )

    def __init__(self, kind, stream, sock, request=None):
        self.kind = kind  # 'longpoll' | 'websocket'
        self.stream = stream
        self.event = make_event()
        self.sock = sock
        self.dropped = False  # cut, answer nothing more
        self.frozen = False  # send nothing, answer nothing (a stalled socket)
        self.close_request = None  # (code, reason): the session closes itself
        self.opened = monotonic_ms()
        self.last_sent = self.opened
        self.last_recv = self.opened  # a WebSocket's last frame or pong from the peer
        self.reader = None  # a WebSocket's reader greenlet
        self.request = request  # the request that opened it (live.disconnect's `where`)
        self.revoked = None  # live.disconnect's message: end with `revoked`

    def wake(self):
        self.event.set()

    def drop(self):
        """Cut the connection now, as a restarting server does."""
        self.dropped = True
        cut(self.sock)
        self.event.set()

    def freeze(self):
        self.frozen = True
        self.event.set()

    def revoke(self, message):
        """End it with `revoked` (live.disconnect): a socket's error frame + 1008, a long
        poll's 403; done by its own loop."""
        self.revoked = message
        if self.kind == "websocket":
            self.close_request = (1008, "revoked")
        self.event.set()

    def close(self, code, reason=""):
        """Ask a WebSocket session to close with `code` (it does so from its own loop)."""
        self.close_request = (code, reason)
        self.event.set()


class Registry:
    def __init__(self):
        self._lock = threading.Lock()
        self._held = set()

    def add(self, held):
        with self._lock:
            self._held.add(held)

    def remove(self, held):
        with self._lock:
            self._held.discard(held)

    def all(self):
        with self._lock:
            return list(self._held)

    def count(self, kind):
        with self._lock:
            return sum(1 for h in self._held if h.kind == kind)

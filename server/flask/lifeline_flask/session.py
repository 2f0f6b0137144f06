"""Sessions: what a connected client is, whatever carries it (server/DESIGN.md "One design,
files mirrored"; Node: session.mjs).

A `Session` is a WebSocket (kind `websocket`), a held long poll (kind `long_poll`) or a
subscription of a v2 WebSocket (kind `subscription`; the socket itself is a `websocket`
session of no stream, whose subscriptions share its event): its stream, the request that
authorised it (what `live.disconnect(stream, where)` tests), its cursor, and how to end it
(`revoke(message)`, `close(code)`, or `drop()` as a dying server would). It reads its
stream after its cursor (`read`: messages, or a reset) and waits for news (`wait`); the
transports (transports/) only move what it read, and move its cursor on as they write.

Theory: each session has one event, set by the store's wake-up for its stream (a hint, never
data: the stream is the truth, so a missed wake-up costs a re-read), by a drop, a freeze, a
close or revoke request, and by the heartbeat timer when a socket owes a frame
(transports/heartbeat.py: `nudge`). Its loop sleeps on exactly that one thing and, woken,
reads again when there was news (`news`, set by `wake`); `read` clears both before it reads,
so news that comes during a read wakes the next wait. Ending a session is a request its own
loop carries out (an error frame and a close, a 403): nothing else writes to its connection.

`Sessions` is the registry of the open ones: `opened(session)` registers it and subscribes
it to its stream for as long as its request lasts (never longer; `enter(session)` does the
same until the function it returns is called: a v2 subscription, which ends before its
socket), `count(kind)` counts them (stats: `websocket` counts sockets, whatever they
carry), `all()` lets the process end them at once (a restart), and `disconnect` ends those
of a stream whose request a test accepts (a v2 socket's subscriptions one by one, the
socket carrying on).

The socket helpers (`client_socket`, `peer_gone`, `cut`) reach the connection under a WSGI
request: to tell a client that went away from a long poll that waits, and to cut one.
"""

import socket
import threading
from contextlib import contextmanager

from .concurrency import make_event, monotonic_ms

WEBSOCKET = "websocket"
LONG_POLL = "long_poll"
SUBSCRIPTION = "subscription"  # one stream of a v2 WebSocket (transports/websocket.py)


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


class Session:
    """A connected client: a WebSocket or a held long poll (see the module's docstring).

    ``Session(kind, stream, sock, request=None, cursor=None, store=None, event=None)``:
    `sock` is its client socket (what `drop` cuts), `request` the request that opened it,
    `cursor` where it reads from (None: from now), `store` the store it reads, `event` the
    event it sets (None: its own; a v2 subscription shares its socket's).
    """

    __slots__ = (
        "kind",
        "stream",
        "event",
        "news",
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
        "cursor",
        "store",
    )

    def __init__(self, kind, stream, sock, request=None, cursor=None, store=None, event=None):
        self.kind = kind  # WEBSOCKET | LONG_POLL | SUBSCRIPTION (a demo layer may add its own)
        self.stream = stream  # None: a v2 socket (its subscriptions have theirs)
        self.event = make_event() if event is None else event
        self.news = True  # woken by its stream (or told to look) since it last read
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
        self.cursor = cursor  # where it reads from; the transport moves it as it writes
        self.store = store

    # ---- reading ------------------------------------------------------------------

    def start(self):
        """Where a WebSocket begins: (reset, head, caught_up). `reset` is the cursor to
        start from again when the asked one is not served (too old, ahead, another epoch;
        the session's cursor is then that), else None; `head` the stream's head (hello's
        cursor, and the session's cursor when it asked for none); `caught_up` where a client
        has all there is (v2's subd): the head, or the asked cursor when nothing follows it
        (an empty stream's head names no message). Raises StoreUnavailable."""
        reset = None
        backlog = True
        if self.cursor is not None:
            first = self.store.read(self.stream, self.cursor, 1)
            if first.reset:
                reset = self.cursor = first.cursor
            backlog = bool(first.messages)
        asked = self.cursor
        head = self.store.head(self.stream)
        if self.cursor is None:
            self.cursor = head
        return reset, head, (head if reset is not None or asked is None or backlog else asked)

    def read(self, limit):
        """The stream after the session's cursor (a stores `Read`: at most `limit` messages,
        or a reset). The event is cleared first, so news during the read wakes the next
        `wait`. Raises StoreUnavailable."""
        self.news = False
        self.event.clear()
        return self.store.read(self.stream, self.cursor, limit)

    def wait(self, timeout_ms=None):
        """Sleep until news, a drop, a freeze or an end request (True) or `timeout_ms`
        (False; None: no timeout)."""
        return bool(self.event.wait(None if timeout_ms is None else timeout_ms / 1000.0))

    # ---- ending and faults --------------------------------------------------------

    def wake(self):
        """News: its loop reads its stream again."""
        self.news = True
        self.event.set()

    def nudge(self):
        """Wake its loop without news (the heartbeat timer: the socket owes a frame)."""
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
        if self.kind == WEBSOCKET:
            self.close_request = (1008, "revoked")
        self.event.set()

    def close(self, code, reason=""):
        """Ask a WebSocket session to close with `code` (it does so from its own loop)."""
        self.close_request = (code, reason)
        self.event.set()


class Sessions:
    """The open sessions of one app (`app.extensions['lifeline'].sessions`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open = set()

    def add(self, session):
        with self._lock:
            self._open.add(session)

    def remove(self, session):
        with self._lock:
            self._open.discard(session)

    def all(self):
        with self._lock:
            return list(self._open)

    def count(self, kind):
        with self._lock:
            return sum(1 for s in self._open if s.kind == kind)

    def enter(self, session):
        """Register `session` and wake it with its stream's news (a session of no stream: no
        news) until the function returned is called."""
        self.add(session)
        unsubscribe = (
            session.store.subscribe(session.stream, session.wake)
            if session.stream is not None
            else None
        )

        def leave():
            if unsubscribe is not None:
                unsubscribe()
            self.remove(session)

        return leave

    @contextmanager
    def opened(self, session):
        """Registered and woken by its stream's news while the block runs (the request's
        life), then forgotten."""
        leave = self.enter(session)
        try:
            yield session
        finally:
            leave()

    def disconnect(self, stream=None, where=None, message="access to this stream was revoked"):
        """End the sessions of `stream` (None: every stream) whose opening request
        `where(request)` accepts (None: all), with `revoked` and `message`; returns how many
        it ended (one already revoked is not counted again). A session of no stream (a v2
        socket) is left alone: its subscriptions are sessions of their own."""
        n = 0
        for session in self.all():
            if session.stream is None or session.revoked is not None:
                continue
            if stream is not None and session.stream != stream:
                continue
            if where is not None and (
                session.request is None or where(session.request) is not True
            ):
                continue
            session.revoke(message)
            n += 1
        return n

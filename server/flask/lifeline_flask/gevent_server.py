"""Serving a Lifeline app with WebSockets: gevent's WSGIServer or gunicorn.

gevent-websocket's handler performs the handshake before the app runs, so by itself it
cannot refuse an upgrade with a status (a cross-site origin: 403, no 101). `WebSocketHandler`
asks the app's Lifeline first (`accepts_upgrade`) and, when it says no, runs the request as
plain HTTP so the view answers the refusal. It negotiates the subprotocol from the client's
offer (`LifelineState.subprotocol`: `lifeline.v2` when offered, docs/protocol.md "WebSocket
v2"), which gevent-websocket's own handler cannot (it asks `app.app_protocol(path)` without
the offer), and records the choice as `environ["lifeline.subprotocol"]`, which the WebSocket
transport serves. It also turns off Nagle (small frames must not
wait ~40 ms for a delayed ACK) and puts the client socket in the environ, so a held long
poll sees its client leave.

    from lifeline_flask.gevent_server import serve
    serve(app, "127.0.0.1", 8000)               # blocks; WebSockets on the stream URLs

    gunicorn -k lifeline_flask.gevent_server.GeventWebSocketWorker -w 2 app:app

With the Redis store, call `gevent.monkey.patch_all()` before importing anything else, so
Redis calls cooperate too (gunicorn's gevent workers patch by themselves); unpatched, each
Redis call holds the whole process for its round trip.

gunicorn's stock `geventwebsocket.gunicorn.workers.GeventWebSocketWorker` works too (the
app sets `app.app_protocol`); there a refused origin gets an error frame `forbidden_origin`
and close 1008 after the handshake instead of a 403 — what a browser can observe is the
same (it never sees the status of a refused upgrade) — and every socket is `lifeline.v1`
(a v2 client keeps one socket per stream there).

Hostile input (issue 20), in this module's handlers (so also under gunicorn with
`-k lifeline_flask.gevent_server.GeventWebSocketWorker`; the stock worker has none of it):
- The request head (request line and headers) must arrive within the app's
  `request_header_timeout_ms`, counted from when the handler waits for it (so it also ends
  an idle keep-alive connection): else 408 and the connection is closed (silently when not
  one byte of the head came). The body must arrive within `request_body_timeout_ms` of the
  head: a read past that raises `RequestTimeout` (the POST view answers 408 and the
  connection is closed). WebSockets and held long polls are not affected (they have no
  body). gunicorn's own `--timeout` is its worker heartbeat, not a request timeout.
- Request-smuggling shapes are 400 before the app runs: `Content-Length` together with
  `Transfer-Encoding`, two `Content-Length` headers, a `Transfer-Encoding` other than
  `chunked`.
- The rest of a body the app did not read (a 413) is dropped after the answer, at most
  DISCARD_MAX_BYTES and within the body timeout, then the connection is closed.
- A refused upgrade (403 origin, 404) closes the connection once answered.
"""

import socket
from typing import TYPE_CHECKING, Any
from time import monotonic

import gevent
from gevent.pywsgi import Input, WSGIHandler, WSGIServer
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker as _StockWorker
from geventwebsocket.handler import WebSocketHandler as _StockHandler

from .errors import RequestTimeout
from .extension import DEFAULTS
from .transports.http import DRAIN_MAX_BYTES as DISCARD_MAX_BYTES
from .transports.websocket import is_upgrade

# For the type checker the mixin below is a handler (it calls the handler's methods); at
# run time it is a plain mixin, put before either handler.
if TYPE_CHECKING:
    from gevent.pywsgi import WSGIHandler as _Handler
else:
    _Handler = object


_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
    b"Content-Type: application/json\r\nContent-Length: 76\r\n\r\n"
    b'{"error":"request_timeout","message":"the request head did not arrive in time"}'
)


def _nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def _lifeline_of(application):
    extensions = getattr(application, "extensions", None)
    return extensions.get("lifeline") if isinstance(extensions, dict) else None


class _HeadTimeout(BaseException):
    """The request head did not arrive within request_header_timeout_ms (a BaseException,
    like gevent.Timeout, so gevent's parser does not take it for a malformed request)."""


class _DeadlineInput(Input):
    """gevent's request body, whose reads end at a deadline (RequestTimeout), and whose
    discard after the answer is bounded (DISCARD_MAX_BYTES, the same deadline)."""

    def __init__(self, original, deadline):
        super().__init__(
            original.rfile,
            original.content_length,
            socket=original.socket,
            chunked_input=original.chunked_input,
        )
        self.deadline = deadline
        self.timed_out = False

    def _exhausted(self):
        """No body (a GET), or all of it read: reads answer b"" at once, past any deadline."""
        if self.chunked_input:
            return self.chunk_length == 0
        return self.position >= (self.content_length or 0)

    def _within_deadline(self, read, *args):
        if self._exhausted():
            return b""
        remaining = self.deadline - monotonic()
        if self.timed_out or remaining <= 0:
            self.timed_out = True
            raise RequestTimeout()
        try:
            with gevent.Timeout(remaining, RequestTimeout):
                return read(*args)
        except RequestTimeout:
            self.timed_out = True
            raise

    def read(self, length=None):
        return self._within_deadline(super().read, length)

    def readline(self, size=None):
        return self._within_deadline(super().readline, size)

    def _discard(self):
        if self.timed_out or self._chunked_input_error or self._exhausted():
            return  # (a long poll that outlived the deadline keeps its connection)
        dropped = 0
        try:
            while dropped <= DISCARD_MAX_BYTES:
                chunk = self.read(16384)
                if not chunk:
                    return
                dropped += len(chunk)
        except RequestTimeout:
            pass
        self.timed_out = True  # the rest stays unread: the handler closes the connection


class _Tuned(_Handler):
    """A handler with no Nagle delay, the client socket in the environ, and the hostile-input
    rules at the top of this module (mixed in before gevent's or gevent-websocket's handler)."""

    _head_timer = None
    wsgi_input: Any = None  # gevent's Input, then ours (get_environ)

    def handle(self):
        _nodelay(self.socket)
        return super().handle()

    def _limit_ms(self, name):
        """The app's Lifeline option `name` (its default for an app without Lifeline)."""
        state = _lifeline_of(self.server.application)
        return state.config[name] if state is not None else DEFAULTS[name]

    def read_requestline(self):
        seconds = self._limit_ms("request_header_timeout_ms") / 1000
        self._head_timer = gevent.Timeout(seconds, _HeadTimeout)
        self._head_timer.start()
        self._head_started = False
        line = super().read_requestline()
        self._head_started = bool(line)
        return line

    def _stop_head_timer(self):
        if self._head_timer is not None:
            self._head_timer.close()
            self._head_timer = None

    def read_request(self, raw_requestline):
        try:
            ok = super().read_request(raw_requestline)
        finally:
            self._stop_head_timer()
        lengths, encodings = self._framing
        if len(lengths) > 1 or (encodings and lengths):
            raise ValueError(
                "ambiguous body framing: two Content-Length headers, or "
                "Content-Length with Transfer-Encoding"
            )
        if encodings and (len(encodings) > 1 or encodings[0].strip().lower() != "chunked"):
            raise ValueError("the only Transfer-Encoding accepted is chunked")
        return ok

    def MessageClass(self, *args):  # the request's headers, as sent (before gevent's fixes)
        headers = super().MessageClass(*args)
        self._framing = (
            headers.get_all("content-length") or [],
            headers.get_all("transfer-encoding") or [],
        )
        return headers

    def handle_one_request(self):
        try:
            return super().handle_one_request()
        except _HeadTimeout:
            self.close_connection = True
            return ("408", _TIMEOUT_408) if self._head_started else None
        finally:
            self._stop_head_timer()

    def get_environ(self):
        env = super().get_environ()
        env["lifeline.socket"] = self.socket
        if env.get("wsgi.input") is self.wsgi_input:  # not an upgrade: a body may follow
            seconds = self._limit_ms("request_body_timeout_ms") / 1000
            self.wsgi_input = _DeadlineInput(self.wsgi_input, monotonic() + seconds)
            env["wsgi.input"] = self.wsgi_input
        return env

    def handle_one_response(self):
        super().handle_one_response()
        if getattr(self.wsgi_input, "timed_out", False):
            self.close_connection = True


class PlainHandler(_Tuned, WSGIHandler):
    """gevent's HTTP handler, tuned (no WebSocket: an upgrade gets an ordinary poll answer,
    and poll answers say Lifeline-WebSocket: none)."""

    def get_environ(self):
        env = super().get_environ()
        env["lifeline.websocket"] = False
        return env


class _Offered:
    """The app as gevent-websocket's upgrade asks it (`app_protocol`, its one use there): the
    subprotocol Lifeline chose from the client's offer."""

    __slots__ = ("protocol",)

    def __init__(self, protocol):
        self.protocol = protocol

    def app_protocol(self, path):
        return self.protocol


class WebSocketHandler(_Tuned, _StockHandler):
    """gevent-websocket's handler, tuned, that lets Lifeline refuse an upgrade before the 101
    and negotiates the subprotocol from the client's offer."""

    application: Any  # the app (gevent's handler sets it per request); _Offered meanwhile

    def upgrade_connection(self):
        state = _lifeline_of(self.application)
        if state is None:
            return super().upgrade_connection()
        environ = self.environ
        offered = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
        chosen = state.subprotocol(environ.get("PATH_INFO", ""), offered)
        # the stock upgrade answers app_protocol's choice when it is in the offer (as text)
        environ["lifeline.subprotocol"] = chosen if chosen and chosen in offered else None
        application = self.application
        self.application = _Offered(chosen)
        try:
            return super().upgrade_connection()
        finally:
            self.application = application

    def run_application(self):
        if is_upgrade(self.environ):
            state = _lifeline_of(self.application)
            if state is not None and state.accepts_upgrade(self.environ) is False:
                self.close_connection = True  # answered; nothing else may follow
                return WSGIHandler.run_application(self)
        return super().run_application()


class GeventWebSocketWorker(_StockWorker):
    """gunicorn worker: `-k lifeline_flask.gevent_server.GeventWebSocketWorker`."""

    wsgi_handler = WebSocketHandler


def make_server(app, host="127.0.0.1", port=8000, websocket=True, log=None):
    """A gevent WSGIServer for `app` (not started)."""
    handler = WebSocketHandler if websocket else PlainHandler
    return WSGIServer((host, port), app, handler_class=handler, log=log)


def serve(app, host="127.0.0.1", port=8000, websocket=True, log=None):
    """Serve `app` until interrupted."""
    make_server(app, host, port, websocket, log).serve_forever()

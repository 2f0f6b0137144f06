"""Serving a Lifeline app with WebSockets: gevent's WSGIServer or gunicorn.

gevent-websocket's handler performs the handshake before the app runs, so by itself it
cannot refuse an upgrade with a status (a cross-site origin: 403, no 101). `WebSocketHandler`
asks the app's Lifeline first (`accepts_upgrade`) and, when it says no, runs the request as
plain HTTP so the view answers the refusal. It also turns off Nagle (small frames must not
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
same (it never sees the status of a refused upgrade).
"""

import socket
from typing import TYPE_CHECKING

from gevent.pywsgi import WSGIHandler, WSGIServer
from geventwebsocket.gunicorn.workers import GeventWebSocketWorker as _StockWorker
from geventwebsocket.handler import WebSocketHandler as _StockHandler

from .websocket import is_upgrade

# For the type checker the mixin below is a handler (it calls the handler's methods); at
# run time it is a plain mixin, put before either handler.
if TYPE_CHECKING:
    from gevent.pywsgi import WSGIHandler as _Handler
else:
    _Handler = object


def _nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def _lifeline_of(application):
    extensions = getattr(application, "extensions", None)
    return extensions.get("lifeline") if isinstance(extensions, dict) else None


class _Tuned(_Handler):
    """A handler with no Nagle delay and the client socket in the environ (mixed in before
    gevent's or gevent-websocket's handler)."""

    def handle(self):
        _nodelay(self.socket)
        return super().handle()

    def get_environ(self):
        env = super().get_environ()
        env["lifeline.socket"] = self.socket
        return env


class PlainHandler(_Tuned, WSGIHandler):
    """gevent's HTTP handler, tuned (no WebSocket: an upgrade gets an ordinary poll answer,
    and poll answers say Lifeline-WebSocket: none)."""

    def get_environ(self):
        env = super().get_environ()
        env["lifeline.websocket"] = False
        return env


class WebSocketHandler(_Tuned, _StockHandler):
    """gevent-websocket's handler, tuned, that lets Lifeline refuse an upgrade before the 101."""

    def run_application(self):
        if is_upgrade(self.environ):
            state = _lifeline_of(self.application)
            if state is not None and state.accepts_upgrade(self.environ) is False:
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

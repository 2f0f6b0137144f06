"""The three ways the demo server runs, each printing one `LISTENING http://…:<port>` line
once it accepts connections:

  gevent    gevent's WSGIServer + Lifeline's WebSocket handler (--no-websocket: none)
  flask     Werkzeug's threaded development server, as `flask run` (no WebSocket)
  gunicorn  gunicorn's GeventWebSocketWorker, N workers, configured in code
"""

import os
import random
import sys
import time

from lifeline_flask import hooks
from lifeline_flask.gevent_server import GeventWebSocketWorker, PlainHandler, WebSocketHandler


def listening(host, port):
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    print(f"LISTENING http://{host}:{port}", flush=True)


def served_by(handler_class, name):
    """A handler whose 101 answers carry `Lifeline-Served-By` too (the app's after_request
    hook cannot reach the handshake)."""

    class ServedBy(handler_class):
        def start_response(self, status, headers, exc_info=None):
            if str(status).startswith("101"):
                headers = list(headers) + [("Lifeline-Served-By", name)]
            return super().start_response(status, headers, exc_info)

    return ServedBy


def ticker(live, every_ms):
    """The demo's live value on the `ticker` stream: {"kind":"tick","t","value"}."""
    value = 50.0
    while True:
        hooks.sleep(every_ms / 1000.0)
        value = min(100.0, max(0.0, value + random.uniform(-5, 5)))
        try:
            live.publish(
                "ticker", {"kind": "tick", "t": int(time.time() * 1000), "value": round(value, 2)}
            )
        except Exception as e:  # the store is down: the next tick tries again
            print(f"tick: {e}", file=sys.stderr, flush=True)


def run_gevent(app, live, args):
    import gevent
    from gevent.pywsgi import WSGIServer

    handler = PlainHandler if args.no_websocket else WebSocketHandler
    server = WSGIServer(
        (args.host, args.port),
        app,
        handler_class=served_by(handler, args.name),
        log=sys.stderr if args.verbose else None,
    )
    server.start()
    if args.tick > 0:
        gevent.spawn(ticker, live, args.tick)
    listening(args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=1)


def run_flask(app, live, args):
    import logging
    from werkzeug.serving import make_server

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(args.host, args.port, app, threaded=True)
    if args.tick > 0:
        hooks.spawn(ticker, live, args.tick)
    listening(args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


class ServedByWorker(GeventWebSocketWorker):
    """Lifeline's GeventWebSocketWorker with `Lifeline-Served-By` on the 101 (set below)."""


def run_gunicorn(make_app, args):
    from gunicorn.app.base import BaseApplication

    ServedByWorker.wsgi_handler = served_by(WebSocketHandler, args.name)  # workers fork

    def when_ready(server):
        listening(args.host, server.LISTENERS[0].sock.getsockname()[1])

    def post_worker_init(worker):
        if args.tick > 0 and worker.age == 1:  # one ticker per server, not per worker
            import gevent

            gevent.spawn(ticker, worker.wsgi.extensions["lifeline"].live, args.tick)

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": f"{args.host}:{args.port}",
                "workers": args.gunicorn,
                "worker_class": "runners.ServedByWorker",
                "graceful_timeout": 1,
                "timeout": 120,
                "accesslog": "-" if args.verbose else None,
                "when_ready": when_ready,
                "post_worker_init": post_worker_init,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            if args.gunicorn > 1:  # each worker is a process: name it apart
                args.name = f"{args.name}/{os.getpid()}"
                ServedByWorker.wsgi_handler = served_by(WebSocketHandler, args.name)
            return make_app()

    Server().run()

#!/usr/bin/env python3
"""The Flask demo/test server: an app of lifeline_flask plus the demo/test layer of
server/DESIGN.md (faults.py, admin.py, static.py; how it is served: runners.py).

  /usr/bin/python3 demo/flask/server.py [--port 0] [--no-websocket | --flask-run |
                                         --gunicorn N] [--redis URL] ...
  cd demo/flask && /usr/bin/python3 -m flask --app server.py run      (polling only)

Streams are at /live/<name> (`ticker` gets --tick, `counter` and `chat` are the demo
page's, `test` the admin API's default). Every send is published unchanged to its stream.
--auth-test installs the test rule of server/DESIGN.md ("The test rule"): a member carries
the cookie `user=ok` or the header `X-User: ok`; `private-*` streams need a member to
subscribe or send, `members-*` streams to send; sends to `readonly-*` are rejected with
code `read_only`, status 403; on `throw-*` streams the authorize hook raises. --no-sends
registers no on_send hook at all (every send refused, 405 sends_disabled); /admin/config
{"sends": false} rejects sends the same way.
"""

import argparse
import os
import sys
from pathlib import Path

if __name__ == "__main__" and not {"--flask-run", "--gunicorn"} & set(sys.argv):
    # gevent's server: patch first, so blocking libraries (the Redis client) cooperate too
    # (gunicorn's gevent worker patches its workers itself; `flask run` uses threads)
    from gevent import monkey

    monkey.patch_all()

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "server" / "flask")]

from flask import Flask  # noqa: E402

from admin import make_admin  # noqa: E402
from faults import DemoHooks  # noqa: E402
from lifeline_flask import Lifeline, Rejected  # noqa: E402
from lifeline_flask.protocol import DEFAULTS  # noqa: E402
from static import make_static  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description="Lifeline demo/test server (Flask).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--origins", default="", help="other allowed origins, comma-separated, or *")
    p.add_argument(
        "--heartbeat", type=int, default=DEFAULTS["heartbeat"], help="WebSocket idle ping, ms"
    )
    p.add_argument(
        "--retention", type=int, default=DEFAULTS["retention"], help="messages kept per stream"
    )
    p.add_argument(
        "--long-poll-max", type=int, default=DEFAULTS["long_poll_max"], help="longest held poll, ms"
    )
    p.add_argument(
        "--interval", type=int, default=DEFAULTS["interval"], help="Lifeline-Interval hint, ms"
    )
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="most messages per answer")
    p.add_argument("--tick", type=int, default=0, help="publish to `ticker` every this many ms")
    p.add_argument("--redis", default=None, metavar="URL", help="Redis store instead of memory")
    p.add_argument("--name", default=f"flask-{os.getpid()}", help="this process' name")
    p.add_argument("--auth-test", action="store_true", help="the test rule for authorize")
    p.add_argument("--no-sends", action="store_true", help="no on_send hook: sends refused")
    p.add_argument("--verbose", "--log", action="store_true", help="log every request to stderr")
    p.add_argument(
        "--request-header-timeout",
        type=int,
        default=None,
        help="the request head must arrive within this, ms (gevent, gunicorn)",
    )
    p.add_argument(
        "--request-body-timeout",
        type=int,
        default=None,
        help="a POST body must arrive within this, ms (gevent, gunicorn)",
    )
    p.add_argument(
        "--max-pending-bytes-per-socket",
        type=int,
        default=None,
        help="bytes one WebSocket may have waiting in this process",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--no-websocket", action="store_true", help="gevent, polling only")
    mode.add_argument(
        "--flask-run",
        action="store_true",
        help="Werkzeug's threaded dev server, as `flask run` (no WebSocket)",
    )
    mode.add_argument(
        "--gunicorn",
        type=int,
        default=0,
        metavar="N",
        help="gunicorn's GeventWebSocketWorker with N workers",
    )
    return p.parse_args(argv)


class Demo:
    """The layer's own state: its hooks and the sends switch (/admin/config)."""

    def __init__(self):
        self.hooks = None
        self.sends = True


def auth_test_authorize(stream, action, request):
    """The --auth-test rule's authorize hook."""
    if stream.startswith("throw-"):
        raise RuntimeError("auth-test: authorize raises on throw-* streams")
    member = request.cookies.get("user") == "ok" or request.headers.get("X-User") == "ok"
    if stream.startswith("private-") or (stream.startswith("members-") and action == "send"):
        return member
    return True


def create_app(args):
    app = Flask(__name__, static_folder=None)
    app.config.update(
        LIFELINE_ORIGINS=args.origins,
        LIFELINE_HEARTBEAT=args.heartbeat,
        LIFELINE_RETENTION=args.retention,
        LIFELINE_LONG_POLL_MAX=args.long_poll_max,
        LIFELINE_INTERVAL=args.interval,
        LIFELINE_BATCH=args.batch,
        LIFELINE_REDIS_URL=args.redis,
    )
    for key, value in (
        ("REQUEST_HEADER_TIMEOUT_MS", args.request_header_timeout),
        ("REQUEST_BODY_TIMEOUT_MS", args.request_body_timeout),
        ("MAX_PENDING_BYTES_PER_SOCKET", args.max_pending_bytes_per_socket),
    ):
        if value is not None:  # else the library's default
            app.config["LIFELINE_" + key] = value
    live = Lifeline(app)
    demo = Demo()
    demo.hooks = app.extensions["lifeline"].transport_hooks = DemoHooks(
        app.extensions["lifeline"], args.name
    )

    if args.auth_test:
        live.authorize(auth_test_authorize)

    def on_send(stream, data, request):
        if not demo.sends:
            raise Rejected("sends_disabled", "sends are disabled on this server", 405)
        if args.auth_test and stream.startswith("readonly-"):
            raise Rejected("read_only", "this stream is read-only", 403)
        live.publish(stream, data)

    if not args.no_sends:
        live.on_send(on_send)

    @app.after_request
    def served_by(resp):
        resp.headers["Lifeline-Served-By"] = args.name
        return resp

    app.register_blueprint(make_admin(live, demo))
    app.register_blueprint(make_static())
    return app


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import runners

    if args.gunicorn:
        runners.run_gunicorn(lambda: create_app(args), args)
        return
    app = create_app(args)
    live = app.extensions["lifeline"].live
    if args.flask_run:
        runners.run_flask(app, live, args)
    else:
        runners.run_gevent(app, live, args)


if __name__ == "__main__":
    main()
else:
    # `flask --app server.py run` imports this module and serves `app`: Werkzeug's threaded
    # server, no WebSocket (an upgrade gets a plain poll answer), a thread per long poll.
    app = create_app(parse_args([]))

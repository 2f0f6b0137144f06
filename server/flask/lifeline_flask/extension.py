"""The Flask extension, the public entry: `Lifeline(app)` or `Lifeline()` + `init_app(app)`:
options, mounting, `publish`, `disconnect`, `health` (server/DESIGN.md "One design, files
mirrored"; Node: index.mjs).

Mounts wire protocol v1 (docs/protocol.md) at `<url_prefix>/<stream>` for any stream name
of the spec's grammar (protocol.py STREAM_NAME_RE); any other path under the prefix is a
JSON 404; a stream URL's request goes to its transport (transports/). Every option of
server/DESIGN.md's table comes from the constructor's keyword arguments, else
`app.config['LIFELINE_<NAME>']`, else the environment's `LIFELINE_<NAME>`
(environment.py), else its default (the spec's defaults and ranges, protocol.py).
Per-app state (options, store, open sessions) lives in `app.extensions['lifeline']`;
nothing is created at import time. `publish` encodes a message once, as JSON text
(jsontext.py), and the store keeps, reads and serves that text as it is.

One URL serves every transport, so it is registered twice: Werkzeug ≥ 2.2 routes a request
with `Upgrade: websocket` only to rules made with `websocket=True`. `app.app_protocol` tells
gevent-websocket's handler (also inside gunicorn's GeventWebSocketWorker) to answer the
`lifeline.v1` subprotocol on those URLs; that handler never sees the client's offer, so
`lifeline_flask.gevent_server`'s handler asks `LifelineState.subprotocol(path, offer)`
instead, which picks `lifeline.v2` when it is offered (docs/protocol.md "WebSocket v2").
"""

import logging
import os
import shlex
import sys
from typing import Any, Dict
from urllib.parse import quote

from flask import Response, current_app, has_app_context, request
from werkzeug.exceptions import MethodNotAllowed

from .transports import http, multipoll, websocket
from .transports.heartbeat import Heartbeat
from .client import ClientFiles
from .environment import options_from_environment, variable_of
from .errors import spec_error
from .hooks import TransportHooks
from .jsontext import dumps
from .session import Sessions
from .origin import add_cors, add_preflight, origin_allowed, parse_origins
from .protocol import (
    DEFAULTS as SPEC_DEFAULTS,
    HEADERS,
    INT_OPTIONS,
    STREAM_NAME_RE as STREAM_RE,
    SUBPROTOCOL,
    SUBPROTOCOL_V2,
)
from .stores.memory import MemoryStore

_UNSET = object()

# Request methods, case-sensitive (RFC 9110 §9.1): the ones Node's HTTP parser knows. On a
# stream URL any other token (`get`, `BREW`) is 400, as Node's parser answers; a known one
# the URL does not serve (TRACE, PROPFIND) is a JSON 405 with Allow.
HTTP_METHODS = frozenset(
    (
        "ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY "
        "MKCALENDAR MKCOL MOVE NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT QUERY "
        "REBIND REPORT SEARCH SOURCE SUBSCRIBE TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE"
    ).split()
)

# name: default. Flask config key: LIFELINE_<NAME>. The spec's options, then this
# package's own (the store).
DEFAULTS: Dict[str, Any] = {
    **SPEC_DEFAULTS,
    "origins": [],
    "store": None,
    "redis_url": None,
    "redis_key_prefix": "lifeline",
}


def check_int_option(name, value):
    """`value` when it is in the spec's range for option `name`, else ValueError."""
    minimum, maximum, nullable = INT_OPTIONS[name]
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ValueError(
            f"Lifeline option {name} must be an integer in [{minimum}, {maximum}]"
            + (" or None" if nullable else "")
            + f", not {value!r}"
        )
    return value


def resolve_options(options, config, environ=None):
    """The options of one app: explicit arguments, then app.config, then the environment
    (LIFELINE_<NAME>, as a 12-factor deployment sets them: environment.py), then the
    defaults."""
    from_environment = options_from_environment(DEFAULTS, environ)
    out = {}
    for name, default in DEFAULTS.items():
        value = options.get(name, _UNSET)
        if value is _UNSET:
            value = config.get(variable_of(name), _UNSET)
        if value is _UNSET:
            value = from_environment.get(name, default)
        out[name] = value
    prefix = out["url_prefix"]
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(
            f"Lifeline option url_prefix must start with '/' and not end "
            f"with one, not {prefix!r}"
        )
    out["origins"] = parse_origins(out["origins"])
    for name in INT_OPTIONS:
        check_int_option(name, out[name])
    if not isinstance(out["trust_proxy"], bool):
        raise ValueError(
            f"Lifeline option trust_proxy must be True or False, " f"not {out['trust_proxy']!r}"
        )
    return out


def can_upgrade(environ):
    """Whether the server running this request can upgrade a WebSocket: not Werkzeug's
    development server (`flask run`), which has no WebSocket at all, nor a handler that says
    it has none (gevent_server.PlainHandler). Poll answers say so (Lifeline-WebSocket: none),
    and the client polls alone instead of probing in vain."""
    if "lifeline.websocket" in environ:
        return bool(environ["lifeline.websocket"])
    return not environ.get("SERVER_SOFTWARE", "").startswith("Werkzeug/")


def gunicorn_workers(argv=None, environ=None):
    """How many workers the gunicorn running this process starts (1 outside gunicorn), from
    its command line, GUNICORN_CMD_ARGS and WEB_CONCURRENCY (a config file's `workers` is
    not seen: gunicorn does not tell its workers)."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if "gunicorn" not in (argv[0] if argv else "") and "gunicorn" not in sys.modules:
        return 1
    workers = environ.get("WEB_CONCURRENCY", "1")
    args = list(argv[1:]) + shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))
    for i, arg in enumerate(args):
        if arg in ("-w", "--workers") and i + 1 < len(args):
            workers = args[i + 1]
        elif arg.startswith("--workers="):
            workers = arg.split("=", 1)[1]
        elif arg.startswith("-w") and arg[2:].isdigit():
            workers = arg[2:]
    return int(workers) if workers.isdigit() else 1


def make_store(options):
    if options["store"] is not None:
        return options["store"]
    if options["redis_url"]:
        from .stores.redis import RedisStore

        return RedisStore(
            options["redis_url"],
            key_prefix=options["redis_key_prefix"],
            retention=options["retention"],
            retention_ms=options["retention_ms"],
            stream_ttl=options["stream_ttl"],
        )
    workers = gunicorn_workers()
    if workers > 1:
        # Each worker would keep its own streams: a message published in one never reaches
        # the clients of the others, and their cursors mean nothing to each other.
        raise RuntimeError(
            f"Lifeline: gunicorn runs {workers} workers, but the streams are in the memory "
            "store, which one process alone can serve. Set LIFELINE_REDIS_URL (in the "
            "environment or app.config) to keep them in Redis, or run one worker (-w 1)."
        )
    return MemoryStore(
        retention=options["retention"],
        retention_ms=options["retention_ms"],
        stream_ttl=options["stream_ttl"],
        max_streams=options["max_streams"],
    )


class LifelineState:
    """One app's Lifeline: `app.extensions['lifeline']`.

    `config` holds the resolved options (read on every request, so a change applies at
    once), `store` the streams, `sessions` the WebSockets and held long polls open,
    `heartbeat` the WebSockets' one heartbeat timer (transports/heartbeat.py),
    `transport_hooks` the seam for a test/demo layer (hooks.py).
    """

    def __init__(self, live, app, config):
        self.live = live
        self.app = app
        self.config = config
        self.store = make_store(config)
        self.sessions = Sessions()
        self.heartbeat = Heartbeat()
        self.client = ClientFiles(config["url_prefix"])
        self.warned_elsewhere = False  # transports/http.py: a sibling process's cursor, logged once
        self.transport_hooks = TransportHooks()
        self.logger = logging.getLogger("lifeline_flask")

    # ---- paths ------------------------------------------------------------------------

    def stream_of(self, path):
        """The stream a path names: a name, '' for an invalid path under the prefix, None
        for a path outside it."""
        prefix = self.config["url_prefix"]
        if path == prefix or path == prefix + "/":
            return ""
        if not path.startswith(prefix + "/"):
            return None
        name = path[len(prefix) + 1 :]
        return name if STREAM_RE.match(name) else ""

    def app_protocol(self, path):
        """Asked by gevent-websocket's handler: the subprotocol to answer on `path`."""
        return SUBPROTOCOL if self.stream_of(path) else None

    def subprotocol(self, path, offered):
        """The subprotocol to answer on `path` for the client's offer (its
        Sec-WebSocket-Protocol header): lifeline.v2 when it is one of the offered tokens,
        else what `app_protocol` answers (gevent-websocket then checks it against the offer
        itself, as it always did)."""
        chosen = self.app_protocol(path)
        if chosen and SUBPROTOCOL_V2 in (token.strip() for token in (offered or "").split(",")):
            return SUBPROTOCOL_V2
        return chosen

    def accepts_upgrade(self, environ):
        """Whether a WebSocket handshake may go ahead (else the view answers the refusal):
        None for a path that is not ours."""
        stream = self.stream_of(environ.get("PATH_INFO", ""))
        if stream is None:
            return None
        if not stream:
            return False
        if not origin_allowed(environ, self.config["origins"], self.config["trust_proxy"]):
            return False
        return self.transport_hooks.upgrade_refusal(environ) is None

    def guard(self):
        """Before routing's answer (a `before_request` hook): on a stream URL, a method that
        is no method is 400, so is a body framed by both Content-Length and
        Transfer-Encoding; a request target over `max_request_target_bytes` is 414, a method
        the URL does not serve is a JSON 405 (Werkzeug's own is HTML). None: go on."""
        environ = request.environ
        if self.stream_of(environ.get("PATH_INFO", "")) is None:
            return None
        method = environ.get("REQUEST_METHOD", "")
        if method not in HTTP_METHODS:
            return self.finish(
                spec_error(
                    "bad_request", f"{method!r} is not an HTTP method", {"Connection": "close"}
                )
            )
        if environ.get("HTTP_TRANSFER_ENCODING") and environ.get("CONTENT_LENGTH"):
            # gevent_server refuses this shape before the app runs; other servers may not
            return self.finish(
                spec_error(
                    "bad_request", "Content-Length with Transfer-Encoding", {"Connection": "close"}
                )
            )
        target = (
            environ.get("RAW_URI")
            or environ.get("REQUEST_URI")
            or (
                quote(environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~")
                + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
            )
        )
        limit = self.config["max_request_target_bytes"]
        if len(target) > limit:
            return self.finish(
                spec_error(
                    "uri_too_long", f"request target over {limit} bytes", {"Connection": "close"}
                )
            )
        if isinstance(request.routing_exception, MethodNotAllowed):
            return self.finish(spec_error("method_not_allowed", f"{method} is not allowed here"))
        return None

    # ---- hooks ------------------------------------------------------------------------

    def authorize(self, stream, action, req):
        """None when allowed; else the refusal message. Raises what the hook raises."""
        fn = self.live._authorize
        if fn is None or fn(stream, action, req):
            return None
        return (
            f"not allowed to {action} to {stream!r}"
            if action == "send"
            else f"not allowed to subscribe to {stream!r}"
        )

    def finish(self, resp, poll=False):
        """Every answer on a stream URL: counted, CORS, poll headers."""
        hooks = self.transport_hooks
        hooks.count(str(resp.status_code))
        if resp.status_code in (204, 304):
            resp.headers.pop("Content-Type", None)
        elif request.method != "HEAD":
            hooks.count("bytesOut", len(resp.get_data()))
        if poll:
            resp.headers["Cache-Control"] = "no-store"
            lpm = self.config["long_poll_max"]
            if lpm > 0:
                resp.headers["Lifeline-Long-Poll"] = str(lpm)
            if self.config["interval"] is not None:
                resp.headers["Lifeline-Interval"] = str(self.config["interval"])
            if not can_upgrade(request.environ):
                name, value = HEADERS["no_websocket"].split(": ")
                resp.headers[name] = value
        return add_cors(resp, request.environ, self.config["origins"])


class Lifeline:
    """Live streams for a Flask app. See docs/flask.md."""

    def __init__(self, app=None, **options):
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"Lifeline: unknown options {', '.join(sorted(unknown))}")
        self._options = options
        self._authorize = None
        self._on_send = None
        self._app = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        state = LifelineState(self, app, resolve_options(self._options, app.config))
        app.extensions["lifeline"] = state
        prefix = state.config["url_prefix"]
        view = _make_view(state)
        methods = ["GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]
        for rule, name in (
            (prefix, "lifeline_root"),
            (prefix + "/", "lifeline_root_slash"),
            (prefix + "/<path:stream>", "lifeline_stream"),
        ):
            app.add_url_rule(
                rule,
                name,
                view,
                methods=methods,
                provide_automatic_options=False,
                strict_slashes=True,
            )
            app.add_url_rule(
                rule, name + "_ws", view, methods=["GET"], websocket=True, strict_slashes=True
            )
        app.add_url_rule(
            prefix + "/client/<name>", "lifeline_client", _client_view(state), methods=["GET"]
        )
        # templates: {{ lifeline.script_tag() }}, {{ lifeline.client_url("lifeline.mjs") }}
        app.context_processor(lambda: {"lifeline": self})
        app.app_protocol = state.app_protocol
        app.before_request(state.guard)
        from .cli import lifeline_cli

        if "lifeline" not in app.cli.commands:
            app.cli.add_command(lifeline_cli)
        self._app = app
        return state

    # ---- the browser client -----------------------------------------------------------

    def script_tag(self, build="script"):
        """``<script src="<prefix>/client/lifeline.<hash>.js"></script>`` (build ``'csp'``:
        the strict-CSP build): the whole client for a page, in one tag."""
        return self.state().client.script_tag(build)

    def client_url(self, name="lifeline.mjs"):
        """The URL a built client file is served at, e.g. the ES module to import."""
        return self.state().client.url(name)

    # ---- decorators -------------------------------------------------------------------

    def authorize(self, fn):
        """``@live.authorize``: ``fn(stream, action, request) -> bool``, action
        ``'subscribe'`` (every poll, long poll and upgrade) or ``'send'``."""
        self._authorize = fn
        return fn

    def on_send(self, fn):
        """``@live.on_send``: ``fn(stream, data, request)``; raise ``Rejected`` to refuse."""
        self._on_send = fn
        return fn

    # ---- publishing -------------------------------------------------------------------

    def state(self, app=None):
        """The LifelineState of `app` (default: the current app, else the one initialised)."""
        if app is None:
            if (
                has_app_context()
                and "lifeline" in current_app.extensions
                and current_app.extensions["lifeline"].live is self
            ):
                app = current_app._get_current_object()  # type: ignore[attr-defined]
            else:
                app = self._app
        if app is None or "lifeline" not in app.extensions:
            raise RuntimeError(
                "Lifeline is not initialised: call Lifeline(app) or " "live.init_app(app) first"
            )
        return app.extensions["lifeline"]

    def disconnect(
        self, stream=None, where=None, message="access to this stream was revoked", app=None
    ):
        """End the WebSockets (error frame `revoked`, close 1008) and held long polls (403
        `revoked`) of `stream` (None: every stream) whose request `where(request)` accepts
        (default all), and the matching subscriptions of v2 sockets (refused `revoked`, the
        socket carrying on); returns how many were ended. `authorize` runs once per socket,
        subscription and long poll, so this is how taking a right away reaches connections
        already open."""
        if stream is not None and (not isinstance(stream, str) or not STREAM_RE.match(stream)):
            raise ValueError(f"bad stream name {stream!r}: [A-Za-z0-9_.:-]{{1,200}}")
        if where is not None and not callable(where):
            raise TypeError("where must be a function (request) -> bool")
        return self.state(app).sessions.disconnect(stream, where, message)

    def health(self, app=None):
        """The store's state: a dict with ``ok`` (Redis: connected, ping, subscription
        probe; server/DESIGN.md "Health"). Also ``flask lifeline health``."""
        return self.state(app).store.health()

    def publish(self, stream, data, app=None):
        """Append `data` (JSON-serialisable) to `stream`; returns its cursor.

        Callable from a view, a CLI command, a thread or a greenlet. The data is encoded
        here, once (as the browser writes JSON: jsontext.py); the store keeps that text and
        every client gets it as it is. TypeError for data JSON cannot hold, ValueError for
        NaN/Infinity or a bad stream name, StoreUnavailable when the store's backend is down.
        """
        if not isinstance(stream, str) or not STREAM_RE.match(stream):
            raise ValueError(f"bad stream name {stream!r}: {STREAM_RE.pattern}")
        return self.state(app).store.append(stream, dumps(data))


def _client_view(state):
    def client(name):
        resp = state.client.response(name, request.method)
        return (
            resp
            if resp is not None
            else state.finish(
                spec_error(
                    "not_found", "no such client file (their names change with each version)"
                )
            )
        )

    return client


def _streams_view(state):
    method = request.method
    if method == "OPTIONS":
        state.transport_hooks.count("options")
        return state.finish(
            add_preflight(Response(status=204), request.environ, state.config["origins"])
        )
    if method not in ("GET", "HEAD"):
        return state.finish(
            spec_error(
                "method_not_allowed", f"{method} is not allowed here: GET polls many streams"
            )
        )
    return multipoll.poll(state)


def _make_view(state):
    def view(stream=None):
        environ = request.environ
        ws = environ.get("wsgi.websocket")
        if (
            stream is None
            and request.path == state.config["url_prefix"] + "/"
            and ws is None
            and not websocket.is_upgrade(environ)
        ):  # `<prefix>/` itself: the v2 poll of many streams (transports/multipoll.py)
            return _streams_view(state)
        if stream is None or not STREAM_RE.match(stream):
            if ws is not None:  # a handler that upgraded before asking us
                websocket.refuse(ws, "not_found", "no such stream URL")
            refusal = spec_error("not_found")
            if websocket.is_upgrade(environ):
                refusal.headers["Connection"] = "close"  # a refused upgrade: nothing follows
            return state.finish(refusal, poll=request.method in ("GET", "HEAD"))
        method = request.method
        if method == "OPTIONS":
            state.transport_hooks.count("options")
            return state.finish(
                add_preflight(Response(status=204), environ, state.config["origins"])
            )
        if method == "POST":
            return http.send(state, stream)
        if method not in ("GET", "HEAD"):
            return state.finish(
                spec_error("method_not_allowed", f"{method} is not allowed on a stream URL")
            )
        if websocket.is_upgrade(environ):
            return websocket.upgrade(state, stream, ws)
        return http.poll(state, stream)

    return view

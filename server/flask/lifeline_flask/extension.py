"""The Flask extension: `Lifeline(app)` or `Lifeline()` + `init_app(app)`.

Mounts wire protocol v1 (README "Wire protocol v1") at `<url_prefix>/<stream>` for any
stream name matching `[A-Za-z0-9_.:-]{1,200}`; any other path under the prefix is a JSON
404. Every option of server/DESIGN.md's table comes from the constructor's keyword
arguments, else `app.config['LIFELINE_<NAME>']`, else its default. Per-app state (options,
store, held connections) lives in `app.extensions['lifeline']`; nothing is created at
import time.

One URL serves every transport, so it is registered twice: Werkzeug ≥ 2.2 routes a request
with `Upgrade: websocket` only to rules made with `websocket=True`. `app.app_protocol` tells
gevent-websocket's handler (also inside gunicorn's GeventWebSocketWorker) to answer the
`lifeline.v1` subprotocol on those URLs.
"""

import logging
import re

from flask import Response, current_app, has_app_context, request

from . import polling, websocket
from .errors import error_response
from .hooks import TransportHooks
from .held import Registry
from .origin import ALLOW_METHODS, add_cors, add_preflight, origin_allowed
from .stores.memory import MemoryStore

STREAM_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
SUBPROTOCOL = "lifeline.v1"
_UNSET = object()

# name: default. Flask config key: LIFELINE_<NAME>.
DEFAULTS = {
    "url_prefix": "/live",
    "origins": [],
    "heartbeat": 25000,
    "long_poll_max": 25000,
    "interval": None,
    "batch": 500,
    "retention": 1000,
    "retention_ms": None,
    "max_body": 65536,
    "stream_ttl": 24 * 3600 * 1000,
    "max_streams": 100_000,
    "store": None,
    "redis_url": None,
    "redis_key_prefix": "lifeline",
    "trust_proxy": False,
}


def _positive_int(name, value, minimum, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"Lifeline option {name} must be an integer >= {minimum}"
                         + (" or None" if optional else "") + f", not {value!r}")
    return value


def _origins(value):
    if value is None:
        return []
    if isinstance(value, str):
        value = [o for o in (p.strip() for p in value.split(",")) if o]
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
            isinstance(o, str) for o in value):
        raise ValueError("Lifeline option origins must be a list of origins, '*', or a "
                         f"comma-separated string, not {value!r}")
    return [o.rstrip("/") for o in value]


def resolve_options(options, config):
    """The options of one app: explicit arguments, then app.config, then the defaults."""
    out = {}
    for name, default in DEFAULTS.items():
        value = options.get(name, _UNSET)
        if value is _UNSET:
            value = config.get("LIFELINE_" + name.upper(), default)
        out[name] = value
    prefix = out["url_prefix"]
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"Lifeline option url_prefix must start with '/' and not end "
                         f"with one, not {prefix!r}")
    out["origins"] = _origins(out["origins"])
    for name, minimum in (("heartbeat", 0), ("long_poll_max", 0), ("batch", 1),
                          ("retention", 1), ("max_body", 1)):
        _positive_int(name, out[name], minimum)
    _positive_int("interval", out["interval"], 0, optional=True)
    _positive_int("retention_ms", out["retention_ms"], 1, optional=True)
    _positive_int("stream_ttl", out["stream_ttl"], 1, optional=True)
    _positive_int("max_streams", out["max_streams"], 1)
    if not isinstance(out["trust_proxy"], bool):
        raise ValueError(f"Lifeline option trust_proxy must be True or False, "
                         f"not {out['trust_proxy']!r}")
    return out


def make_store(options):
    if options["store"] is not None:
        return options["store"]
    if options["redis_url"]:
        from .stores.redis import RedisStore
        return RedisStore(options["redis_url"], key_prefix=options["redis_key_prefix"],
                          retention=options["retention"], retention_ms=options["retention_ms"],
                          stream_ttl=options["stream_ttl"])
    return MemoryStore(retention=options["retention"], retention_ms=options["retention_ms"],
                       stream_ttl=options["stream_ttl"], max_streams=options["max_streams"])


class LifelineState:
    """One app's Lifeline: `app.extensions['lifeline']`.

    `config` holds the resolved options (read on every request, so a change applies at
    once), `store` the streams, `held` the long polls and WebSockets in progress,
    `transport_hooks` the seam for a test/demo layer (hooks.py).
    """

    def __init__(self, live, app, config):
        self.live = live
        self.app = app
        self.config = config
        self.store = make_store(config)
        self.held = Registry()
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
        name = path[len(prefix) + 1:]
        return name if STREAM_RE.match(name) else ""

    def app_protocol(self, path):
        """Asked by gevent-websocket's handler: the subprotocol to answer on `path`."""
        return SUBPROTOCOL if self.stream_of(path) else None

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

    # ---- hooks ------------------------------------------------------------------------

    def authorize(self, stream, action, req):
        """None when allowed; else the refusal message. Raises what the hook raises."""
        fn = self.live._authorize
        if fn is None or fn(stream, action, req):
            return None
        return f"not allowed to {action} to {stream!r}" if action == "send" \
            else f"not allowed to subscribe to {stream!r}"

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
        return add_cors(resp, request.environ, self.config["origins"])


class Lifeline:
    """Live streams for a Flask app. See the README, "Add Lifeline to a Flask app"."""

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
        for rule, name in ((prefix, "lifeline_root"), (prefix + "/", "lifeline_root_slash"),
                           (prefix + "/<path:stream>", "lifeline_stream")):
            app.add_url_rule(rule, name, view, methods=methods,
                             provide_automatic_options=False, strict_slashes=True)
            app.add_url_rule(rule, name + "_ws", view, methods=["GET"], websocket=True,
                             strict_slashes=True)
        app.app_protocol = state.app_protocol
        from .cli import lifeline_cli
        if "lifeline" not in app.cli.commands:
            app.cli.add_command(lifeline_cli)
        self._app = app
        return state

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
            if has_app_context() and "lifeline" in current_app.extensions \
                    and current_app.extensions["lifeline"].live is self:
                app = current_app._get_current_object()
            else:
                app = self._app
        if app is None or "lifeline" not in app.extensions:
            raise RuntimeError("Lifeline is not initialised: call Lifeline(app) or "
                               "live.init_app(app) first")
        return app.extensions["lifeline"]

    def health(self, app=None):
        """The store's state: a dict with ``ok`` (Redis: connected, ping, subscription
        probe; server/DESIGN.md "Health"). Also ``flask lifeline health``."""
        store = self.state(app).store
        check = getattr(store, "health", None)
        return check() if check is not None else {"ok": True, "store": type(store).__name__}

    def publish(self, stream, data, app=None):
        """Append `data` (JSON-serialisable) to `stream`; returns its cursor.

        Callable from a view, a CLI command, a thread or a greenlet. TypeError for data
        JSON cannot hold, ValueError for NaN/Infinity or a bad stream name,
        StoreUnavailable when the store's backend is down.
        """
        if not isinstance(stream, str) or not STREAM_RE.match(stream):
            raise ValueError(f"bad stream name {stream!r}: [A-Za-z0-9_.:-]{{1,200}}")
        return self.state(app).store.append(stream, data)


def _make_view(state):
    def view(stream=None):
        environ = request.environ
        ws = environ.get("wsgi.websocket")
        if stream is None or not STREAM_RE.match(stream):
            if ws is not None:   # a handler that upgraded before asking us
                websocket.refuse(ws, "not_found", "no such stream URL")
            return state.finish(error_response(
                404, "not_found", "a stream URL is <prefix>/<name>, name [A-Za-z0-9_.:-]{1,200}"))
        method = request.method
        if method == "OPTIONS":
            state.transport_hooks.count("options")
            return state.finish(add_preflight(Response(status=204), environ,
                                              state.config["origins"]))
        if method == "POST":
            return polling.send(state, stream)
        if method not in ("GET", "HEAD"):
            resp = error_response(405, "method_not_allowed", f"{method} is not allowed here")
            resp.headers["Allow"] = ALLOW_METHODS
            return state.finish(resp)
        if websocket.is_upgrade(environ):
            return websocket.upgrade(state, stream, ws)
        return polling.poll(state, stream)

    return view

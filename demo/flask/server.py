#!/usr/bin/env python3
"""Lifeline wire protocol v1, served by Flask.

The same protocol, CLI and admin API as the Node reference server (demo/server.mjs), so one
conformance suite runs against both. See the "Wire protocol v1" section of the top README.

Two ways to run it:

  /usr/bin/python3 demo/flask/server.py [--port 0] [--no-websocket] ...
      gevent's WSGIServer with geventwebsocket's handler: /live serves polls, long polls,
      sends and the WebSocket. --no-websocket keeps gevent but drops the WebSocket.

  flask --app demo/flask/server.py run
      Werkzeug's threaded development server: polls, long polls and sends only. An upgrade
      request gets a plain poll answer and the client falls back to polling -- the case the
      seed article is about.

Theory of operation. One MemoryStore (the message log) and one Hub (config, fault mode,
counters, every held connection) per app. A long poll or a WebSocket subscribes to the store
and sleeps on an event -- a gevent Event under gevent, a threading.Event under `flask run` --
that every append sets; after waking it re-reads the log from its own cursor, so a wake-up
is never lost and never delivers twice. /admin/restart marks every held connection dropped,
shuts its socket down (the client sees the connection cut, as in a real restart) and gives
the store a new boot epoch, so every old cursor answers with a reset afterwards.
"""

import argparse
import json
import mimetypes
import re
import select
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from flask import Flask, Response, request, send_from_directory
from werkzeug.exceptions import HTTPException

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_DIR = ROOT / "demo" / "public"
DIST_DIR = ROOT / "dist"
LIVE_PATH = "/live"
SUBPROTOCOL = "lifeline.v1"
MAX_BODY = 64 * 1024          # POST bodies and WebSocket messages
U64_MAX = (1 << 64) - 1
CURSOR_RE = re.compile(r"^([0-9]{1,20})(?:-([0-9]{1,20}))?$")
WAIT_RE = re.compile(r"^[0-9]{1,12}$")
EXPOSE_HEADERS = "ETag, Retry-After, Date, Lifeline-Interval, Lifeline-Long-Poll"
FAULT_MODES = ("none", "refuse", "blackhole", "stall", "flap", "slow", "close")

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")


# --------------------------------------------------------------------------- cursors

def parse_cursor(s):
    """`<u64>` or `<u64>-<u64>` -> (hi, lo); None when it is not a valid cursor."""
    if not isinstance(s, str):
        return None
    m = CURSOR_RE.match(s)
    if not m:
        return None
    hi = int(m.group(1))
    lo = int(m.group(2)) if m.group(2) is not None else 0
    if hi > U64_MAX or lo > U64_MAX:
        return None
    return (hi, lo)


def format_cursor(hi, lo):
    return f"{hi}-{lo}"


# --------------------------------------------------------------------------- the log

class MemoryStore:
    """The message log: the same interface and cursor rules as demo/store.mjs.

    append(data)         -> cursor                        adds one message, notifies subscribers
    since(cursor, limit) -> {"messages", "cursor"}        messages strictly after cursor
                          | {"reset": True, "cursor"}     too old / ahead / another boot
    head()               -> cursor                        newest cursor (`<boot>-0` when empty)
    subscribe(fn)        -> unsubscribe()                 fn(message) after every append
    reset()                                              a restart: empty log, new boot epoch

    Cursors are `<bootEpochMs>-<seq>`, seq from 1. since(None) is "from now"; "0" is
    everything retained; a cursor in [oldest retained - 1, head] is served; anything else
    is a reset to head. Messages are kept as (seq, cursor, data_json) so a message is
    encoded to JSON once, at append.
    """

    def __init__(self, retention=1000, now=None):
        self._now = now or (lambda: int(time.time() * 1000))
        self._lock = threading.RLock()
        self._subs = []
        self._boot = 0
        self._retention = self._norm_retention(retention)
        self._start()

    @staticmethod
    def _norm_retention(n):
        n = int(n)
        if n < 1:
            raise ValueError("retention must be >= 1")
        return n

    def _start(self):
        boot = int(self._now())
        if boot <= self._boot:          # a restart within the same millisecond
            boot = self._boot + 1
        self._boot = boot
        self._seq = 0                   # seq of the newest message
        self._floor = 0                 # seq of the newest message dropped by retention
        self._log = []                  # [(seq, cursor, data_json)], seqs floor+1 .. seq

    @property
    def boot_epoch(self):
        return self._boot

    @property
    def retention(self):
        return self._retention

    @retention.setter
    def retention(self, n):
        with self._lock:
            self._retention = self._norm_retention(n)
            self._trim()

    def head(self):
        with self._lock:
            return format_cursor(self._boot, self._seq)

    def append(self, data, data_json=None):
        if data_json is None:
            data_json = dumps(data)
        with self._lock:
            self._seq += 1
            cursor = format_cursor(self._boot, self._seq)
            self._log.append((self._seq, cursor, data_json))
            self._trim()
            subs = list(self._subs)
        msg = {"cursor": cursor, "data_json": data_json}
        for fn in subs:
            try:
                fn(msg)
            except Exception:  # a failing subscriber must not break the append
                pass
        return cursor

    def since(self, cursor, limit=None):
        with self._lock:
            head = format_cursor(self._boot, self._seq)
            if cursor is None:
                return {"messages": [], "cursor": head}
            c = parse_cursor(cursor) if isinstance(cursor, str) else cursor
            if c is None:
                raise ValueError(f"invalid cursor {cursor!r}")
            if c == (0, 0):
                after = self._floor
            elif c < (self._boot, self._floor) or c > (self._boot, self._seq):
                return {"reset": True, "cursor": head}
            else:
                after = c[1]
            start = after - self._floor
            end = len(self._log) if limit is None else min(len(self._log), start + limit)
            messages = [{"cursor": cur, "data_json": dj} for (_, cur, dj) in self._log[start:end]]
            last = messages[-1]["cursor"] if messages else format_cursor(self._boot, after)
            return {"messages": messages, "cursor": last}

    def subscribe(self, fn):
        with self._lock:
            self._subs.append(fn)

        def unsubscribe():
            with self._lock:
                try:
                    self._subs.remove(fn)
                except ValueError:
                    pass
        return unsubscribe

    def reset(self):
        with self._lock:
            self._start()

    def _trim(self):
        drop = len(self._log) - self._retention
        if drop > 0:
            del self._log[:drop]
            self._floor += drop


# --------------------------------------------------------------------------- helpers

def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def loads(text):
    """Strict JSON: no NaN/Infinity; any failure (also absurd nesting) is a ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def now_ms():
    return time.monotonic() * 1000.0


def sleep_ms(hub, ms):
    if hub.async_mode == "gevent":
        import gevent
        gevent.sleep(ms / 1000.0)
    else:
        time.sleep(ms / 1000.0)


def error_response(status, code, message, headers=None):
    resp = Response(dumps({"error": code, "message": message}), status=status,
                    mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def json_response(obj, status=200):
    return Response(dumps(obj), status=status, mimetype="application/json")


def parse_if_none_match(value):
    """The entity tags of an If-None-Match header, unquoted (weak prefix dropped)."""
    if not value:
        return []
    tags = []
    for part in value.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        if len(part) >= 2 and part[0] == '"' and part[-1] == '"':
            part = part[1:-1]
        if part:
            tags.append(part)
    return tags


def is_upgrade(environ):
    return (environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            and "upgrade" in environ.get("HTTP_CONNECTION", "").lower())


def raw_socket(environ):
    """The connection's socket, to cut it the way a dying server would (None if unknown)."""
    handler = environ.get("lifeline.handler")
    if handler is not None:
        return getattr(handler, "socket", None)
    return environ.get("werkzeug.socket")


def peer_gone(sock):
    """Whether the client closed its end (a long poll it aborted): readable with EOF."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def cut(sock):
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def is_loopback(addr):
    if not addr:
        return False
    return addr == "::1" or addr.startswith("127.") or addr.startswith("::ffff:127.")


# --------------------------------------------------------------------------- hub

class Conn:
    """A held connection: a long poll, a WebSocket, or a black-holed upgrade."""

    __slots__ = ("kind", "event", "sock", "dropped", "closed", "frozen", "opened",
                 "last_sent", "flap_at", "too_large")

    def __init__(self, kind, event, sock):
        self.kind = kind
        self.event = event
        self.sock = sock
        self.dropped = False     # /admin/restart: cut, answer nothing more
        self.closed = False      # the peer went away or the session ended
        self.frozen = False      # fault "stall": send nothing, answer nothing
        self.opened = now_ms()
        self.last_sent = self.opened
        self.flap_at = None
        self.too_large = False

    def drop(self):
        self.dropped = True
        cut(self.sock)
        self.event.set()


class Hub:
    """Per-app state: store, config, fault mode, counters and held connections."""

    def __init__(self, *, retention=1000, heartbeat=25000, long_poll_max=25000,
                 origins="*", async_mode="threading", websocket=False):
        self.store = MemoryStore(retention=retention)
        self.config = {
            "retention": retention,
            "heartbeat": heartbeat,
            "longPollMax": long_poll_max,
            "interval": None,
            "batch": 500,
            "shed": None,
        }
        self.origins = origins
        self.fault = {"mode": "none", "ms": 500}
        self.async_mode = async_mode
        self.websocket = websocket
        self._lock = threading.Lock()
        self._conns = set()
        self.reset_stats()

    def make_event(self):
        if self.async_mode == "gevent":
            import gevent.event
            return gevent.event.Event()
        return threading.Event()

    def reset_stats(self):
        # The same flat shape as demo/server.mjs: /live requests by kind (ws = upgrade
        # requests, poll = GET without wait, longpoll, post, options), answers by status
        # ("200", "204", "101", …), body/frame bytes in and out; gauges added on read.
        self.stats = {"ws": 0, "poll": 0, "longpoll": 0, "post": 0, "options": 0,
                      "bytesIn": 0, "bytesOut": 0, "bytes": 0}

    def count(self, key, n=1):
        with self._lock:
            self.stats[key] = self.stats.get(key, 0) + n
            if key == "bytesOut":
                self.stats["bytes"] = self.stats["bytesOut"]

    def snapshot_stats(self):
        with self._lock:
            out = dict(self.stats)
            out["wsOpen"] = sum(1 for c in self._conns if c.kind == "ws")
            out["held"] = sum(1 for c in self._conns if c.kind == "poll")
            return out

    def public_config(self):
        origins = self.origins if self.origins == "*" else sorted(self.origins)
        return {**self.config, "origins": origins, "fault": dict(self.fault)}

    def register(self, conn):
        with self._lock:
            self._conns.add(conn)

    def unregister(self, conn):
        with self._lock:
            self._conns.discard(conn)

    def conns(self):
        with self._lock:
            return list(self._conns)

    def set_fault(self, fault):
        with self._lock:
            self.fault = fault
        if fault["mode"] == "stall":   # freeze the WebSockets already open too
            for c in self.conns():
                if c.kind == "ws":
                    c.frozen = True
        for c in self.conns():
            c.event.set()

    def restart(self):
        conns = self.conns()
        for c in conns:
            c.dropped = True
        self.store.reset()
        for c in conns:
            c.drop()

    def allowed_origin(self, origin):
        if self.origins == "*":
            return True
        return origin is not None and origin in self.origins

    def upgrade_verdict(self, environ):
        """What to do with an upgrade request before the handshake."""
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and not self.allowed_origin(origin):
            return "forbidden_origin"
        if self.config["shed"]:
            return "shed"
        mode = self.fault["mode"]
        if mode in ("refuse", "blackhole"):
            return mode
        return "accept"


# --------------------------------------------------------------------------- the app

def create_app(hub=None):
    hub = hub or Hub()
    app = Flask(__name__, static_folder=None)
    app.lifeline_hub = hub

    # ---- CORS and errors ------------------------------------------------------------

    @app.after_request
    def add_cors(resp):
        if resp.status_code in (204, 304):
            resp.headers.pop("Content-Type", None)
        origin = request.headers.get("Origin")
        if hub.origins == "*":
            resp.headers["Access-Control-Allow-Origin"] = "*"
        elif origin is not None and hub.allowed_origin(origin):
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers.add("Vary", "Origin")
        else:
            resp.headers.add("Vary", "Origin")
        if "Access-Control-Allow-Origin" in resp.headers:
            resp.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return resp

    @app.errorhandler(HTTPException)
    def http_error(e):
        code = re.sub(r"[^a-z0-9]+", "_", (e.name or "error").lower()).strip("_")
        resp = error_response(e.code or 500, code, e.description or e.name)
        if e.code == 405 and getattr(e, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(e.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def internal_error(e):
        app.logger.exception("unhandled error")
        return error_response(500, "internal", "internal server error")

    # ---- /live ----------------------------------------------------------------------

    def live():
        if request.method == "OPTIONS":
            hub.count("options")
            return preflight()
        if request.method == "POST":
            return post_send()
        if is_upgrade(request.environ):
            hub.count("ws")
            return upgrade()
        return poll()

    def preflight():
        resp = Response(status=204)
        origin = request.headers.get("Origin")
        if hub.allowed_origin(origin) or hub.origins == "*":
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            asked = request.headers.get("Access-Control-Request-Headers")
            resp.headers["Access-Control-Allow-Headers"] = (
                asked or "Content-Type, If-None-Match, If-Modified-Since")
            resp.headers["Access-Control-Max-Age"] = "600"
        resp.headers["Allow"] = "GET, POST, OPTIONS"
        return resp

    def poll_headers(resp):
        resp.headers["Cache-Control"] = "no-store"
        lpm = hub.config["longPollMax"]
        if lpm > 0:
            resp.headers["Lifeline-Long-Poll"] = str(lpm)
        if hub.config["interval"] is not None:
            resp.headers["Lifeline-Interval"] = str(hub.config["interval"])
        return resp

    def live_answer(resp):
        hub.count(str(resp.status_code))
        if request.method != "HEAD":
            hub.count("bytesOut", len(resp.get_data()))
        return resp

    def poll_answer(status, resp):
        poll_headers(resp)
        slow = hub.fault["ms"] if hub.fault["mode"] == "slow" else 0
        if slow > 0:
            sleep_ms(hub, slow)
        return live_answer(resp)

    def shed_response():
        shed = hub.config["shed"]
        return error_response(shed["status"], "overloaded", "server is shedding load",
                              {"Retry-After": str(shed["retryAfter"])})

    def poll():
        raw_wait = request.args.get("wait")
        hub.count("longpoll" if raw_wait not in (None, "", "0") else "poll")
        if hub.config["shed"]:
            return poll_answer(0, shed_response())

        raw = request.args.get("cursor")
        inm = parse_if_none_match(request.headers.get("If-None-Match"))
        if raw is not None:
            cursor = parse_cursor(raw)
            if cursor is None:
                return poll_answer(400, error_response(400, "bad_request", f"bad cursor {raw!r}"))
        else:
            cursor = next((p for p in map(parse_cursor, inm) if p is not None), None)

        wait = 0
        if raw_wait is not None:
            if not WAIT_RE.match(raw_wait):
                return poll_answer(400, error_response(400, "bad_request", f"bad wait {raw_wait!r}"))
            wait = int(raw_wait)

        store = hub.store
        if cursor is None:
            head = store.head()
            return poll_answer(200, with_etag(json_response({"cursor": head, "messages": []}), head))

        hold_ms = min(wait, hub.config["longPollMax"])
        deadline = now_ms() + hold_ms
        conn = None
        unsubscribe = None
        try:
            while True:
                if conn is not None:
                    conn.event.clear()
                # read the store from scratch each round: the store may have been reset
                r = hub.store.since(cursor, hub.config["batch"])
                if r.get("reset"):
                    resp = json_response({"type": "reset", "cursor": r["cursor"]}, 410)
                    return poll_answer(410, resp)
                if r["messages"]:
                    body = ('{"cursor":' + dumps(r["cursor"]) + ',"messages":['
                            + ",".join('{"cursor":' + dumps(m["cursor"]) + ',"data":' + m["data_json"] + "}"
                                       for m in r["messages"])
                            + "]}")
                    resp = Response(body, status=200, mimetype="application/json")
                    return poll_answer(200, with_etag(resp, r["cursor"]))
                remaining = deadline - now_ms()
                if remaining <= 0 or (conn is not None and conn.dropped):
                    break
                if conn is None:
                    # subscribe, then look again: an append in between is not lost
                    conn = Conn("poll", hub.make_event(), raw_socket(request.environ))
                    hub.register(conn)
                    unsubscribe = hub.store.subscribe(lambda _m, ev=conn.event: ev.set())
                    continue
                # wake at least every second: WSGI gives no signal when the client goes away
                conn.event.wait(min(remaining, 1000) / 1000.0)
                if conn.dropped or peer_gone(conn.sock):
                    break
        finally:
            if conn is not None:
                hub.unregister(conn)
            if unsubscribe is not None:
                unsubscribe()
        if conn is not None and conn.dropped:
            # /admin/restart: the socket is already cut; whatever we answer goes nowhere
            cut(conn.sock)
            return Response(status=503)
        matched = any(parse_cursor(t) == parse_cursor(r["cursor"]) for t in inm)
        status = 304 if matched else 204
        return poll_answer(status, with_etag(Response(status=status), r["cursor"]))

    def with_etag(resp, cursor):
        resp.headers["ETag"] = f'"{cursor}"'
        return resp

    def post_send():
        hub.count("post")
        if hub.config["shed"]:
            return live_answer(shed_response())
        length = request.content_length
        if length is not None and length > MAX_BODY:
            return error_response(413, "too_large", f"body over {MAX_BODY} bytes")
        body = request.stream.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return error_response(413, "too_large", f"body over {MAX_BODY} bytes")
        try:
            obj = loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            return error_response(400, "bad_request", f"malformed JSON: {e}")
        err = check_send(obj)
        if err:
            return error_response(400, "bad_request", err)
        hub.count("bytesIn", len(body))
        hub.store.append(obj.get("data"))
        return live_answer(json_response({"ack": obj["id"]}))

    def upgrade():
        """An upgrade request that reached the app: the WebSocket session, or a refusal."""
        env = request.environ
        ws = env.get("wsgi.websocket")
        verdict = env.get("lifeline.upgrade") or hub.upgrade_verdict(env)
        if ws is not None:
            serve_websocket(hub, ws, request.args.get("cursor"))
            return Response(status=204)
        if verdict == "shed":
            return live_answer(shed_response())
        if verdict in ("refuse", "forbidden_origin"):
            msg = ("WebSocket refused (fault mode)" if verdict == "refuse"
                   else "origin not allowed")
            return live_answer(error_response(403, "forbidden", msg))
        if verdict == "blackhole":
            hold_blackhole(hub, env)
            return Response(status=503)
        # No WebSocket in this server (flask run, --no-websocket): answer as a poll.
        return poll()

    for_methods = ["GET", "POST", "OPTIONS"]
    app.add_url_rule(LIVE_PATH, "live", live, methods=for_methods,
                     provide_automatic_options=False)
    # Werkzeug >= 2.2 routes an upgrade request only to websocket=True rules.
    app.add_url_rule(LIVE_PATH, "live_ws", live, methods=["GET"], websocket=True)

    # ---- admin (loopback only) ------------------------------------------------------

    @app.before_request
    def admin_guard():
        if request.path.startswith("/admin/") and not is_loopback(request.remote_addr):
            return error_response(403, "forbidden", "admin API is loopback only")
        return None

    def admin_body():
        raw = request.get_data(cache=False)
        if len(raw) > 1024 * 1024:
            raise ValueError("body too large")
        if not raw.strip():
            return {}
        obj = loads(raw.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("body must be a JSON object")
        return obj

    @app.post("/admin/publish")
    def admin_publish():
        try:
            obj = admin_body()
        except (ValueError, UnicodeDecodeError) as e:
            return error_response(400, "bad_request", str(e))
        cursor = hub.store.append(obj.get("data"))
        return json_response({"cursor": cursor})

    @app.post("/admin/fault")
    def admin_fault():
        try:
            obj = admin_body()
        except (ValueError, UnicodeDecodeError) as e:
            return error_response(400, "bad_request", str(e))
        mode = obj.get("mode")
        if mode not in FAULT_MODES:
            return error_response(400, "bad_request", f"mode must be one of {', '.join(FAULT_MODES)}")
        ms = obj.get("ms", 500 if mode == "flap" else hub.fault["ms"])
        if not is_int(ms) or ms < 0:
            return error_response(400, "bad_request", "ms must be an integer >= 0")
        fault = {"mode": mode, "ms": ms}
        hub.set_fault(fault)
        return json_response(fault)

    @app.post("/admin/restart")
    def admin_restart():
        hub.restart()
        return json_response({"cursor": hub.store.head(), "bootEpoch": hub.store.boot_epoch})

    @app.route("/admin/config", methods=["GET", "POST"])
    def admin_config():
        if request.method == "POST":
            try:
                obj = admin_body()
                new = validate_config(obj)
            except (ValueError, UnicodeDecodeError) as e:
                return error_response(400, "bad_request", str(e))
            hub.config.update(new)
            if "retention" in new:
                hub.store.retention = new["retention"]
            for c in hub.conns():   # heartbeat / longPollMax apply to held connections too
                c.event.set()
        return json_response(hub.public_config())

    @app.get("/admin/stats")
    def admin_stats():
        return json_response(hub.snapshot_stats())

    @app.post("/admin/stats/reset")
    def admin_stats_reset():
        with hub._lock:
            hub.reset_stats()
        return json_response(hub.snapshot_stats())

    # ---- demo files -----------------------------------------------------------------

    @app.get("/")
    def index():
        if (PUBLIC_DIR / "index.html").is_file():
            return send_from_directory(PUBLIC_DIR, "index.html", max_age=0)
        return error_response(404, "not_found", "demo/public/index.html is missing")

    @app.get("/dist/<path:name>")
    def dist(name):
        return send_from_directory(DIST_DIR, name, max_age=0)

    @app.get("/<path:name>")
    def public(name):
        return send_from_directory(PUBLIC_DIR, name, max_age=0)

    return app


def check_send(obj):
    """None when obj is a valid send {"id": <int>, "data": <any>}, else what is wrong."""
    if not isinstance(obj, dict):
        return "body must be a JSON object"
    if not is_int(obj.get("id")) or obj["id"] < 0:
        return '"id" must be an integer >= 0'
    return None                      # a missing "data" is null


def validate_config(obj):
    out = {}
    for key, lo in (("retention", 1), ("heartbeat", 1), ("longPollMax", 0), ("batch", 1)):
        if key in obj:
            v = obj[key]
            if not is_int(v) or v < lo:
                raise ValueError(f"{key} must be an integer >= {lo}")
            out[key] = v
    if "interval" in obj:
        v = obj["interval"]
        if v is not None and (not is_int(v) or v < 0):
            raise ValueError("interval must be an integer >= 0 or null")
        out["interval"] = v
    if "shed" in obj:
        v = obj["shed"]
        if v is not None:
            if not isinstance(v, dict) or v.get("status") not in (429, 503):
                raise ValueError('shed must be null or {"status": 429|503, "retryAfter": "…"}')
            ra = v.get("retryAfter", "1")
            if is_int(ra):
                ra = str(ra)
            if not isinstance(ra, str) or not ra or "\n" in ra or "\r" in ra:
                raise ValueError("shed.retryAfter must be seconds or an HTTP date")
            v = {"status": v["status"], "retryAfter": ra}
        out["shed"] = v
    unknown = set(obj) - {"retention", "heartbeat", "longPollMax", "interval", "batch", "shed"}
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
    return out


# --------------------------------------------------------------------------- faults

def hold_blackhole(hub, environ):
    """Never answer the upgrade; end only when the client gives up or on restart."""
    conn = Conn("blackhole", hub.make_event(), raw_socket(environ))
    hub.register(conn)
    try:
        sock = conn.sock
        if sock is None:        # cannot watch the socket: hold until restart
            while not conn.dropped:
                conn.event.wait(1.0)
            return
        while not conn.dropped:
            try:
                if not sock.recv(4096):
                    break       # client closed
            except OSError:
                break
        cut(sock)
    finally:
        hub.unregister(conn)


# --------------------------------------------------------------------------- WebSocket

def serve_websocket(hub, ws, raw_cursor):
    """One WebSocket session (gevent mode). Returns when the socket is done."""
    import gevent
    import gevent.lock

    conn = Conn("ws", hub.make_event(), ws.handler.socket)
    hub.count("101")
    write_lock = gevent.lock.Semaphore()
    orig_write, orig_read = ws.raw_write, ws.raw_read

    def locked_write(data):          # the reader answers pings while the loop sends
        with write_lock:
            orig_write(data)

    def bounded_read(n):             # payload reads only: refuse oversized messages
        if n > MAX_BODY:
            # answer here: geventwebsocket turns any read failure into a plain close(1000)
            conn.too_large = True
            if not conn.frozen:
                fail("too_large", f"message over {MAX_BODY} bytes", 1009)
            raise ValueError("frame too large")
        return orig_read(n)

    ws.raw_write = locked_write
    ws.raw_read = bounded_read

    def send(obj_text):
        if conn.closed or conn.dropped or conn.frozen:
            return False
        try:
            ws.send(obj_text)
        except Exception:
            conn.closed = True
            conn.event.set()
            return False
        conn.last_sent = now_ms()
        hub.count("bytesOut", len(obj_text.encode("utf-8")))
        return True

    def fail(code, message, close_code=1008):
        send(dumps({"type": "error", "code": code, "message": message}))
        try:
            if not ws.closed:
                ws.close(close_code, message.encode("utf-8")[:120])
        except Exception:
            pass
        conn.closed = True
        conn.event.set()

    def reader():
        while not (conn.closed or conn.dropped):
            try:
                msg = ws.receive()
            except Exception:
                msg = None
            if msg is None or conn.too_large:
                conn.closed = True
                conn.event.set()
                return
            if conn.frozen:
                continue               # a stalled connection answers nothing
            hub.count("bytesIn", len(msg))
            if not isinstance(msg, str):
                fail("bad_frame", "binary frames are not part of lifeline.v1", 1003)
                return
            try:
                obj = loads(msg)
            except ValueError as e:
                fail("bad_frame", f"malformed JSON: {e}")
                return
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                fail("bad_frame", "a frame is a JSON object with a string type")
                return
            kind = obj["type"]
            if kind == "ping":
                send('{"type":"pong"}')
            elif kind == "send":
                err = check_send(obj)
                if err:
                    fail("bad_frame", err)
                    return
                hub.store.append(obj.get("data"))
                send(dumps({"type": "ack", "id": obj["id"]}))
            # pong and unknown types are ignored

    hub.register(conn)
    unsubscribe = hub.store.subscribe(lambda _m: conn.event.set())
    reader_g = None
    try:
        mode = hub.fault["mode"]
        if mode == "close":            # opens, then closes before hello
            ws.close(1011, b"fault: close")
            return
        if mode == "stall":            # opens, says hello, then silence: no frames, no answers
            send(dumps({"type": "hello", "cursor": hub.store.head(),
                        "heartbeat": hub.config["heartbeat"]}))
            conn.frozen = True
        if mode == "flap":             # closes (1001) fault.ms after opening
            conn.flap_at = conn.opened + hub.fault["ms"]
        reader_g = gevent.spawn(reader)

        pos = None
        if not conn.frozen:
            if raw_cursor is not None and parse_cursor(raw_cursor) is None:
                fail("bad_request", f"bad cursor {raw_cursor!r}")
                return
            head = hub.store.head()
            if raw_cursor is None:
                pos = head
            else:
                r = hub.store.since(raw_cursor, 0)
                if r.get("reset"):
                    send(dumps({"type": "reset", "cursor": r["cursor"]}))
                    pos = r["cursor"]
                else:
                    pos = raw_cursor
            send(dumps({"type": "hello", "cursor": head, "heartbeat": hub.config["heartbeat"]}))

        while not (conn.closed or conn.dropped):
            conn.event.clear()
            if conn.frozen:
                conn.event.wait(None)  # woken only by close, restart or a fault change
                continue
            r = hub.store.since(pos, hub.config["batch"])
            if r.get("reset"):
                # fell out of retention while connected (or the log was reset): a reset
                # frame may only come first, so close and let the client reconnect.
                fail("overflow", "the log moved past this connection's cursor", 1013)
                break
            for m in r["messages"]:
                if not send('{"type":"msg","cursor":' + dumps(m["cursor"]) + ',"data":'
                            + m["data_json"] + "}"):
                    break
                pos = m["cursor"]
            if r["messages"]:
                continue
            now = now_ms()
            if conn.flap_at is not None and now >= conn.flap_at:
                try:
                    ws.close(1001, b"fault: flap")
                except Exception:
                    pass
                break
            timeout = None
            hb = hub.config["heartbeat"]
            if hb > 0:
                idle = now - conn.last_sent
                if idle >= hb:
                    send('{"type":"ping"}')
                    continue
                timeout = hb - idle
            if conn.flap_at is not None:
                left = conn.flap_at - now
                timeout = left if timeout is None else min(timeout, left)
            conn.event.wait(None if timeout is None else timeout / 1000.0)
    finally:
        unsubscribe()
        hub.unregister(conn)
        conn.closed = True
        if conn.dropped:
            cut(conn.sock)
        if reader_g is not None:
            reader_g.kill(block=False)


# --------------------------------------------------------------------------- serving

def _nodelay(sock):
    # small frames (pong, ack, msg) must not wait for Nagle + delayed ACK (~40 ms)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def make_handler(hub, websocket):
    from gevent.pywsgi import WSGIHandler

    class Tagged:
        """Both handlers: no Nagle delay, and the handler reachable from the environ (to cut
        its socket on /admin/restart, or to see that the client went away)."""

        def handle(self):
            _nodelay(self.socket)
            return super().handle()

        def get_environ(self):
            env = super().get_environ()
            env["lifeline.handler"] = self
            return env

    if not websocket:
        class PlainHandler(Tagged, WSGIHandler):
            pass
        return PlainHandler

    from geventwebsocket.handler import WebSocketHandler
    from geventwebsocket.websocket import WebSocket
    from geventwebsocket.exceptions import WebSocketError

    def close(self, code=1000, message=b""):
        # geventwebsocket 0.10 sends the reason without the status code (and str(bytes) as
        # the reason), so peers read a garbage code; send a well-formed close frame.
        if self.closed:
            return
        if isinstance(message, str):
            message = message.encode("utf-8")
        payload = b"" if code is None else struct.pack("!H", code) + (message or b"")[:123]
        try:
            self.send_frame(payload, self.OPCODE_CLOSE)
        except (WebSocketError, OSError):
            pass
        finally:
            self.closed = True
            self.stream = None
            self.raw_write = None
            self.raw_read = None
            self.environ = None

    WebSocket.close = close

    class _ProtocolApp:
        """geventwebsocket asks app.app_protocol(path) which subprotocol to answer."""

        def __init__(self, app, protocol):
            self._app = app
            self._protocol = protocol

        def __call__(self, environ, start_response):
            return self._app(environ, start_response)

        def app_protocol(self, _path):
            return self._protocol

    class LifelineWebSocketHandler(Tagged, WebSocketHandler):
        def run_application(self):
            env = self.environ
            if not is_upgrade(env) or env.get("PATH_INFO") != LIVE_PATH:
                # only /live upgrades; anything else is a plain request
                return WSGIHandler.run_application(self)
            verdict = hub.upgrade_verdict(env)
            if verdict != "accept":
                env["lifeline.upgrade"] = verdict   # the view refuses or holds it
                return WSGIHandler.run_application(self)
            offered = [p.strip() for p in env.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "").split(",")]
            self.application = _ProtocolApp(self.application,
                                            SUBPROTOCOL if SUBPROTOCOL in offered else None)
            return super().run_application()

    return LifelineWebSocketHandler


def parse_args(argv):
    p = argparse.ArgumentParser(description="Lifeline wire protocol v1 server (Flask).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--no-websocket", action="store_true",
                   help="polling only: upgrade requests get a plain poll answer")
    p.add_argument("--origins", default="*", help="comma-separated allowed origins, or *")
    p.add_argument("--heartbeat", type=int, default=25000, help="WebSocket idle ping, ms")
    p.add_argument("--retention", type=int, default=1000, help="messages kept")
    p.add_argument("--long-poll-max", type=int, default=25000, help="longest held poll, ms")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.add_argument("--tick", type=int, default=0,
                   help="publish a demo tick (a random walk) every this many ms; 0 = off")
    return p.parse_args(argv)


def parse_origins(s):
    s = (s or "*").strip()
    if s == "*":
        return "*"
    return {o.strip() for o in s.split(",") if o.strip()}


def ticker(hub, every_ms):
    """The demo's live value, as the Node server's --tick: {"kind":"tick","t","value"}."""
    import random
    import gevent
    value = 50.0
    while True:
        gevent.sleep(every_ms / 1000.0)
        value = min(100.0, max(0.0, value + random.uniform(-5, 5)))
        hub.store.append({"kind": "tick", "t": int(time.time() * 1000), "value": round(value, 2)})


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    websocket = not args.no_websocket
    import gevent
    from gevent.pywsgi import WSGIServer

    hub = Hub(retention=args.retention, heartbeat=args.heartbeat,
              long_poll_max=args.long_poll_max, origins=parse_origins(args.origins),
              async_mode="gevent", websocket=websocket)
    application = create_app(hub)
    server = WSGIServer((args.host, args.port), application,
                        handler_class=make_handler(hub, websocket),
                        log=sys.stderr if args.verbose else None)
    server.start()
    if args.tick > 0:
        gevent.spawn(ticker, hub, args.tick)
    host = args.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    print(f"LISTENING http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=1)


# `flask --app demo/flask/server.py run` imports this module and serves `app`: Werkzeug's
# threaded server, no WebSocket (an upgrade gets a plain poll answer), threads for long polls.
app = create_app(Hub(async_mode="threading", websocket=False))

if __name__ == "__main__":
    main()

"""The loopback-only admin API of the demo/test layer (server/DESIGN.md):

  POST /admin/publish {"stream"?: "test", "data": …}  -> {"cursor"}
  POST /admin/fault   {"mode", "ms"?}                 -> the fault now in force
  POST /admin/restart                                 -> drop every connection (memory: new epoch)
  GET|POST /admin/config {…}                          -> the live options
  GET  /admin/stats, POST /admin/stats/reset
  POST /admin/disconnect {"stream"?: "test", "user"?} -> {"disconnected": n}: live.disconnect
                                                        of the stream, only the requests whose
                                                        X-User header is `user` when given

Refused (403) from anything but loopback, and for any foreign `Origin`.
"""

import json

from flask import Blueprint, Response, request

from faults import FAULT_MODES
from lifeline_flask import StoreUnavailable, error_response
from lifeline_flask.hooks import own_origin
from lifeline_flask.protocol import INT_OPTIONS


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# admin name -> Lifeline option
CONFIG_KEYS = {
    "heartbeat": "heartbeat",
    "longPollMax": "long_poll_max",
    "interval": "interval",
    "batch": "batch",
    "retention": "retention",
}


def _json(obj, status=200):
    return Response(json.dumps(obj), status=status, mimetype="application/json")


def _is_loopback(addr):
    return bool(addr) and (
        addr == "::1" or addr.startswith("127.") or addr.startswith("::ffff:127.")
    )


def _body():
    raw = request.get_data(cache=False)
    if len(raw) > 1024 * 1024:
        raise ValueError("body too large")
    if not raw.strip():
        return {}
    obj = json.loads(raw.decode("utf-8"))
    if not isinstance(obj, dict):
        raise ValueError("body must be a JSON object")
    return obj


def validate_config(obj):
    out = {}
    for key in ("retention", "heartbeat", "longPollMax", "batch", "interval"):
        if key in obj:  # the spec's ranges (lifeline_flask.protocol.INT_OPTIONS)
            lo, hi, nullable = INT_OPTIONS[CONFIG_KEYS[key]]
            v = obj[key]
            if not (v is None and nullable) and (not _is_int(v) or not lo <= v <= hi):
                raise ValueError(
                    f"{key} must be an integer in [{lo}, {hi}]" + (" or null" if nullable else "")
                )
            out[key] = v
    if "shed" in obj:
        v = obj["shed"]
        if v is not None:
            if not isinstance(v, dict) or v.get("status") not in (429, 503):
                raise ValueError('shed must be null or {"status": 429|503, "retryAfter": "…"}')
            ra = v.get("retryAfter", "1")
            ra = str(ra) if _is_int(ra) else ra
            if not isinstance(ra, str) or not ra or "\n" in ra or "\r" in ra:
                raise ValueError("shed.retryAfter must be seconds or an HTTP date")
            v = {"status": v["status"], "retryAfter": ra}
        out["shed"] = v
    if "sends" in obj:
        if not isinstance(obj["sends"], bool):
            raise ValueError("sends must be true or false")
        out["sends"] = obj["sends"]
    unknown = set(obj) - set(CONFIG_KEYS) - {"shed", "sends"}
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
    return out


def make_admin(live, demo):
    """The admin blueprint for the app's Lifeline `live`; `demo` holds the layer's state
    (its DemoHooks as demo.hooks, the sends switch as demo.sends)."""
    bp = Blueprint("admin", __name__, url_prefix="/admin")

    def state():
        return live.state()

    @bp.before_request
    def guard():
        if not _is_loopback(request.remote_addr):
            return error_response(403, "forbidden", "the admin API is loopback only")
        origin = request.headers.get("Origin")
        if origin is not None and origin != own_origin(request.environ, False):
            return error_response(403, "forbidden_origin", "the admin API is same-origin only")
        return None

    def bad(e):
        return error_response(400, "bad_request", str(e))

    @bp.post("/publish")
    def publish():
        try:
            obj = _body()
            stream = obj.get("stream", "test")
            cursor = live.publish(stream, obj.get("data"))
        except StoreUnavailable as e:
            return error_response(
                503, "unavailable", str(e) or "store unavailable", {"Retry-After": "1"}
            )
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            return bad(e)
        return _json({"cursor": cursor})

    @bp.post("/disconnect")
    def disconnect():
        try:
            obj = _body()
        except (ValueError, UnicodeDecodeError) as e:
            return bad(e)
        user = obj.get("user")
        if user is not None and not isinstance(user, str):
            return bad("user must be a string")
        where = None if user is None else (lambda req: req.headers.get("X-User") == user)
        try:
            n = live.disconnect(obj.get("stream", "test"), where=where)
        except ValueError as e:
            return bad(e)
        return _json({"disconnected": n})

    @bp.post("/fault")
    def fault():
        try:
            obj = _body()
        except (ValueError, UnicodeDecodeError) as e:
            return bad(e)
        mode = obj.get("mode")
        if mode not in FAULT_MODES:
            return bad(f"mode must be one of {', '.join(FAULT_MODES)}")
        ms = obj.get("ms", 500 if mode == "flap" else demo.hooks.fault["ms"])
        if not _is_int(ms) or ms < 0:
            return bad("ms must be an integer >= 0")
        demo.hooks.set_fault(mode, ms)
        return _json(demo.hooks.fault)

    @bp.post("/restart")
    def restart():
        demo.hooks.restart()
        st = state()
        out = {"cursor": st.store.head("test")}
        epoch = getattr(st.store, "epoch", None)
        if epoch is not None:
            out["bootEpoch"] = epoch
        return _json(out)

    def public_config():
        cfg = state().config
        out = {name: cfg[opt] for name, opt in CONFIG_KEYS.items()}
        out.update(
            shed=demo.hooks.shed,
            sends=demo.sends,
            origins=cfg["origins"],
            fault=dict(demo.hooks.fault),
        )
        return out

    @bp.route("/config", methods=["GET", "POST"])
    def config():
        if request.method == "POST":
            try:
                new = validate_config(_body())
            except (ValueError, UnicodeDecodeError) as e:
                return bad(e)
            st = state()
            for name, opt in CONFIG_KEYS.items():
                if name in new:
                    st.config[opt] = new[name]
            if "retention" in new and hasattr(st.store, "retention"):
                st.store.retention = new["retention"]
            if "shed" in new:
                demo.hooks.shed = new["shed"]
            if "sends" in new:
                demo.sends = new["sends"]
            for session in st.sessions.all():  # heartbeat / longPollMax apply to open ones too
                session.wake()
        return _json(public_config())

    @bp.get("/stats")
    def stats():
        return _json(demo.hooks.snapshot())

    @bp.post("/stats/reset")
    def stats_reset():
        demo.hooks.reset_stats()
        return _json(demo.hooks.snapshot())

    return bp

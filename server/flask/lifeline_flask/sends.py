"""Sends: the checks and the answer of a send, one pipeline for a `POST` and a WebSocket
`send` frame (server/DESIGN.md "One design, files mirrored"; Node: sends.mjs).

A send is `{"id": n, "data": …}`; the id is an integer 0..2^53-1 (`1.0` is 1) and a missing
`data` is null. Once a transport has read and parsed it (its own checks: a POST's origin,
body limit, depth and strict JSON, transports/http.py; a frame's, transports/websocket.py),
the rest is the same for both, in the spec's order (protocol/v1.json "check_order": the end
of "post", and "ws_send"): sends enabled (an `on_send` hook is registered),
`authorize(stream, 'send', request)`, then the app's `on_send(stream, data, request)`. The
library never appends a send by itself: the hook decides (it may call `publish`, which
encodes the data once, as JSON text). The ack is written after the hook returned, so an ack
means the app has the data; a refusal is the spec's code and message, or the app's
`Rejected` code, message and status.
"""

from flask import request

from .checks import run_checks
from .errors import Rejected
from .jsontext import dumps, send_id
from .protocol import ERRORS


def check_send(obj):
    """None when obj is a valid send {"id": <int 0..2^53-1>, "data": <any>}, else what is
    wrong. A valid id is normalised to an int (`1.0` -> 1) for the ack."""
    if not isinstance(obj, dict):
        return "a send is a JSON object"
    sid = send_id(obj.get("id"))
    if sid is None:
        return '"id" must be an integer in 0..9007199254740991'
    obj["id"] = sid
    return None  # a missing "data" is null


def send_checks(state, stream, data):
    """The checks of a send once its frame or body is read (spec "ws_send", the end of
    "post"): sends enabled, authorize, the app's hook. `data()` gives the send's data."""

    def on_send():
        try:
            state.live._on_send(
                stream, data(), request._get_current_object()  # type: ignore[attr-defined]
            )
        except Rejected as e:
            return {"error": e.code, "message": e.message, "status": e.status}
        return None

    return {
        "sends_enabled": lambda: state.live._on_send is None and "this stream takes no sends",
        "authorize_send": lambda: state.authorize(stream, "send", request),
        "on_send": on_send,
    }


def deliver_send(state, stream, data):
    """A WebSocket send, in the spec's order (ws_send).

    Returns None (accepted) or {"error", "message", "status"?}. Raises StoreUnavailable,
    and whatever the hooks raise besides Rejected (the caller turns that into `internal`).
    """
    return run_checks("ws_send", send_checks(state, stream, lambda: data))


def ack_frame(sid, refused, s=None):
    """The WebSocket answer to a send: `{"type":"ack","id":n}` (v2: `{"type":"ack","s":s,
    "id":n}`, `s` its subscription), with the refusal's `error` and `message` (the spec's
    message of the code when it gave none) when refused."""
    ack = {"type": "ack"} if s is None else {"type": "ack", "s": s}
    ack["id"] = sid
    if refused:
        ack["error"] = refused["error"]
        ack["message"] = (
            refused["message"]
            if refused["message"] is not None
            else ERRORS.get(refused["error"], {}).get("message", "")
        )
    return dumps(ack)

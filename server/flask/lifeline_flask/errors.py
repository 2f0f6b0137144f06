"""The exceptions a Lifeline app sees, and the one shape of every error answer.

`Rejected` is raised by an `on_send` hook to refuse a send; `StoreUnavailable` is raised by
a store whose backend is down (polls answer 503, WebSockets close 1012, `publish` lets it
through to the caller). `spec_error` answers a code of the spec's error table (protocol.py
ERRORS: its status, default message, Allow and Retry-After).
"""

from flask import Response

from .jsontext import dumps
from .protocol import ERRORS


class Rejected(Exception):
    """Raised by an ``on_send`` hook: the send is refused with ``code`` and ``status``.

    POST answers ``status`` with ``{"error": code, "message": message}``; a WebSocket send
    gets ``{"type":"ack","id":n,"error":code,"message":message}`` and stays open.
    ``status`` must be a 4xx other than 408 and 429 (those tell a client to retry): the
    spec's range (protocol.py ERRORS["rejected"]).
    """

    def __init__(self, code="rejected", message="", status=ERRORS["rejected"]["status"]):
        if not isinstance(code, str) or not code:
            raise TypeError("Rejected: code must be a non-empty string")
        if not isinstance(message, str):
            raise TypeError("Rejected: message must be a string")
        low, high = ERRORS["rejected"]["status_range"]
        excluded = ERRORS["rejected"]["status_excluded"]
        if (
            not isinstance(status, int)
            or isinstance(status, bool)
            or not low <= status <= high
            or status in excluded
        ):
            raise ValueError(f"Rejected: status must be in [{low}, {high}], not {excluded}")
        super().__init__(message or code)
        self.code = code
        self.message = message
        self.status = status


class StoreUnavailable(Exception):
    """The store's backend (Redis) cannot be reached; try again later."""

    code = "unavailable"  # the `error` code of the 503 answer


class TooManyStreams(StoreUnavailable):
    """The memory store holds `max_streams` streams, none idle long enough to go: a new
    stream's append is refused (503 `too_many_streams` + Retry-After; idle streams expire)."""

    code = "too_many_streams"


class RequestTimeout(Exception):
    """The request's body did not arrive within `request_body_timeout_ms` (raised by the
    body reads of gevent_server's handler): 408, and the connection is closed."""


def error_response(status, code, message, headers=None):
    """``status`` with the body ``{"error": code, "message": message}``."""
    resp = Response(
        dumps({"error": code, "message": message}), status=status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def spec_error(code, message=None, headers=None):
    """The spec's HTTP answer for ``code``: its status, message (unless given) and headers."""
    entry = ERRORS[code]
    if entry["status"] is None:
        raise ValueError(f"{code} is not an HTTP error")
    extra = {}
    if "allow" in entry:
        extra["Allow"] = entry["allow"]
    if "retry_after" in entry:
        extra["Retry-After"] = entry["retry_after"]
    extra.update(headers or {})
    return error_response(
        entry["status"], code, entry["message"] if message is None else message, extra
    )

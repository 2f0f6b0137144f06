"""The exceptions a Lifeline app sees, and the one shape of every error answer.

`Rejected` is raised by an `on_send` hook to refuse a send; `StoreUnavailable` is raised by
a store whose backend is down (polls answer 503, WebSockets close 1012, `publish` lets it
through to the caller).
"""

from flask import Response

from .jsontext import dumps


class Rejected(Exception):
    """Raised by an ``on_send`` hook: the send is refused with ``code`` and ``status``.

    POST answers ``status`` with ``{"error": code, "message": message}``; a WebSocket send
    gets ``{"type":"ack","id":n,"error":code,"message":message}`` and stays open.
    ``status`` must be a 4xx other than 408 and 429 (those tell a client to retry).
    """

    def __init__(self, code="rejected", message="", status=400):
        if not isinstance(code, str) or not code:
            raise TypeError("Rejected: code must be a non-empty string")
        if not isinstance(message, str):
            raise TypeError("Rejected: message must be a string")
        if not isinstance(status, int) or not 400 <= status <= 499 or status in (408, 429):
            raise ValueError("Rejected: status must be a 4xx other than 408/429")
        super().__init__(message or code)
        self.code = code
        self.message = message
        self.status = status


class StoreUnavailable(Exception):
    """The store's backend (Redis) cannot be reached; try again later."""

    code = "unavailable"      # the `error` code of the 503 answer


class TooManyStreams(StoreUnavailable):
    """The memory store holds `max_streams` streams, none idle long enough to go: a new
    stream's append is refused (503 `too_many_streams` + Retry-After; idle streams expire)."""

    code = "too_many_streams"


def error_response(status, code, message, headers=None):
    """``status`` with the body ``{"error": code, "message": message}``."""
    resp = Response(dumps({"error": code, "message": message}), status=status,
                    mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp

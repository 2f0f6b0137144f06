"""A request kind's checks, run in the spec's order (protocol/v1.json "check_order",
protocol.py CHECK_ORDER). Each kind's handler names its checks; this runs them in the
order the spec gives, so the order is written in one place (server/node/checks.mjs is the
same for Node).

    refused = run_checks("post", {"origin": lambda: ..., "size": lambda: ...})

A check returns None (or False) when the request passes it; when it fails: a message (or
True: the table's message), or a dict {"error", "message", "status"} (a Rejected from
on_send: the app's code). The first failure is returned as {"error": <the spec's code for
that check>, "message": ..., "status"?: ...}. A check given as True was done before the
handler ran (the router's stream name, the method).
"""

from flask import request

from .cursor import parse_cursor
from .protocol import CHECK_ORDER, STREAM_NAME_RE


def run_checks(kind, checks):
    for name, error in CHECK_ORDER[kind]:
        if name not in checks:
            raise KeyError(f"lifeline: {kind} has no check {name}")
        check = checks[name]
        if check is True:
            continue
        failed = check()
        if not failed:
            continue
        if isinstance(failed, dict):
            return {"error": error, **failed}
        return {"error": error, "message": failed if isinstance(failed, str) else None}
    return None


def stream_checks(state, stream, cursor):
    """A v2 subscription's checks of one stream it names (the `stream_name`,
    `authorize_subscribe` and `cursor` of "ws_sub" and "poll_stream"): `cursor` None is
    "from now". `authorize` sees the request in hand (the socket's upgrade, the poll)."""
    return {
        "stream_name": lambda: not STREAM_NAME_RE.match(stream)
        and f"bad stream name {stream!r}: [A-Za-z0-9_.:-]{{1,200}}",
        "authorize_subscribe": lambda: state.authorize(stream, "subscribe", request),
        "cursor": lambda: cursor is not None
        and parse_cursor(cursor) is None
        and f"bad cursor {cursor!r}: <u64> or <u64>-<u64>",
    }

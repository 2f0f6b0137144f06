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

from .protocol import CHECK_ORDER


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

"""The HTTP transport: polls, long polls, POST sends and preflights (docs/protocol.md
"Polling"; server/DESIGN.md "One design, files mirrored"; Node: transports/http.mjs).

An adapter: it parses its wire (query, headers, body), runs the spec's checks in the spec's
order (checks.py), and writes what the store or a session read; it keeps no state.

A poll reads its stream after the query cursor (or the first valid `If-None-Match` tag):
200 with the messages, 204 (304 for a matching `If-None-Match`) when there are none, 410 a
reset. `wait=<ms>` holds the request up to min(wait, long_poll_max) as a `long_poll`
session (session.py): it subscribes to its stream, then reads again, so an append in
between is never missed; it wakes on news and at least once a second to see whether the
client went away (WSGI gives no signal), so a vanished client's waiter is released within
about a second. `live.disconnect` ends a held one with 403 `revoked`.

A send is `POST {"id": n, "data": …}`: this module makes the checks of its wire in the
spec's order (protocol/v1.json "check_order" "post": origin, then, after the send
pipeline's sends enabled and authorize, body limit, depth, strict JSON), the rest is the
send pipeline's (sends.py: shape, `on_send`); the ack `{"ack": id}` is written after the
hook returned. Codes, statuses and headers of every refusal are the spec's error table. A
body over `max_body` is 413 with `Connection: close`, answered once the rest was read and
dropped (at most DRAIN_MAX_BYTES, within the server's body timeout), so the sender reads
the 413 instead of a reset; a body that does not arrive within `request_body_timeout_ms`
(gevent_server) is 408 `request_timeout`.
"""

from typing import Any, Dict

from flask import Response, request

from .. import concurrency
from ..checks import run_checks
from ..cursor import parse_cursor
from ..errors import RequestTimeout, StoreUnavailable, error_response, spec_error
from ..jsontext import dumps, loads, nests_deeper_than
from ..origin import origin_allowed
from ..sends import check_send, send_checks
from ..session import LONG_POLL, Session, client_socket, cut, peer_gone
from ..stores.memory import MemoryStore
from ..protocol import WAIT_RE

# A refused POST whose body was not read (or not all of it) closes its connection: the
# rest of the body cannot be told from a next request.
CLOSING = ("forbidden_origin", "too_large", "request_timeout")

# How much of an oversized body is read and dropped before its 413 (then the connection closes).
DRAIN_MAX_BYTES = 16 * 1024 * 1024


def parse_if_none_match(value):
    """The entity tags of an If-None-Match header, unquoted (weak prefix dropped)."""
    tags = []
    for part in (value or "").split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        if len(part) >= 2 and part[0] == '"' and part[-1] == '"':
            part = part[1:-1]
        if part:
            tags.append(part)
    return tags


def messages_body(cursor, messages):
    return (
        '{"cursor":'
        + dumps(cursor)
        + ',"messages":['
        + ",".join('{"cursor":' + dumps(m.cursor) + ',"data":' + m.json + "}" for m in messages)
        + "]}"
    )


def unavailable(error=None):
    """503 for a store that cannot serve: `too_many_streams` (the memory store is full) says
    so, anything else is `unavailable`."""
    if getattr(error, "code", None) == "too_many_streams":
        return spec_error("too_many_streams", str(error))
    return spec_error("unavailable")


def _json(obj, status=200):
    return Response(dumps(obj), status=status, mimetype="application/json")


def _with_etag(resp, cursor):
    resp.headers["ETag"] = f'"{cursor}"'
    return resp


def _issued_elsewhere(state, cursor):
    """The why of a reset whose cursor a sibling process gave out: a memory-store cursor of a
    later epoch than this process's own comes from a process that started after this one and
    still serves (a restart only makes epochs older). Several processes each keep their own
    streams then, and messages are lost between them: logged once, and said in the answer."""
    store = state.store
    pair = parse_cursor(cursor)
    if not isinstance(store, MemoryStore) or pair is None or pair[0] <= store.epoch:
        return {}
    message = (
        "this cursor was given out by another process that serves these streams from its own "
        "memory: several processes need a shared store (set LIFELINE_REDIS_URL)"
    )
    if not state.warned_elsewhere:
        state.warned_elsewhere = True
        state.logger.error(
            "lifeline: %s (cursor %s, this process's epoch %s)", message, cursor, store.epoch
        )
    return {"message": message}


def poll(state, stream):
    hooks = state.transport_hooks
    raw_wait = request.args.get("wait")
    long = (
        state.config["long_poll_max"] > 0
        and bool(WAIT_RE.match(raw_wait or ""))
        and int(raw_wait or 0) > 0
    )
    hooks.count("longpoll" if long else "poll")
    shed = hooks.before_poll(stream)
    if shed is not None:
        return state.finish(shed, poll=True)
    return finish_poll(state, lambda: _poll_answer(state, stream, raw_wait), "a poll")


def finish_poll(state, answer, what):
    """A poll's answer (`answer()`: a Response, or None when a restart dropped it) as every
    poll gives it: a store that cannot serve is 503, one that misbehaves a clear 500 (never
    an HTML page), then the transport hooks' delay and the poll headers."""
    try:
        resp = answer()
    except StoreUnavailable as e:
        resp = unavailable(e)
    except Exception:
        state.logger.exception("lifeline: %s failed", what)
        resp = spec_error("internal")
    if resp is None:  # dropped (a restart): the socket is cut already
        return Response(status=503)
    delay = state.transport_hooks.poll_delay()
    if delay > 0:
        concurrency.sleep(delay)
    return state.finish(resp, poll=True)


def _poll_answer(state, stream, raw_wait):
    tags = parse_if_none_match(request.headers.get("If-None-Match"))
    found: Dict[str, Any] = {"cursor": None, "wait": 0}

    def cursor_check():
        raw = request.args.get("cursor")
        if raw is None:
            return None
        if parse_cursor(raw) is None:
            return f"bad cursor {raw!r}: <u64> or <u64>-<u64>"
        found["cursor"] = raw
        return None

    def wait_check():
        if raw_wait is None:
            return None
        if not WAIT_RE.match(raw_wait):
            return f"bad wait {raw_wait!r}: 1 to 20 digits (ms)"
        found["wait"] = int(raw_wait)
        return None

    try:
        refused = run_checks(
            "poll",
            {
                "request_target": True,  # the guard's (extension.py)
                "stream_name": True,  # the view's
                "method": True,  # the view's
                "authorize_subscribe": lambda: state.authorize(stream, "subscribe", request),
                "cursor": cursor_check,
                "wait": wait_check,
            },
        )
    except Exception:
        state.logger.exception("lifeline: authorize hook failed")
        return spec_error("internal")
    if refused:
        return spec_error(refused["error"], refused["message"])
    cursor = found["cursor"]
    if cursor is None:
        cursor = next((t for t in tags if parse_cursor(t) is not None), None)
    wait = 0 if request.method == "HEAD" else found["wait"]

    store = state.store
    batch = state.config["batch"]
    r = store.read(stream, cursor, batch)
    if cursor is None:
        return _with_etag(_json({"cursor": r.cursor, "messages": []}), r.cursor)
    hold_ms = min(wait, state.config["long_poll_max"])
    if not r.reset and not r.messages and hold_ms > 0:
        r = _hold(state, stream, cursor, hold_ms)
        if r is None or isinstance(r, Response):  # dropped / revoked
            return r
    if r.reset:
        return _json({"type": "reset", "cursor": r.cursor, **_issued_elsewhere(state, cursor)}, 410)
    if r.messages:
        resp = Response(messages_body(r.cursor, r.messages), mimetype="application/json")
        return _with_etag(resp, r.cursor)
    here = parse_cursor(r.cursor)
    status = 304 if any(parse_cursor(t) == here for t in tags) else 204
    return _with_etag(Response(status=status), r.cursor)


def _hold(state, stream, cursor, hold_ms):
    """A long poll: a `long_poll` session that waits for news on `stream` after `cursor`, at
    most hold_ms. Returns its last read, None when the connection was dropped, or the 403
    `revoked` answer when live.disconnect ended it."""
    session = Session(
        LONG_POLL,
        stream,
        client_socket(request.environ),
        request._get_current_object(),  # type: ignore[attr-defined]
        cursor,
        state.store,
    )
    deadline = concurrency.monotonic_ms() + hold_ms
    with state.sessions.opened(session):
        woken = True
        while True:
            if woken:  # read only on news, not on the one-second checks
                r = session.read(state.config["batch"])
                if r.reset or r.messages:
                    return r
            # long_poll_max is read again: a change applies to the held ones too
            remaining = (
                min(deadline, session.opened + state.config["long_poll_max"])
                - concurrency.monotonic_ms()
            )
            if remaining <= 0:
                return r
            woken = session.wait(min(remaining, 1000))
            if session.revoked is not None:  # live.disconnect
                return error_response(403, "revoked", session.revoked)
            if session.dropped:
                cut(session.sock)
                return None
            if peer_gone(session.sock):
                return r


def send(state, stream):
    hooks = state.transport_hooks
    hooks.count("post")
    shed = hooks.before_send(stream)
    if shed is not None:
        return state.finish(shed)
    limit = state.config["max_body"]
    got: Dict[str, Any] = {}

    def size_check():
        length = request.content_length
        try:
            body = b"" if length is not None and length > limit else request.stream.read(limit + 1)
            if len(body) > limit or (length is not None and length > limit):
                _drain(request.stream, length)  # so that the sender reads the 413
                return f"body over {limit} bytes"
        except RequestTimeout:
            return {
                "error": "request_timeout",
                "message": "the request body did not arrive in time",
            }
        hooks.count("bytesIn", len(body))
        got["body"] = body
        return None

    def depth_check():
        depth = state.config["max_json_depth"]
        text = got["body"].decode("utf-8", "replace")
        return nests_deeper_than(text, depth) and f"body nests deeper than {depth}"

    def json_check():
        try:
            got["obj"] = loads(got["body"].decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            return f"malformed JSON: {e}"
        return None

    checks = {
        "request_target": True,  # the view's
        "stream_name": True,  # the view's
        "origin": lambda: not origin_allowed(
            request.environ, state.config["origins"], state.config["trust_proxy"]
        )
        and "this origin may not send here",
        "size": size_check,
        "depth": depth_check,
        "json": json_check,
        "send_shape": lambda: check_send(got["obj"]),
        **send_checks(state, stream, lambda: got["obj"].get("data")),
    }
    try:
        refused = run_checks("post", checks)
    except StoreUnavailable as e:
        return state.finish(unavailable(e))
    except Exception:
        state.logger.exception("lifeline: a send hook failed")
        return state.finish(spec_error("internal"))
    if refused:
        if "status" in refused:  # Rejected by the app: its code and status
            return state.finish(
                error_response(refused["status"], refused["error"], refused["message"])
            )
        # the body not read (or not all of it): nothing more can follow on this connection
        close = {"Connection": "close"} if refused["error"] in CLOSING else None
        return state.finish(spec_error(refused["error"], refused["message"], close))
    return state.finish(_json({"ack": got["obj"]["id"]}))


def _drain(stream, length):
    """Read and drop the rest of an oversized body, at most DRAIN_MAX_BYTES (see the top)."""
    if length is not None and length > DRAIN_MAX_BYTES:
        return
    dropped = 0
    try:
        while dropped <= DRAIN_MAX_BYTES:
            chunk = stream.read(65536)
            if not chunk:
                return
            dropped += len(chunk)
    except Exception:  # timed out, or the client went away: nothing more to drop
        return

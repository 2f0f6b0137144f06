"""Polls, long polls and sends over plain HTTP (README "Polling").

A poll reads its stream after the query cursor (or the first valid `If-None-Match` tag):
200 with the messages, 204 (304 for a matching `If-None-Match`) when there are none, 410 a
reset. `wait=<ms>` holds the request up to min(wait, long_poll_max): the request subscribes
to its stream, then reads again, so an append in between is never missed; it wakes on news
and at least once a second to see whether the client went away (WSGI gives no signal), so a
vanished client's waiter is released within about a second.

A send is `POST {"id": n, "data": …}`: origin check, body limit, strict JSON, then
`authorize(stream, 'send', request)`, then the app's `on_send` hook; the ack is written
after the hook returned.
"""

import re

from flask import Response, request

from . import concurrency
from .cursor import parse_cursor
from .errors import Rejected, StoreUnavailable, error_response
from .held import Held, client_socket, cut, peer_gone
from .jsontext import dumps, is_int, loads
from .origin import origin_allowed

_WAIT_RE = re.compile(r"^[0-9]{1,12}$")


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
    return ('{"cursor":' + dumps(cursor) + ',"messages":['
            + ",".join('{"cursor":' + dumps(c) + ',"data":' + text + "}" for c, text in messages)
            + "]}")


def unavailable(error=None):
    code = getattr(error, "code", "unavailable")
    message = str(error) if code == "too_many_streams" else \
        "the store is unavailable; retry shortly"
    return error_response(503, code, message, {"Retry-After": "1"})


def _json(obj, status=200):
    return Response(dumps(obj), status=status, mimetype="application/json")


def _with_etag(resp, cursor):
    resp.headers["ETag"] = f'"{cursor}"'
    return resp


def poll(state, stream):
    hooks = state.transport_hooks
    raw_wait = request.args.get("wait")
    long = state.config["long_poll_max"] > 0 and bool(_WAIT_RE.match(raw_wait or "")) \
        and int(raw_wait) > 0
    hooks.count("longpoll" if long else "poll")
    shed = hooks.before_poll(stream)
    if shed is not None:
        return state.finish(shed, poll=True)
    try:
        resp = _poll_answer(state, stream, raw_wait)
    except StoreUnavailable:
        resp = unavailable()
    except Exception:            # a store that misbehaves: a clear 500, never an HTML page
        state.logger.exception("lifeline: a poll failed")
        resp = error_response(500, "internal", "internal server error")
    if resp is None:              # dropped (a restart): the socket is cut already
        return Response(status=503)
    delay = hooks.poll_delay()
    if delay > 0:
        concurrency.sleep(delay)
    return state.finish(resp, poll=True)


def _poll_answer(state, stream, raw_wait):
    try:
        refusal = state.authorize(stream, "subscribe", request)
    except Exception:
        state.logger.exception("lifeline: authorize hook failed")
        return error_response(500, "internal", "internal server error")
    if refusal:
        return error_response(403, "forbidden", refusal)

    raw = request.args.get("cursor")
    tags = parse_if_none_match(request.headers.get("If-None-Match"))
    if raw is not None:
        if parse_cursor(raw) is None:
            return error_response(400, "bad_request", f"bad cursor {raw!r}")
        cursor = raw
    else:
        cursor = next((t for t in tags if parse_cursor(t) is not None), None)
    wait = 0
    if raw_wait is not None and raw_wait != "":
        if not _WAIT_RE.match(raw_wait):
            return error_response(400, "bad_request", f"bad wait {raw_wait!r}")
        wait = int(raw_wait)

    store = state.store
    batch = state.config["batch"]
    r = store.read(stream, cursor, batch)
    if cursor is None:
        return _with_etag(_json({"cursor": r.cursor, "messages": []}), r.cursor)
    hold_ms = min(wait, state.config["long_poll_max"])
    if not r.reset and not r.messages and hold_ms > 0:
        r = _hold(state, stream, cursor, hold_ms)
        if r is None:
            return None
    if r.reset:
        return _json({"type": "reset", "cursor": r.cursor}, 410)
    if r.messages:
        resp = Response(messages_body(r.cursor, r.messages), mimetype="application/json")
        return _with_etag(resp, r.cursor)
    here = parse_cursor(r.cursor)
    status = 304 if any(parse_cursor(t) == here for t in tags) else 204
    return _with_etag(Response(status=status), r.cursor)


def _hold(state, stream, cursor, hold_ms):
    """A long poll: wait for news on `stream` after `cursor`, at most hold_ms.
    Returns the last read, or None when the connection was dropped."""
    held = Held("longpoll", stream, client_socket(request.environ))
    state.held.add(held)
    unsubscribe = state.store.subscribe(stream, held.wake)
    deadline = concurrency.monotonic_ms() + hold_ms
    try:
        woken = True
        while True:
            if woken:                     # read only on news, not on the one-second checks
                held.event.clear()
                r = state.store.read(stream, cursor, state.config["batch"])
                if r.reset or r.messages:
                    return r
            remaining = min(deadline, held.opened + state.config["long_poll_max"]) \
                - concurrency.monotonic_ms()
            if remaining <= 0:
                return r
            woken = held.event.wait(min(remaining, 1000) / 1000.0)
            if held.dropped:
                cut(held.sock)
                return None
            if peer_gone(held.sock):
                return r
    finally:
        unsubscribe()
        state.held.remove(held)


def check_send(obj):
    """None when obj is a valid send {"id": <int >= 0>, "data": <any>}, else what is wrong."""
    if not isinstance(obj, dict):
        return "a send is a JSON object"
    if not is_int(obj.get("id")) or obj["id"] < 0:
        return '"id" must be an integer >= 0'
    return None                      # a missing "data" is null


def deliver_send(state, stream, data):
    """Authorize and hand a send to the app's hook (POST and WebSocket alike).

    Returns None (accepted) or (status, code, message). Raises StoreUnavailable, and
    whatever the hooks raise besides Rejected (the caller turns that into `internal`).
    """
    refusal = state.authorize(stream, "send", request)
    if refusal:
        return (403, "forbidden", refusal)
    hook = state.live._on_send
    if hook is None:
        return (405, "sends_disabled", "this server accepts no sends")
    try:
        hook(stream, data, request._get_current_object())
    except Rejected as e:
        return (e.status, e.code, e.message)
    return None


def send(state, stream):
    hooks = state.transport_hooks
    hooks.count("post")
    shed = hooks.before_send(stream)
    if shed is not None:
        return state.finish(shed)
    if not origin_allowed(request.environ, state.config["origins"], state.config["trust_proxy"]):
        return state.finish(error_response(403, "forbidden_origin",
                                           "this origin may not send here"))
    limit = state.config["max_body"]
    length = request.content_length
    if length is not None and length > limit:
        return state.finish(error_response(413, "too_large", f"body over {limit} bytes"))
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return state.finish(error_response(413, "too_large", f"body over {limit} bytes"))
    hooks.count("bytesIn", len(body))
    try:
        obj = loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        return state.finish(error_response(400, "bad_request", f"malformed JSON: {e}"))
    problem = check_send(obj)
    if problem:
        return state.finish(error_response(400, "bad_request", problem))
    try:
        refused = deliver_send(state, stream, obj.get("data"))
    except StoreUnavailable as e:
        return state.finish(unavailable(e))
    except Exception:
        state.logger.exception("lifeline: a send hook failed")
        return state.finish(error_response(500, "internal", "internal server error"))
    if refused:
        status, code, message = refused
        resp = error_response(status, code, message)
        if status == 405:
            resp.headers["Allow"] = "GET, OPTIONS"
        return state.finish(resp)
    return state.finish(_json({"ack": obj["id"]}))

"""v2 polling: one GET for many streams (protocol/v2.json "poll", docs/protocol.md "Polling
many streams"; Node: transports/multipoll.mjs).

`GET <prefix>/?s=<name>[~<cursor>]&s=…[&wait=<ms>]` is v1's poll of each stream at once, its
answers gathered in one body, so a page that follows many streams holds one long poll
instead of one per stream. The request's own checks (check_order "poll_v2") answer with a
status; each stream's (check_order "poll_stream": its name, `authorize`, its cursor) with an
entry in the body, so one refused stream does not fail the others. An entry is what v1's
poll of that stream would say: messages (200), a reset (410), an error; a stream with
nothing new is left out, and a poll where every stream has nothing new is 204 — held first,
when it asks with `wait`, until any stream has news. Once one has, every stream is read
again (no hold) so the answer carries all the news there is.

A held poll is one `long_poll` session per stream (session.py), all sharing one event, so
the request's greenlet sleeps on one thing; each is subscribed before the first read. As
v1's long poll, it also wakes once a second to see whether the client went away. A stream
answered at once (no cursor: its head; or an error) answers the whole poll at once.
"""

from contextlib import ExitStack
from typing import Any, Dict

from flask import Response, request

from .. import concurrency
from ..checks import run_checks, stream_checks
from ..errors import spec_error
from ..jsontext import dumps
from ..protocol import ERRORS, LIMITS, POLL_PARAM, POLL_SEPARATOR, WAIT_RE
from ..concurrency import make_event
from ..session import LONG_POLL, Session, client_socket, cut, peer_gone
from .http import _issued_elsewhere, finish_poll, messages_body


def poll(state):
    """Serve `<prefix>/` (GET or HEAD): the poll of many streams."""
    state.transport_hooks.count("poll")
    return finish_poll(state, lambda: _answer(state), "a poll of many streams")


def _parse_param(raw):
    """`<name>` or `<name>~<cursor>`: (name, cursor or None)."""
    name, sep, cursor = raw.partition(POLL_SEPARATOR)
    return name, (cursor if sep else None)


def _answer(state):
    found: Dict[str, Any] = {"streams": [], "wait": 0}

    def streams_check():
        raw = request.args.getlist(POLL_PARAM)
        if not raw:
            return (
                f"name the streams to poll: {POLL_PARAM}=<name> or "
                f"{POLL_PARAM}=<name>{POLL_SEPARATOR}<cursor>, one each"
            )
        found["streams"] = [_parse_param(r) for r in raw]
        names = [name for name, _ in found["streams"]]
        if "" in names:
            return f"a {POLL_PARAM} without a stream name"
        if len(set(names)) != len(names):
            return "a stream named twice"
        return None

    def subscriptions_check():
        most = LIMITS["max_subscriptions"]
        return len(found["streams"]) > most and f"over {most} streams in one poll"

    def wait_check():
        raw = request.args.get("wait")
        if raw is None:
            return None
        if not WAIT_RE.match(raw):
            return f"bad wait {raw!r}: 1 to 20 digits (ms)"
        found["wait"] = min(int(raw), state.config["long_poll_max"])
        return None

    refused = run_checks(
        "poll_v2",
        {
            "request_target": True,  # the guard's (extension.py)
            "method": True,  # the view's
            "streams": streams_check,
            "subscriptions": subscriptions_check,
            "wait": wait_check,
        },
    )
    if refused:
        return spec_error(refused["error"], refused["message"])
    streams = found["streams"]
    wait = 0 if request.method == "HEAD" else found["wait"]

    # Each stream's own checks: an entry now (an error, or the head of one without a
    # cursor), or a stream to read.
    entries = {}
    to_read = []
    for name, cursor in streams:
        failed = _stream_checks(state, name, cursor)
        if failed:
            entries[name] = _error_entry(failed["error"], failed.get("message"))
        elif cursor is None:
            entries[name] = messages_body(state.store.head(name), [])
        else:
            to_read.append((name, cursor))

    if entries or wait <= 0 or not to_read:
        _read_all(state, entries, to_read)
    elif not _hold(state, entries, to_read, wait):
        return None  # dropped
    if not entries:
        return Response(status=204)
    parts = [dumps(name) + ":" + entries[name] for name, _ in streams if name in entries]
    return Response('{"streams":{' + ",".join(parts) + "}}", mimetype="application/json")


def _stream_checks(state, name, cursor):
    """The spec's poll_stream checks of one stream: None, or {error, message}."""
    try:
        return run_checks("poll_stream", stream_checks(state, name, cursor))
    except Exception:
        state.logger.exception("lifeline: authorize hook failed")
        return {"error": "internal"}


def _error_entry(code, message=None):
    return dumps(
        {"error": code, "message": ERRORS[code]["message"] if message is None else message}
    )


def _note(state, entries, name, cursor, r):
    """A read's news as the stream's entry: messages, or a reset; nothing new notes nothing."""
    if r.reset:
        entries[name] = dumps({"reset": r.cursor, **_issued_elsewhere(state, cursor)})
    elif r.messages:
        entries[name] = messages_body(r.cursor, r.messages)


def _read_all(state, entries, streams):
    """Read every stream of `streams` once (no hold) and note the news."""
    batch = state.config["batch"]
    for name, cursor in streams:
        _note(state, entries, name, cursor, state.store.read(name, cursor, batch))


def _hold(state, entries, streams, wait_ms):
    """Hold until any stream has news (or `wait_ms`): a `long_poll` session per stream on one
    shared event. Notes the answer's entries; False when the connection was dropped."""
    event = make_event()
    sock = client_socket(request.environ)
    req = request._get_current_object()  # type: ignore[attr-defined]
    sessions = []
    for name, cursor in streams:
        session = Session(LONG_POLL, name, sock, req, cursor, state.store)
        session.event = event  # one event wakes the request for any of its streams
        sessions.append(session)
    deadline = concurrency.monotonic_ms() + wait_ms
    batch = state.config["batch"]
    with ExitStack() as held:
        for session in sessions:
            held.enter_context(state.sessions.opened(session))
        while True:
            for session, (name, cursor) in zip(sessions, streams):
                if session.news:  # read only on news, not on the one-second checks
                    r = session.read(batch)
                    if r.reset or r.messages:
                        _read_all(state, entries, streams)
                        return True
            if any(session.news for session in sessions):
                continue  # woken during a read (which cleared the shared event): read again
            # long_poll_max is read again: a change applies to the held ones too
            remaining = (
                min(deadline, sessions[0].opened + state.config["long_poll_max"])
                - concurrency.monotonic_ms()
            )
            if remaining <= 0:
                return True
            sessions[0].wait(min(remaining, 1000))
            revoked = next((s for s in sessions if s.revoked is not None), None)
            if revoked is not None:  # live.disconnect
                entries[revoked.stream] = _error_entry("revoked", revoked.revoked)
                _read_all(state, entries, [x for x in streams if x[0] != revoked.stream])
                return True
            if any(s.dropped for s in sessions):
                cut(sock)
                return False
            if peer_gone(sock):
                return True

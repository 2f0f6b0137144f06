"""The WebSocket transport (docs/protocol.md "WebSocket"; server/DESIGN.md "One design, files
mirrored"; Node: transports/websocket.mjs), on gevent-websocket.

An adapter: it parses the socket's frames (frames.py), runs the spec's checks in the spec's
order (checks.py), opens a `websocket` session (session.py) and writes what the session
reads; sends go through the send pipeline (sends.py).

An upgrade reaches the view in one of three ways:
- with `wsgi.websocket` set (gevent-websocket's handler accepted it): a session;
- without it, refused before the handshake (origin, or the transport hooks): the refusal;
- without it because this server has no WebSocket (`flask run`, a plain WSGI handler):
  an ordinary poll answer, which a client counts as a failed WebSocket and falls back.

A session: optional `reset`, then `hello`, then every retained message after the cursor,
then live ones. One greenlet (the request's) writes messages and what the heartbeat owes,
moving the session's cursor on as it writes; a reader greenlet answers pings and handles
sends, in the request's context, so hooks see `request` and `current_app`. Both share one
write lock. The stream's wake-ups, a drop, a close request and the heartbeat timer all set
the session's one event; the writer waits on it without a timeout.

Heartbeat (transports/heartbeat.py, docs/protocol.md "WebSocket"): the socket keeps the
heartbeat its `hello` announced. One with `beat=<BEAT_QUERY_VALUE>` in its URL is told so
(hello's `beat`) and gets an empty text frame whenever it was written nothing for its gap
(beat_first_ms after any other frame, doubling up to the heartbeat), and no pings; any other
gets a control ping every heartbeat, and a JSON ping when those go unanswered. An empty text
frame from any socket is a sign of life, answered by nothing. A socket from which nothing
(a frame or a pong, `_Heard`) came for silent_peer_heartbeats heartbeats is cut without a
close frame. The process's one timer (`state.heartbeat`) only wakes the socket that owes a
frame; its own greenlet writes it, so a stalled (frozen) socket writes no beat either.

Refusals after the handshake are error frames then the error's close code, both from the
spec's error table (protocol.py ERRORS), checked in the spec's order ("ws_open",
"ws_frame", "ws_send"): `forbidden` (authorize), `bad_request` (a bad cursor),
`bad_frame` (1003 for a binary frame), `too_large`, `overflow` (the log moved past the
session's cursor), `internal` (a hook raised); the store being unavailable closes 1012
without an error frame (service restart: the client reconnects as usual). A refusal with
`revoked` 1008 follows live.disconnect. Frames are read by frames.py, strictly: a framing
violation is a close frame 1002, text that is not UTF-8 1007, as Node's `ws` answers.

v2 (docs/protocol.md "WebSocket v2"; the handshake picked `lifeline.v2`, recorded by
gevent_server's handler as `environ["lifeline.subprotocol"]`): many streams over one socket.
The socket is a `websocket` session of no stream (what the heartbeat, faults and stats see;
so `wsOpen` counts sockets); each stream it carries is a subscription (`_Subscriptions`): a
session of kind `subscription` of its own, registered and subscribed to its stream, with
its own cursor and news flag, sharing the socket's one event. After `hello` (no cursor) the
URL's stream is subscription 1; `sub` frames add more. A subscription is checked ("ws_sub")
and started (reset?, `subd`) by whoever asks for it — the request's greenlet for the URL's,
before the reader starts, then the reader, in frame order — and only then joins the live
ones, so its messages follow its `subd`. The one writer reads every live subscription that
has news (a batch each per round), writes `reset` instead of closing when one fell behind
(it goes on from the reset's cursor), `refused` `revoked` for one that live.disconnect
ended; it clears the shared event and looks at every flag again before it waits, so no
wake-up is lost. A message is written only while its subscription is still live (checked
under the write lock), so after `unsub` and a new `sub` of the same id nothing of the old
one follows the new `subd`. Refusals of one subscription are a `refused` frame and the
socket carries on; a malformed `sub` entry or a live id is `bad_frame` and the close, as any
malformed frame. Sends name their subscription (`s`) and are acked with it.

Hostile-input rules (issue 20):
- A burst of sends: the reader yields after each frame, so the writer delivers the messages
  the sends published as they come (without it, 10,000 queued sends ran before the writer
  once, which then found its cursor out of retention: close 1013, nothing delivered).
- Backpressure: the writer reads the store only as fast as the socket takes its frames (a
  write blocks once the kernel's buffers are full), and the reader's acks wait for the same
  write lock; so what waits in this process for one socket is at most the frame being
  written, under `max_pending_bytes_per_socket`. A client that stops reading falls behind
  retention like any late client: `overflow` + 1013 when it reads on.
"""

import struct

from flask import Response, copy_current_request_context, request

from . import http
from . import heartbeat
from ..checks import run_checks, stream_checks
from ..cursor import parse_cursor
from ..frames import FrameError, receive
from ..errors import StoreUnavailable, spec_error
from ..jsontext import dumps, loads, nests_deeper_than
from .. import concurrency
from ..concurrency import monotonic_ms
from ..origin import origin_allowed
from ..protocol import (
    BEAT_QUERY_VALUE,
    ERRORS,
    FIRST_SUBSCRIPTION,
    LIMITS,
    SUBPROTOCOL_V2,
    VERSION_V2,
)
from ..sends import ack_frame, check_send, deliver_send
from ..session import SUBSCRIPTION, WEBSOCKET, Session, client_socket, cut

SUB_ID_MIN = LIMITS["subscription_id_min"]
SUB_ID_MAX = LIMITS["subscription_id_max"]
MAX_SUBSCRIPTIONS = LIMITS["max_subscriptions"]


def is_upgrade(environ):
    return (
        environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        and "upgrade" in environ.get("HTTP_CONNECTION", "").lower()
    )


def close_socket(ws, code, reason=""):
    """Send a well-formed close frame (gevent-websocket 0.10's close() writes the reason
    without the status code) and mark the socket closed."""
    if ws is None or ws.closed:
        return
    if code == 1006:  # the peer is gone: nothing to send
        ws.closed = True
        return
    payload = struct.pack("!H", code) + reason.encode("utf-8")[:120]
    try:
        ws.send_frame(payload, ws.OPCODE_CLOSE)
    except Exception:
        pass
    finally:
        ws.closed = True


def refuse(ws, code, message=None, close_code=None):
    """An error frame, then a close (the table's message and close code unless given): for
    a socket accepted before it could be refused."""
    message = ERRORS[code]["message"] if message is None else message
    close_code = ERRORS[code]["close"] if close_code is None else close_code
    try:
        ws.send(dumps({"type": "error", "code": code, "message": message}))
    except Exception:
        pass
    close_socket(ws, close_code, message)


# How long a server without WebSockets holds an upgrade before its answer (see upgrade).
NO_UPGRADE_PAUSE_MS = 1000


def upgrade(state, stream, ws):
    hooks = state.transport_hooks
    hooks.count("ws")
    environ = request.environ
    allowed = origin_allowed(environ, state.config["origins"], state.config["trust_proxy"])
    if ws is not None:
        if not allowed:  # a stock handler upgraded without asking us
            refuse(ws, "forbidden_origin", "this origin may not open a WebSocket here")
            return Response(status=204)
        serve(state, stream, ws)
        return Response(status=204)
    if not allowed:  # a refused upgrade: answered, then the connection is closed
        return state.finish(
            spec_error(
                "forbidden_origin",
                "this origin may not open a WebSocket here",
                {"Connection": "close"},
            )
        )
    refusal = hooks.upgrade_refusal(environ)
    if refusal is not None:
        return state.finish(refusal())
    # No WebSocket in this server (`flask run`): answered as a poll, after a pause, so that
    # the poll a client races beside its socket brings Lifeline-WebSocket: none first and the
    # client drops the attempt itself, quietly (a failed handshake is an error in the console).
    concurrency.sleep(NO_UPGRADE_PAUSE_MS / 1000)
    return http.poll(state, stream)


class _Heard:
    """A WebSocket's input stream that notes when the peer was last heard from: any frame
    header read (a pong included, which gevent-websocket handles without returning it)."""

    __slots__ = ("_stream", "_session")

    def __init__(self, stream, session):
        self._stream = stream
        self._session = session

    def read(self, n):
        data = self._stream.read(n)
        if data:
            self._session.last_recv = monotonic_ms()
        return data

    def __getattr__(self, name):
        return getattr(self._stream, name)


def serve(state, stream, ws):
    """One WebSocket session; returns when it is over."""
    import gevent
    import gevent.lock

    hooks = state.transport_hooks
    config = state.config
    v2 = request.environ.get("lifeline.subprotocol") == SUBPROTOCOL_V2
    session = Session(
        WEBSOCKET,
        None if v2 else stream,  # v2: the socket; its subscriptions have the streams
        getattr(getattr(ws, "handler", None), "socket", None) or client_socket(request.environ),
        request._get_current_object(),  # type: ignore[attr-defined]
        store=state.store,
    )
    hooks.count("101")
    # the socket keeps the heartbeat its hello announces
    pulse = heartbeat.Pulse(
        session, config["heartbeat"], request.args.get("beat") == BEAT_QUERY_VALUE
    )
    limit = config["max_body"]
    write_lock = gevent.lock.Semaphore()
    raw_write, raw_read = ws.raw_write, ws.raw_read
    too_large = []  # payload bytes of the message being read

    def locked_write(data):
        with write_lock:
            raw_write(data)

    def bounded_read(n):
        # payload reads: refuse a message over the limit (in one frame or in fragments)
        # before reading it. Answer here: gevent-websocket turns any failure of this read
        # into a close without a code.
        too_large.append(n)
        if sum(too_large) > limit:
            if not session.frozen:
                send(
                    dumps(
                        {
                            "type": "error",
                            "code": "too_large",
                            "message": f"message over {limit} bytes",
                        }
                    )
                )
            close_socket(ws, ERRORS["too_large"]["close"], "message too large")
            session.close(ERRORS["too_large"]["close"])
            raise ValueError("message too large")
        return raw_read(n)

    ws.raw_write = locked_write
    ws.raw_read = bounded_read
    stream_in = ws.stream
    ws.stream = _Heard(stream_in, session)  # frame headers are read from ws.stream

    def write(frame, size, beat=False, force=False, unless=None):
        """Write an encoded frame (`size`: its payload's bytes; None: a control frame, which
        the heartbeat does not count as one written); False when it was not (also when
        `unless()`, asked under the write lock, is true)."""
        if ws.closed or session.dropped or (session.frozen and not force):
            return False
        try:
            with write_lock:
                if unless is not None and unless():
                    return False
                raw_write(frame)
        except Exception:
            session.close_request = session.close_request or (1006, "")
            session.wake()
            return False
        if size is not None:
            session.last_sent = monotonic_ms()
            pulse.sent(beat)
            hooks.count("bytesOut", size)
        return True

    def send(text, force=False, unless=None):
        data = text.encode("utf-8")
        return write(heartbeat.text_frame(data), len(data), force=force, unless=unless)

    def fail(code, message=None, close_code=None):
        """The error frame of `code`, then its close (the table's message and code unless given)."""
        message = ERRORS[code]["message"] if message is None else message
        if not session.frozen:
            send(dumps({"type": "error", "code": code, "message": message}))
        session.close(ERRORS[code]["close"] if close_code is None else close_code, message)

    subs = _Subscriptions(state, session, send) if v2 else None

    @copy_current_request_context
    def reader():
        while not (ws.closed or session.dropped or session.close_request):
            del too_large[:]  # bytes of the message being read
            try:
                msg = receive(ws, lambda code: close_socket(ws, code))
            except FrameError as e:
                close_socket(ws, e.code, e.reason)
                session.close(e.code, e.reason)
                return
            except Exception:
                msg = None
            if msg is None:
                session.close(1006)
                return
            gevent.sleep(0)  # let the writer deliver between frames (bursts)
            if session.frozen:
                continue  # a stalled connection answers nothing
            if msg == "":
                continue  # a beat: a sign of life (noted by _Heard), answered by nothing
            hooks.count("bytesIn", len(msg.encode("utf-8")) if isinstance(msg, str) else len(msg))
            frame = {}

            def json_check():
                try:
                    frame["obj"] = loads(msg)
                except ValueError as e:
                    return f"malformed JSON: {e}"
                return None

            refused = run_checks(
                "ws_frame",
                {
                    "size": True,  # bounded_read
                    "text": lambda: not isinstance(msg, str)
                    and "binary frames are not part of the protocol",
                    "depth": lambda: isinstance(msg, str)
                    and nests_deeper_than(msg, config["max_json_depth"])
                    and f"frame nests deeper than {config['max_json_depth']}",
                    "json": json_check,
                    "frame_shape": lambda: (
                        not isinstance(frame["obj"], dict)
                        or not isinstance(frame["obj"].get("type"), str)
                    )
                    and "a frame is a JSON object with a string type",
                    "send_shape": lambda: frame["obj"]["type"] == "send"
                    and (
                        check_send(frame["obj"])
                        or (subs is not None and _check_send_sub(frame["obj"]))
                    ),
                },
            )
            if refused:
                fail(
                    refused["error"],
                    refused["message"],
                    ERRORS["bad_frame"]["binary_close"] if not isinstance(msg, str) else None,
                )
                return
            obj = frame["obj"]
            kind = obj["type"]
            if kind == "ping":
                send('{"type":"pong"}')
            elif kind == "send":
                sid = None if subs is None else obj["s"]
                if subs is not None:
                    refused = run_checks(
                        "ws_send_v2", {"subscription": lambda: sid not in subs.live}
                    )
                    if refused:
                        send(ack_frame(obj["id"], refused, sid))
                        continue
                try:
                    refused = deliver_send(
                        state, stream if subs is None else subs.live[sid].stream, obj.get("data")
                    )
                except StoreUnavailable:
                    session.close(ERRORS["unavailable"]["close"], "store unavailable")
                    return
                except Exception:
                    state.logger.exception("lifeline: a send hook failed")
                    fail("internal")
                    return
                send(ack_frame(obj["id"], refused, sid))
            elif kind == "sub" and subs is not None:
                entries = obj.get("subs")
                if not isinstance(entries, list):
                    fail("bad_frame", '"subs" must be a list of [id, stream, cursor or null]')
                    return
                for entry in entries:
                    try:
                        bad = subs.subscribe(entry)
                    except StoreUnavailable:
                        session.close(ERRORS["unavailable"]["close"], "store unavailable")
                        return
                    if bad is not None:
                        fail("bad_frame", bad)
                        return
            elif kind == "unsub" and subs is not None:
                sid = _sub_id(obj.get("s"))
                if sid is not None:
                    subs.end(sid)
            # pong and unknown types are ignored (so are sub and unsub on a v1 socket)

    try:
        with state.sessions.opened(session):
            if subs is None:
                _run(state, stream, ws, session, pulse, write, send, fail, reader)
            else:
                _run_v2(state, stream, ws, session, pulse, write, send, reader, subs)
    except Exception:
        state.logger.exception("lifeline: a WebSocket session failed")
        refuse(ws, "internal")
    finally:
        if session.dropped:
            cut(session.sock)
            ws.closed = True
        if session.reader is not None:
            session.reader.kill(block=False)
        if subs is not None:  # after the reader's end: it adds no more
            subs.end_all()
        # the handler may close the socket after us; restore its own write path
        ws.raw_write, ws.raw_read, ws.stream = raw_write, raw_read, stream_in


def _run(state, stream, ws, session, pulse, write, send, fail, reader):
    """The session proper: checks, reset/hello, then the delivery loop."""
    import gevent

    hooks = state.transport_hooks
    config = state.config
    raw_cursor = request.args.get("cursor")
    try:
        refused = run_checks(
            "ws_open",
            {
                "authorize_subscribe": lambda: state.authorize(stream, "subscribe", request),
                "cursor": lambda: raw_cursor is not None
                and parse_cursor(raw_cursor) is None
                and f"bad cursor {raw_cursor!r}: <u64> or <u64>-<u64>",
            },
        )
    except Exception:
        state.logger.exception("lifeline: authorize hook failed")
        refuse(ws, "internal")
        return
    if refused:
        refuse(ws, refused["error"], refused["message"])
        return
    hooks.socket_opened(session)
    if session.close_request:
        close_socket(ws, *session.close_request)
        return
    session.cursor = raw_cursor
    try:
        reset, head, _ = session.start()
    except StoreUnavailable:
        close_socket(ws, ERRORS["unavailable"]["close"], "store unavailable")
        return
    if reset is not None:
        send(dumps({"type": "reset", "cursor": reset}), force=True)
    hello = {"type": "hello", "cursor": head, "heartbeat": pulse.heartbeat}
    if pulse.beats:
        hello["beat"] = pulse.heartbeat
    hello.update(hooks.hello_fields())
    send(dumps(hello), force=True)
    session.reader = gevent.spawn(reader)
    state.heartbeat.add(pulse)
    try:
        _deliver(ws, session, pulse, write, send, fail, config["batch"])
    finally:
        state.heartbeat.remove(pulse)
    _end(ws, session, send)


def _deliver(ws, session, pulse, write, send, fail, batch):
    """The delivery loop: the stream's messages as they come, and what the heartbeat timer
    says the socket owes (transports/heartbeat.py); it waits without a timeout."""
    while not (ws.closed or session.dropped or session.close_request):
        if session.frozen:
            session.event.clear()
            if not (session.dropped or session.close_request):
                session.wait()  # woken only by a close, a drop or a fault change
            continue
        if session.news:
            try:
                r = session.read(batch)  # clears news and the event
            except StoreUnavailable:
                session.close(ERRORS["unavailable"]["close"], "store unavailable")
                return
            if r.reset:
                # the log moved past this session's cursor (retention, or history lost):
                # a reset frame may only come first, so close; the client reconnects
                fail("overflow")
                return
            for m in r.messages:  # the message's JSON text as stored: never parsed again
                if not send(
                    '{"type":"msg","cursor":' + dumps(m.cursor) + ',"data":' + m.json + "}"
                ):
                    break
                session.cursor = m.cursor  # what was written: a frozen socket reads on from here
            if r.messages:
                session.news = True  # a full batch may have more behind it
                continue
        else:
            session.event.clear()  # a nudge: what sets it from here on wakes the wait
        if session.news or session.frozen or session.close_request or session.dropped:
            continue
        owed = pulse.take(monotonic_ms())
        for frame in owed:
            if (
                frame == heartbeat.END
            ):  # nothing heard for silent_peer_heartbeats: the peer vanished
                session.dropped = True
                return
            write(*heartbeat.FRAMES[frame], beat=frame == heartbeat.BEAT)
        if not owed:
            session.wait()


def _end(ws, session, send):
    if session.revoked is not None and not session.dropped:  # live.disconnect
        send(dumps({"type": "error", "code": "revoked", "message": session.revoked}), force=True)
    if session.close_request and not session.dropped:
        close_socket(ws, *session.close_request)


# ---- v2: many streams over one socket ---------------------------------------------------


def _sub_id(value):
    """A subscription id as an int, or None when it is not one: a JSON number whose value is
    an integer in [subscription_id_min, subscription_id_max] (`1.0` is 1, `true` is not)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and SUB_ID_MIN <= value <= SUB_ID_MAX:
        return value
    return None


def _check_send_sub(obj):
    """A v2 send's `s` (after check_send): None when valid (normalised to an int), else what
    is wrong."""
    sid = _sub_id(obj.get("s"))
    if sid is None:
        return f'"s" must be an integer in {SUB_ID_MIN}..{SUB_ID_MAX}'
    obj["s"] = sid
    return None


def _sub_shape(entry):
    """None when a sub frame's entry is [id, stream, cursor or null], else what is wrong."""
    if not isinstance(entry, list) or len(entry) != 3:
        return "a sub entry is [id, stream, cursor or null]"
    if _sub_id(entry[0]) is None:
        return f"a subscription id is an integer in {SUB_ID_MIN}..{SUB_ID_MAX}"
    if not isinstance(entry[1], str):
        return "a sub entry's stream is a string"
    if entry[2] is not None and not isinstance(entry[2], str):
        return "a sub entry's cursor is a string or null"
    return None


class _Subscriptions:
    """A v2 socket's subscriptions (see the module's docstring): `live` maps each live id to
    its session (kind `subscription`, sharing the socket session's event)."""

    def __init__(self, state, session, send):
        self.state = state
        self.session = session  # the socket's
        self.send = send
        self.live = {}  # id -> Session
        self._leave = {}  # id -> what ends its registration (Sessions.enter)

    def subscribe(self, entry, force=False):
        """One entry of a sub frame, checked in the spec's order ("ws_sub"): its reset?
        and subd, after which it is live, or its refused frame. Returns None, or the
        message of the bad_frame that ends the socket (a bad entry, a live id). `force`:
        written even on a frozen socket (the URL's, like v1's hello). Raises
        StoreUnavailable."""
        state = self.state
        # the entry's shape and its id first (spec: sub_shape, id_free): a bad_frame
        bad = _sub_shape(entry)
        if bad is not None:
            return bad
        sid, stream, cursor = _sub_id(entry[0]), entry[1], entry[2]
        if sid in self.live:
            return f"subscription {sid} is live"
        try:
            refused = run_checks(
                "ws_sub",
                {
                    "sub_shape": True,
                    "id_free": True,
                    "subscriptions": lambda: len(self.live) >= MAX_SUBSCRIPTIONS,
                    **stream_checks(state, stream, cursor),
                },
            )
        except Exception:
            state.logger.exception("lifeline: authorize hook failed")
            refused = {"error": "internal", "message": None}
        if refused:
            code = refused["error"]
            message = refused["message"] or ERRORS[code]["message"]
            self.send(
                dumps({"type": "refused", "s": sid, "code": code, "message": message}),
                force=force,
            )
            return None
        session = self.session
        sub = Session(
            SUBSCRIPTION,
            stream,
            session.sock,
            session.request,
            cursor=cursor,
            store=state.store,
            event=session.event,
        )
        leave = state.sessions.enter(sub)
        try:
            reset, _, caught_up = sub.start()
            if reset is not None:
                self.send(dumps({"type": "reset", "s": sid, "cursor": reset}), force=force)
            self.send(dumps({"type": "subd", "s": sid, "cursor": caught_up}), force=force)
        except BaseException:  # the store, or the reader's end (GreenletExit)
            leave()
            raise
        self.live[sid] = sub
        self._leave[sid] = leave
        sub.wake()  # the writer reads it from its cursor on
        return None

    def end(self, sid, sub=None):
        """End subscription `sid` (when it is still `sub`, if given): no more delivery, out
        of the registry, its id free."""
        current = self.live.get(sid)
        if current is None or (sub is not None and current is not sub):
            return
        del self.live[sid]
        self._leave.pop(sid)()

    def end_all(self):
        for sid in list(self.live):
            self.end(sid)


def _run_v2(state, stream, ws, session, pulse, write, send, reader, subs):
    """A v2 socket: hello, the URL's subscription, then the delivery loop."""
    import gevent

    hooks = state.transport_hooks
    hooks.socket_opened(session)
    if session.close_request:
        close_socket(ws, *session.close_request)
        return
    hello = {"type": "hello", "v": VERSION_V2, "heartbeat": pulse.heartbeat}
    if pulse.beats:
        hello["beat"] = pulse.heartbeat
    hello.update(hooks.hello_fields())
    send(dumps(hello), force=True)
    try:
        subs.subscribe([FIRST_SUBSCRIPTION, stream, request.args.get("cursor")], force=True)
    except StoreUnavailable:
        close_socket(ws, ERRORS["unavailable"]["close"], "store unavailable")
        return
    session.reader = gevent.spawn(reader)
    state.heartbeat.add(pulse)
    try:
        _deliver_v2(ws, session, pulse, write, send, subs, state.config["batch"])
    finally:
        state.heartbeat.remove(pulse)
    if session.close_request and not session.dropped:
        close_socket(ws, *session.close_request)


def _revocations(subs, send):
    """Each live subscription that live.disconnect ended: its refused `revoked`, then its
    end."""
    for sid, sub in list(subs.live.items()):
        if sub.revoked is not None and subs.live.get(sid) is sub:
            send(
                dumps({"type": "refused", "s": sid, "code": "revoked", "message": sub.revoked}),
                force=True,
            )
            subs.end(sid, sub)


def _deliver_v2(ws, session, pulse, write, send, subs, batch):
    """v2's delivery loop: every live subscription's messages as they come (a batch each
    per round), their resets and revocations, and what the heartbeat timer says the socket
    owes; it waits without a timeout on the event the subscriptions share."""
    live = subs.live
    while not (ws.closed or session.dropped or session.close_request):
        if any(sub.dropped for sub in live.values()):  # a restart cut the socket
            session.dropped = True
            return
        if session.frozen:
            session.event.clear()
            _revocations(subs, send)
            if not (session.dropped or session.close_request):
                session.wait()  # woken only by a close, a drop, a revoke or a fault change
            continue
        _revocations(subs, send)
        more = False
        for sid, sub in list(live.items()):
            if not sub.news or live.get(sid) is not sub:
                continue
            try:
                r = sub.read(batch)  # clears its news and the socket's event
            except StoreUnavailable:
                session.close(ERRORS["unavailable"]["close"], "store unavailable")
                return

            def gone(sid=sid, sub=sub):  # unsubscribed meanwhile (asked under the write lock)
                return live.get(sid) is not sub

            if r.reset:
                # it fell behind retention, or the stream's history was lost: it goes on
                # after the reset's cursor (v1 closes with overflow)
                if send(dumps({"type": "reset", "s": sid, "cursor": r.cursor}), unless=gone):
                    sub.cursor = r.cursor
                sub.news = more = True
                continue
            prefix = '{"type":"msg","s":' + str(sid) + ',"cursor":'
            for m in r.messages:  # the message's JSON text as stored: never parsed again
                if not send(prefix + dumps(m.cursor) + ',"data":' + m.json + "}", unless=gone):
                    break
                sub.cursor = m.cursor  # what was written: a frozen socket reads on from here
            if r.messages:
                sub.news = more = True  # a full batch may have more behind it
        if more:
            continue
        session.event.clear()  # what sets it from here on wakes the wait
        if session.frozen or session.close_request or session.dropped:
            continue
        if any(sub.news or sub.revoked is not None or sub.dropped for sub in live.values()):
            continue
        owed = pulse.take(monotonic_ms())
        for frame in owed:
            if frame == heartbeat.END:  # nothing heard for silent_peer_heartbeats
                session.dropped = True
                return
            write(*heartbeat.FRAMES[frame], beat=frame == heartbeat.BEAT)
        if not owed:
            session.wait()

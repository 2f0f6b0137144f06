"""The WebSocket transport (README "WebSocket"), on gevent-websocket.

An upgrade reaches the view in one of three ways:
- with `wsgi.websocket` set (gevent-websocket's handler accepted it): a session;
- without it, refused before the handshake (origin, or the transport hooks): the refusal;
- without it because this server has no WebSocket (`flask run`, a plain WSGI handler):
  an ordinary poll answer, which a client counts as a failed WebSocket and falls back.

A session: optional `reset`, then `hello`, then every retained message after the cursor,
then live ones. One greenlet (the request's) writes messages and heartbeat pings; a reader
greenlet answers pings and handles sends, in the request's context, so hooks see `request`
and `current_app`. Both share one write lock. The stream's wake-ups, a drop, and a close
request all set the session's one event.

Refusals after the handshake are error frames then a close: `forbidden` 1008 (authorize),
`bad_request` 1008 (a bad cursor), `revoked` 1008 (live.disconnect), `bad_frame` 1008/1003 (also a frame nesting deeper than
`max_json_depth`, or a send id outside 0..2^53-1), `too_large` 1009, `overflow` 1013 (the
log moved past the session's cursor), `internal` 1011 (a hook raised); the store being
unavailable closes 1012 (service restart: the client reconnects as usual). Frames are read
by frames.py, strictly: a framing violation is a close frame 1002, text that is not UTF-8
1007, as Node's `ws` answers.

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

from . import polling
from .cursor import parse_cursor
from .frames import FrameError, receive
from .errors import StoreUnavailable, error_response
from .held import Held, client_socket, cut
from .jsontext import dumps, loads
from .concurrency import monotonic_ms
from .origin import origin_allowed


def is_upgrade(environ):
    return (environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            and "upgrade" in environ.get("HTTP_CONNECTION", "").lower())


def close_socket(ws, code, reason=""):
    """Send a well-formed close frame (gevent-websocket 0.10's close() writes the reason
    without the status code) and mark the socket closed."""
    if ws is None or ws.closed:
        return
    if code == 1006:          # the peer is gone: nothing to send
        ws.closed = True
        return
    payload = struct.pack("!H", code) + reason.encode("utf-8")[:120]
    try:
        ws.send_frame(payload, ws.OPCODE_CLOSE)
    except Exception:
        pass
    finally:
        ws.closed = True


def refuse(ws, code, message, close_code=1008):
    """An error frame, then a close: for a socket accepted before it could be refused."""
    try:
        ws.send(dumps({"type": "error", "code": code, "message": message}))
    except Exception:
        pass
    close_socket(ws, close_code, message)


def upgrade(state, stream, ws):
    hooks = state.transport_hooks
    hooks.count("ws")
    environ = request.environ
    allowed = origin_allowed(environ, state.config["origins"], state.config["trust_proxy"])
    if ws is not None:
        if not allowed:   # a stock handler upgraded without asking us
            refuse(ws, "forbidden_origin", "this origin may not open a WebSocket here")
            return Response(status=204)
        serve(state, stream, ws)
        return Response(status=204)
    if not allowed:   # a refused upgrade: answered, then the connection is closed
        return state.finish(error_response(403, "forbidden_origin",
                                           "this origin may not open a WebSocket here",
                                           {"Connection": "close"}))
    refusal = hooks.upgrade_refusal(environ)
    if refusal is not None:
        return state.finish(refusal())
    return polling.poll(state, stream)   # no WebSocket in this server: answer as a poll


def serve(state, stream, ws):
    """One WebSocket session; returns when it is over."""
    import gevent
    import gevent.lock

    hooks = state.transport_hooks
    config = state.config
    store = state.store
    held = Held("websocket", stream, getattr(getattr(ws, "handler", None), "socket", None)
                or client_socket(request.environ), request._get_current_object())
    hooks.count("101")
    limit = config["max_body"]
    write_lock = gevent.lock.Semaphore()
    raw_write, raw_read = ws.raw_write, ws.raw_read
    too_large = []                     # payload bytes of the message being read

    def locked_write(data):
        with write_lock:
            raw_write(data)

    def bounded_read(n):
        # payload reads: refuse a message over the limit (in one frame or in fragments)
        # before reading it. Answer here: gevent-websocket turns any failure of this read
        # into a close without a code.
        too_large.append(n)
        if sum(too_large) > limit:
            if not held.frozen:
                send(dumps({"type": "error", "code": "too_large",
                            "message": f"message over {limit} bytes"}))
            close_socket(ws, 1009, "message too large")
            held.close(1009)
            raise ValueError("message too large")
        return raw_read(n)

    ws.raw_write = locked_write
    ws.raw_read = bounded_read

    def send(text, force=False):
        if ws.closed or held.dropped or (held.frozen and not force):
            return False
        try:
            ws.send(text)
        except Exception:
            held.close_request = held.close_request or (1006, "")
            held.wake()
            return False
        held.last_sent = monotonic_ms()
        hooks.count("bytesOut", len(text.encode("utf-8")))
        return True

    def fail(code, message, close_code):
        if not held.frozen:
            send(dumps({"type": "error", "code": code, "message": message}))
        held.close(close_code, message)

    @copy_current_request_context
    def reader():
        while not (ws.closed or held.dropped or held.close_request):
            del too_large[:]              # bytes of the message being read
            try:
                msg = receive(ws, lambda code: close_socket(ws, code))
            except FrameError as e:
                close_socket(ws, e.code, e.reason)
                held.close(e.code, e.reason)
                return
            except Exception:
                msg = None
            if msg is None:
                held.close(1006)
                return
            gevent.sleep(0)               # let the writer deliver between frames (bursts)
            if held.frozen:
                continue                  # a stalled connection answers nothing
            hooks.count("bytesIn", len(msg.encode("utf-8")) if isinstance(msg, str) else len(msg))
            if not isinstance(msg, str):
                fail("bad_frame", "binary frames are not part of lifeline.v1", 1003)
                return
            try:
                obj = loads(msg, config["max_json_depth"])
            except ValueError as e:
                fail("bad_frame", f"malformed JSON: {e}", 1008)
                return
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                fail("bad_frame", "a frame is a JSON object with a string type", 1008)
                return
            kind = obj["type"]
            if kind == "ping":
                send('{"type":"pong"}')
            elif kind == "send":
                problem = polling.check_send(obj)
                if problem:
                    fail("bad_frame", problem, 1008)
                    return
                try:
                    refused = polling.deliver_send(state, stream, obj.get("data"))
                except StoreUnavailable:
                    held.close(1012, "store unavailable")
                    return
                except Exception:
                    state.logger.exception("lifeline: a send hook failed")
                    fail("internal", "internal server error", 1011)
                    return
                ack = {"type": "ack", "id": obj["id"]}
                if refused:
                    ack["error"], ack["message"] = refused[1], refused[2]
                send(dumps(ack))
            # pong and unknown types are ignored

    state.held.add(held)
    unsubscribe = store.subscribe(stream, held.wake)
    try:
        _session(state, stream, ws, held, send, fail, reader)
    except Exception:
        state.logger.exception("lifeline: a WebSocket session failed")
        refuse(ws, "internal", "internal server error", 1011)
    finally:
        unsubscribe()
        state.held.remove(held)
        if held.dropped:
            cut(held.sock)
            ws.closed = True
        if held.reader is not None:
            held.reader.kill(block=False)
        # the handler may close the socket after us; restore its own write path
        ws.raw_write, ws.raw_read = raw_write, raw_read


def _session(state, stream, ws, held, send, fail, reader):
    """The session proper: checks, reset/hello, then the delivery loop."""
    import gevent

    hooks = state.transport_hooks
    config = state.config
    store = state.store
    try:
        refusal = state.authorize(stream, "subscribe", request)
    except Exception:
        state.logger.exception("lifeline: authorize hook failed")
        refuse(ws, "internal", "internal server error", 1011)
        return
    if refusal:
        refuse(ws, "forbidden", refusal, 1008)
        return
    raw_cursor = request.args.get("cursor")
    if raw_cursor is not None and parse_cursor(raw_cursor) is None:
        refuse(ws, "bad_request", f"bad cursor {raw_cursor!r}", 1008)
        return
    hooks.socket_opened(held)
    if held.close_request:
        close_socket(ws, *held.close_request)
        return
    try:
        first = store.read(stream, raw_cursor, 1) if raw_cursor is not None else None
        head = store.head(stream)
    except StoreUnavailable:
        close_socket(ws, 1012, "store unavailable")
        return
    if first is not None and first.reset:
        send(dumps({"type": "reset", "cursor": first.cursor}), force=True)
        pos = first.cursor
    else:
        pos = raw_cursor if raw_cursor is not None else head
    hello = {"type": "hello", "cursor": head, "heartbeat": config["heartbeat"]}
    hello.update(hooks.hello_fields())
    send(dumps(hello), force=True)
    held.reader = gevent.spawn(reader)

    woken = True                      # read the stream only when told of news
    while not (ws.closed or held.dropped or held.close_request):
        if held.frozen:
            held.event.clear()
            held.event.wait(None)     # woken only by a close, a drop or a fault change
            continue
        if woken:
            held.event.clear()
            try:
                r = store.read(stream, pos, config["batch"])
            except StoreUnavailable:
                held.close(1012, "store unavailable")
                break
            if r.reset:
                # the log moved past this session's cursor (retention, or history lost):
                # a reset frame may only come first, so close; the client reconnects
                fail("overflow", "the stream moved past this connection's cursor", 1013)
                break
            for cursor, text in r.messages:
                if not send('{"type":"msg","cursor":' + dumps(cursor) + ',"data":'
                            + text + "}"):
                    break
                pos = cursor
            if r.messages:
                continue              # a full batch may have more behind it
        timeout = None
        hb = config["heartbeat"]
        if hb > 0:
            idle = monotonic_ms() - held.last_sent
            if idle >= hb:
                send('{"type":"ping"}')
                woken = False
                continue
            timeout = (hb - idle) / 1000.0
        woken = held.event.wait(timeout)
    if held.revoked is not None and not held.dropped:      # live.disconnect
        send(dumps({"type": "error", "code": "revoked", "message": held.revoked}), force=True)
    if held.close_request and not held.dropped:
        close_socket(ws, *held.close_request)

"""Reading a client's WebSocket frames strictly (RFC 6455 §5), as Node's `ws` does.

gevent-websocket's reader accepts unmasked client frames, and ends most violations (RSV
bits, reserved opcodes, an oversized control frame, a stray continuation, invalid UTF-8, a
bad close code) by dropping the connection or with a close frame that has no code. Here
every violation is a FrameError carrying the close code the session sends before it hangs
up: 1002 (protocol error) for framing, 1007 for text that is not UTF-8.

`receive(ws)` reads one message: the frame headers from the connection's stream, the
payloads through `ws.raw_read` (which the session wraps to enforce `max_body` over all of a
message's fragments). Pings are answered with a pong, pongs ignored, a peer's valid close
frame answered with the same code; then it returns None, as at the end of the connection.
"""

import struct

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_KNOWN_OPCODES = {OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG}


class FrameError(Exception):
    """A frame the protocol forbids: close the connection with `code`."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Ended(Exception):
    """The connection ended in the middle of a frame."""


def valid_close_code(code):
    """Close codes a peer may send (RFC 6455 §7.4; the set `ws` accepts)."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


def _exactly(read, n):
    data = read(n) if n else b""
    if len(data) != n:
        raise _Ended()
    return data


def _unmask(payload, mask):
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def _frame(ws):
    """One frame: (fin, opcode, payload)."""
    read = ws.stream.read
    b0, b1 = _exactly(read, 2)
    fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
    masked, length = b1 & 0x80, b1 & 0x7F
    if rsv:
        raise FrameError(1002, "reserved bits set (no extension was negotiated)")
    if opcode not in _KNOWN_OPCODES:
        raise FrameError(1002, f"reserved opcode {opcode}")
    if opcode >= OP_CLOSE and (not fin or length > 125):
        raise FrameError(1002, "a control frame must be whole and at most 125 bytes")
    if not masked:
        raise FrameError(1002, "a client frame must be masked")
    if length == 126:
        (length,) = struct.unpack("!H", _exactly(read, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _exactly(read, 8))
        if length >> 63:
            raise FrameError(1002, "a frame length has its top bit set")
    mask = _exactly(read, 4)
    payload = _exactly(ws.raw_read, length) if opcode < OP_CLOSE else _exactly(read, length)
    return fin, opcode, _unmask(payload, mask)


def receive(ws, answer_close):
    """The next message: str (text) or bytes (binary); None when the connection ended or
    the peer closed (`answer_close(code)` answered its close frame). Raises FrameError."""
    kind = None
    parts = []
    try:
        while True:
            fin, opcode, payload = _frame(ws)
            if opcode == OP_PING:
                ws.send_frame(payload, OP_PONG)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                if len(payload) == 1:
                    raise FrameError(1002, "a close frame's payload is empty or 2+ bytes")
                code = struct.unpack("!H", payload[:2])[0] if payload else 1000
                if payload and not valid_close_code(code):
                    raise FrameError(1002, f"invalid close code {code}")
                try:
                    payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    raise FrameError(1007, "a close reason must be UTF-8") from None
                answer_close(code)
                return None
            if opcode == OP_CONTINUATION:
                if kind is None:
                    raise FrameError(1002, "a continuation frame without a message to continue")
            elif kind is not None:
                raise FrameError(1002, "a new message before the last one ended")
            else:
                kind = opcode
            parts.append(payload)
            if fin:
                break
    except _Ended:
        return None
    data = b"".join(parts)
    if kind == OP_BINARY:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(1007, "a text message must be UTF-8") from None

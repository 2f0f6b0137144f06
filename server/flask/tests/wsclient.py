"""A minimal blocking WebSocket client for the tests (RFC 6455, client side): the
handshake with the subprotocol (lifeline_flask.protocol.SUBPROTOCOL), text frames out
(masked), frames in, close codes read back. Every read has a timeout, so a test that waits
for a frame that never comes fails."""

import base64
import json
import os
import socket
import struct

from lifeline_flask.protocol import SUBPROTOCOL


class HandshakeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__(f"upgrade refused: {status}")
        self.status = status
        self.headers = headers
        self.body = body


class Closed(Exception):
    def __init__(self, code, reason=""):
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class WsClient:
    def __init__(self, port, path, headers=None, timeout=15.0, protocol=SUBPROTOCOL):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._buf = b""
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            body = self._buf
            n = int(self.headers.get("content-length", "0"))
            while len(body) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.sock.close()
            raise HandshakeRefused(self.status, self.headers, body)
        self.protocol = self.headers.get("sec-websocket-protocol")
        self.close_code = None

    def _read_until(self, marker):
        while marker not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed during handshake")
            self._buf += chunk
        head, self._buf = self._buf.split(marker, 1)
        return head

    def _read_exact(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(1006)
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def send_frame(self, payload, opcode=0x1):
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def send(self, obj):
        self.send_frame(json.dumps(obj))

    def next_frame(self):
        """(opcode, payload) of the next data frame; raises Closed on a close frame or EOF.
        A control ping is answered with a pong (as browsers do), a pong skipped."""
        while True:
            opcode, payload = self._frame()
            if opcode == 0x9:
                self.send_frame(payload, opcode=0xA)
            elif opcode != 0xA:
                return opcode, payload

    def _frame(self):
        b1, b2 = self._read_exact(2)
        opcode = b1 & 0x0F
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        payload = self._read_exact(n)
        if opcode == 0x8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.close_code = code
            raise Closed(code, payload[2:].decode("utf-8", "replace"))
        return opcode, payload

    def next(self):
        """The next JSON frame."""
        opcode, payload = self.next_frame()
        return json.loads(payload.decode())

    def next_of(self, kind):
        while True:
            frame = self.next()
            if frame.get("type") == kind:
                return frame

    def expect_close(self):
        """Read frames until the close; returns (frames, close code)."""
        frames = []
        try:
            while True:
                frames.append(self.next())
        except Closed as e:
            return frames, e.code

    def close(self):
        try:
            self.send_frame(struct.pack("!H", 1000), opcode=0x8)
        except OSError:
            pass
        self.sock.close()

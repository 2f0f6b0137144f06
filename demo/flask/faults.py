"""The demo/test layer's fault switches, load shedding and counters, through the
extension's transport seam (lifeline_flask/hooks.py). Nothing here is part of the library.

Fault modes apply to every stream (server/DESIGN.md "The demo/test layer"):
  refuse     upgrades answered 403 (no 101)
  blackhole  upgrades never answered (held until the client gives up, or a restart)
  stall      sockets say hello, then nothing at all (the open ones freeze too)
  flap       sockets close (1001) `ms` after opening
  slow       poll answers wait `ms` first
  close      sockets open, then close (1011) before hello
"""

import threading

from flask import Response

from lifeline_flask import TransportHooks, error_response
from lifeline_flask.hooks import Session, client_socket, cut

FAULT_MODES = ("none", "refuse", "blackhole", "stall", "flap", "slow", "close")


class DemoHooks(TransportHooks):
    def __init__(self, state, name):
        self.state = state
        self.name = name
        self.fault = {"mode": "none", "ms": 500}
        self.shed = None  # None | {"status": 429|503, "retryAfter": "…"}
        self._lock = threading.Lock()
        self.reset_stats()

    # ---- counters ---------------------------------------------------------------------

    def reset_stats(self):
        # requests by kind (ws = upgrade requests), answers by status, bytes in and out
        with getattr(self, "_lock", threading.Lock()):
            self.stats = {
                "ws": 0,
                "poll": 0,
                "longpoll": 0,
                "post": 0,
                "options": 0,
                "bytesIn": 0,
                "bytesOut": 0,
                "bytes": 0,
            }

    def count(self, key, n=1):
        with self._lock:
            self.stats[key] = self.stats.get(key, 0) + n
            if key == "bytesOut":
                self.stats["bytes"] = self.stats["bytesOut"]

    def snapshot(self):
        with self._lock:
            out = dict(self.stats)
        out["wsOpen"] = self.state.sessions.count("websocket")
        # held poll requests (a poll of many streams holds a session per stream)
        out["held"] = len(
            {id(s.request) for s in self.state.sessions.all() if s.kind == "long_poll"}
        )
        connections = getattr(self.state.store, "connection_count", None)
        if connections is not None:
            out["redisConnections"] = connections()
        return out

    # ---- faults -----------------------------------------------------------------------

    def set_fault(self, mode, ms):
        self.fault = {"mode": mode, "ms": ms}
        for session in self.state.sessions.all():
            if mode == "stall" and session.kind == "websocket":
                session.freeze()
            session.wake()

    def restart(self):
        """What a process restart looks like to clients: every session's connection cut; a
        memory store forgets everything (a new epoch)."""
        sessions = self.state.sessions.all()
        for s in sessions:
            s.dropped = True
        clear = getattr(self.state.store, "clear", None)
        if clear is not None:
            clear()
        for s in sessions:
            s.drop()

    def _shed_response(self):
        return error_response(
            self.shed["status"],
            "overloaded",
            "server is shedding load",
            {"Retry-After": str(self.shed["retryAfter"])},
        )

    # ---- the seam ---------------------------------------------------------------------

    def before_poll(self, stream):
        return self._shed_response() if self.shed else None

    before_send = before_poll

    def upgrade_refusal(self, environ):
        if self.shed:
            return self._shed_response
        mode = self.fault["mode"]
        if mode == "refuse":
            return lambda: error_response(403, "forbidden", "WebSocket refused (fault mode)")
        if mode == "blackhole":
            return lambda: self._hold_blackhole(environ)
        return None

    def poll_delay(self):
        return self.fault["ms"] / 1000.0 if self.fault["mode"] == "slow" else 0

    def socket_opened(self, session):
        mode = self.fault["mode"]
        if mode == "close":
            session.close(1011, "fault: close")
        elif mode == "stall":
            session.freeze()
        elif mode == "flap":
            import gevent

            gevent.spawn_later(self.fault["ms"] / 1000.0, session.close, 1001, "fault: flap")

    def hello_fields(self):
        return {"server": self.name}

    def _hold_blackhole(self, environ):
        """Never answer the upgrade; end when the client gives up, or on a restart."""
        session = Session("blackhole", None, client_socket(environ))
        self.state.sessions.add(session)  # a restart drops it too (not subscribed: no stream)
        try:
            sock = session.sock
            while not session.dropped:
                if sock is None:
                    session.wait(1000)
                    continue
                try:
                    if not sock.recv(4096):
                        break
                except OSError:
                    break
            cut(sock)
        finally:
            self.state.sessions.remove(session)
        return Response(status=503)

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
from lifeline_flask.hooks import Held, cut

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
        out["wsOpen"] = self.state.held.count("websocket")
        out["held"] = self.state.held.count("longpoll")
        connections = getattr(self.state.store, "connection_count", None)
        if connections is not None:
            out["redisConnections"] = connections()
        return out

    # ---- faults -----------------------------------------------------------------------

    def set_fault(self, mode, ms):
        self.fault = {"mode": mode, "ms": ms}
        for held in self.state.held.all():
            if mode == "stall" and held.kind == "websocket":
                held.freeze()
            held.wake()

    def restart(self):
        """What a process restart looks like to clients: every held connection cut; a
        memory store forgets everything (a new epoch)."""
        held = self.state.held.all()
        for h in held:
            h.dropped = True
        clear = getattr(self.state.store, "clear", None)
        if clear is not None:
            clear()
        for h in held:
            h.drop()

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

    def socket_opened(self, held):
        mode = self.fault["mode"]
        if mode == "close":
            held.close(1011, "fault: close")
        elif mode == "stall":
            held.freeze()
        elif mode == "flap":
            import gevent

            gevent.spawn_later(self.fault["ms"] / 1000.0, held.close, 1001, "fault: flap")

    def hello_fields(self):
        return {"server": self.name}

    def _hold_blackhole(self, environ):
        """Never answer the upgrade; end when the client gives up, or on a restart."""
        from lifeline_flask.hooks import client_socket

        held = Held("blackhole", None, client_socket(environ))
        self.state.held.add(held)
        try:
            sock = held.sock
            while not held.dropped:
                if sock is None:
                    held.event.wait(1.0)
                    continue
                try:
                    if not sock.recv(4096):
                        break
                except OSError:
                    break
            cut(sock)
        finally:
            self.state.held.remove(held)
        return Response(status=503)

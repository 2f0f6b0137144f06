"""One heartbeat timer per server process for every WebSocket (docs/protocol.md "WebSocket";
limits `beat_first_ms`, `beat_sweep_ms`, `silent_peer_heartbeats`; Node:
transports/heartbeat.mjs).

A socket's `Pulse` is its schedule: what it owes at a given time, from when it last wrote
(`session.last_sent`) and last heard its peer (`session.last_recv`):
- a beat socket (it asked with `beat=<BEAT_QUERY_VALUE>`): an empty text frame once it has
  written nothing for its gap; the gap is min(beat_first_ms, heartbeat) after any frame that
  was not a beat and doubles after each beat, capped at the heartbeat (25,000: 2,500, 5,000,
  10,000, 20,000, 25,000, 25,000…); no pings of either kind;
- any other socket (a client before beats) is served as before beats, as Node serves it: a
  control ping every heartbeat at the most, and a JSON `{"type":"ping"}` once it has been
  written nothing for a heartbeat;
- either: the end, without a close frame, once nothing (a frame or a pong) came from the
  peer for `silent_peer_heartbeats` heartbeats.

`Heartbeat` is the one timer (one per extension state, so one per process and app): a
greenlet under gevent, a thread otherwise (concurrency.spawn), started with the first
socket, ticking every `beat_sweep_ms`, and ending at a tick that finds no socket left. It
never writes: it wakes (`Session.nudge`) the loop of each socket that owes something, and
that loop asks its pulse what (`Pulse.take`) and writes it with its own write lock; so a
socket blocked in a write (backpressure) holds up nothing else, and the socket loops wait
without a timeout. The frames it owes are encoded once, here (`BEAT_FRAME`, `PING_FRAME`,
`CONTROL_PING_FRAME`).

Choice: a timing wheel, not a sweep of every socket. Slots are `beat_sweep_ms` wide, keyed
by the absolute slot number of each socket's next due time (a dict of sets, so a due time
24 h away costs nothing more and a closing socket leaves its slot at once). A tick pops only
the slots that came due; each pulse there is due (nudged, and queued again one slot later
in case its loop has not acted by then) or is not due yet: its due time lies later in the
slot, or it wrote or heard something since it was queued; it is queued again at its due
time (lazily: a write or a read never touches the wheel, only two timestamps). So a frame
is owed at most one tick late, never early (the client's watchdog expects the schedule).
Cost per socket: one visit per due time reached (two when it lies inside a slot) — at most
about one per beat gap for a busy socket (0.4 to 0.8 a second), one or two per heartbeat
once an idle one's gaps reach the cap — plus one per tick while an owed frame waits on a
blocked write; a tick with no due slot is a few dict look-ups, whatever the number of
sockets. A plain sweep would visit every socket 4 times a second.
"""

import logging
import threading
from typing import Dict, Iterable, List, Set

from .. import concurrency
from ..concurrency import monotonic_ms
from ..protocol import LIMITS

BEAT_FIRST_MS = LIMITS["beat_first_ms"]
SWEEP_MS = LIMITS["beat_sweep_ms"]
SILENT_PEER_HEARTBEATS = LIMITS["silent_peer_heartbeats"]

# What a socket can owe (Pulse.take), in the order to do it.
END, CONTROL_PING, PING, BEAT = "end", "control_ping", "ping", "beat"


def text_frame(data):
    """A server's (unmasked, final) text frame carrying `data` (UTF-8 bytes)."""
    n = len(data)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + data


PING_TEXT = b'{"type":"ping"}'
BEAT_FRAME = text_frame(b"")  # a beat: an empty text frame
PING_FRAME = text_frame(PING_TEXT)
CONTROL_PING_FRAME = bytes((0x89, 0))  # a control ping without payload

# What is owed, as the transport writes it: (the encoded frame, its payload's size; None for
# a control frame, which does not count as a frame written).
FRAMES = {
    BEAT: (BEAT_FRAME, 0),
    PING: (PING_FRAME, len(PING_TEXT)),
    CONTROL_PING: (CONTROL_PING_FRAME, None),
}


class Pulse:
    """One socket's schedule (see the module's docstring). `session` gives `last_sent`,
    `last_recv` and `frozen`; the socket's loop calls `sent(beat)` after each frame it
    writes and `take(now)` when woken."""

    __slots__ = ("session", "heartbeat", "beats", "gap", "next_control", "slot")

    def __init__(self, session, heartbeat, beats):
        self.session = session
        self.heartbeat = heartbeat  # the one its hello announced, for its whole life
        self.beats = beats
        self.gap = min(BEAT_FIRST_MS, heartbeat)
        self.next_control = session.opened + heartbeat
        self.slot = None  # its slot in the wheel (Heartbeat's)

    def sent(self, beat=False):
        """A frame was written: after a beat the gap doubles (up to the heartbeat), after
        anything else it starts again."""
        self.gap = min(self.gap * 2, self.heartbeat) if beat else min(BEAT_FIRST_MS, self.heartbeat)

    def due(self):
        """When it next owes something (ms, monotonic_ms's clock)."""
        session = self.session
        at = session.last_recv + SILENT_PEER_HEARTBEATS * self.heartbeat
        if self.beats:
            return min(at, session.last_sent + self.gap)
        return min(at, self.next_control)

    def take(self, now):
        """What it owes at `now`, in the order to do it (empty: nothing yet)."""
        session = self.session
        if now - session.last_recv >= SILENT_PEER_HEARTBEATS * self.heartbeat:
            return (END,)
        idle = now - session.last_sent
        if self.beats:
            return (BEAT,) if idle >= self.gap else ()
        if now < self.next_control:
            return ()
        hb = self.heartbeat
        self.next_control = now + (hb if idle >= hb else hb - idle)
        return (CONTROL_PING, PING) if idle >= hb else (CONTROL_PING,)


class Heartbeat:
    """The process's one heartbeat timer (see the module's docstring): `add(pulse)` when a
    socket said hello, `remove(pulse)` when it ended. `clock`, `spawn` and `sleep` are
    parameters for the tests."""

    def __init__(
        self,
        slot_ms=SWEEP_MS,
        clock=monotonic_ms,
        spawn=concurrency.spawn,
        sleep=concurrency.sleep,
    ):
        self.slot_ms = slot_ms
        self._clock = clock
        self._spawn = spawn
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: Dict[int, Set[Pulse]] = {}  # slot number -> the pulses due in it
        self._count = 0
        self._swept = -1  # the last slot swept (-1: none yet, the timer is not running)
        self.running = False  # whether the timer runs

    def add(self, pulse):
        with self._lock:
            self._count += 1
            if self._swept < 0:
                self._swept = int(self._clock() // self.slot_ms)
            self._queue(pulse, pulse.due())
            if self.running:
                return
            self.running = True
        self._spawn(self._run)

    def remove(self, pulse):
        with self._lock:
            if pulse.slot is None:
                return
            queued = self._slots.get(pulse.slot)
            if queued is not None:
                queued.discard(pulse)
                if not queued:
                    del self._slots[pulse.slot]
            pulse.slot = None
            self._count -= 1

    def __len__(self):
        return self._count

    def _queue(self, pulse, at):
        # the slot `at` falls in, or the next one to sweep when that was swept already; a
        # tick finds it not due yet when `at` is later in its slot: it goes to the next one
        slot = max(int(at // self.slot_ms), self._swept + 1)
        pulse.slot = slot
        self._slots.setdefault(slot, set()).add(pulse)

    def sweep(self, now=None):
        """One tick: nudge every socket that owes something by `now`; queue the others
        again at their due time. Returns the pulses nudged."""
        now = self._clock() if now is None else now
        nudged: List[Pulse] = []
        with self._lock:
            current = int(now // self.slot_ms)
            if self._swept < 0 or current <= self._swept:
                return nudged
            slots: Iterable[int]
            if current - self._swept <= len(self._slots):
                slots = range(self._swept + 1, current + 1)
            else:  # a long pause (or a fake clock's jump): fewer slots than numbers between
                slots = sorted(s for s in self._slots if s <= current)
            self._swept = current
            for slot in slots:
                for pulse in self._slots.pop(slot, ()):
                    at = pulse.due()
                    if pulse.session.frozen:  # a stalled socket owes nothing
                        at = now + pulse.heartbeat
                    elif at <= now:
                        nudged.append(pulse)
                        at = now  # again next tick, unless its loop has acted by then
                    self._queue(pulse, at)
        for pulse in nudged:
            pulse.session.nudge()
        return nudged

    def _run(self):
        while True:
            self._sleep(self.slot_ms / 1000.0)
            with self._lock:
                if not self._count:
                    self.running = False
                    self._slots.clear()
                    self._swept = -1
                    return
            try:
                self.sweep()
            except Exception:  # never let one bad tick stop every socket's heartbeat
                logging.getLogger("lifeline_flask").exception("lifeline: a heartbeat tick failed")

"""The heartbeat (transports/heartbeat.py): a socket's schedule (beats: the first gap, then
doubling up to the heartbeat; pings for a socket that did not ask; the silent-peer end) and
the one timer (a wheel of beat_sweep_ms slots that visits only due sockets and ends with the
last socket), on a fake clock."""

import time

from lifeline_flask.protocol import LIMITS
from lifeline_flask.transports.heartbeat import (
    BEAT,
    BEAT_FRAME,
    CONTROL_PING,
    CONTROL_PING_FRAME,
    END,
    PING,
    PING_FRAME,
    Heartbeat,
    Pulse,
)

FIRST = LIMITS["beat_first_ms"]
SWEEP = LIMITS["beat_sweep_ms"]
SILENT = LIMITS["silent_peer_heartbeats"]


class FakeSession:
    """What a pulse reads of a Session, and its nudges."""

    def __init__(self, now=0):
        self.opened = self.last_sent = self.last_recv = now
        self.frozen = False
        self.nudges = 0

    def nudge(self):
        self.nudges += 1


class Clock:
    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def wheel(clock):
    """A Heartbeat whose timer does not run (the test sweeps)."""
    return Heartbeat(clock=clock, spawn=lambda fn: None)


def beating(heartbeat, start=0):
    """A beat socket on a fake clock at `start`, its peer heard from for the whole test:
    (clock, wheel, session, pulse)."""
    clock = Clock()
    clock.now = start
    hb = wheel(clock)
    session = FakeSession(start)
    session.last_recv = 10**9
    pulse = Pulse(session, heartbeat, beats=True)
    hb.add(pulse)
    return clock, hb, session, pulse


def run(hb, pulse, clock, until, on_nudge=None):
    """Sweep every SWEEP ms up to `until`, doing what each nudge owes as a socket loop
    would; returns the times of the beats written."""
    beats = []
    session = pulse.session
    while clock.now < until:
        clock.now += SWEEP
        for p in hb.sweep():
            for frame in p.take(clock.now):
                if frame == BEAT:
                    session.last_sent = clock.now
                    p.sent(beat=True)
                    beats.append(clock.now)
        if on_nudge:
            on_nudge(clock.now)
    return beats


def test_the_frames_are_encoded_once():
    assert BEAT_FRAME == b"\x81\x00"
    assert PING_FRAME == b'\x81\x0f{"type":"ping"}'
    assert CONTROL_PING_FRAME == b"\x89\x00"


def test_beats_come_after_the_first_gap_then_twice_the_last_up_to_the_heartbeat():
    clock, hb, session, pulse = beating(25000)
    beats = run(hb, pulse, clock, 90000)
    gaps = [b - a for a, b in zip([0] + beats, beats)]
    assert gaps == [2500, 5000, 10000, 20000, 25000, 25000]


def test_a_beat_is_never_early_and_at_most_one_sweep_late():
    clock, hb, session, pulse = beating(3000, start=100)  # off the slot boundaries
    beats = run(hb, pulse, clock, 6000)
    assert FIRST + 100 <= beats[0] < FIRST + 100 + SWEEP
    assert 3000 <= beats[1] - beats[0] < 3000 + SWEEP  # the heartbeat caps 2 x 2,500


def test_a_data_frame_resets_the_gap():
    clock, hb, session, pulse = beating(25000)
    beats = run(hb, pulse, clock, 7500)
    assert beats == [2500, 7500]  # the gap is 10,000 now
    clock.now = 8000
    session.last_sent = clock.now  # a message went out
    pulse.sent(beat=False)
    assert run(hb, pulse, clock, 20000) == [10500, 15500]


def test_no_beat_while_data_flows():
    clock, hb, session, pulse = beating(25000)

    def data(now):
        if now % 750 == 0:  # a message every 750 ms
            session.last_sent = now
            pulse.sent()

    assert run(hb, pulse, clock, 20000, data) == []


def test_a_socket_that_did_not_ask_gets_control_and_json_pings_as_before_beats():
    """As before beats, and as Node (transports/heartbeat.mjs): at the heartbeat a control
    ping, and the JSON ping too when nothing was written for a heartbeat; the next look is a
    heartbeat later, or when the socket will have been written nothing for one."""
    session = FakeSession()
    pulse = Pulse(session, 1000, beats=False)
    assert pulse.take(999) == ()
    assert pulse.take(1000) == (CONTROL_PING, PING)  # written nothing for a heartbeat
    session.last_sent = session.last_recv = 1000  # the JSON ping went out; the pongs came
    assert pulse.due() == 2000
    session.last_sent = 1600  # a message went out meanwhile
    assert pulse.take(2000) == (CONTROL_PING,)  # written something 400 ms ago: no JSON ping
    assert pulse.due() == 2600  # when it will have been written nothing for a heartbeat
    assert pulse.take(2600) == (CONTROL_PING, PING)
    session.last_sent = 2600
    assert pulse.take(SILENT * 1000 + 1000) == (END,)  # nothing heard for SILENT heartbeats


def test_a_silent_peer_is_ended_after_silent_peer_heartbeats_and_a_beating_one_is_not():
    clock = Clock()
    hb = wheel(clock)
    silent, alive = FakeSession(), FakeSession()
    pulses = [Pulse(silent, 1000, beats=True), Pulse(alive, 1000, beats=True)]
    for p in pulses:
        hb.add(p)
    ended = {}
    while clock.now < 5000:
        clock.now += SWEEP
        if clock.now % 500 == 0:
            alive.last_recv = clock.now  # the client's beats
        for p in hb.sweep():
            for frame in p.take(clock.now):
                if frame == END:
                    ended[p.session] = clock.now
                    hb.remove(p)
                elif frame == BEAT:
                    p.session.last_sent = clock.now
                    p.sent(beat=True)
    assert list(ended) == [silent]
    assert SILENT * 1000 <= ended[silent] < SILENT * 1000 + SWEEP


def test_a_sweep_visits_only_the_sockets_due_and_skips_a_frozen_one():
    clock = Clock()
    hb = wheel(clock)
    sessions = [FakeSession() for _ in range(100)]
    for i, s in enumerate(sessions):
        s.last_recv = 10**9
        hb.add(Pulse(s, 25000 + i * 1000, beats=True))
    sessions[0].frozen = True
    clock.now = FIRST - SWEEP
    assert hb.sweep() == []  # nothing due: no socket nudged
    clock.now = FIRST
    assert len(hb.sweep()) == 99
    assert sessions[0].nudges == 0 and sessions[1].nudges == 1


def test_the_timer_starts_with_the_first_socket_and_ends_when_none_is_left():
    hb = Heartbeat(slot_ms=5)  # a real thread, ticking fast
    assert not hb.running
    session = FakeSession(time.monotonic() * 1000)
    pulse = Pulse(session, 10, beats=True)
    hb.add(pulse)
    assert hb.running and len(hb) == 1
    deadline = time.monotonic() + 5
    while not session.nudges and time.monotonic() < deadline:
        time.sleep(0.005)
    assert session.nudges  # the first gap, min(beat_first_ms, 10), came: nudged
    hb.remove(pulse)
    assert len(hb) == 0
    while hb.running and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not hb.running
    hb.add(pulse)  # a new socket starts it again
    assert hb.running
    hb.remove(pulse)

// heartbeat.test.mjs — the Node server's heartbeat (server/node/transports/heartbeat.mjs)
// on a fake clock: the beat schedule (beatFirstMs, doubling up to the heartbeat; a frame
// that is not a beat starts it again; never early, at most a sweep late), the pings of a
// socket that did not ask for beats, the silent-peer rule, a muted socket, one timer per
// process only while a socket is kept, and a tick that visits only the sockets due.
//
//   node --test tests/js/heartbeat.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeClock } from './fakes.mjs';
import { Heartbeat, BEAT_FRAME, PING_FRAME } from '../../server/node/transports/heartbeat.mjs';
import { LIMITS } from '../../server/node/protocol.mjs';

const SWEEP = LIMITS.beatSweepMs;
const FIRST = LIMITS.beatFirstMs;

/** A heartbeat on a fake clock that starts off the sweep's grid (so ticks are late). */
function setup(start = 100) {
    const clock = fakeClock();
    clock.advance(start);
    return { clock, hb: new Heartbeat({ clock }) };
}

/** The transport's side of one socket: what the heartbeat did to it, and when. */
function fakeConn(clock) {
    const c = {
        beats: [],
        jsonPings: [],
        pings: [],
        terminated: null,
        isMuted: false,
        visits: 0,
        open: () => (c.visits++, c.terminated === null),
        muted: () => c.isMuted,
        write(frame) {
            if (frame === BEAT_FRAME) c.beats.push(clock.now());
            else if (frame === PING_FRAME) c.jsonPings.push(clock.now());
            else throw new Error(`unexpected frame ${frame}`);
        },
        ping: () => c.pings.push(clock.now()),
        terminate: () => (c.terminated = clock.now()),
    };
    return c;
}

/** Advance `ms` in steps of `step`, calling `each()` after every step (a peer that beats). */
function run(clock, ms, step, each) {
    for (let t = 0; t < ms; t += step) {
        clock.advance(step);
        each?.();
    }
}

/** One socket kept by a heartbeat on a fake clock. */
function oneSocket(heartbeat, beats, start) {
    const { clock, hb } = setup(start);
    const conn = fakeConn(clock);
    const at = clock.now();
    return { clock, hb, conn, start: at, h: hb.add(conn, { heartbeat, beats }) };
}

const gaps = (times, from) => times.map((t, i) => t - (i ? times[i - 1] : from));

/** Each gap is the expected one, or up to a sweep later (never earlier). */
function assertGaps(actual, expected) {
    assert.equal(actual.length, expected.length, `gaps ${actual} (expected ${expected})`);
    actual.forEach((g, i) =>
        assert.ok(g >= expected[i] && g <= expected[i] + SWEEP, `gap ${i}: ${g} (expected ${expected[i]}, at most a sweep late): ${actual}`),
    );
}

test('a beat socket: gaps of beatFirstMs, doubling, up to the heartbeat; no pings', () => {
    const { clock, conn, h, start } = oneSocket(25000, true);
    run(clock, 88000, 1000, () => h.heard()); // the peer beats: never silent
    assertGaps(gaps(conn.beats, start), [2500, 5000, 10000, 20000, 25000, 25000]);
    assert.deepEqual([conn.pings, conn.jsonPings, conn.terminated], [[], [], null]);
});

test('a heartbeat under beatFirstMs is every gap', () => {
    const { clock, conn, h, start } = oneSocket(1000, true);
    run(clock, 3500, 100, () => h.heard());
    assertGaps(gaps(conn.beats, start), [1000, 1000, 1000]);
});

test('a frame that is not a beat starts the schedule again; none comes while frames flow', () => {
    const { clock, conn, h, start } = oneSocket(25000, true);
    run(clock, 9000, 500, () => h.heard());
    assertGaps(gaps(conn.beats, start), [2500, 5000]); // the next would be 10,000 after the second
    h.sent();
    const sent = clock.now();
    run(clock, 2000, 100, () => h.heard());
    assert.equal(conn.beats.length, 2, 'the gap is beatFirstMs again, not yet over');
    run(clock, 1000, 100, () => h.heard());
    assertGaps(gaps(conn.beats.slice(2), sent), [FIRST]);
    const busy = conn.beats.length;
    run(clock, 20000, 700, () => (h.sent(), h.heard()));
    assert.equal(conn.beats.length, busy, 'no beat while frames flow');
});

test('a socket that did not ask: a control ping every heartbeat, a JSON ping after a heartbeat idle; no beats', () => {
    const { clock, conn, h } = oneSocket(3000, false, 0);
    clock.advance(1000);
    h.sent(); // a message at 1,000: the JSON ping waits for 3,000 idle after it
    run(clock, 8000, 500, () => h.heard());
    assert.deepEqual(conn.beats, []);
    assert.deepEqual(conn.jsonPings, [4000, 7000]);
    assert.deepEqual(conn.pings, [3000, 4000, 7000]);
    run(clock, 9000, 500, () => (h.sent(), h.heard())); // busy: control pings only, a heartbeat apart at the most
    assert.deepEqual(conn.jsonPings, [4000, 7000]);
    assert.ok(conn.pings.length >= 6, `${conn.pings}`);
    assert.ok(
        gaps(conn.pings, 0).every((g) => g > 0 && g <= 3000),
        `${conn.pings}`,
    );
});

test('a silent peer is terminated after silentPeerHeartbeats heartbeats (not before), and forgotten', () => {
    const { clock, hb, conn, h, start } = oneSocket(1000, true);
    run(clock, 2000, 100);
    h.heard(); // heard at 2,000 after the start: silence counts from there
    const heard = clock.now();
    run(clock, 5000, 100);
    assert.ok(conn.terminated !== null, 'terminated');
    const after = conn.terminated - heard;
    const limit = LIMITS.silentPeerHeartbeats * 1000;
    assert.ok(after > limit && after <= limit + SWEEP, `terminated ${after} ms after it was last heard`);
    assert.ok(conn.terminated - start > limit);
    assert.equal(hb.size, 0);
    assert.equal(clock.armed(), 0, 'no timer once no socket is left');
});

test('a muted socket gets nothing and is not judged', () => {
    const { clock, conn } = oneSocket(1000, false);
    conn.isMuted = true;
    run(clock, 10000, 500);
    assert.deepEqual([conn.beats, conn.jsonPings, conn.pings, conn.terminated], [[], [], [], null]);
});

test('one timer for every socket, only while a socket is kept; a closed socket is forgotten', () => {
    const { clock, hb } = setup();
    assert.equal(clock.armed(), 0, 'no socket, no timer');
    const a = fakeConn(clock);
    const b = fakeConn(clock);
    const ha = hb.add(a, { heartbeat: 25000, beats: true });
    const hbb = hb.add(b, { heartbeat: 25000, beats: false });
    assert.equal(clock.armed(), 1);
    ha.stop();
    ha.stop(); // the close event after a termination: no harm
    assert.equal(clock.armed(), 1);
    hbb.stop();
    assert.equal(clock.armed(), 0);
    run(clock, 5000, 500);
    assert.deepEqual([a.beats, b.pings], [[], []]);
    hb.add(fakeConn(clock), { heartbeat: 25000, beats: true });
    assert.equal(clock.armed(), 1, 'the next socket starts it again');
});

test('a closed socket (not open) is forgotten at its next look', () => {
    const { clock, hb, conn } = oneSocket(25000, true);
    conn.terminated = -1; // closed under the heartbeat, its close event not yet run
    run(clock, 3000, 250);
    assert.deepEqual([conn.beats, hb.size, clock.armed()], [[], 0, 0]);
});

test('a tick visits only the sockets that are due (a wheel, not a sweep over every socket)', (t) => {
    const { clock, hb } = setup();
    const conns = [];
    const handles = [];
    for (let i = 0; i < 1000; i++) {
        clock.advance(i % 7); // spread over the slots
        const conn = fakeConn(clock);
        conns.push(conn);
        handles.push(hb.add(conn, { heartbeat: 25000, beats: i % 2 === 0 }));
    }
    for (const h of handles) h.sent(); // a message to every socket
    const start = clock.now();
    const since = (times) => times.filter((t) => t > start).length;
    run(clock, 55000, 1000, () => {
        for (const [i, h] of handles.entries()) {
            h.heard();
            if (i % 4 < 2) h.sent(); // a busy half: frames every second
        }
    });
    const visits = conns.reduce((n, c) => n + c.visits, 0);
    // A sweep over every socket would make 1,000 × 220 ticks = 220,000 visits.
    t.diagnostic(`1,000 sockets for 55 s: ${visits} visits (a sweep: 220,000)`);
    assert.ok(visits < 12000, `${visits} visits`);
    const beats = conns.filter((c, i) => i % 4 === 2).map((c) => since(c.beats));
    assert.ok(
        beats.every((n) => n === 4),
        'every idle beat socket beat at 2,500, 7,500, 17,500 and 37,500 after the message',
    );
    assert.ok(
        conns.filter((c, i) => i % 4 < 2).every((c) => since(c.beats) === 0 && since(c.jsonPings) === 0),
        'no beat nor JSON ping while frames flow',
    );
});

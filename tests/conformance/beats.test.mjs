// beats.test.mjs — server beats on every row (protocol/v1.json grammar "beat", limits
// `beat_first_ms` and `beat_sweep_ms`, docs/protocol.md "WebSocket"): a socket that asks
// with beat=1 is told so in hello and gets an empty text frame whenever the server has been
// silent for the schedule (beat_first_ms after anything else, then twice the previous gap,
// up to the heartbeat), never while data flows, and no control pings; its own empty frames
// are signs of life; a silent one is dropped after `silent_peer_heartbeats` heartbeats. A
// socket that does not ask (every client before beats) sees none of it.
//
// Times are asserted as lower bounds (no beat comes early: the client's watchdog relies on
// the schedule) with generous upper bounds (a beat is due within beat_sweep_ms; the slack
// is for a loaded machine), so a slow machine does not fail them.
//
//   node --test tests/conformance/beats.test.mjs
import assert from 'node:assert/strict';
import { forEachServer, DEFAULTS } from './matrix.mjs';
import { admin, connectWs, publish } from '../lib/servers.mjs';
import { LIMITS } from '../../server/node/protocol.mjs';

const FIRST = LIMITS.beatFirstMs;
const SLACK = LIMITS.beatSweepMs + 3000;
const EARLY = 300; // arrival times are measured here, after the network and this process's own lag (the unit tests of both heartbeats hold "never early" exactly, on a fake clock)
const BEATS = { query: { beat: '1' } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The next frame and when it came. */
async function nextTimed(c, ms) {
    const f = await c.next(ms);
    return { f, at: c.arrivals[c.frames.lastIndexOf(f)] };
}

forEachServer('server beats', (t) => {
    t.wsTest(
        'an idle socket that asked gets beats on the schedule (first gap, then up to the heartbeat) and no control pings; one that did not ask gets neither',
        async () => {
            const heartbeat = 3000; // the cap, reached at the second beat (2 × 2,500 > 3,000)
            await admin(t.url, '/admin/config', { ...DEFAULTS, heartbeat });
            const c = await connectWs(t.url, BEATS);
            const old = await connectWs(t.url);
            try {
                const hello = await c.next();
                assert.deepEqual([hello.type, hello.beat, hello.heartbeat], ['hello', heartbeat, heartbeat], JSON.stringify(hello));
                const oldHello = await old.next();
                assert.equal(oldHello.type, 'hello');
                assert.equal('beat' in oldHello, false, 'no beat announced to a socket that did not ask');
                await publish(t.url, 'x');
                const msg = await nextTimed(c, 5000);
                assert.equal(msg.f.type, 'msg');
                const first = await nextTimed(c, FIRST + SLACK);
                assert.deepEqual(first.f, { beat: true }, 'an empty text frame');
                assert.ok(first.at - msg.at >= FIRST - EARLY, `first beat ${first.at - msg.at} ms after the message (not before ${FIRST})`);
                const second = await nextTimed(c, heartbeat + SLACK);
                assert.deepEqual(second.f, { beat: true });
                assert.ok(
                    second.at - first.at >= heartbeat - EARLY,
                    `second beat ${second.at - first.at} ms after the first (the heartbeat caps 2 × ${FIRST})`,
                );
                assert.equal(c.pings, 0, 'a beat socket gets no control pings');
                assert.deepEqual(
                    old.frames.map((f) => f.type ?? f).filter((type) => type !== 'ping'), // pinged after a heartbeat idle, as before beats
                    ['hello', 'msg'],
                    'the socket that did not ask got no beat',
                );
            } finally {
                await c.close();
                await old.close();
            }
        },
    );

    t.wsTest('no beat while data flows: a message every 700 ms keeps the socket busy', async () => {
        const c = await connectWs(t.url, BEATS);
        try {
            assert.equal((await c.next()).type, 'hello');
            for (let i = 0; i < 6; i++) {
                await publish(t.url, i);
                await sleep(700);
            }
            await sleep(300);
            assert.deepEqual(
                c.frames.map((f) => f.type ?? f),
                ['hello', 'msg', 'msg', 'msg', 'msg', 'msg', 'msg'],
            );
        } finally {
            await c.close();
        }
    });

    t.wsTest("the client's empty frames are signs of life (no bad_frame); a silent socket is dropped after silent_peer_heartbeats heartbeats", async () => {
        const heartbeat = 1000;
        await admin(t.url, '/admin/config', { ...DEFAULTS, heartbeat });
        const alive = await connectWs(t.url, BEATS);
        const silent = await connectWs(t.url, BEATS);
        try {
            assert.equal((await alive.next()).type, 'hello');
            assert.equal((await silent.next()).type, 'hello');
            const opened = Date.now();
            const beating = setInterval(() => alive.sendRaw(''), heartbeat / 2);
            let info;
            try {
                info = await Promise.race([silent.closed, sleep(3 * heartbeat + 5000).then(() => null)]);
            } finally {
                clearInterval(beating);
            }
            assert.ok(info, 'the silent socket was dropped');
            assert.ok(Date.now() - opened >= 3 * heartbeat - EARLY, `dropped after ${Date.now() - opened} ms (not before 3 heartbeats)`);
            assert.equal(alive.closeInfo, null, 'the socket that beats is open');
            alive.send({ type: 'ping' });
            assert.deepEqual(await alive.nextOfType('pong', 3000), { type: 'pong' });
        } finally {
            await alive.close();
            await silent.close();
        }
    });
});

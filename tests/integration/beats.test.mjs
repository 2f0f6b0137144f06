// beats.test.mjs — server beats end to end (docs/protocol.md "WebSocket"): a Lifeline (the
// dist build with `ws`) through the fault proxy (tests/proxy.mjs) to a real server of each
// kind, default options on both sides (heartbeat 25 s, the client's pong timeout 2 s).
//  - A socket that stalls right after a message is noticed when the next beat is overdue
//    (beat_first_ms + the pong timeout = 4.5 s after the message; asserted: not before
//    beat_first_ms, and within 7 s), then every message published meanwhile and after
//    arrives exactly once, in order.
//  - An idle socket's frames, counted at the proxy over the 9 s after a message: two empty
//    beats from the server (2 B each, at 2.5 s and 7.5 s), nothing from the client (its
//    own beat is due after the heartbeat), no ping either way.
//
//   node --test tests/integration/beats.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, serverAvailable } from '../lib/servers.mjs';
import { client, createProxy, waitFor, sleep, orderViolation, fetchT } from './helpers.mjs';
import { LIMITS } from '../../server/node/protocol.mjs';

const FIRST = LIMITS.beatFirstMs;

for (const kind of ['node', 'flask']) {
    describe(`beats: ${kind}`, { concurrency: true, skip: serverAvailable(kind) ? false : `${kind} server not available` }, () => {
        let server;
        before(async () => {
            server = await startServer(kind);
        });
        after(async () => server?.stop());

        /** A proxy and a client of `stream` through it on the WebSocket, resuming from the head. */
        async function connected(stream) {
            const proxy = await createProxy({ target: server.url, listenPort: 0 });
            const { cursor } = await (await fetchT(`${server.url}/live/${stream}`)).json();
            const { l, rec } = client(`${proxy.url}/live/${stream}`, { cursor });
            await waitFor(
                () => l.state === 'open' && l.transport === 'websocket',
                10000,
                () => `open on the WebSocket\n${rec.dump()}`,
            );
            return {
                stream,
                proxy,
                l,
                rec,
                close: async () => {
                    l.close();
                    await proxy.close();
                },
            };
        }

        /** Publish `data` to the test stream and wait until the client has it; when it came (rec.t0-relative ms). */
        async function arrives(c, data) {
            const cursor = await publish(server.url, data, c.stream);
            await waitFor(
                () => c.rec.messages.some((m) => m.cursor === cursor),
                10000,
                () => `message ${JSON.stringify(data)}\n${c.rec.dump()}`,
            );
            return c.rec.messages.find((m) => m.cursor === cursor).t;
        }

        it('a socket that stalls right after a message is noticed within 7 s (4.5 s by the schedule; the bound is for a loaded machine), then 0 lost, 0 duplicated', async (t) => {
            const c = await connected('beats-stall');
            try {
                await sleep(500);
                const at = await arrives(c, { n: 0 });
                c.proxy.setMode('stall'); // the socket freezes right after the message
                const during = [];
                for (let n = 1; n <= 5; n++) during.push({ n, cursor: await publish(server.url, { n }, c.stream) });
                const stalled = await waitFor(
                    () => c.rec.states.find((s) => s.reason === 'ws_stalled'),
                    15000,
                    () => `ws_stalled\n${c.rec.dump()}`,
                );
                const noticed = stalled.t - at;
                t.diagnostic(`${kind}: the stall noticed ${noticed} ms after the last message`);
                assert.ok(noticed >= FIRST, `noticed ${noticed} ms after the message: not before the first beat was due (${FIRST} ms)`);
                assert.ok(noticed < 7000, `noticed ${noticed} ms after the message`);
                c.proxy.setMode('pass');
                for (let n = 6; n <= 8; n++) during.push({ n, cursor: await publish(server.url, { n }, c.stream) });
                await waitFor(
                    () => during.every((d) => c.rec.messages.some((m) => m.cursor === d.cursor)),
                    20000,
                    () => `every message after the stall\n${c.rec.dump()}`,
                );
                await sleep(300); // a duplicate would show up right behind
                assert.deepEqual(
                    c.rec.messages.map((m) => m.data.n),
                    [0, 1, 2, 3, 4, 5, 6, 7, 8],
                    'each message exactly once, in order',
                );
                assert.equal(orderViolation(c.rec), null);
            } finally {
                await c.close();
            }
        });

        it('an idle socket costs 4 B of frames in the 9 s after a message: two empty beats, nothing from the client, no ping', async () => {
            const c = await connected('beats-idle');
            try {
                await arrives(c, { idle: true });
                c.proxy.resetStats();
                await sleep(9000);
                // the second beat is due at 7.5 s: a loaded machine may send it late (the third is
                // due at 17.5 s, so waiting up to 14 s for it counts no third)
                const down = () => c.proxy.stats().bytes.ws.down;
                for (const end = Date.now() + 5000; down() < 4 && Date.now() < end;) await sleep(100);
                const { bytes } = c.proxy.stats();
                assert.deepEqual(
                    { down: bytes.ws.down, up: bytes.ws.up },
                    { down: 4, up: 0 },
                    `frame bytes on the socket (server → client, client → server)\n${c.rec.dump()}`,
                );
                assert.equal(c.l.state, 'open');
            } finally {
                await c.close();
            }
        });
    });
}

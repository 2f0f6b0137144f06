// Named streams, hooks and cross-site safety (server/DESIGN.md), against every row of
// matrix.mjs with the test rule (`--auth-test`, server/DESIGN.md "The test rule") and a
// server tick on stream `ticker` (a publish from another context than any request).
//
//   node --test tests/conformance/streams.test.mjs

import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, admin, publish, connectWs, fetchT, liveUrlOf } from '../lib/servers.mjs';
import { forEachServer, poll, post, jsonOf, assertJsonError, rawUpgrade } from './matrix.mjs';

const MEMBER = { Cookie: 'user=ok' };

/** A WebSocket client on a stream that reads every msg into `got`, answering pings. */
async function watcher(url, stream) {
    const ws = await connectWs(liveUrlOf(url, stream), { cursor: '0', autoPong: true });
    assert.equal((await ws.next()).type, 'hello');
    return ws;
}
const msgs = (ws) => ws.frames.filter((f) => f.type === 'msg');

forEachServer(
    'streams, hooks, origins',
    (t) => {
        const { row, check, wsTest } = t;

        // ------------------------------------------------------------ stream names

        check('"/live/" is v2\'s poll of many streams (a GET naming none: 400 bad_request), not a stream: an upgrade there is 404 not_found', async () => {
            assertJsonError(await jsonOf(await fetchT(t.url + '/live/')), 400, 'bad_request');
            if (row.ws) assert.equal((await rawUpgrade(t.url, '/live/')).status, 404);
        });

        for (const path of ['/live', '/live/a/b', '/live/bad%20name', '/live/bad name', `/live/${'x'.repeat(201)}`, '/live/a?b']) {
            check(`${JSON.stringify(path.length > 40 ? path.slice(0, 12) + '…(201)' : path)} is not a stream: 404 not_found, for an upgrade too`, async () => {
                const target = path === '/live/bad name' ? '/live/bad%20name' : path === '/live/a?b' ? '/live/a/?b' : path;
                const r = await jsonOf(await fetchT(t.url + target));
                assertJsonError(r, 404, 'not_found');
                if (row.ws) assert.equal((await rawUpgrade(t.url, target)).status, 404);
            });
        }

        check('a 200-character name and every allowed character make a stream; streams are independent', async () => {
            const long = 'A'.repeat(200);
            const odd = 'a-Z_0.9:x';
            const c1 = await publish(t.url, 'long', long);
            const c2 = await publish(t.url, 'odd', odd);
            assert.deepEqual((await poll(t.url, { cursor: '0' }, {}, 10000, long)).body.messages, [{ cursor: c1, data: 'long' }]);
            assert.deepEqual((await poll(t.url, { cursor: '0' }, {}, 10000, odd)).body.messages, [{ cursor: c2, data: 'odd' }]);
            assert.equal((await poll(t.url, { cursor: '0' }, {}, 10000, 'never-published')).status, 204);
        });

        wsTest('a message reaches the sockets of its own stream only', async () => {
            const a = await watcher(t.url, 'room-a');
            const b = await watcher(t.url, 'room-b');
            try {
                const c = await publish(t.url, 'for a', 'room-a');
                assert.deepEqual(await a.nextOfType('msg'), { type: 'msg', cursor: c, data: 'for a' });
                await b.silentFor(300); // every frame is recorded in b.frames
                assert.equal(msgs(b).length, 0, 'room-b saw nothing');
            } finally {
                await a.close();
                await b.close();
            }
        });

        // ------------------------------------------------------------ authorize

        check('authorize refuses a poll and a long poll with 403 forbidden (not held); a member reads', async () => {
            assertJsonError(await poll(t.url, {}, {}, 10000, 'private-x'), 403, 'forbidden');
            const lp = await poll(t.url, { cursor: '0', wait: '3000' }, {}, 10000, 'private-x');
            assertJsonError(lp, 403, 'forbidden');
            assert.ok(lp.ms < 2500, 'a refused long poll is not held');
            const c = await publish(t.url, 'secret', 'private-x');
            const ok = await poll(t.url, { cursor: '0' }, { headers: MEMBER }, 10000, 'private-x');
            assert.deepEqual(ok.body.messages, [{ cursor: c, data: 'secret' }]);
            const viaHeader = await poll(t.url, { cursor: '0' }, { headers: { 'X-User': 'ok' } }, 10000, 'private-x');
            assert.equal(viaHeader.status, 200);
        });

        wsTest('authorize refuses an upgrade with an error frame forbidden and close 1008; a member gets hello', async () => {
            const ws = await connectWs(liveUrlOf(t.url, 'private-x'));
            const f = await ws.next();
            assert.equal(f.type, 'error');
            assert.equal(f.code, 'forbidden');
            assert.equal(typeof f.message, 'string');
            assert.equal((await ws.waitClose()).code, 1008);
            assert.ok(!ws.frames.some((x) => x.type === 'hello' || x.type === 'msg'));
            const ok = await connectWs(liveUrlOf(t.url, 'private-x'), { headers: MEMBER });
            try {
                assert.equal((await ok.next()).type, 'hello');
            } finally {
                await ok.close();
            }
        });

        check('authorize refuses a POST send with 403 forbidden and nothing is published', async () => {
            const h = (await poll(t.url, {}, { headers: MEMBER }, 10000, 'private-x')).body.cursor;
            assertJsonError(await jsonOf(await post(t.url, { id: 1, data: 'no' }, { stream: 'private-x' })), 403, 'forbidden');
            assertJsonError(await jsonOf(await post(t.url, { id: 2, data: 'no' }, { stream: 'members-x' })), 403, 'forbidden');
            const ok = await jsonOf(await post(t.url, { id: 3, data: 'yes' }, { stream: 'private-x', headers: MEMBER }));
            assert.deepEqual([ok.status, ok.body], [200, { ack: 3 }]);
            const r = await poll(t.url, { cursor: h }, { headers: MEMBER }, 10000, 'private-x');
            assert.deepEqual(
                r.body.messages.map((m) => m.data),
                ['yes'],
            );
        });

        wsTest('authorize refuses a WebSocket send with a rejecting ack; the socket stays open', async () => {
            const ws = await watcher(t.url, 'members-x');
            try {
                ws.send({ type: 'send', id: 5, data: 'no' });
                const ack = await ws.nextOfType('ack');
                assert.equal(ack.id, 5);
                assert.equal(ack.error, 'forbidden');
                assert.equal(typeof ack.message, 'string');
                ws.send({ type: 'ping' });
                assert.deepEqual(await ws.nextOfType('pong'), { type: 'pong' });
                assert.equal(msgs(ws).length, 0, 'nothing published');
            } finally {
                await ws.close();
            }
        });

        check('an authorize hook that throws: 500 internal, and the server goes on', async () => {
            assertJsonError(await poll(t.url, {}, {}, 10000, 'throw-x'), 500, 'internal');
            assert.equal((await poll(t.url)).status, 200);
        });

        wsTest('an authorize hook that throws on upgrade: error frame internal, close 1011', async () => {
            const ws = await connectWs(liveUrlOf(t.url, 'throw-x'));
            const f = await ws.next();
            assert.deepEqual([f.type, f.code], ['error', 'internal']);
            assert.equal((await ws.waitClose()).code, 1011);
        });

        // ------------------------------------------------------------ onSend

        check('onSend accepts (the layer publishes) and rejects: POST 403 {"error":"read_only"}', async () => {
            const r = await jsonOf(await post(t.url, { id: 1, data: 'x' }, { stream: 'readonly-x' }));
            assertJsonError(r, 403, 'read_only');
            assert.equal((await poll(t.url, { cursor: '0' }, {}, 10000, 'readonly-x')).status, 204, 'nothing published');
            const ok = await jsonOf(await post(t.url, { id: 2, data: 'fine' }, { stream: 'open-x' }));
            assert.deepEqual([ok.status, ok.body], [200, { ack: 2 }]);
            assert.deepEqual(
                (await poll(t.url, { cursor: '0' }, {}, 10000, 'open-x')).body.messages.map((m) => m.data),
                ['fine'],
            );
        });

        wsTest('onSend rejects a WebSocket send: ack with error read_only; acks the next good one', async () => {
            const ws = await watcher(t.url, 'readonly-x');
            try {
                ws.send({ type: 'send', id: 1, data: 'x' });
                const ack = await ws.nextOfType('ack');
                assert.deepEqual([ack.id, ack.error, typeof ack.message], [1, 'read_only', 'string']);
                ws.send({ type: 'ping' });
                assert.deepEqual(await ws.nextOfType('pong'), { type: 'pong' });
            } finally {
                await ws.close();
            }
        });

        check('sends switched off: POST 405 sends_disabled', async () => {
            await admin(t.url, '/admin/config', { sends: false });
            assertJsonError(await jsonOf(await post(t.url, { id: 1, data: 1 })), 405, 'sends_disabled');
        });

        wsTest('sends switched off: WebSocket ack with error sends_disabled', async () => {
            await admin(t.url, '/admin/config', { sends: false });
            const ws = await watcher(t.url, 'test');
            try {
                ws.send({ type: 'send', id: 9, data: 1 });
                const ack = await ws.nextOfType('ack');
                assert.deepEqual([ack.id, ack.error], [9, 'sends_disabled']);
            } finally {
                await ws.close();
            }
        });

        check('no onSend registered (--no-sends): POST 405 sends_disabled, WebSocket ack sends_disabled', async () => {
            const s2 = await startServer(row.kind, [...row.args, ...(t.sideArgs ?? []), '--no-sends']);
            try {
                assertJsonError(await jsonOf(await post(s2.url, { id: 1, data: 1 })), 405, 'sends_disabled');
                if (row.ws) {
                    const ws = await watcher(s2.url, 'test');
                    try {
                        ws.send({ type: 'send', id: 4, data: 1 });
                        const ack = await ws.nextOfType('ack');
                        assert.deepEqual([ack.id, ack.error], [4, 'sends_disabled']);
                    } finally {
                        await ws.close();
                    }
                }
            } finally {
                await s2.stop();
            }
        });

        // ------------------------------------------------------------ origins

        wsTest('a cross-origin upgrade is refused 403 by default; the own origin and no Origin are accepted', async () => {
            const refused = await rawUpgrade(t.url, '/live/test', { Origin: 'http://evil.test' });
            assert.equal(refused.status, 403);
            assert.equal((await rawUpgrade(t.url, '/live/test', { Origin: new URL(t.url).origin })).status, 101);
            assert.equal((await rawUpgrade(t.url, '/live/test')).status, 101);
        });

        check('a cross-origin POST is refused 403 forbidden_origin by default', async () => {
            const r = await jsonOf(await post(t.url, { id: 1, data: 1 }, { headers: { Origin: 'http://evil.test' } }));
            assertJsonError(r, 403, 'forbidden_origin');
        });

        check('a listed origin may upgrade and POST; others still may not', async () => {
            const s2 = await startServer(row.kind, [...row.args, ...(t.sideArgs ?? []), '--origins', 'http://good.test']);
            try {
                if (row.ws) {
                    assert.equal((await rawUpgrade(s2.url, '/live/test', { Origin: 'http://good.test' })).status, 101);
                    assert.equal((await rawUpgrade(s2.url, '/live/test', { Origin: 'http://evil.test' })).status, 403);
                }
                const ok = await jsonOf(await post(s2.url, { id: 1, data: 1 }, { headers: { Origin: 'http://good.test' } }));
                assert.deepEqual([ok.status, ok.body], [200, { ack: 1 }]);
                assertJsonError(await jsonOf(await post(s2.url, { id: 2, data: 1 }, { headers: { Origin: 'http://evil.test' } })), 403, 'forbidden_origin');
            } finally {
                await s2.stop();
            }
        });

        // ------------------------------------------------------------ publish from elsewhere

        check("a publish from the server's own timer wakes a waiting long poll", async () => {
            const h = await t.head('ticker');
            const r = await poll(t.url, { cursor: h, wait: '10000' }, {}, 15000, 'ticker');
            assert.equal(r.status, 200, r.text);
            assert.equal(r.body.messages[0].data.kind, 'tick');
        });

        wsTest("a publish from the server's own timer reaches a waiting WebSocket", async () => {
            const ws = await connectWs(liveUrlOf(t.url, 'ticker'), { autoPong: true });
            try {
                assert.equal((await ws.next()).type, 'hello');
                const m = await ws.nextOfType('msg', 10000);
                assert.equal(m.data.kind, 'tick');
            } finally {
                await ws.close();
            }
        });

        check('a publish through another request (the admin API) wakes long polls on that stream only', async () => {
            const [ha, hb] = [await t.head('lp-a'), await t.head('lp-b')];
            const a = poll(t.url, { cursor: ha, wait: '8000' }, {}, 15000, 'lp-a');
            const b = poll(t.url, { cursor: hb, wait: '1500' }, {}, 15000, 'lp-b');
            await new Promise((r) => setTimeout(r, 300));
            const c = await publish(t.url, 'A', 'lp-a');
            assert.deepEqual((await a).body.messages, [{ cursor: c, data: 'A' }]);
            assert.equal((await b).status, 204);
        });

        // ------------------------------------------------------------ bad input, nothing lost

        check('bad input gets a clear status and loses nothing for the other clients', async () => {
            const ws = row.ws ? await watcher(t.url, 'test') : null;
            const before = await t.head();
            const sent = [];
            try {
                const say = async (d) => sent.push(await publish(t.url, d));
                await say(1);
                assertJsonError(await jsonOf(await post(t.url, 'not json at all')), 400, 'bad_request');
                await say(2);
                assertJsonError(await jsonOf(await post(t.url, JSON.stringify({ id: 1, data: 'x'.repeat(70 * 1024) }))), 413);
                await say(3);
                for (const cursor of ['nope', '1-2-3', '99999999999999999999999']) assertJsonError(await poll(t.url, { cursor }), 400, 'bad_request');
                assertJsonError(await poll(t.url, {}, {}, 10000, 'bad stream'), 404, 'not_found');
                await say(4);
                // A client that holds a long poll and vanishes.
                const u = new URL(liveUrlOf(t.url));
                const sock = net.connect(u.port, u.hostname);
                await new Promise((r) => sock.once('connect', r));
                sock.write(`GET ${u.pathname}?cursor=${sent.at(-1)}&wait=20000 HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
                await new Promise((r) => setTimeout(r, 200));
                sock.destroy();
                await say(5);
                if (row.ws) {
                    const bad = await connectWs(t.url, { cursor: 'garbage' });
                    const f = await bad.next();
                    assert.deepEqual([f.type, f.code], ['error', 'bad_request']);
                    assert.equal((await bad.waitClose()).code, 1008);
                    const big = await watcher(t.url, 'test');
                    big.sendRaw(JSON.stringify({ type: 'send', id: 1, data: 'x'.repeat(70 * 1024) }));
                    assert.equal((await big.waitClose()).code, 1009);
                }
                await say(6);
                const r = await poll(t.url, { cursor: before });
                assert.deepEqual(
                    r.body.messages.map((m) => m.data),
                    [1, 2, 3, 4, 5, 6],
                    'a poll sees everything once, in order',
                );
                if (ws) {
                    const deadline = Date.now() + 5000;
                    while (msgs(ws).length < 6 && Date.now() < deadline) await ws.silentFor(100);
                    assert.deepEqual(
                        msgs(ws).map((m) => m.data),
                        [1, 2, 3, 4, 5, 6],
                        'a socket sees everything once, in order',
                    );
                    assert.deepEqual(
                        msgs(ws).map((m) => m.cursor),
                        sent,
                    );
                }
            } finally {
                await ws?.close();
            }
        });
    },
    { extraArgs: ['--auth-test', '--tick', '300'] },
);

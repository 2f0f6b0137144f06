// Wire protocol v1 conformance (docs/protocol.md), one suite run against every
// server kind and run mode of matrix.mjs. Each server is started once per suite; every test
// begins from a restarted log, default config and no fault, and every wait is bounded.
// Requests go to the admin API's default stream, /live/test.
//
//   node --test tests/conformance/
//   LIFELINE_SERVERS=node node --test tests/conformance/     # some rows only

import { describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin, publish, connectWs, fetchT, until, SUBPROTOCOL, liveUrlOf } from '../lib/servers.mjs';
import { forEachServer, poll, post, jsonOf, assertJsonError, EXPOSED, CURSOR_RE } from './matrix.mjs';

// ---- cursor arithmetic (tests only) ----
function pair(c) {
    const [a, b = '0'] = c.split('-');
    return [BigInt(a), BigInt(b)];
}
function cmp(a, b) {
    const [x, y] = [pair(a), pair(b)];
    return x[0] !== y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] !== y[1] ? (x[1] < y[1] ? -1 : 1) : 0;
}
function bump(c, n) {
    const [a, b] = pair(c);
    return `${a}-${b + BigInt(n)}`;
}

forEachServer('wire protocol v1', (t) => {
    const { row, check, wsTest } = t;
    const kind = row.kind;
    let url;
    const head = () => t.head();
    before(() => (url = t.url));

    // ------------------------------------------------------------ polling: cursors

    describe('poll', () => {
        check('without a cursor: 200, the current cursor, no messages, ETag and poll headers', async () => {
            const c1 = await publish(url, 'before');
            const r = await poll(url);
            assert.equal(r.status, 200);
            assert.match(r.headers.get('content-type') ?? '', /application\/json/);
            assert.equal(r.body.cursor, c1);
            assert.deepEqual(r.body.messages, []);
            assert.equal(r.headers.get('etag'), `"${c1}"`);
            assert.match(r.headers.get('cache-control') ?? '', /no-store/);
            assert.equal(r.headers.get('lifeline-long-poll'), '25000');
        });

        check('cursors are <u64> or <u64>-<u64>, increasing', async () => {
            const a = await publish(url, 1);
            const b = await publish(url, 2);
            assert.match(a, CURSOR_RE);
            assert.match(b, CURSOR_RE);
            assert.equal(cmp(a, b), -1);
        });

        check('cursor=0: every retained message in order, ETag is the last cursor', async () => {
            const cs = [];
            for (const d of [{ a: 1 }, 'two', 3, null, [5]]) cs.push(await publish(url, d));
            const r = await poll(url, { cursor: '0' });
            assert.equal(r.status, 200);
            assert.deepEqual(r.body.messages, [
                { cursor: cs[0], data: { a: 1 } },
                { cursor: cs[1], data: 'two' },
                { cursor: cs[2], data: 3 },
                { cursor: cs[3], data: null },
                { cursor: cs[4], data: [5] },
            ]);
            assert.equal(r.body.cursor, cs[4]);
            assert.equal(r.headers.get('etag'), `"${cs[4]}"`);
            assert.match(r.headers.get('cache-control') ?? '', /no-store/);
        });

        check('resume: only messages after the cursor', async () => {
            const c1 = await publish(url, 1);
            const c2 = await publish(url, 2);
            const c3 = await publish(url, 3);
            const r = await poll(url, { cursor: c1 });
            assert.equal(r.status, 200);
            assert.deepEqual(
                r.body.messages.map((m) => m.cursor),
                [c2, c3],
            );
            assert.deepEqual(
                r.body.messages.map((m) => m.data),
                [2, 3],
            );
        });

        check('from now: a poll without a cursor sees only later messages', async () => {
            await publish(url, 'old');
            const c = (await poll(url)).body.cursor;
            const c2 = await publish(url, 'new');
            const r = await poll(url, { cursor: c });
            assert.deepEqual(r.body.messages, [{ cursor: c2, data: 'new' }]);
        });

        check('204 with an empty body when nothing is new', async () => {
            const c = await publish(url, 1);
            const r = await poll(url, { cursor: c });
            assert.equal(r.status, 204);
            assert.equal(r.text, '');
            assert.match(r.headers.get('cache-control') ?? '', /no-store/);
            assert.equal(r.headers.get('lifeline-long-poll'), '25000');
        });

        check('cursor=0 on an empty log is 204', async () => {
            const r = await poll(url, { cursor: '0' });
            assert.equal(r.status, 204);
        });

        check('If-None-Match: 304 when it names the head, messages otherwise', async () => {
            const c1 = await publish(url, 1);
            const r1 = await poll(url, {}, { headers: { 'If-None-Match': `"${c1}"` } });
            assert.equal(r1.status, 304);
            assert.equal(r1.text, '');
            const c2 = await publish(url, 2);
            const r2 = await poll(url, {}, { headers: { 'If-None-Match': `"${c1}"` } });
            assert.equal(r2.status, 200);
            assert.deepEqual(r2.body.messages, [{ cursor: c2, data: 2 }]);
            assert.equal(r2.headers.get('etag'), `"${c2}"`);
        });

        check('a batch may be capped: the cursor is the last delivered message', async () => {
            await admin(url, '/admin/config', { batch: 2 });
            const cs = [];
            for (let i = 0; i < 5; i++) cs.push(await publish(url, i));
            const r1 = await poll(url, { cursor: '0' });
            assert.deepEqual(
                r1.body.messages.map((m) => m.cursor),
                cs.slice(0, 2),
            );
            assert.equal(r1.body.cursor, cs[1]);
            assert.equal(r1.headers.get('etag'), `"${cs[1]}"`);
            const r2 = await poll(url, { cursor: r1.body.cursor });
            assert.deepEqual(
                r2.body.messages.map((m) => m.cursor),
                cs.slice(2, 4),
            );
            const r3 = await poll(url, { cursor: r2.body.cursor });
            assert.deepEqual(
                r3.body.messages.map((m) => m.cursor),
                cs.slice(4),
            );
            assert.equal((await poll(url, { cursor: r3.body.cursor })).status, 204);
        });

        check('other query parameters are ignored', async () => {
            const c1 = await publish(url, 1);
            const c2 = await publish(url, 2);
            const r = await poll(url, { cursor: c1, t: '123', foo: 'bar' });
            assert.equal(r.status, 200);
            assert.deepEqual(
                r.body.messages.map((m) => m.cursor),
                [c2],
            );
        });
    });

    // ------------------------------------------------------------ resets

    describe('reset', () => {
        check('410 when the cursor fell out of retention; oldest−1 still resumes; 0 gets what is left', async () => {
            await admin(url, '/admin/config', { retention: 3 });
            const cs = [];
            for (let i = 1; i <= 6; i++) cs.push(await publish(url, i));
            const gone = await poll(url, { cursor: cs[1] });
            assert.equal(gone.status, 410, gone.text);
            assert.deepEqual(gone.body, { type: 'reset', cursor: cs[5] });
            assert.match(gone.headers.get('cache-control') ?? '', /no-store/);
            const edge = await poll(url, { cursor: cs[2] }); // oldest retained (cs[3]) minus one
            assert.equal(edge.status, 200);
            assert.deepEqual(
                edge.body.messages.map((m) => m.data),
                [4, 5, 6],
            );
            const all = await poll(url, { cursor: '0' });
            assert.equal(all.status, 200);
            assert.deepEqual(
                all.body.messages.map((m) => m.data),
                [4, 5, 6],
            );
        });

        check('410 when the cursor is ahead of the head', async () => {
            const c = await publish(url, 1);
            const r = await poll(url, { cursor: bump(c, 1000) });
            assert.equal(r.status, 410);
            assert.deepEqual(r.body, { type: 'reset', cursor: c });
        });

        check('410 for a cursor of another boot (restart), then resuming from the new cursor works', async () => {
            const old = await publish(url, 'before restart');
            await admin(url, '/admin/restart', {});
            const h = await head();
            assert.notEqual(h, old);
            const r = await poll(url, { cursor: old });
            assert.equal(r.status, 410);
            assert.equal(r.body.type, 'reset');
            assert.equal(r.body.cursor, h);
            const c = await publish(url, 'after restart');
            const r2 = await poll(url, { cursor: r.body.cursor });
            assert.deepEqual(r2.body.messages, [{ cursor: c, data: 'after restart' }]);
        });

        check('the largest valid cursor is a reset, not an error', async () => {
            const r = await poll(url, { cursor: '18446744073709551615-18446744073709551615' });
            assert.equal(r.status, 410);
        });
    });

    // ------------------------------------------------------------ long poll

    describe('long poll', () => {
        check('is held, then answered as soon as a message exists', async () => {
            const c = await head();
            const p = poll(url, { cursor: c, wait: '5000' });
            await new Promise((r) => setTimeout(r, 250));
            const c2 = await publish(url, 'wake');
            const r = await p;
            assert.equal(r.status, 200);
            assert.deepEqual(r.body.messages, [{ cursor: c2, data: 'wake' }]);
            assert.ok(r.ms >= 200, `held (${r.ms} ms)`);
            assert.ok(r.ms < 4000, `answered at once (${r.ms} ms)`);
            assert.equal(r.headers.get('lifeline-long-poll'), '25000');
            assert.equal(r.headers.get('etag'), `"${c2}"`);
        });

        check('answers at once when messages already exist', async () => {
            const c = await head();
            await publish(url, 1);
            const r = await poll(url, { cursor: c, wait: '5000' });
            assert.equal(r.status, 200);
            assert.ok(r.ms < 2000, `${r.ms} ms`);
        });

        check('honours wait: 204 after about that long', async () => {
            const c = await head();
            const r = await poll(url, { cursor: c, wait: '400' });
            assert.equal(r.status, 204);
            assert.ok(r.ms >= 300 && r.ms < 3000, `${r.ms} ms`);
        });

        check('is capped by the server maximum, announced in Lifeline-Long-Poll', async () => {
            await admin(url, '/admin/config', { longPollMax: 300 });
            const c = await head();
            const r = await poll(url, { cursor: c, wait: '20000' });
            assert.equal(r.status, 204);
            assert.ok(r.ms >= 200 && r.ms < 3000, `${r.ms} ms`);
            assert.equal(r.headers.get('lifeline-long-poll'), '300');
        });

        check('a reset is answered at once', async () => {
            const c = await publish(url, 1);
            const r = await poll(url, { cursor: bump(c, 50), wait: '5000' });
            assert.equal(r.status, 410);
            assert.ok(r.ms < 2000);
        });

        check('an aborted long poll is released; the server keeps serving', async () => {
            const c = await head();
            const ac = new AbortController();
            const p = fetchT(`${liveUrlOf(url)}?cursor=${c}&wait=20000`, { signal: ac.signal }).catch((e) => e);
            await new Promise((r) => setTimeout(r, 200));
            ac.abort();
            await p;
            const stats = await admin(url, '/admin/stats');
            if (typeof stats.held === 'number') {
                await until(async () => (await admin(url, '/admin/stats')).held === 0, { timeoutMs: 3000, what: 'held polls released' });
            }
            const c2 = await publish(url, 'x');
            const r = await poll(url, { cursor: c, wait: '3000' });
            assert.deepEqual(r.body.messages, [{ cursor: c2, data: 'x' }]);
        });

        check('restart drops held long polls', async () => {
            const c = await head();
            const p = poll(url, { cursor: c, wait: '20000' }, {}, 8000).then(
                (r) => r,
                (e) => e,
            );
            await new Promise((r) => setTimeout(r, 200));
            const t0 = Date.now();
            await admin(url, '/admin/restart', {});
            const r = await p;
            assert.ok(Date.now() - t0 < 5000, 'ended soon after the restart');
            // Either the connection was dropped, or it was answered with a reset.
            if (!(r instanceof Error)) assert.equal(r.status, 410);
        });
    });

    // ------------------------------------------------------------ response headers

    describe('headers', () => {
        check('by default (no origins listed) a foreign origin gets no ACAO on polls, its POST is refused 403 forbidden_origin', async () => {
            const origin = 'http://example.test';
            const r = await poll(url, {}, { headers: { Origin: origin } });
            assert.equal(r.status, 200);
            assert.equal(r.headers.get('access-control-allow-origin'), null);
            const exposed = (r.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
            for (const h of EXPOSED) assert.ok(exposed.includes(h), `exposes ${h}: ${exposed}`);
            const p = await jsonOf(await post(url, { id: 1, data: 1 }, { headers: { Origin: origin } }));
            assertJsonError(p, 403, 'forbidden_origin');
            const own = new URL(url).origin;
            const same = await jsonOf(await post(url, { id: 2, data: 2 }, { headers: { Origin: own } }));
            assert.deepEqual([same.status, same.body], [200, { ack: 2 }], 'the own origin may send');
        });

        check('an origin list: allowed origins echoed with Vary: Origin on polls, sends and preflights; others get no ACAO', async () => {
            const s2 = await startServer(kind, [...row.args, ...t.sideArgs, '--origins', 'http://a.test,http://b.test']);
            try {
                for (const origin of ['http://a.test', 'http://b.test']) {
                    const r = await poll(s2.url, {}, { headers: { Origin: origin } });
                    assert.equal(r.status, 200);
                    assert.equal(r.headers.get('access-control-allow-origin'), origin);
                    assert.match(r.headers.get('vary') ?? '', /origin/i);
                    const exposed = (r.headers.get('access-control-expose-headers') ?? '').toLowerCase();
                    for (const h of EXPOSED) assert.ok(exposed.includes(h), `exposes ${h}`);
                    const p = await jsonOf(await post(s2.url, { id: 1, data: 1 }, { headers: { Origin: origin } }));
                    assert.deepEqual([p.status, p.body], [200, { ack: 1 }]);
                    assert.equal(p.headers.get('access-control-allow-origin'), origin);
                }
                const bad = await poll(s2.url, {}, { headers: { Origin: 'http://evil.test' } });
                assert.equal(bad.headers.get('access-control-allow-origin'), null);
                const res = await fetchT(liveUrlOf(s2.url), {
                    method: 'OPTIONS',
                    headers: { Origin: 'http://a.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
                });
                await res.text();
                assert.ok(res.status === 204 || res.status === 200, `status ${res.status}`);
                assert.equal(res.headers.get('access-control-allow-origin'), 'http://a.test');
                const methods = (res.headers.get('access-control-allow-methods') ?? '').toUpperCase();
                assert.match(methods, /GET/);
                assert.match(methods, /POST/);
                assert.match((res.headers.get('access-control-allow-headers') ?? '').toLowerCase(), /content-type/);
            } finally {
                await s2.stop();
            }
        });

        check("origins '*': every origin gets Access-Control-Allow-Origin: *", async () => {
            const s2 = await startServer(kind, [...row.args, ...t.sideArgs, '--origins', '*']);
            try {
                const r = await poll(s2.url, {}, { headers: { Origin: 'http://any.test' } });
                assert.equal(r.headers.get('access-control-allow-origin'), '*');
                const p = await jsonOf(await post(s2.url, { id: 1, data: 1 }, { headers: { Origin: 'http://any.test' } }));
                assert.deepEqual([p.status, p.body], [200, { ack: 1 }]);
            } finally {
                await s2.stop();
            }
        });

        check('Lifeline-Interval when configured, on every poll answer; absent otherwise', async () => {
            const c = await head();
            assert.equal((await poll(url, { cursor: c })).headers.get('lifeline-interval'), null);
            await admin(url, '/admin/config', { interval: 1234 });
            const r204 = await poll(url, { cursor: c });
            assert.equal(r204.status, 204);
            assert.equal(r204.headers.get('lifeline-interval'), '1234');
            await publish(url, 1);
            const r200 = await poll(url, { cursor: c });
            assert.equal(r200.status, 200);
            assert.equal(r200.headers.get('lifeline-interval'), '1234');
        });

        for (const status of [429, 503]) {
            check(`shedding: ${status} with Retry-After on polls (long polls too), JSON error`, async () => {
                await admin(url, '/admin/config', { shed: { status, retryAfter: '2' } });
                const r = await poll(url, { cursor: '0' });
                assertJsonError(r, status);
                assert.equal(r.headers.get('retry-after'), '2');
                const lp = await poll(url, { cursor: '0', wait: '1000' });
                assert.equal(lp.status, status);
                assert.ok(lp.ms < 900, 'a shed long poll is not held');
                // A shed POST is either shed the same way or accepted; never anything else.
                const p = await jsonOf(await post(url, { id: 1, data: 1 }));
                if (p.status === status) assert.equal(p.headers.get('retry-after'), '2');
                else assert.deepEqual([p.status, p.body], [200, { ack: 1 }]);
                await admin(url, '/admin/config', { shed: null });
                assert.equal((await poll(url)).status, 200);
            });
        }

        check('Retry-After may be an HTTP date', async () => {
            const date = new Date(Date.now() + 5000).toUTCString();
            await admin(url, '/admin/config', { shed: { status: 503, retryAfter: date } });
            const r = await poll(url);
            assert.equal(r.status, 503);
            assert.equal(r.headers.get('retry-after'), date);
        });
    });

    // ------------------------------------------------------------ bad requests

    describe('bad requests', () => {
        for (const cursor of ['abc', '1-2-3', '-1', '1-', '1.5', '18446744073709551616', '1-18446744073709551616', ' 1']) {
            check(`cursor=${JSON.stringify(cursor)} is 400 bad_request`, async () => {
                const r = await poll(url, { cursor });
                assertJsonError(r, 400);
                assert.equal(r.body.error, 'bad_request');
            });
        }
        for (const wait of ['abc', '-5', '1.5']) {
            check(`wait=${JSON.stringify(wait)} is 400 bad_request`, async () => {
                const r = await poll(url, { cursor: '0', wait });
                assertJsonError(r, 400);
                assert.equal(r.body.error, 'bad_request');
            });
        }
    });

    // ------------------------------------------------------------ POST sends

    describe('POST send', () => {
        check('text/plain {"id","data"} → 200 {"ack":id}; the data becomes a message', async () => {
            const c = await head();
            const res = await post(url, { id: 42, data: { hello: 'world' } });
            const r = await jsonOf(res);
            assert.equal(r.status, 200);
            assert.deepEqual(r.body, { ack: 42 });
            const p = await poll(url, { cursor: c });
            assert.deepEqual(
                p.body.messages.map((m) => m.data),
                [{ hello: 'world' }],
            );
        });

        check('any content type is accepted', async () => {
            const r = await jsonOf(await post(url, { id: 1, data: 'x' }, { contentType: 'application/json' }));
            assert.deepEqual(r.body, { ack: 1 });
        });

        check('malformed JSON → 400', async () => {
            const r = await jsonOf(await post(url, '{"id": 1, "data": '));
            assertJsonError(r, 400);
        });

        check('missing id → 400', async () => {
            const r = await jsonOf(await post(url, { data: 1 }));
            assertJsonError(r, 400);
            const r2 = await jsonOf(await post(url, '[1,2]'));
            assertJsonError(r2, 400);
        });

        check('a body over 64 KiB → 413', async () => {
            const big = JSON.stringify({ id: 1, data: 'x'.repeat(70 * 1024) });
            const r = await jsonOf(await post(url, big));
            assertJsonError(r, 413);
        });

        for (const method of ['PUT', 'DELETE', 'PATCH']) {
            check(`${method} → 405 with Allow`, async () => {
                const r = await jsonOf(await post(url, { id: 1 }, { method }));
                assertJsonError(r, 405);
                const allow = (r.headers.get('allow') ?? '').toUpperCase();
                assert.match(allow, /GET/);
                assert.match(allow, /POST/);
            });
        }
    });

    // ------------------------------------------------------------ WebSocket

    describe('WebSocket', () => {
        wsTest(`answers the ${SUBPROTOCOL} subprotocol; hello first with the current cursor and heartbeat`, async () => {
            const c = await publish(url, 1);
            const ws = await connectWs(url);
            try {
                assert.equal(ws.protocol, SUBPROTOCOL);
                const { type, cursor, heartbeat, server } = await ws.next();
                assert.deepEqual({ type, cursor, heartbeat }, { type: 'hello', cursor: c, heartbeat: 25000 });
                assert.equal(typeof server, 'string', 'the test layer names itself in hello');
            } finally {
                await ws.close();
            }
        });

        wsTest('cursor=0: hello, the backlog in order, then live messages', async () => {
            const cs = [await publish(url, 'a'), await publish(url, 'b')];
            const ws = await connectWs(url, { cursor: '0' });
            try {
                const hello = await ws.next();
                assert.equal(hello.type, 'hello');
                assert.equal(hello.cursor, cs[1]);
                assert.deepEqual(await ws.next(), { type: 'msg', cursor: cs[0], data: 'a' });
                assert.deepEqual(await ws.next(), { type: 'msg', cursor: cs[1], data: 'b' });
                const c3 = await publish(url, { live: true });
                assert.deepEqual(await ws.next(), { type: 'msg', cursor: c3, data: { live: true } });
            } finally {
                await ws.close();
            }
        });

        wsTest('no cursor: from now, only live messages', async () => {
            await publish(url, 'old');
            const ws = await connectWs(url);
            try {
                assert.equal((await ws.next()).type, 'hello');
                const c = await publish(url, 'new');
                assert.deepEqual(await ws.next(), { type: 'msg', cursor: c, data: 'new' });
            } finally {
                await ws.close();
            }
        });

        wsTest('resume: only messages after the cursor', async () => {
            const c1 = await publish(url, 1);
            const c2 = await publish(url, 2);
            const ws = await connectWs(url, { cursor: c1 });
            try {
                assert.equal((await ws.next()).type, 'hello');
                assert.deepEqual(await ws.next(), { type: 'msg', cursor: c2, data: 2 });
                assert.ok((await ws.silentFor(200)).silent);
            } finally {
                await ws.close();
            }
        });

        wsTest('cursor too old: reset frame first, then hello, then live messages only', async () => {
            await admin(url, '/admin/config', { retention: 2 });
            const cs = [];
            for (let i = 1; i <= 5; i++) cs.push(await publish(url, i));
            const ws = await connectWs(url, { cursor: cs[0] });
            try {
                assert.deepEqual(await ws.next(), { type: 'reset', cursor: cs[4] });
                const hello = await ws.next();
                assert.equal(hello.type, 'hello');
                assert.equal(hello.cursor, cs[4]);
                const c6 = await publish(url, 6);
                assert.deepEqual(await ws.next(), { type: 'msg', cursor: c6, data: 6 });
            } finally {
                await ws.close();
            }
        });

        wsTest('restart closes sockets; the old cursor then gets a reset frame', async () => {
            const old = await publish(url, 'x');
            const ws = await connectWs(url, { cursor: old });
            assert.equal((await ws.next()).type, 'hello');
            await admin(url, '/admin/restart', {});
            await ws.waitClose(3000);
            const h = await head();
            const ws2 = await connectWs(url, { cursor: old });
            try {
                assert.deepEqual(await ws2.next(), { type: 'reset', cursor: h });
                assert.equal((await ws2.next()).type, 'hello');
            } finally {
                await ws2.close();
            }
        });

        wsTest('ping → pong at once', async () => {
            const ws = await connectWs(url);
            try {
                await ws.next();
                ws.send({ type: 'ping' });
                assert.deepEqual(await ws.next(1000), { type: 'pong' });
            } finally {
                await ws.close();
            }
        });

        wsTest('the server pings when idle for the heartbeat', async () => {
            await admin(url, '/admin/config', { heartbeat: 300 });
            const ws = await connectWs(url);
            try {
                const hello = await ws.next();
                assert.equal(hello.heartbeat, 300);
                const t0 = Date.now();
                assert.deepEqual(await ws.next(3000), { type: 'ping' });
                assert.ok(Date.now() - t0 >= 150, 'not before the heartbeat');
                ws.send({ type: 'pong' });
                assert.deepEqual(await ws.next(3000), { type: 'ping' }); // and again
            } finally {
                await ws.close();
            }
        });

        wsTest('send → ack, and the data reaches every client as a msg', async () => {
            const a = await connectWs(url);
            const b = await connectWs(url);
            try {
                await a.next();
                await b.next();
                a.send({ type: 'send', id: 7, data: { text: 'hi' } });
                const got = [await a.next(), await a.next()];
                const ack = got.find((f) => f.type === 'ack');
                const msg = got.find((f) => f.type === 'msg');
                assert.deepEqual(ack, { type: 'ack', id: 7 });
                assert.deepEqual(msg.data, { text: 'hi' });
                assert.match(msg.cursor, CURSOR_RE);
                assert.deepEqual(await b.next(), msg);
                const p = await poll(url, { cursor: '0' });
                assert.deepEqual(p.body.messages, [{ cursor: msg.cursor, data: { text: 'hi' } }]);
            } finally {
                await a.close();
                await b.close();
            }
        });

        wsTest('unknown frame types and fields are ignored', async () => {
            const ws = await connectWs(url);
            try {
                await ws.next();
                ws.send({ type: 'future-thing', x: 1 });
                ws.send({ type: 'ping', extra: true });
                assert.deepEqual(await ws.next(1000), { type: 'pong' });
            } finally {
                await ws.close();
            }
        });

        for (const [name, frame] of [
            ['not JSON', 'this is not json'],
            ['a JSON array', '[1,2,3]'],
            ['a send without id', '{"type":"send","data":1}'],
        ]) {
            wsTest(`a malformed frame (${name}) → error bad_frame, then close 1008`, async () => {
                const ws = await connectWs(url);
                await ws.next();
                ws.sendRaw(frame);
                const err = await ws.next(2000);
                assert.equal(err.type, 'error');
                assert.equal(err.code, 'bad_frame');
                assert.equal(typeof err.message, 'string');
                const info = await ws.waitClose(3000);
                assert.equal(info.code, 1008);
            });
        }
    });

    // ------------------------------------------------------------ fault switches

    describe('fault switches', () => {
        wsTest('refuse: the upgrade is answered 403; polls still work', async () => {
            await admin(url, '/admin/fault', { mode: 'refuse' });
            await assert.rejects(connectWs(url, { timeoutMs: 2000 }), (e) => e.status === 403);
            assert.equal((await poll(url)).status, 200);
        });

        wsTest('blackhole: the upgrade is never answered; polls still work', async () => {
            await admin(url, '/admin/fault', { mode: 'blackhole' });
            await assert.rejects(connectWs(url, { timeoutMs: 500 }), (e) => !e.status);
            assert.equal((await poll(url)).status, 200);
        });

        wsTest('stall: hello, then silence — no pong, no ack, no msg, no close', async () => {
            await admin(url, '/admin/fault', { mode: 'stall' });
            const ws = await connectWs(url, { cursor: '0' });
            try {
                assert.equal((await ws.next(2000)).type, 'hello');
                ws.send({ type: 'ping' });
                ws.send({ type: 'send', id: 1, data: 1 });
                await publish(url, 'unseen');
                assert.ok((await ws.silentFor(500)).silent, 'stalled socket stays silent');
                assert.equal(ws.closeInfo, null);
            } finally {
                await ws.close(200);
            }
        });

        wsTest('stall also freezes a socket that is already open', async () => {
            const ws = await connectWs(url);
            try {
                assert.equal((await ws.next()).type, 'hello');
                ws.send({ type: 'ping' });
                assert.deepEqual(await ws.next(), { type: 'pong' });
                await admin(url, '/admin/fault', { mode: 'stall' });
                ws.send({ type: 'ping' });
                await publish(url, 'unseen');
                assert.ok((await ws.silentFor(500)).silent, 'stalled socket stays silent');
                assert.equal(ws.closeInfo, null);
            } finally {
                await ws.close(200);
            }
        });

        wsTest('close: the socket opens, then closes before hello', async () => {
            await admin(url, '/admin/fault', { mode: 'close' });
            const ws = await connectWs(url);
            await ws.waitClose(3000);
            assert.ok(!ws.frames.some((f) => f.type === 'hello'), JSON.stringify(ws.frames));
        });

        wsTest('flap: the socket is closed soon after hello', async () => {
            await admin(url, '/admin/fault', { mode: 'flap', ms: 200 });
            const ws = await connectWs(url);
            assert.equal((await ws.next()).type, 'hello');
            const t0 = Date.now();
            await ws.waitClose(3000);
            assert.ok(Date.now() - t0 < 2500);
        });

        wsTest('none: back to normal after a fault', async () => {
            await admin(url, '/admin/fault', { mode: 'refuse' });
            await assert.rejects(connectWs(url, { timeoutMs: 2000 }));
            await admin(url, '/admin/fault', { mode: 'none' });
            const ws = await connectWs(url);
            assert.equal((await ws.next()).type, 'hello');
            await ws.close();
        });

        check('slow: poll answers are delayed', async () => {
            await admin(url, '/admin/fault', { mode: 'slow', ms: 400 });
            const r = await poll(url);
            assert.equal(r.status, 200);
            assert.ok(r.ms >= 300, `${r.ms} ms`);
            await admin(url, '/admin/fault', { mode: 'none' });
            assert.ok((await poll(url)).ms < 300);
        });
    });

    // ------------------------------------------------------------ admin API

    describe('admin API', () => {
        check('publish answers the new cursor; config answers the current config', async () => {
            const c = await publish(url, 'p');
            assert.equal(await head(), c);
            const cfg = await admin(url, '/admin/config', { interval: 500, batch: 10 });
            assert.equal(cfg.interval, 500);
            assert.equal(cfg.batch, 10);
            assert.equal(cfg.retention, 1000);
        });

        check('stats count requests by kind and status', async () => {
            const before = await admin(url, '/admin/stats');
            const c = await head();
            await poll(url, { cursor: c });
            await poll(url, { cursor: c });
            await jsonOf(await post(url, { id: 1, data: 1 }));
            const s = await admin(url, '/admin/stats');
            assert.ok((s.poll ?? 0) - (before.poll ?? 0) >= 2, JSON.stringify(s));
            assert.ok((s.post ?? 0) - (before.post ?? 0) >= 1);
            assert.ok((s['204'] ?? 0) - (before['204'] ?? 0) >= 1);
        });

        check('restart starts a new log with a new boot', async () => {
            const c = await publish(url, 1);
            await admin(url, '/admin/restart', {});
            const h = await head();
            assert.notEqual(h, c);
            assert.equal((await poll(url, { cursor: '0' })).status, 204);
        });
    });
});

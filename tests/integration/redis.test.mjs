// The Redis store under what Redis really does (server/DESIGN.md "Redis layout"): restarts
// with and without persistence, FLUSHALL, retention, Redis killed and back, several Node
// processes on one Redis, and a constant number of connections. Each case starts its own
// redis-server (tests/lib/services.mjs) and Node servers with --redis, and stops them whatever
// happens. Clients are the real Lifeline (dist build) in Node, or raw requests.
//
//   node --test tests/integration/redis.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin, publish, connectWs, fetchT, liveUrlOf } from '../lib/servers.mjs';
import { startRedis, redisAvailable } from '../lib/services.mjs';
import { createLifeline, RedisStore, StoreUnavailable } from '../../server/node/index.mjs';
import { READ_REUSE_MS } from '../../server/node/stores/redis.mjs';
import { client, waitFor, orderViolation, sleep, FAST } from './helpers.mjs';

const skip = redisAvailable() ? false : 'redis-server not installed';

/** Run body with a Redis and `n` Node servers on it; everything is stopped after. */
async function trial({ aof = false, servers = 1, args = [] } = {}, body) {
    const redis = await startRedis({ aof });
    const started = [];
    const closers = [];
    try {
        for (let i = 0; i < servers; i++)
            started.push(await startServer('node', ['--redis', redis.url, '--name', `node-${i}`, '--heartbeat', '1000', ...args]));
        await body({ redis, servers: started, s: started[0], defer: (f) => closers.push(f) });
    } finally {
        for (const f of closers.reverse())
            await Promise.resolve()
                .then(f)
                .catch(() => {});
        await Promise.allSettled(started.map((s) => s.stop()));
        await redis.stop();
    }
}

const poll = async (url, cursor, stream = 'test') => {
    const u = new URL(liveUrlOf(url, stream));
    if (cursor !== undefined) u.searchParams.set('cursor', cursor);
    const r = await fetchT(u.href);
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
};

describe('Redis store', { skip }, () => {
    it('Redis restarted with persistence (AOF): no reset, nothing lost, the client carries on', async () => {
        await trial({ aof: true }, async ({ redis, s, defer }) => {
            const c1 = await publish(s.url, 'before');
            const { l, rec } = client(s.liveUrl, { ...FAST, cursor: c1 });
            defer(() => l.close());
            await waitFor(
                () => l.state === 'open' && l.transport === 'websocket',
                8000,
                () => rec.dump(),
            );
            await redis.restart();
            await waitFor(async () => (await poll(s.url)).status === 200, 8000, 'polls answer again');
            const r = await poll(s.url, c1);
            assert.equal(r.status, 204, 'the old cursor is still current: same epoch, nothing lost');
            const c2 = await publish(s.url, 'after');
            await waitFor(
                () => rec.messages.some((m) => m.cursor === c2),
                10000,
                () => `message after the restart\n${rec.dump()}`,
            );
            assert.deepEqual(rec.resets, [], rec.dump());
            assert.deepEqual(
                rec.messages.map((m) => m.data),
                ['after'],
            );
            assert.equal(orderViolation(rec), null);
        });
    });

    it('Redis restarted without persistence: exactly one reset, then every new message once', async () => {
        await trial({}, async ({ redis, s, defer }) => {
            const c1 = await publish(s.url, 'before');
            const { l, rec } = client(s.liveUrl, { ...FAST, cursor: c1 });
            defer(() => l.close());
            await waitFor(
                () => l.state === 'open',
                8000,
                () => rec.dump(),
            );
            await redis.restart();
            const r = await (async () => {
                const end = Date.now() + 8000;
                for (;;) {
                    const x = await poll(s.url, c1);
                    if (x.status !== 503 || Date.now() > end) return x;
                    await sleep(100);
                }
            })();
            assert.equal(r.status, 410, 'a cursor of the lost history is a reset');
            assert.equal(r.body.type, 'reset');
            await waitFor(
                () => rec.resets.length >= 1,
                10000,
                () => `the client is told\n${rec.dump()}`,
            );
            const sent = [];
            for (let i = 0; i < 5; i++) sent.push(await publish(s.url, i));
            await waitFor(
                () => sent.every((c) => rec.messages.some((m) => m.cursor === c)),
                10000,
                () => rec.dump(),
            );
            await sleep(300);
            assert.equal(rec.resets.length, 1, `exactly one reset\n${rec.dump()}`);
            assert.deepEqual(
                rec.messages.map((m) => m.data),
                [0, 1, 2, 3, 4],
            );
            assert.equal(orderViolation(rec), null);
        });
    });

    it('FLUSHALL: every cursor issued before is a reset (poll 410, WebSocket reset frame)', async () => {
        await trial({}, async ({ redis, s }) => {
            const c1 = await publish(s.url, 1);
            const c2 = await publish(s.url, 2);
            const ws = await connectWs(s.url, { cursor: c1, autoPong: true });
            assert.equal((await ws.next()).type, 'hello');
            assert.equal((await ws.next()).cursor, c2);
            await redis.cli(['FLUSHALL']);
            const c3 = await publish(s.url, 3);
            assert.notEqual(c3.split('-')[0], c1.split('-')[0], 'a new epoch');
            // The open socket (at c2) reads on, finds its history gone: error overflow, close 1013
            // (the spec's), so that it reconnects and is told reset properly.
            assert.equal((await ws.nextOfType('error', 5000)).code, 'overflow');
            assert.equal((await ws.waitClose(5000)).code, 1013);
            for (const c of [c1, c2]) {
                const r = await poll(s.url, c);
                assert.equal(r.status, 410);
                assert.deepEqual(r.body, { type: 'reset', cursor: c3 });
            }
            const again = await connectWs(s.url, { cursor: c2 });
            try {
                assert.deepEqual(await again.next(), { type: 'reset', cursor: c3 });
                assert.equal((await again.next()).type, 'hello');
            } finally {
                await again.close();
            }
            assert.deepEqual(
                (await poll(s.url, '0')).body.messages.map((m) => m.data),
                [3],
            );
        });
    });

    it('retention: exact — the oldest retained − 1 resumes, one before is a reset', async () => {
        await trial({ args: ['--retention', '3'] }, async ({ s }) => {
            const cs = [];
            for (let i = 1; i <= 6; i++) cs.push(await publish(s.url, i));
            assert.equal((await poll(s.url, cs[1])).status, 410);
            assert.deepEqual(
                (await poll(s.url, cs[2])).body.messages.map((m) => m.data),
                [4, 5, 6],
            );
            assert.deepEqual(
                (await poll(s.url, '0')).body.messages.map((m) => m.data),
                [4, 5, 6],
            );
            assert.deepEqual((await poll(s.url, cs[2])).body.cursor, cs[5]);
        });
    });

    it('a read is answered by Redis once a second while no news of its stream comes; news and its own append ask again at once', async () => {
        const redis = await startRedis();
        const store = new RedisStore({ url: redis.url });
        const other = new RedisStore({ url: redis.url }); // another process on the same Redis
        try {
            await Promise.all([store.ready, other.ready]);
            const a = await store.append('s', '"a"');
            await waitFor(() => store._hears('s'), 5000, 'the subscriber is connected');
            assert.equal(await store.probe(), true); // published after a's news: that news is in
            let calls = 0;
            const run = store._run.bind(store);
            store._run = (name, ...rest) => (name === 'read' && calls++, run(name, ...rest));
            const renewals = await Promise.all([store.read('s', a, 10), store.read('s', a, 10)]);
            await store.read('s', a, 10); // after the first was answered: reused
            assert.equal(await store.head('s'), a);
            assert.equal(await store.head('s'), a);
            assert.equal(calls, 2, 'one call for the read at a, one for the head');
            assert.deepEqual(renewals[0], { messages: [], cursor: a, reset: false });

            const b = await other.append('s', '"b"'); // news reaches this process
            await waitFor(async () => (await store.read('s', a, 10)).cursor === b, 5000, 'the news drops the answer');
            assert.deepEqual(await store.head('s'), b);

            const c = await store.append('s', '"c"'); // its own append: before its news comes
            assert.deepEqual(
                (await store.read('s', b, 10)).messages.map((m) => m.json),
                ['"c"'],
            );

            const before = calls;
            await store.read('s', c, 10);
            await store.read('s', c, 10);
            assert.equal(calls, before + 1);
            await sleep(READ_REUSE_MS + 100);
            await store.read('s', c, 10);
            assert.equal(calls, before + 2, 'asked again after READ_REUSE_MS');
        } finally {
            await Promise.all([store.close(), other.close()]);
            await redis.stop();
        }
    });

    it('retentionMs: messages older than that are gone, exactly', async () => {
        const redis = await startRedis();
        const store = new RedisStore({ url: redis.url, retentionMs: 300 });
        try {
            await store.ready;
            const a = await store.append('s', '"a"');
            await sleep(200);
            const b = await store.append('s', '"b"');
            assert.deepEqual(
                (await store.read('s', '0', 10)).messages.map((m) => m.json),
                ['"a"', '"b"'],
            );
            await sleep(200); // a is ~400 ms old, b ~200 ms
            assert.deepEqual(
                (await store.read('s', '0', 10)).messages.map((m) => m.json),
                ['"b"'],
            );
            assert.equal((await store.read('s', '0-0', 10)).cursor, b);
            assert.deepEqual(await store.read('s', a.replace(/-\d+$/, '-0'), 10), { messages: [], cursor: b, reset: true }, 'before a: a is gone');
            assert.deepEqual(
                (await store.read('s', a, 10)).messages.map((m) => m.cursor),
                [b],
                'after a: b is retained',
            );
            await sleep(350);
            assert.deepEqual(await store.read('s', a, 10), { messages: [], cursor: b, reset: true });
            assert.deepEqual(await store.read('s', b, 10), { messages: [], cursor: b, reset: false });
        } finally {
            await store.close();
            await redis.stop();
        }
    });

    it('Redis killed: polls and held long polls 503 + Retry-After, WebSockets closed 1012, publish refused; all back without restarting the app', async () => {
        await trial({}, async ({ redis, s, defer }) => {
            const ws = await connectWs(s.url, { autoPong: true });
            assert.equal((await ws.next()).type, 'hello');
            const { l, rec } = client(s.liveUrl, { ...FAST });
            defer(() => l.close());
            await waitFor(
                () => l.state === 'open',
                8000,
                () => rec.dump(),
            );
            const h = (await poll(s.url)).body.cursor;
            const held = fetchT(`${liveUrlOf(s.url)}?cursor=${h}&wait=20000`).then((r) => [r.status, r.headers.get('retry-after')]);
            await sleep(200);
            await redis.down({ crash: true });
            assert.equal((await ws.waitClose(5000)).code, 1012);
            assert.deepEqual(await held, [503, '1'], 'a held long poll is answered 503 at once');
            const r = await poll(s.url, '0');
            assert.equal(r.status, 503);
            assert.equal(r.headers.get('retry-after'), '1');
            assert.equal(r.body.error, 'unavailable');
            await assert.rejects(publish(s.url, 'x'), /503/);
            const stats = await admin(s.url, '/admin/stats');
            assert.equal(stats.redisConnections, 0);
            await redis.start();
            await waitFor(async () => (await poll(s.url)).status === 200, 10000, 'polls answer again');
            const c = await publish(s.url, 'back');
            await waitFor(
                () => rec.messages.some((m) => m.cursor === c),
                15000,
                () => `the client gets data again\n${rec.dump()}`,
            );
            const ws2 = await connectWs(s.url, { autoPong: true });
            try {
                assert.equal((await ws2.next()).type, 'hello');
            } finally {
                await ws2.close();
            }
            assert.equal((await admin(s.url, '/admin/stats')).redisConnections, 2);
        });
    });

    it('a process started while Redis is down starts anyway, answers 503, and serves once Redis is up', async () => {
        const redis = await startRedis();
        await redis.down({ crash: true });
        let s;
        try {
            s = await startServer('node', ['--redis', redis.url]);
            const r = await poll(s.url, '0');
            assert.equal(r.status, 503);
            assert.equal(r.headers.get('retry-after'), '1');
            await redis.start();
            await waitFor(async () => (await poll(s.url)).status === 200, 10000, 'polls answer once Redis is up');
            const c = await publish(s.url, 'first');
            assert.deepEqual((await poll(s.url, '0')).body.messages, [{ cursor: c, data: 'first' }]);
        } finally {
            await s?.stop();
            await redis.stop();
        }
    });

    it('the library: publish rejects with StoreUnavailable while Redis is down, works again after', async () => {
        const redis = await startRedis();
        const live = createLifeline({ redis: redis.url });
        try {
            await live.store.ready;
            assert.match(await live.publish('s', 1), /^\d+-1$/);
            await redis.down({ crash: true });
            await assert.rejects(live.publish('s', 2), StoreUnavailable);
            await redis.start();
            await waitFor(() => live.store.connections === 2, 10000, 'reconnected');
            assert.match(await live.publish('s', 3), /^\d+-1$/, 'Redis came back empty: a new history');
        } finally {
            await live.close();
            await redis.stop();
        }
    });

    it('two Node processes on one Redis: a publish to one reaches a WebSocket and a long poll held by the other', async () => {
        await trial({ servers: 2 }, async ({ servers: [a, b] }) => {
            const ws = await connectWs(b.url, { autoPong: true });
            try {
                const hello = await ws.next();
                assert.equal(hello.server, 'node-1');
                const h = (await poll(b.url)).body.cursor;
                const held = fetchT(`${liveUrlOf(b.url)}?cursor=${h}&wait=10000`).then((r) => r.json());
                await sleep(200);
                const c = await publish(a.url, { from: 'a' });
                assert.deepEqual(await ws.nextOfType('msg', 5000), { type: 'msg', cursor: c, data: { from: 'a' } });
                assert.deepEqual((await held).messages, [{ cursor: c, data: { from: 'a' } }]);
            } finally {
                await ws.close();
            }
        });
    });

    it('appends from many processes are atomic and totally ordered', async () => {
        await trial({ servers: 3 }, async ({ servers }) => {
            const N = 60;
            const results = await Promise.all(
                servers.map(async (srv, p) => {
                    const mine = [];
                    for (let i = 0; i < N; i++) mine.push(await publish(srv.url, { p, i }));
                    return mine;
                }),
            );
            const all = results.flat();
            assert.equal(new Set(all).size, 3 * N, 'every cursor unique');
            const log = [];
            let cursor = '0';
            for (;;) {
                const r = await poll(servers[0].url, cursor);
                if (r.status === 204) break;
                log.push(...r.body.messages);
                cursor = r.body.cursor;
            }
            assert.equal(log.length, 3 * N);
            const offsets = log.map((m) => Number(m.cursor.split('-')[1]));
            assert.deepEqual(
                offsets,
                offsets.map((_, i) => i + 1),
                'offsets 1…n without a gap',
            );
            for (let p = 0; p < 3; p++) {
                const seen = log.filter((m) => m.data.p === p);
                assert.deepEqual(
                    seen.map((m) => m.data.i),
                    [...Array(N).keys()],
                    `process ${p} in its order`,
                );
                assert.deepEqual(
                    seen.map((m) => m.cursor),
                    results[p],
                );
            }
        });
    });

    it('connections per process are constant: 2, however many sockets and long polls wait', async () => {
        await trial({}, async ({ redis, s }) => {
            const clients = async () =>
                (await redis.cli(['CLIENT', 'LIST']))
                    .trim()
                    .split('\n')
                    .filter((l) => !/cmd=client/.test(l)).length;
            assert.equal(await clients(), 2);
            assert.equal((await admin(s.url, '/admin/stats')).redisConnections, 2);
            const sockets = [];
            const polls = [];
            try {
                for (let i = 0; i < 20; i++) {
                    const ws = await connectWs(liveUrlOf(s.url, `room-${i % 4}`), { autoPong: true });
                    await ws.next();
                    sockets.push(ws);
                }
                const h = (await poll(s.url)).body.cursor;
                for (let i = 0; i < 20; i++) polls.push(fetchT(`${liveUrlOf(s.url)}?cursor=${h}&wait=8000`).then((r) => r.status));
                await sleep(300);
                assert.equal(await clients(), 2, 'still two');
                const c = await publish(s.url, 'wake', 'room-1');
                for (const ws of sockets.filter((_, i) => i % 4 === 1)) assert.equal((await ws.nextOfType('msg', 5000)).cursor, c);
                await publish(s.url, 'wake all');
                assert.deepEqual(await Promise.all(polls), Array(20).fill(200));
                assert.equal(await clients(), 2);
            } finally {
                await Promise.all(sockets.map((ws) => ws.close()));
            }
        });
    });
});

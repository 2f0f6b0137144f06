// The Node stores in production conditions (issue #21): bounded state (idle streams expire,
// the meta outlives the log, the memory store caps its streams), a failover's READONLY and a
// paused Redis as StoreUnavailable within COMMAND_TIMEOUT_MS, and the probe that finds a
// subscription that no longer delivers. One real redis-server (tests/lib/services.mjs).
//
//   node --test tests/cluster/redis-production.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../../server/node/stores/memory.mjs';
import { RedisStore, COMMAND_TIMEOUT_MS, parseRedisUrl } from '../../server/node/stores/redis.mjs';
import { StoreUnavailable, TooManyStreams } from '../../server/node/errors.mjs';
import { startRedis, redisAvailable } from '../lib/services.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const skip = redisAvailable() ? false : 'redis-server is not installed';

test('memory store: an idle stream keeps its epoch and offset as a tombstone after streamTtl, then goes after 2 × streamTtl', () => {
    let t = 1000;
    const s = new MemoryStore({ now: () => t, streamTtl: 10_000 });
    const c1 = s.append('a', '1');
    const c2 = s.append('a', '2');
    t += 10_001; // idle longer than streamTtl: the log goes, epoch and offset stay
    assert.deepEqual(s.read('a', c2), { messages: [], cursor: c2, reset: false }, 'a caught-up reader stays caught up');
    assert.deepEqual(s.read('a', c1), { messages: [], cursor: c2, reset: true }, 'an older cursor is an exact reset');
    assert.equal(s.health().tombstones, 1);
    assert.equal(s.health().streams, 0);
    const c3 = s.append('a', '3'); // the stream goes on in its epoch
    assert.equal(c3, c2.replace(/-2$/, '-3'));
    assert.deepEqual(
        s.read('a', c2).messages.map((m) => m.json),
        ['3'],
    );
    t += 20_002; // idle twice as long: forgotten, and the store's epoch moves on
    assert.equal(s.streamCount, 0);
    assert.notEqual(s.head('a').split('-')[0], c3.split('-')[0]);
    assert.deepEqual(s.read('a', c3).reset, true, 'a cursor of the forgotten history resets');
});

test('memory store: maxStreams live streams refuse a new one with TooManyStreams (503 too_many_streams); tombstones make room', () => {
    let t = 1000;
    const s = new MemoryStore({ now: () => t, streamTtl: 10_000, maxStreams: 3 });
    for (const n of ['a', 'b', 'c']) s.append(n, '1');
    assert.throws(
        () => s.append('d', '1'),
        (e) => e instanceof TooManyStreams && e instanceof StoreUnavailable && e.code === 'too_many_streams',
    );
    s.append('a', '2'); // an existing stream still takes messages
    t += 10_001; // all three idle: tombstones, which a new stream may push out
    s.append('d', '1');
    assert.equal(s.streamCount, 3);
});

test('memory store: 10,000 stream names, one message each, are gone after 2 × streamTtl', () => {
    let t = 1000;
    const s = new MemoryStore({ now: () => t, streamTtl: 1000, maxStreams: 20_000 });
    for (let i = 0; i < 10_000; i++) s.append(`user-${i}`, '1');
    assert.equal(s.streamCount, 10_000);
    t += 2002;
    s.head('x'); // any call sweeps
    assert.equal(s.streamCount, 0);
});

test('parseRedisUrl: one Redis, Sentinel and Cluster URLs', () => {
    assert.deepEqual(parseRedisUrl('redis://h:1'), { mode: 'single', url: 'redis://h:1' });
    assert.deepEqual(parseRedisUrl('redis-cluster://a:1,b:2'), {
        mode: 'cluster',
        nodes: [
            { host: 'a', port: 1 },
            { host: 'b', port: 2 },
        ],
    });
    assert.deepEqual(parseRedisUrl('redis-sentinel://a:1/mymaster'), { mode: 'sentinel', nodes: [{ host: 'a', port: 1 }], name: 'mymaster' });
    assert.throws(() => parseRedisUrl('redis-sentinel://a:1'));
    assert.throws(() => parseRedisUrl('http://a:1'));
});

test(
    'Redis: every key of a stream has a TTL (log streamTtl, meta twice that); after expiry an old cursor is an exact reset',
    { skip, timeout: 30_000 },
    async () => {
        const redis = await startRedis();
        const store = new RedisStore({ url: redis.url, streamTtl: 400 });
        try {
            await store.ready;
            const c1 = await store.append('s', '"a"');
            const c2 = await store.append('s', '"b"');
            const logTtl = Number(await redis.cli(['pttl', 'lifeline:{s}:log']));
            const metaTtl = Number(await redis.cli(['pttl', 'lifeline:{s}:meta']));
            assert.ok(logTtl > 0 && logTtl <= 400, `log PTTL ${logTtl}`);
            assert.ok(metaTtl > 400 && metaTtl <= 800, `meta PTTL ${metaTtl}`);
            await sleep(500); // the log is gone, the meta is not
            assert.equal((await redis.cli(['exists', 'lifeline:{s}:log'])).trim(), '0');
            assert.deepEqual(await store.read('s', c2), { messages: [], cursor: c2, reset: false }, 'a caught-up reader stays caught up');
            assert.deepEqual(await store.read('s', c1), { messages: [], cursor: c2, reset: true });
            await sleep(400); // the meta is gone too
            assert.equal((await redis.cli(['dbsize'])).trim(), '0');
            assert.equal((await store.read('s', c2)).reset, true, 'a cursor of the expired history resets');
            const c3 = await store.append('s', '"c"');
            assert.notEqual(c3.split('-')[0], c1.split('-')[0], 'a new history, a new epoch');
        } finally {
            await store.close();
            await redis.stop();
        }
    },
);

test(
    "Redis: a read-only replica (a failover's old primary) and a paused Redis are StoreUnavailable, within COMMAND_TIMEOUT_MS",
    { skip, timeout: 40_000 },
    async () => {
        const redis = await startRedis();
        const store = new RedisStore({ url: redis.url });
        try {
            await store.ready;
            const c1 = await store.append('s', '1');
            // READONLY: made a replica of a primary that is not there
            await redis.cli(['replicaof', '127.0.0.1', '1']);
            await assert.rejects(store.append('s', '2'), (e) => e instanceof StoreUnavailable && /READONLY|MASTERDOWN/.test(e.message));
            await redis.cli(['replicaof', 'no', 'one']);
            // promoted again: the stream goes on after a gap (append.lua), which a reader at the
            // last message before it crosses without a reset
            const c3 = await store.append('s', '3');
            assert.match(c3, /-1000000002$/);
            assert.deepEqual(
                (await store.read('s', c1)).messages.map((m) => m.cursor),
                [c3],
            );
            // CLIENT PAUSE: Redis answers nothing for 5 s; a command fails after COMMAND_TIMEOUT_MS
            await redis.cli(['client', 'pause', '5000', 'all']);
            const t0 = Date.now();
            await assert.rejects(store.append('s', '4'), StoreUnavailable);
            const waited = Date.now() - t0;
            assert.ok(waited >= COMMAND_TIMEOUT_MS - 100 && waited < COMMAND_TIMEOUT_MS + 1500, `failed after ${waited} ms`);
            await redis.cli(['client', 'unpause']);
            // the timed-out append may have been applied after all (it was reported as failed)
            const after = await store.append('s', '5');
            assert.match(after, /-100000000[34]$/);
        } finally {
            await store.close();
            await redis.stop();
        }
    },
);

test('Redis: a subscription that no longer delivers is found by the probe, made again, and waiters get their news', { skip, timeout: 40_000 }, async () => {
    const redis = await startRedis();
    const store = new RedisStore({ url: redis.url });
    const other = new RedisStore({ url: redis.url });
    try {
        await Promise.all([store.ready, other.ready]);
        assert.equal(await store.probe(), true, 'a healthy subscription echoes the probe');
        // the silent stall: the subscriber connection is alive, but no longer subscribed
        await store._sub.unsubscribe(store.channel);
        const head = await store.head('s');
        const waiting = store.wait('s', head, 15_000);
        await other.append('s', '"news"'); // its notification is lost
        const t0 = Date.now();
        assert.equal(await waiting, true, 'the waiter is woken');
        const took = Date.now() - t0;
        assert.ok(took < 10_000, `woken after ${took} ms (probe every 5 s, back within 2 s)`);
        let h = await store.health();
        for (const end = Date.now() + 3000; !h.ok && Date.now() < end; h = await store.health()) await sleep(50);
        assert.equal(h.probe.failures, 1);
        assert.equal(h.probe.resubscribes, 1);
        assert.equal(h.ok, true, JSON.stringify(h));
        const again = await store.probe();
        assert.equal(again, true, `delivers again: ${JSON.stringify(await store.health())}`);
    } finally {
        await Promise.all([store.close(), other.close()]);
        await redis.stop();
    }
});

test(
    'Redis: writes lost in a failover (a replica promoted without them) are an exact reset for a reader that saw them, and no reset for one that did not',
    { skip, timeout: 30_000 },
    async () => {
        const primary = await startRedis();
        const replica = await startRedis();
        const onPrimary = new RedisStore({ url: primary.url });
        const onReplica = new RedisStore({ url: replica.url });
        try {
            await replica.cli(['replicaof', '127.0.0.1', String(primary.port)]);
            for (const end = Date.now() + 10_000; !/master_link_status:up/.test(await replica.cli(['info', 'replication']));) {
                assert.ok(Date.now() < end, 'the replica links');
                await sleep(50);
            }
            await Promise.all([onPrimary.ready, onReplica.ready]);
            const c1 = await onPrimary.append('s', '"kept"'); // acknowledged: the replica has it (WAIT)
            await replica.cli(['replicaof', 'no', 'one']); // the failover: the replica is promoted…
            const lost = await onPrimary.append('s', '"lost"'); // …and the old primary takes one more (no replica any more)
            const c3 = await onReplica.append('s', '"after"');
            assert.equal(lost.split('-')[1], '2');
            assert.equal(c3.split('-')[1], String(1 + 1e9 + 1), 'the promoted replica leaves a gap after the last offset it had');
            assert.deepEqual(
                (await onReplica.read('s', c1)).messages.map((m) => m.json),
                ['"after"'],
                'saw nothing lost: reads across the gap',
            );
            assert.deepEqual(
                await onReplica.read('s', lost),
                { messages: [], cursor: c3, reset: true },
                'saw the lost message: an exact reset, not the new message taken for it',
            );
        } finally {
            await Promise.allSettled([onPrimary.close(), onReplica.close()]);
            await Promise.allSettled([primary.stop(), replica.stop()]);
        }
    },
);

// Lifeline on a real Redis Cluster (3 primaries + 3 replicas, tests/lib/services.mjs
// startRedisCluster): both stores append and read through the cluster (every key of a stream
// on one slot: no CROSSSLOT), notifications travel sharded Pub/Sub (SPUBLISH/SSUBSCRIBE on the
// stream's shard), connections stay constant however many streams are waited on, and a
// primary killed under a steady publisher is failed over: every acknowledged message is read
// exactly once, or the reader is told `reset` (an append is acknowledged once a replica has it;
// server/DESIGN.md "Failover") — measured: the time from the kill until
// appends succeed again and until the reader has the first message after it.
//
//   node --test tests/cluster/redis-cluster.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../server/node/stores/redis.mjs';
import { StoreUnavailable } from '../../server/node/errors.mjs';
import { startRedisCluster, startMember, redisAvailable } from '../lib/services.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A store call retried while the cluster settles after a failover (the client may not have
 *  reconnected to the promoted primary yet: StoreUnavailable), for at most 10 s. */
async function retryUnavailable(call) {
    for (const end = Date.now() + 10_000; ;) {
        try {
            return await call();
        } catch (err) {
            if (!(err instanceof StoreUnavailable) || Date.now() > end) throw err;
            await sleep(200);
        }
    }
}
const skip = redisAvailable() ? false : 'redis-server is not installed';

test(
    'Redis Cluster: two Node stores and a Flask process share streams on every shard; sharded notifications; constant connections; a primary killed is failed over within 10 s, 0 acknowledged-then-lost, 0 repeated',
    { skip, timeout: 90_000 },
    async (t) => {
        const cluster = await startRedisCluster();
        const a = new RedisStore({ url: cluster.url });
        const b = new RedisStore({ url: cluster.url });
        let flask = null;
        try {
            await Promise.all([a.ready, b.ready]);
            // streams on every shard: appends on one store, read and woken on the other
            const streams = Array.from({ length: 30 }, (_, i) => `room-${i}`);
            const heads = await Promise.all(streams.map((s) => b.head(s)));
            const woken = streams.map((s, i) => b.wait(s, heads[i], 10_000));
            await sleep(300); // the SSUBSCRIBEs are confirmed (a confirmation wakes for a re-read anyway)
            for (const s of streams) await a.append(s, JSON.stringify(s));
            assert.deepEqual(
                await Promise.all(woken),
                streams.map(() => true),
                'every waiter is woken by its shard',
            );
            for (const [i, s] of streams.entries())
                assert.deepEqual(
                    (await b.read(s, heads[i])).messages.map((m) => JSON.parse(m.json)),
                    [s],
                );

            // connections: constant in the number of streams waited on (one command + one sharded subscriber per primary)
            const before = b.connections;
            const many = Array.from({ length: 300 }, (_, i) => `user-${i}`);
            const offs = many.map((s) => b.subscribe(s, () => {}));
            await sleep(500);
            assert.ok(
                b.connections <= 6,
                `connections ${before} → ${b.connections} with 300 more streams (at most one command and one sharded subscriber connection per primary)`,
            );
            offs.forEach((off) => off());

            // a Flask process on the same cluster: a Node append wakes its long poll
            flask = await startMember('flask', { args: ['--redis', cluster.url] });
            const head = (await (await fetch(`${flask.url}/live/mixed`)).json()).cursor;
            const poll = fetch(`${flask.url}/live/mixed?cursor=${head}&wait=10000`).then((r) => r.json());
            await sleep(300);
            await a.append('mixed', '"from node"');
            const got = await poll;
            assert.deepEqual(
                got.messages.map((m) => m.data),
                ['from node'],
            );
            const fromFlask = await (
                await fetch(`${flask.url}/admin/publish`, {
                    method: 'POST',
                    headers: { 'Content-Type': 'application/json' },
                    body: JSON.stringify({ stream: 'mixed', data: 'from flask' }),
                })
            ).json();
            const r = await a.read('mixed', got.cursor);
            assert.deepEqual(
                r.messages.map((m) => m.cursor),
                [fromFlask.cursor],
            );

            // failover: kill the primary of the stream under a steady publisher
            const stream = 'failover';
            const primary = await cluster.primaryOf(`lifeline:{${stream}}:meta`);
            assert.ok(primary, 'the stream has a primary');
            const acked = [];
            let failed = 0;
            let killedAt = 0;
            let firstAckAfter = 0;
            let stop = false;
            let published = false; // the publisher's last append answered (it may be acknowledged after `stop`)
            const publisher = (async () => {
                for (let n = 0; !stop; n++) {
                    try {
                        const c = await a.append(stream, String(n));
                        acked.push({ n, c });
                        if (killedAt && !firstAckAfter) firstAckAfter = Date.now();
                    } catch {
                        failed++;
                    }
                    await sleep(10);
                }
                published = true;
            })();
            // the reader, on the other store: cursor-following reads, woken by notifications
            const seen = [];
            const seenSet = new Set();
            let resets = 0;
            let firstSeenAfter = 0;
            let cursor = '0-0'; // the stream is new: from its first message
            const trace = []; // what each read answered: {from, to, n: [numbers], reset}
            const reader = (async () => {
                // until the publisher is done and the reader has every acknowledged message
                // (counting is not enough: an append told "failed" may still have been applied,
                // and the reader reads it too; and the append in flight at `stop` may be
                // acknowledged after it)
                while (!published || acked.some((x) => !seenSet.has(x.n))) {
                    try {
                        const res = await b.read(stream, cursor, 500);
                        trace.push({ from: cursor, to: res.cursor, reset: res.reset, n: res.messages.map((m) => [m.cursor, JSON.parse(m.json)]) });
                        if (res.reset) {
                            resets++;
                            cursor = res.cursor;
                            continue;
                        }
                        for (const m of res.messages) {
                            const n = Number(JSON.parse(m.json));
                            seen.push(n);
                            seenSet.add(n);
                            if (killedAt && !firstSeenAfter && acked.some((x) => x.c === m.cursor && x.n >= 0) && Date.now() > firstAckAfter && firstAckAfter)
                                firstSeenAfter = Date.now();
                        }
                        cursor = res.cursor;
                        if (!res.messages.length) await b.wait(stream, cursor, 500);
                    } catch {
                        await sleep(100);
                    }
                    if (stop && Date.now() > stopAt + 15_000) break;
                }
            })();
            let stopAt = Infinity;
            await sleep(1000);
            killedAt = Date.now();
            await primary.kill();
            const end = Date.now() + 20_000;
            while (!firstAckAfter && Date.now() < end) await sleep(50);
            await sleep(1500);
            stop = true;
            stopAt = Date.now();
            await publisher;
            await reader;
            const recovered = firstAckAfter ? firstAckAfter - killedAt : null;
            const ackedNs = acked.map((x) => x.n);
            const lost = ackedNs.filter((n) => !seenSet.has(n)); // by this reader (a reset skips to the head)
            const repeated = seen.length - seenSet.size;
            const inRedis = new Set((await retryUnavailable(() => b.read(stream, '0', 1e6))).messages.map((m) => Number(JSON.parse(m.json))));
            const gone = ackedNs.filter((n) => !inRedis.has(n)); // acknowledged, then not in Redis
            t.diagnostic(
                `cluster failover: appends ok again ${recovered} ms after the primary was killed; ${acked.length} acknowledged, ${failed} failed (told so), ${gone.length} acknowledged-then-lost (not in Redis), ${lost.length} not read by the reader, ${repeated} repeated, ${resets} resets`,
            );
            assert.ok(recovered !== null && recovered < 10_000, `appends resumed after ${recovered} ms`);
            assert.equal(repeated, 0, 'no message read twice');
            assert.deepEqual(gone, [], 'no acknowledged message lost (an append is acknowledged once a replica has it)');
            if (resets === 0 && lost.length) {
                const at = (n) => acked.find((x) => x.n === n)?.c;
                t.diagnostic(`missed ${JSON.stringify(lost.map((n) => [n, at(n)]))}; reads: ${JSON.stringify(trace.slice(-30))}`);
                t.diagnostic(
                    `in Redis now: ${JSON.stringify((await retryUnavailable(() => b.read(stream, '0', 1e6))).messages.slice(-20).map((m) => [m.cursor, m.json]))}`,
                );
            }
            if (resets === 0) assert.deepEqual(lost, [], 'the reader missed nothing acknowledged without a reset');
            const h = await retryUnavailable(() => a.health());
            assert.equal(h.mode, 'cluster');
        } finally {
            await flask?.stop();
            await Promise.allSettled([a.close(), b.close()]);
            await cluster.stop();
        }
    },
);

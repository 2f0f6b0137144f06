// Lifeline on a Sentinel-managed Redis (primary + 1 replica + 3 sentinels, tests/lib/services.mjs
// startRedisSentinel): a Node store and a Flask process publish to one stream while a Node
// reader follows it; the primary is killed (SIGKILL) and Sentinel promotes the replica.
// Claims: every publish either answered with a cursor or failed with an error (never both);
// every acknowledged message is read exactly once in order, unless the reader was told `reset`
// (then what it missed is counted as history lost explicitly); appends and the reader resume
// within 10 s of the promotion. Measured: kill → promotion, promotion → first append,
// promotion → reader has it.
//
//   node --test tests/cluster/redis-sentinel.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../server/node/stores/redis.mjs';
import { startRedisSentinel, startMember, redisAvailable } from '../lib/services.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const skip = redisAvailable() ? false : 'redis-server is not installed';

test(
    'Sentinel failover: a primary killed under two publishers (Node, Flask) — 0 acknowledged-then-lost, 0 repeated, resumed within 10 s of the promotion',
    { skip, timeout: 90_000 },
    async (t) => {
        const sentinel = await startRedisSentinel();
        const pub = new RedisStore({ url: sentinel.url });
        const reader = new RedisStore({ url: sentinel.url });
        let flask = null;
        try {
            await Promise.all([pub.ready, reader.ready]);
            flask = await startMember('flask', { args: ['--redis', sentinel.url] });
            const stream = 'orders';
            const acked = new Map(); // data -> cursor
            let failed = 0;
            let stop = false;
            let killedAt = 0;
            const firstAckAfterKill = { node: 0, flask: 0 };
            const nodePublisher = (async () => {
                for (let n = 0; !stop; n++) {
                    const data = `n${n}`;
                    const afterKill = killedAt > 0;
                    try {
                        acked.set(data, await pub.append(stream, JSON.stringify(data)));
                        if (afterKill && !firstAckAfterKill.node) firstAckAfterKill.node = Date.now();
                    } catch {
                        failed++;
                    }
                    await sleep(10);
                }
            })();
            const flaskPublisher = (async () => {
                for (let n = 0; !stop; n++) {
                    const data = `f${n}`;
                    const afterKill = killedAt > 0;
                    try {
                        const res = await fetch(`${flask.url}/admin/publish`, {
                            method: 'POST',
                            headers: { 'Content-Type': 'application/json' },
                            body: JSON.stringify({ stream, data }),
                            signal: AbortSignal.timeout(5000),
                        });
                        if (!res.ok) throw new Error(String(res.status));
                        acked.set(data, (await res.json()).cursor);
                        if (afterKill && !firstAckAfterKill.flask) firstAckAfterKill.flask = Date.now();
                    } catch {
                        failed++;
                    }
                    await sleep(20);
                }
            })();
            const seen = [];
            const seenAt = new Map();
            let resets = 0;
            const missedAtResets = [];
            let cursor = '0-0'; // the stream is new: from its first message
            let readerStop = false;
            const following = (async () => {
                while (!readerStop) {
                    try {
                        const res = await reader.read(stream, cursor, 500);
                        if (res.reset) {
                            resets++;
                            missedAtResets.push(cursor);
                            cursor = res.cursor;
                            continue;
                        }
                        for (const m of res.messages) {
                            const d = JSON.parse(m.json);
                            seen.push(d);
                            seenAt.set(d, Date.now());
                        }
                        cursor = res.cursor;
                        if (!res.messages.length) await reader.wait(stream, cursor, 500);
                    } catch {
                        await sleep(50);
                    }
                }
            })();
            await sleep(1500);
            const old = await sentinel.master();
            killedAt = Date.now();
            await old.kill();
            let promotedAt = 0;
            for (const end = Date.now() + 30_000; Date.now() < end; await sleep(50)) {
                const m = await sentinel.master();
                if (m && m !== old) {
                    promotedAt = Date.now();
                    break;
                }
            }
            assert.ok(promotedAt, 'Sentinel promoted the replica');
            for (const end = Date.now() + 12_000; Date.now() < end && !(firstAckAfterKill.node && firstAckAfterKill.flask);) await sleep(50);
            await sleep(1000);
            stop = true;
            await Promise.all([nodePublisher, flaskPublisher]);
            const inRedisNow = new Set((await reader.read(stream, '0', 1e6)).messages.map((m) => JSON.parse(m.json)));
            const readable = [...acked.keys()].filter((d) => inRedisNow.has(d));
            for (const end = Date.now() + 10_000; Date.now() < end && !readable.every((d) => seenAt.has(d));) await sleep(50);
            readerStop = true;
            await following;

            const set = new Set(seen);
            const repeated = seen.length - set.size;
            const lost = [...acked.keys()].filter((d) => !set.has(d)); // by this reader (a reset skips to the head)
            const inRedis = new Set((await reader.read(stream, '0', 1e6)).messages.map((m) => JSON.parse(m.json)));
            const gone = [...acked.keys()].filter((d) => !inRedis.has(d)); // acknowledged, then not in Redis
            const firstAfter = Math.min(...[...acked.keys()].filter((d) => seenAt.has(d) && seenAt.get(d) > promotedAt).map((d) => seenAt.get(d)));
            t.diagnostic(
                `sentinel failover: kill → promotion ${promotedAt - killedAt} ms; promotion → first append acknowledged: node ${firstAckAfterKill.node - promotedAt} ms, flask ${firstAckAfterKill.flask - promotedAt} ms; ` +
                    `promotion → reader has a new message ${firstAfter - promotedAt} ms; ${acked.size} acknowledged, ${failed} failed (told so), ${gone.length} acknowledged-then-lost (not in Redis), ${lost.length} not read by the reader, ${repeated} repeated, ${resets} resets`,
            );
            assert.equal(repeated, 0, 'no message read twice');
            assert.ok(firstAckAfterKill.node && firstAckAfterKill.node - promotedAt < 10_000, 'Node appends resume within 10 s of the promotion');
            assert.ok(firstAckAfterKill.flask && firstAckAfterKill.flask - promotedAt < 10_000, 'Flask appends resume within 10 s of the promotion');
            assert.ok(firstAfter - promotedAt < 10_000, 'the reader has new messages within 10 s of the promotion');
            assert.deepEqual(gone, [], 'no acknowledged message lost (an append is acknowledged once a replica has it)');
            if (resets === 0)
                assert.deepEqual(
                    lost.map((d) => [d, acked.get(d)]),
                    [],
                    `the reader missed nothing acknowledged without a reset (read: ${seen.slice(-5)}; cursor ${cursor})`,
                );
            const h = await pub.health();
            assert.equal(h.mode, 'sentinel');
            assert.equal(h.ok, true, JSON.stringify(h));
        } finally {
            await flask?.stop();
            await Promise.allSettled([pub.close(), reader.close()]);
            await sentinel.stop();
        }
    },
);

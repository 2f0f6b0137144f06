#!/usr/bin/env node
// redis-streams.mjs — bounded state (issue #21): keys and memory after N distinct stream
// names with one message each, before and after expiry, for both libraries' Redis stores and
// both memory stores. A short stream TTL stands in for "an hour later".
//
//   node bench/redis-streams.mjs [--streams 100000] [--ttl-ms 3000]
import { RedisStore } from '../server/node/stores/redis.mjs';
import { MemoryStore } from '../server/node/stores/memory.mjs';
import { startRedis, PYTHON, ROOT } from '../tests/lib/services.mjs';
import { execFileSync } from 'node:child_process';

const arg = (k, d) => {
    const i = process.argv.indexOf('--' + k);
    return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg('streams', 100_000);
const TTL = arg('ttl-ms', 3000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (b) => (b / 2 ** 20).toFixed(1) + ' MB';

async function redisFigures(redis) {
    const keys = Number((await redis.cli(['dbsize'])).trim());
    const mem = Number(/used_memory:(\d+)/.exec(await redis.cli(['info', 'memory']))[1]);
    return { keys, mem };
}

const rows = [];
// Node, Redis store
{
    const redis = await startRedis();
    const store = new RedisStore({ url: redis.url, streamTtl: TTL });
    await store.ready;
    const empty = await redisFigures(redis);
    const t0 = Date.now();
    for (let i = 0; i < N; i += 200) await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, j) => store.append(`user-${i + j}`, '{"hello":1}')));
    const full = await redisFigures(redis);
    const written = Date.now() - t0;
    await sleep(2 * TTL + 1000); // the last key written expires (meta: 2 × TTL) and Redis has reclaimed it
    const after = await redisFigures(redis);
    rows.push(['node redis store', empty, full, after, written]);
    await store.close();
    await redis.stop();
}
// Flask, Redis store (a child process)
{
    const redis = await startRedis();
    const empty = await redisFigures(redis);
    const py = `
import sys, time
sys.path.insert(0, ${JSON.stringify(ROOT + '/server/flask')})
from lifeline_flask.stores.redis import RedisStore
s = RedisStore(${JSON.stringify(redis.url)}, stream_ttl=${TTL})
t = time.monotonic()
for i in range(${N}):
    s.append(f"user-{i}", {"hello": 1})
print(int((time.monotonic() - t) * 1000))
`;
    const written = Number(execFileSync(PYTHON, ['-c', py], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim());
    const full = await redisFigures(redis);
    await sleep(2 * TTL + 2000);
    const after = await redisFigures(redis);
    rows.push(['flask redis store', empty, full, after, written]);
    await redis.stop();
}
// Node memory store (heap)
{
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const store = new MemoryStore({ streamTtl: TTL, maxStreams: N });
    const t0 = Date.now();
    for (let i = 0; i < N; i++) store.append(`user-${i}`, '{"hello":1}');
    const written = Date.now() - t0;
    global.gc?.();
    const heap1 = process.memoryUsage().heapUsed;
    const full = store.streamCount;
    await sleep(2 * TTL + 1500);
    store.head('x');
    store._lastForget = 0; // the batch of forgetting is due (it runs at most once per streamTtl)
    store._sweep(true);
    global.gc?.();
    const heap2 = process.memoryUsage().heapUsed;
    rows.push(['node memory store', { keys: 0, mem: heap0 }, { keys: full, mem: heap1 }, { keys: store.streamCount, mem: heap2 }, written]);
    store.close();
}
// Flask memory store (RSS of a child)
{
    const py = `
import sys, time, resource, gc
sys.path.insert(0, ${JSON.stringify(ROOT + '/server/flask')})
from lifeline_flask.stores.memory import MemoryStore
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize()
r0 = rss()
s = MemoryStore(stream_ttl=${TTL}, max_streams=${N})
t = time.monotonic()
for i in range(${N}):
    s.append(f"user-{i}", {"hello": 1})
w = int((time.monotonic() - t) * 1000)
r1 = rss(); n1 = s.stream_count()
time.sleep(${(2 * TTL + 1500) / 1000})
s._last_forget = 0
s._sweep(force=True)
gc.collect()
print(r0, r1, n1, rss(), s.stream_count(), w)
`;
    const [r0, r1, n1, r2, n2, w] = execFileSync(PYTHON, ['-c', py], { encoding: 'utf8' }).trim().split(' ').map(Number);
    rows.push(['flask memory store (RSS)', { keys: 0, mem: r0 }, { keys: n1, mem: r1 }, { keys: n2, mem: r2 }, w]);
}

console.log(`${N} stream names, one message each, stream TTL ${TTL} ms (after expiry: 2 × TTL + 1 s after the last write)`);
console.log('| store | keys / streams before → after writing → after expiry | memory before → after writing → after expiry | writing took |');
console.log('| --- | --- | --- | --- |');
for (const [name, e, f, a, w] of rows) console.log(`| ${name} | ${e.keys} → ${f.keys} → ${a.keys} | ${mb(e.mem)} → ${mb(f.mem)} → ${mb(a.mem)} | ${w} ms |`);

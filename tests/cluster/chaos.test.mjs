// Multi-process chaos: Flask under gunicorn (2 workers) and two Node processes on one Redis
// (AOF, fsync always) behind nginx round robin. Publishers on every process (its admin API
// straight) and one through nginx append to one stream while a seeded schedule kills and
// restarts processes (a Node process, a gunicorn worker, all of gunicorn) and Redis (crash
// and clean restart, AOF: no reset expected). Then Redis loses everything (restarted without
// its data): every client must see exactly one `reset`, and go on receiving.
//
//   node --test tests/cluster/chaos.test.mjs                    a random seed (printed)
//   CHAOS_SEED=1234 node --test tests/cluster/chaos.test.mjs    replay its schedule
//   CHAOS_MESSAGES=3000 …                                       more messages (default 1,200 acknowledged)
//
// Clients: Lifeline in Node (dist/lifeline.mjs + `ws`) through nginx, half on the WebSocket,
// half polling only (long polls), so consecutive polls and upgrades land on different
// processes (each client records who answered, from Lifeline-Served-By / hello.server).
//
// The oracle. Every publish that answered returned its cursor: that message is *known* and
// every client must receive it exactly once. A publish that failed (its process or Redis died
// under it, nginx had nobody) is *uncertain*: it may have been appended or not, so a client
// may receive it (once) or not; its number is never reused. Per client: cursors strictly
// increase (Redis orders appends from every process in one total order), no cursor and no
// message twice, nothing that was never published, every known message of its phase received
// — before the data loss none may be missing, after it none; the data loss is quiesced first
// (no publishing until every client has everything, and until every client has its reset), so
// "lost across the reset" is 0 by construction and anything missing is a real loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, clusterMissing, groupPids } from '../lib/services.mjs';
import { client, FAST, waitFor, orderViolation, sleep, WebSocket } from '../integration/helpers.mjs';
import { servedBy } from '../../demo/public/served-by.mjs';
import { prng } from '../lib/prng.mjs';
import { postJson } from '../lib/servers.mjs';

const SEED = process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const MESSAGES = Math.max(100, Number(process.env.CHAOS_MESSAGES ?? 1200)); // acknowledged publishes
const STREAM = 'chaos';
const CLIENTS = 6; // half WebSocket, half polling only
const skip = clusterMissing();

const EVENTS = ['kill-node', 'kill-flask-worker', 'kill-gunicorn', 'redis-crash', 'redis-restart'];

/** The seeded schedule: a list of {kind, target, downMs, gapMs}, the same for a seed. */
function schedule(seed, n) {
    const r = prng(seed);
    const out = [];
    for (let i = 0; i < n; i++) {
        // every kind at least once, in a seeded order, then random ones
        const kind = i < EVENTS.length ? null : r.pick(EVENTS);
        out.push({ kind, target: r.pick(['node-1', 'node-2']), downMs: r.int(100, 1500), gapMs: r.int(700, 2000) });
    }
    const firsts = [...EVENTS];
    for (let i = firsts.length - 1; i > 0; i--) {
        const j = r.int(0, i);
        [firsts[i], firsts[j]] = [firsts[j], firsts[i]];
    }
    firsts.forEach((k, i) => (out[i].kind = k));
    return out;
}

/** The publishes of the chaos go through nginx and are given 5 s. */
const post = (url, body) => postJson(url, body, 5000);

test(
    `multi-process chaos: ${MESSAGES}+ messages from both languages through nginx, processes and Redis killed — 0 lost, 0 repeated, in order; one reset per client when Redis loses its data (seed ${SEED})`,
    { skip, timeout: 600_000 },
    async (t) => {
        t.diagnostic(`CHAOS_SEED=${SEED} (replay: CHAOS_SEED=${SEED} node --test tests/cluster/chaos.test.mjs)`);
        const r = prng(SEED ^ 0x5eed);
        const plan = schedule(SEED, 8);
        t.diagnostic(`schedule: ${plan.map((e) => `${e.kind}${e.kind === 'kill-node' ? ':' + e.target : ''}/${e.downMs}ms`).join(', ')}`);

        const cluster = await startCluster({
            flaskWorkers: 2,
            nodeProcesses: 2,
            aof: true,
            serverArgs: ['--retention', '100000', '--heartbeat', '2000', '--long-poll-max', '3000'],
        });
        const clients = [];
        try {
            const member = (label) => cluster.members.find((m) => m.label === label);
            const gunicorn = cluster.members.find((m) => m.kind === 'flask');

            // ---- clients, through nginx, from the start of the stream
            for (let i = 0; i < CLIENTS; i++) {
                const seen = new Map();
                const io = servedBy((a) => seen.set(a.server ?? '(unnamed)', (seen.get(a.server ?? '(unnamed)') ?? 0) + 1), {
                    fetch: globalThis.fetch,
                    WebSocket,
                });
                const websocket = i % 2 === 0;
                const c = client(`${cluster.url}/live/${STREAM}`, { ...FAST, cursor: '0', seed: SEED + i, websocket, ...io });
                c.kind = websocket ? 'websocket' : 'polling';
                c.seen = seen;
                c.cursors = new Set();
                c.l.addEventListener('message', (e) => c.cursors.add(e.cursor));
                clients.push(c);
            }

            // ---- publishers: one per process (gunicorn: one per port) and one through nginx
            const known = new Map(); // cursor -> "src:n"
            const knownByPhase = { A: [], C: [] };
            const uncertain = new Set(); // "src:n"
            let failures = 0;
            const publishers = [...cluster.members.map((m) => ({ src: m.label, url: () => m.url })), { src: 'nginx', url: () => cluster.url }];
            // a phase ends once `count` publishes of it answered (failed ones do not count), bounded
            const publishPhase = async (phase, count, chaos) => {
                let stop = false;
                const enough = () => knownByPhase[phase].length >= count;
                const deadline = Date.now() + 240_000;
                const loops = publishers.map(async (p) => {
                    p.n ??= 0;
                    while (!stop && !enough()) {
                        if (Date.now() > deadline)
                            throw new Error(`phase ${phase}: only ${knownByPhase[phase].length} of ${count} publishes answered within 240 s`);
                        const key = `${p.src}:${p.n++}`;
                        // only the publish may fail here: a cursor given out twice fails the test
                        const answer = await post(`${p.url()}/admin/publish`, { stream: STREAM, data: { key, phase } }).catch(() => null);
                        if (answer) {
                            const { cursor } = answer;
                            assert.ok(!known.has(cursor), `cursor ${cursor} given out twice (${known.get(cursor)} and ${key})`);
                            known.set(cursor, key);
                            knownByPhase[phase].push(cursor);
                        } else {
                            uncertain.add(key);
                            failures++;
                            await sleep(100); // its process is down: do not spin
                        }
                        await sleep(r.int(20, 80));
                    }
                });
                const chaosDone = chaos ? chaos(() => stop || enough()) : Promise.resolve();
                try {
                    await Promise.all(loops);
                } finally {
                    stop = true;
                    await chaosDone;
                }
            };

            const runEvent = async (e) => {
                if (e.kind === 'kill-node') {
                    const m = member(e.target);
                    await m.kill();
                    await sleep(e.downMs);
                    await m.start();
                } else if (e.kind === 'kill-flask-worker') {
                    const workers = groupPids(gunicorn.pid).filter((p) => p !== gunicorn.pid);
                    if (workers.length) process.kill(workers[r.int(0, workers.length - 1)], 'SIGKILL'); // gunicorn forks a new one
                    await sleep(e.downMs);
                } else if (e.kind === 'kill-gunicorn') {
                    await gunicorn.kill();
                    await sleep(e.downMs);
                    await gunicorn.start();
                } else if (e.kind === 'redis-crash') {
                    await cluster.redis.restart({ crash: true, downMs: e.downMs });
                } else if (e.kind === 'redis-restart') {
                    await cluster.redis.restart({ downMs: e.downMs });
                }
            };
            const chaosOf = (events) => async (done) => {
                for (const e of events) {
                    await sleep(e.gapMs);
                    if (done()) break;
                    t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${e.kind}${e.kind === 'kill-node' ? ' ' + e.target : ''} (${e.downMs} ms down)`);
                    await runEvent(e);
                }
            };
            const t0 = Date.now();
            const missing = (c, cursors) => cursors.filter((cur) => !c.cursors.has(cur));
            const caughtUp = async (phase, ms) => {
                const cursors = knownByPhase[phase];
                await waitFor(
                    () => clients.every((c) => missing(c, cursors).length === 0),
                    ms,
                    () =>
                        `every client to have the ${cursors.length} known messages of phase ${phase}: ` +
                        clients.map((c, i) => `#${i} ${c.kind} misses ${missing(c, cursors).length} (${c.l.state}/${c.l.transport})`).join('; '),
                );
            };

            // ---- phase A: chaos, Redis with AOF (no reset)
            const phaseA = Math.round(MESSAGES * 0.75);
            await publishPhase('A', phaseA, chaosOf(plan));
            await caughtUp('A', 120_000);
            for (const [i, c] of clients.entries()) assert.deepEqual(c.rec.resets, [], `client #${i}: no reset while Redis kept its data (AOF)`);
            t.diagnostic(`phase A: ${knownByPhase.A.length} known, ${uncertain.size} uncertain publishes, every client has every known one`);

            // ---- phase B: Redis loses everything; quiesced, so each client gets exactly one reset
            await cluster.redis.restart({ wipe: true });
            await waitFor(
                () => clients.every((c) => c.rec.resets.length >= 1),
                120_000,
                () => `a reset at every client: ${clients.map((c) => c.rec.resets.length).join(',')}`,
            );
            await sleep(1500); // a second reset would show up now
            t.diagnostic(`phase B: Redis wiped; resets per client ${clients.map((c) => c.rec.resets.length).join(',')}`);

            // ---- phase C: publishing on the new history, a node process and a worker killed once more
            const phaseC = MESSAGES - phaseA;
            await publishPhase(
                'C',
                phaseC,
                chaosOf([
                    { kind: 'kill-node', target: plan[0].target, downMs: 500, gapMs: 1000 },
                    { kind: 'kill-flask-worker', downMs: 300, gapMs: 1000 },
                ]),
            );
            await caughtUp('C', 120_000);

            // ---- the oracle, per client
            const report = [];
            for (const [i, c] of clients.entries()) {
                const msgs = c.rec.messages;
                const order = orderViolation(c.rec);
                assert.equal(order, null, `client #${i}: cursors in order`);
                const byCursor = new Set();
                const byKey = new Set();
                let dupCursor = 0,
                    dupKey = 0,
                    phantom = 0,
                    mismatched = 0,
                    uncertainGot = 0;
                for (const m of msgs) {
                    if (byCursor.has(m.cursor)) dupCursor++;
                    byCursor.add(m.cursor);
                    const key = m.data?.key;
                    if (byKey.has(key)) dupKey++;
                    byKey.add(key);
                    if (known.has(m.cursor)) {
                        if (known.get(m.cursor) !== key) mismatched++;
                    } else if (uncertain.has(key)) uncertainGot++;
                    else phantom++;
                }
                const lost = missing(c, knownByPhase.A).length + missing(c, knownByPhase.C).length;
                const servers = [...c.seen.keys()].sort();
                report.push({
                    client: i,
                    kind: c.kind,
                    received: msgs.length,
                    lost,
                    duplicated: dupCursor + dupKey,
                    phantom,
                    mismatched,
                    uncertainReceived: uncertainGot,
                    resets: c.rec.resets.length,
                    servers: servers.length,
                });
                t.diagnostic(
                    `client #${i} (${c.kind}): received ${msgs.length}, lost ${lost}, duplicated ${dupCursor + dupKey}, resets ${c.rec.resets.length}, answered by ${servers.length} processes: ${servers.map((s) => `${s}×${c.seen.get(s)}`).join(' ')}`,
                );
                assert.equal(lost, 0, `client #${i}: lost`);
                assert.equal(dupCursor, 0, `client #${i}: a cursor delivered twice`);
                assert.equal(dupKey, 0, `client #${i}: a message delivered twice`);
                assert.equal(phantom, 0, `client #${i}: a message nobody published`);
                assert.equal(mismatched, 0, `client #${i}: a cursor carrying another message than its publish returned`);
                assert.equal(c.rec.resets.length, 1, `client #${i}: exactly one reset (Redis lost its data once)`);
                const reset = c.rec.resets[0];
                assert.ok(
                    msgs.slice(reset.at).every((m) => m.data?.phase === 'C'),
                    `client #${i}: after the reset only the new history`,
                );
                assert.ok(
                    msgs.slice(0, reset.at).every((m) => m.data?.phase === 'A'),
                    `client #${i}: before the reset only the old history`,
                );
                assert.ok(servers.length >= 3, `client #${i}: round robin spread its requests over the processes (${servers.join(', ')})`);
            }
            const published = knownByPhase.A.length + knownByPhase.C.length;
            t.diagnostic(
                `seed ${SEED}: ${published} messages known (+${uncertain.size} uncertain, ${failures} failed publishes) from ${publishers.length} publishers, ${CLIENTS} clients; figures ${JSON.stringify(report)}`,
            );
            assert.ok(published >= MESSAGES, `at least ${MESSAGES} messages published and acknowledged (${published})`);
            const srcs = new Set([...known.values()].map((k) => k.split(':')[0]));
            assert.ok(
                srcs.has('node-1') && srcs.has('node-2') && [...srcs].some((s) => s.startsWith('flask')) && srcs.has('nginx'),
                `published from both languages and through nginx: ${[...srcs].join(', ')}`,
            );
        } catch (e) {
            for (const [i, c] of clients.entries()) t.diagnostic(`client #${i} log (tail):\n${c.rec.dump().split('\n').slice(-25).join('\n')}`);
            for (const m of cluster.members) t.diagnostic(`${m.label} output (tail):\n${m.output().slice(-1500)}`);
            throw e;
        } finally {
            for (const c of clients) c.l.close();
            await cluster.stop();
        }
    },
);

#!/usr/bin/env node
// cluster.mjs — a fleet of clients on several server processes sharing one Redis: Lifeline's
// Node server library (demo/server.mjs --redis) against socket.io with
// @socket.io/redis-streams-adapter (bench/sio-server.mjs --redis), on the same two processes'
// worth of machine, in one run; and Lifeline on one process with the in-memory store as the
// single-process baseline.
//
//   node bench/cluster.mjs [--quick] [--clients N]      (make bench; make test-cluster: --quick)
//
// Writes bench/cluster-results.{md,json} (--quick: cluster-results-quick.*, git-ignored). It
// reports; it asserts nothing. Medians, not means: the machine (2 cores) is shared.
//
// Set-up per configuration, each from scratch (a fresh redis-server in a temp dir):
//   lifeline-redis   redis-server + 2 × demo/server.mjs --redis, stream `bench`
//   raw-redis        the same, clients speaking the wire protocol by hand (no library): the
//                    servers' floor, so the Lifeline row's excess is the client's own cost
//   lifeline-memory  1 × demo/server.mjs (memory store), every client on it
//   sio-redis        redis-server + 2 × bench/sio-server.mjs --redis (streams adapter)
// The clients (bench/cluster-fleet.mjs: one child process with the WebSocket half, one with
// the long-polling half; the real client library each) are split evenly over the processes.
//
// Measured, per configuration:
//   - connect: time until every client is open;
//   - idle CPU: the server processes' (and redis-server's) utime+stime from
//     /proc/<pid>/stat over IDLE ms with nothing published, from SETTLE ms after all are
//     open (a beat socket's first beats come 2.5, 7.5 s… after its hello: a transient);
//     and steady (not --quick): over STEADY_HEARTBEATS heartbeats, from SETTLED_MS after all are open,
//     when every beat gap has grown to the heartbeat;
//   - active: ROUNDS rounds of MESSAGES messages published RATE per second, alternating
//     between the processes' admin APIs (so half the messages cross Redis to reach the
//     other process's clients); per round publish→deliver latency p50/p99 over every
//     delivery, deliveries/expected, CPU over the round; the figure is the median of rounds;
//   - Redis connections per server process: established TCP connections to the Redis port
//     (/proc/<pid>/fd + /proc/<pid>/net/tcp), at the end of the active phase.
// CPU is given as ms of CPU per second of wall time per 1,000 clients (100 = a tenth of a core).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, startMember, tcpConnectionsTo, freePort, spawnGroup, waitPort } from '../tests/lib/services.mjs';
import { DEFAULTS, LIMITS } from '../server/node/protocol.mjs';
import { cpuOf, cpuRate, median, percentile as pct } from './stats.mjs';
import { startFleet } from './fleet-process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.argv.includes('--quick');
const argOf = (k) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
};
const CLIENTS = Math.max(10, Number(argOf('--clients') ?? (QUICK ? 200 : 5000)));
const C = QUICK
    ? { idle: 2000, steady: false, rounds: 1, messages: 5, rate: 2, settle: 1000, connectCap: 60000, watchdog: 8 * 60000 }
    : { idle: 10000, steady: true, rounds: 3, messages: 20, rate: 2, settle: 3000, connectCap: 180000, watchdog: 40 * 60000 };
/** How long after its last frame a socket's beat gap reaches the heartbeat (beatFirstMs,
 *  doubling: 2.5 + 5 + 10 + 20 s), plus a sweep and a margin: from then on, idle is steady. */
const SETTLED_MS = (() => {
    let t = 0;
    for (let gap = LIMITS.beatFirstMs; gap < DEFAULTS.heartbeat; gap *= 2) t += gap;
    return t + LIMITS.beatSweepMs + 2000;
})();
/** The steady window's length in heartbeats: the fleets open within a few seconds, so each
 *  periodic event comes in one burst per heartbeat, and a one-heartbeat window gave 11.3 to
 *  18.5 ms/s per 1,000 over five runs of one build. */
const STEADY_HEARTBEATS = 2;
const DELIVERY_CAP = 30000; // a round's deliveries are counted up to this long after its last publish
const T0 = performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => process.stderr.write(`[cluster-bench ${((performance.now() - T0) / 1000).toFixed(1)}s] ${a.join(' ')}\n`);
const clock = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------ servers per configuration

async function startSio(redisUrl) {
    const port = await freePort();
    const g = spawnGroup(process.execPath, [path.join(ROOT, 'bench', 'sio-server.mjs'), '--port', String(port), '--redis', redisUrl]);
    if (!(await waitPort(port, { while: g.alive }))) throw new Error(`sio-server did not listen\n${g.output()}`);
    return { url: `http://127.0.0.1:${port}`, pid: g.pid, stop: () => g.stop() };
}

async function startNodeOnRedis() {
    const redis = await startRedis();
    const servers = [];
    for (let i = 1; i <= 2; i++) {
        const m = await startMember('node', { args: ['--redis', redis.url, '--name', `node-${i}`], label: `node-${i}` });
        servers.push({ url: m.url, pid: m.pid, stop: () => m.stop() });
    }
    return { redis, servers };
}

const CONFIGS = [
    {
        id: 'lifeline-redis',
        name: 'Lifeline, 2 processes on Redis',
        lib: 'lifeline',
        start: startNodeOnRedis,
        publishBody: (t) => ({ stream: 'bench', data: { t } }),
    },
    {
        id: 'raw-redis',
        name: 'the same servers, clients without a library (the wire protocol by hand)',
        lib: 'raw',
        start: startNodeOnRedis,
        publishBody: (t) => ({ stream: 'bench', data: { t } }),
    },
    {
        id: 'lifeline-memory',
        name: 'Lifeline, 1 process, memory store',
        lib: 'lifeline',
        async start() {
            const m = await startMember('node', { args: ['--name', 'node-mem'], label: 'node-mem' });
            return { redis: null, servers: [{ url: m.url, pid: m.pid, stop: () => m.stop() }] };
        },
        publishBody: (t) => ({ stream: 'bench', data: { t } }),
    },
    {
        id: 'sio-redis',
        name: 'socket.io + redis-streams-adapter, 2 processes',
        lib: 'sio',
        async start() {
            const redis = await startRedis();
            const servers = [await startSio(redis.url), await startSio(redis.url)];
            return { redis, servers };
        },
        publishBody: (t) => ({ data: { t } }),
    },
];

async function publish(url, body) {
    const res = await fetch(`${url}/admin/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(20000),
    });
    await res.arrayBuffer();
    return res.ok;
}

async function runConfig(cfg) {
    log(`${cfg.id}: starting servers`);
    const { redis, servers } = await cfg.start();
    const fleets = [];
    const result = { id: cfg.id, name: cfg.name, clients: CLIENTS, processes: servers.length, rounds: [], notes: [], loadavgBefore: os.loadavg()[0] };
    try {
        const urls = servers.map((s) => s.url);
        // one fleet process per kind: the WebSocket half and the polling half
        const half = Math.ceil(CLIENTS / 2);
        fleets.push(startFleet(cfg.lib, urls, half, 'websocket', 1), startFleet(cfg.lib, urls, CLIENTS - half, 'polling', 2));
        const t0 = performance.now();
        const openAll = () => fleets.reduce((n, f) => n + f.open, 0);
        while (openAll() < CLIENTS && performance.now() - t0 < C.connectCap) await sleep(100);
        result.connectMs = Math.round(performance.now() - t0);
        result.openAfterConnect = openAll();
        if (openAll() < CLIENTS) result.notes.push(`only ${openAll()}/${CLIENTS} open after ${C.connectCap} ms`);
        log(`${cfg.id}: ${openAll()}/${CLIENTS} open in ${result.connectMs} ms`);
        await sleep(C.settle);

        const serverPids = servers.map((s) => s.pid);
        const fleetPids = fleets.map((f) => f.proc.pid);
        const redisPids = redis ? [redis.pid] : [];
        let a = cpuOf(serverPids),
            ar = cpuOf(redisPids),
            ta = performance.now();
        await sleep(C.idle);
        let b = cpuOf(serverPids),
            br = cpuOf(redisPids),
            tb = performance.now();
        result.idleCpuPer1k = cpuRate(a, b, tb - ta, CLIENTS);
        result.idleRedisCpuPer1k = redis ? cpuRate(ar, br, tb - ta, CLIENTS) : null;
        if (C.steady) {
            // steady idle: once every socket's beat gap has grown to the heartbeat, whole
            // heartbeats long, so each periodic event (a beat or ping, a long poll's expiry)
            // falls in the window once per client per heartbeat
            await sleep(Math.max(0, SETTLED_MS - (performance.now() - t0 - result.connectMs)));
            [a, ar, ta] = [cpuOf(serverPids), cpuOf(redisPids), performance.now()];
            await sleep(DEFAULTS.heartbeat * STEADY_HEARTBEATS);
            [b, br, tb] = [cpuOf(serverPids), cpuOf(redisPids), performance.now()];
            result.steadyIdleCpuPer1k = cpuRate(a, b, tb - ta, CLIENTS);
            result.steadyIdleRedisCpuPer1k = redis ? cpuRate(ar, br, tb - ta, CLIENTS) : null;
            log(`${cfg.id}: steady idle CPU ${result.steadyIdleCpuPer1k.toFixed(2)} ms/s per 1k`);
        }

        for (let r = 0; r < C.rounds; r++) {
            for (const f of fleets) f.send('measure');
            await sleep(200);
            a = cpuOf(serverPids);
            ar = cpuOf(redisPids);
            const af = cpuOf(fleetPids);
            ta = performance.now();
            let ok = 0;
            for (let k = 0; k < C.messages; k++) {
                const at = performance.now();
                if (await publish(urls[k % urls.length], cfg.publishBody(clock()))) ok++;
                await sleep(Math.max(0, 1000 / C.rate - (performance.now() - at)));
            }
            // deliveries still under way are part of the round
            const expected = ok * CLIENTS;
            const end = performance.now() + DELIVERY_CAP;
            let reports;
            for (;;) {
                reports = await Promise.all(fleets.map((f) => f.report()));
                const got = reports.reduce((n, x) => n + x.received, 0);
                if (got >= expected || performance.now() > end) break;
                await sleep(250);
            }
            b = cpuOf(serverPids);
            br = cpuOf(redisPids);
            const bf = cpuOf(fleetPids);
            tb = performance.now();
            const lat = reports.flatMap((x) => x.latencies).sort((x, y) => x - y);
            const kind = (k) => reports.flatMap((x) => x.byKind[k]).sort((x, y) => x - y);
            const ws = kind('websocket'),
                polling = kind('polling');
            const stage = (k) =>
                pct(
                    reports.flatMap((x) => (x.timeline ?? []).map((t) => t[k])),
                    50,
                );
            const round = {
                published: ok,
                delivered: lat.length,
                expected,
                p50: pct(lat, 50),
                p99: pct(lat, 99),
                max: lat.at(-1) ?? null,
                wsP50: pct(ws, 50),
                wsP99: pct(ws, 99),
                pollP50: pct(polling, 50),
                pollP99: pct(polling, 99),
                timeline: [0, 1, 2].map(stage),
                cpuPer1k: cpuRate(a, b, tb - ta, CLIENTS),
                fleetCpuPer1k: cpuRate(af, bf, tb - ta, CLIENTS),
                redisCpuPer1k: redis ? cpuRate(ar, br, tb - ta, CLIENTS) : null,
                open: reports.reduce((n, x) => n + x.open, 0),
                transports: reports.reduce((o, x) => {
                    for (const [k, v] of Object.entries(x.byTransport)) o[k] = (o[k] ?? 0) + v;
                    return o;
                }, {}),
            };
            result.rounds.push(round);
            log(
                `${cfg.id} round ${r + 1}: delivered ${round.delivered}/${expected}, p50 ${round.p50} ms, p99 ${round.p99} ms, CPU ${round.cpuPer1k.toFixed(1)} ms/s per 1k, transports ${JSON.stringify(round.transports)}`,
            );
        }
        result.loadavgAfter = os.loadavg()[0];
        result.redisConnections = redis ? servers.map((s) => tcpConnectionsTo(s.pid, redis.port)) : null;
        result.p50 = median(result.rounds.map((x) => x.p50));
        result.p99 = median(result.rounds.map((x) => x.p99));
        result.activeCpuPer1k = median(result.rounds.map((x) => x.cpuPer1k));
        result.fleetCpuPer1k = median(result.rounds.map((x) => x.fleetCpuPer1k));
        for (const k of ['wsP50', 'wsP99', 'pollP50', 'pollP99']) result[k] = median(result.rounds.map((x) => x[k]));
        result.timeline = [0, 1, 2].map((k) => median(result.rounds.map((x) => x.timeline[k])));
        result.activeRedisCpuPer1k = redis ? median(result.rounds.map((x) => x.redisCpuPer1k)) : null;
        result.deliveredShare =
            result.rounds.reduce((n, x) => n + x.delivered, 0) /
            Math.max(
                1,
                result.rounds.reduce((n, x) => n + x.expected, 0),
            );
    } catch (e) {
        result.error = String(e?.stack || e);
        log(`${cfg.id}: ${result.error}`);
    } finally {
        await Promise.all(fleets.map((f) => f.stop()));
        await Promise.allSettled(servers.map((s) => s.stop()));
        await redis?.stop();
    }
    return result;
}

// ------------------------------------------------------------------ report

const fmt = (x, d = 1) => (x == null ? '—' : Number(x).toFixed(d));
const ratio = (x, y) => (x == null || y == null || y === 0 ? '—' : `${(x / y).toFixed(2)}×`);

function markdown(res) {
    const by = Object.fromEntries(res.configs.map((c) => [c.id, c]));
    const L = by['lifeline-redis'],
        M = by['lifeline-memory'],
        S = by['sio-redis'],
        R = by['raw-redis'];
    const rows = res.configs.map((c) => [
        c.name,
        `${fmt(c.loadavgBefore, 1)} → ${fmt(c.loadavgAfter, 1)}`,
        `${c.openAfterConnect ?? '—'}/${c.clients}`,
        c.connectMs == null ? '—' : `${(c.connectMs / 1000).toFixed(1)} s`,
        fmt(c.p50),
        fmt(c.p99),
        `${fmt(c.wsP50)} / ${fmt(c.wsP99)}`,
        `${fmt(c.pollP50)} / ${fmt(c.pollP99)}`,
        c.deliveredShare == null ? '—' : `${(c.deliveredShare * 100).toFixed(2)} %`,
        c.redisConnections ? c.redisConnections.join(', ') : '—',
        fmt(c.idleCpuPer1k),
        fmt(c.steadyIdleCpuPer1k),
        fmt(c.activeCpuPer1k),
        c.activeRedisCpuPer1k == null ? '—' : fmt(c.activeRedisCpuPer1k),
        fmt(c.fleetCpuPer1k),
    ]);
    const head = [
        'configuration',
        'machine load (1 min avg) before → after',
        'open',
        'all open after',
        'latency p50 (ms)',
        'p99 (ms)',
        'WebSocket clients p50 / p99',
        'polling clients p50 / p99',
        'delivered',
        'Redis connections per process',
        'server CPU idle, 3–13 s after opening, ms/s per 1k clients',
        `server CPU idle, steady (${STEADY_HEARTBEATS} heartbeats long, 40 s after opening), ms/s per 1k`,
        'server CPU active, ms/s per 1k',
        'redis-server CPU active, per 1k',
        'client fleet CPU active, per 1k',
    ];
    const table = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
    const out = [
        `# Cluster benchmark${res.meta.quick ? ' (quick form: small numbers, not for reading)' : ''}`,
        '',
        `${res.meta.date} · ${res.meta.cpus} CPUs (${res.meta.cpuModel}), shared · Node ${res.meta.node} · \`node bench/cluster.mjs${res.meta.quick ? ' --quick' : ''}\``,
        '',
        `${CLIENTS.toLocaleString('en')} clients, half WebSocket and half long polling, the real client library each, in two fleet processes (one per kind), split evenly over the server processes. ` +
            `${C.rounds} round(s) of ${C.messages} messages at ${C.rate}/s, published alternately on each process's admin API; latency is publish → delivery over every delivery of a round (one clock), "delivered" counts deliveries within ${DELIVERY_CAP / 1000} s of a round's last publish; figures are medians of the rounds. ` +
            'CPU: utime+stime from /proc/<pid>/stat of the server processes (redis-server and the client fleet apart), in ms per second of wall time per 1,000 clients. ' +
            "The fleets (half the clients each) run on the same 2 cores as the servers and as whatever else the machine runs (the load column): a message wakes every client of a fleet at once, so the latency includes that burst queueing in the fleet — the row without a library shows the servers' own floor.",
        '',
        table,
        '',
        '## Ratios',
        '',
        `- latency p50, socket.io + adapter ÷ Lifeline on Redis: ${ratio(S?.p50, L?.p50)}; p99: ${ratio(S?.p99, L?.p99)}; WebSocket clients p50: ${ratio(S?.wsP50, L?.wsP50)}; polling clients p50: ${ratio(S?.pollP50, L?.pollP50)}`,
        `- client fleet CPU, socket.io-client ÷ Lifeline: ${ratio(S?.fleetCpuPer1k, L?.fleetCpuPer1k)}; clients without a library ÷ Lifeline: ${ratio(R?.fleetCpuPer1k, L?.fleetCpuPer1k)}`,
        `- latency p50, Lifeline clients ÷ clients without a library on the same servers: ${ratio(L?.p50, R?.p50)} (what the client library adds under this load); WebSocket ${ratio(L?.wsP50, R?.wsP50)}, polling ${ratio(L?.pollP50, R?.pollP50)}`,
        `- active server CPU, socket.io + adapter ÷ Lifeline on Redis: ${ratio(S?.activeCpuPer1k, L?.activeCpuPer1k)}; idle: ${ratio(S?.idleCpuPer1k, L?.idleCpuPer1k)}, steady idle: ${ratio(S?.steadyIdleCpuPer1k, L?.steadyIdleCpuPer1k)}`,
        `- a polling client, one message (p50 ms after its publish: the request that carried it sent, its response read, the message delivered): ${[L, R, M]
            .filter((c) => c?.timeline?.[2] != null)
            .map((c) => `${c.name}: ${c.timeline.map((v) => fmt(v)).join(' / ')}`)
            .join('; ')}`,
        `- Lifeline on Redis (2 processes) ÷ memory store (1 process): latency p50 ${ratio(L?.p50, M?.p50)}, p99 ${ratio(L?.p99, M?.p99)}, active CPU ${ratio(L?.activeCpuPer1k, M?.activeCpuPer1k)}`,
        '',
    ];
    for (const c of res.configs) if (c.error || c.notes?.length) out.push(`- ${c.name}: ${[c.error, ...(c.notes ?? [])].filter(Boolean).join('; ')}`);
    return out.join('\n') + '\n';
}

async function main() {
    const watchdog = setTimeout(() => {
        log(`watchdog: no end after ${C.watchdog / 60000} min`);
        process.exit(1);
    }, C.watchdog);
    watchdog.unref();
    const res = {
        meta: {
            date: new Date().toISOString(),
            quick: QUICK,
            clients: CLIENTS,
            cpus: os.cpus().length,
            cpuModel: os.cpus()[0]?.model ?? '?',
            node: process.version,
            settings: C,
        },
        configs: [],
    };
    for (const cfg of CONFIGS) res.configs.push(await runConfig(cfg));
    const base = path.join(ROOT, 'bench', QUICK ? 'cluster-results-quick' : 'cluster-results');
    const md = markdown(res);
    fs.writeFileSync(base + '.json', JSON.stringify(res, null, 1) + '\n');
    fs.writeFileSync(base + '.md', md);
    process.stdout.write(md);
    log(`wrote ${path.relative(ROOT, base)}.{md,json}`);
    clearTimeout(watchdog);
    // the quick form checks that every configuration ran, never how fast
    if (QUICK && res.configs.some((c) => c.error || !c.rounds.length)) process.exit(1);
}

main().catch((e) => {
    log(String(e?.stack || e));
    process.exit(1);
});

#!/usr/bin/env node
// idle-cost.mjs — what idle clients of one kind cost one server process: N clients (the
// library or hand-written, bench/cluster-fleet.mjs) on one demo/server.mjs (memory store or
// a fresh Redis), nothing published; the server's (and redis-server's) CPU per window.
//
//   node bench/idle-cost.mjs [--lib lifeline|raw] [--kind websocket|polling] [--clients 2000]
//        [--store memory|redis] [--skip 25] [--seconds 50] [--server-root DIR] [--cpu-prof DIR]
//
// --skip: seconds after every client is open before the measured window (a fresh socket's
// first beats come 2.5, 7.5, 17.5 s after its hello; a long poll first expires 25 s after
// it was made); --seconds: the window, a whole number of heartbeats (25 s) so that each
// periodic event falls in it once per client per heartbeat. --server-root: the checkout
// whose demo/server.mjs serves (an A/B against an older commit: `git worktree add DIR
// <commit>`, and link its node_modules); the clients are always this checkout's.
// --cpu-prof DIR: the server writes a V8 CPU profile there when it stops.
// It reports; it asserts nothing. CPU: utime+stime from /proc/<pid>/stat, in ms of CPU per
// second of wall time per 1,000 clients (bench/cluster.mjs's unit); /proc counts in 10 ms
// ticks, so a window of 50 s with 2,000 clients resolves 0.1.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, spawnGroup, freePort, waitPort } from '../tests/lib/services.mjs';
import { cpuOf, cpuRate } from './stats.mjs';
import { startFleet } from './fleet-process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argOf = (k, d) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : d;
};
const LIB = argOf('--lib', 'lifeline');
const KIND = argOf('--kind', 'polling');
const CLIENTS = Number(argOf('--clients', '2000'));
const STORE = argOf('--store', 'memory');
const SKIP_S = Number(argOf('--skip', '25'));
const WINDOW_S = Number(argOf('--seconds', '50'));
const SERVER_ROOT = path.resolve(argOf('--server-root', ROOT));
const PROFILE_DIR = argOf('--cpu-prof');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const redis = STORE === 'redis' ? await startRedis() : null;
const port = await freePort();
const server = spawnGroup(process.execPath, [
    ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE_DIR)}`] : []),
    path.join(SERVER_ROOT, 'demo', 'server.mjs'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    ...(redis ? ['--redis', redis.url] : []),
]);
let fleet;
try {
    if (!(await waitPort(port, { while: server.alive }))) throw new Error(`the server did not listen\n${server.output()}`);
    fleet = startFleet(LIB, [`http://127.0.0.1:${port}`], CLIENTS, KIND, 1);
    const t0 = performance.now();
    while (fleet.open < CLIENTS && performance.now() - t0 < 60000) await sleep(100);
    if (fleet.open < CLIENTS) throw new Error(`only ${fleet.open}/${CLIENTS} open after 60 s ${fleet.err}`);
    const openMs = performance.now() - t0;
    await sleep(SKIP_S * 1000);
    const a = cpuOf([server.pid]);
    const ar = cpuOf(redis ? [redis.pid] : []);
    const ta = performance.now();
    await sleep(WINDOW_S * 1000);
    const [b, br, wall] = [cpuOf([server.pid]), cpuOf(redis ? [redis.pid] : []), performance.now() - ta];
    console.log(
        `${LIB} ${KIND} × ${CLIENTS}, ${STORE} store, open in ${(openMs / 1000).toFixed(1)} s; ${WINDOW_S} s from ${SKIP_S} s after: ` +
            `server ${cpuRate(a, b, wall, CLIENTS).toFixed(1)} ms/s per 1,000 clients` +
            (redis ? `, redis-server ${cpuRate(ar, br, wall, CLIENTS).toFixed(1)}` : ''),
    );
} finally {
    await fleet?.stop();
    await server.stop();
    await redis?.stop();
}

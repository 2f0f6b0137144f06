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
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startRedis, spawnGroup, freePort, waitPort } from '../tests/lib/services.mjs';
import { cpuMs } from './stats.mjs';

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
    fleet = spawn(
        process.execPath,
        [path.join(ROOT, 'bench', 'cluster-fleet.mjs'), '--lib', LIB, '--urls', `http://127.0.0.1:${port}`, '--clients', String(CLIENTS), '--kind', KIND],
        { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let open = 0;
    readline.createInterface({ input: fleet.stdout }).on('line', (line) => {
        try {
            const m = JSON.parse(line);
            if (m.type === 'open') open = m.open;
        } catch {}
    });
    const t0 = performance.now();
    while (open < CLIENTS && performance.now() - t0 < 60000) await sleep(100);
    if (open < CLIENTS) throw new Error(`only ${open}/${CLIENTS} open after 60 s`);
    const openMs = performance.now() - t0;
    await sleep(SKIP_S * 1000);
    const pids = [server.pid, ...(redis ? [redis.pid] : [])];
    const a = pids.map(cpuMs);
    const ta = performance.now();
    await sleep(WINDOW_S * 1000);
    const b = pids.map(cpuMs);
    const wall = performance.now() - ta;
    const per1k = (i) => (((b[i] - a[i]) / wall) * 1000 * 1000) / CLIENTS;
    console.log(
        `${LIB} ${KIND} × ${CLIENTS}, ${STORE} store, open in ${(openMs / 1000).toFixed(1)} s; ${WINDOW_S} s from ${SKIP_S} s after: ` +
            `server ${per1k(0).toFixed(1)} ms/s per 1,000 clients` +
            (redis ? `, redis-server ${per1k(1).toFixed(1)}` : ''),
    );
} finally {
    fleet?.stdin.end('exit\n');
    await sleep(1000);
    fleet?.kill('SIGKILL');
    await server.stop();
    await redis?.stop();
}

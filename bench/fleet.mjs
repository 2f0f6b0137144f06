#!/usr/bin/env node
// fleet.mjs — N simulated clients in this one process, the real library in each, against
// one server (bench/run.mjs spawns this; it prints one JSON line).
//
//   node bench/fleet.mjs --lib lifeline|sio --url http://127.0.0.1:<port> --clients 1000
//        [--idle 10000] [--active 10000] [--herd 10000] [--rate 1] [--deadline ms]
//
// lifeline: dist/lifeline.mjs (the wasm core + shim) with the `ws` package, defaults
// (WebSocket), against demo/server.mjs. sio: socket.io-client defaults against
// bench/sio-server.mjs. Phases:
//   connect   clients start in batches of 100 every 50 ms (not a herd of our own making)
//   idle      server request counters over --idle ms, no data
//   active    --rate publishes per second over --active ms
//   herd      POST /admin/restart, then every connection attempt the clients make (WebSocket
//             constructions + HTTP requests, recorded in this process) bucketed per 100 ms
//             over --herd ms; peak bucket / mean bucket over the span from the restart to the
//             last bucket with an attempt; time until every client is open again
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (k, d) => {
    const i = process.argv.indexOf('--' + k);
    return i > 0 ? process.argv[i + 1] : d;
};
const lib = arg('lib', 'lifeline');
const url = arg('url');
const N = Number(arg('clients', 1000));
const IDLE = Number(arg('idle', 10000));
const ACTIVE = Number(arg('active', 10000));
const HERD = Number(arg('herd', 10000));
const RATE = Number(arg('rate', 1));
const DEADLINE = Number(arg('deadline', 120000));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const notes = [];

// hard stop: never outlive the deadline
setTimeout(() => {
    process.stdout.write(JSON.stringify({ lib, error: `fleet deadline ${DEADLINE} ms passed`, notes }) + '\n');
    process.exit(3);
}, DEADLINE).unref();

async function admin(p, body) {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 10000);
    try {
        const r = await fetch(url + p, {
            method: body === undefined ? 'GET' : 'POST',
            headers: { 'content-type': 'application/json' },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: ac.signal,
        });
        return await r.json();
    } finally {
        clearTimeout(t);
    }
}

// every connection attempt of every client, timestamped (this process sees what the server gets)
let attempts = [];
const record = (kind) => attempts.push([performance.now(), kind]);
const realFetch = globalThis.fetch;
class CountingWS extends WebSocket {
    constructor(...a) {
        super(...a);
        record('ws');
    }
}

const clients = [];
let open = 0;
let received = 0;

async function makeLifeline() {
    const { Lifeline } = await import(path.join(ROOT, 'dist', 'lifeline.mjs'));
    const fetchCounted = (...a) => (record('http'), realFetch(...a));
    return (i) => {
        const l = new Lifeline(url + '/live/test', { WebSocket: CountingWS, fetch: fetchCounted, seed: i + 1 });
        const c = { l, open: false };
        l.addEventListener('statechange', (e) => {
            const now = e.state === 'open';
            if (now !== c.open) ((open += now ? 1 : -1), (c.open = now));
        });
        l.addEventListener('message', () => received++);
        l.addEventListener('error', () => {});
        c.close = () => l.close();
        return c;
    };
}

async function makeSio() {
    const { io } = await import('socket.io-client');
    return () => {
        const s = io(url, { forceNew: true });
        const c = { s, open: false };
        s.on('connect', () => c.open || ((c.open = true), open++));
        s.on('disconnect', () => c.open && ((c.open = false), open--));
        s.on('msg', () => received++);
        c.close = () => s.close();
        return c;
    };
}

// socket.io-client in Node polls with xmlhttprequest-ssl and opens WebSockets with `ws`,
// both through http.request (looked up at call time): count every request there
async function instrumentSio() {
    const http = (await import('node:http')).default;
    const req0 = http.request;
    http.request = function (...a) {
        const o = a.find((v) => v && typeof v === 'object' && !(v instanceof URL));
        const h = o?.headers ?? {};
        record(String(h.Upgrade ?? h.upgrade ?? '').toLowerCase() === 'websocket' ? 'ws' : 'http');
        return req0.apply(this, a);
    };
}

function bucketize(list, t0, span, width = 100) {
    const n = Math.ceil(span / width);
    const b = new Array(n).fill(0);
    for (const [t] of list) {
        const i = Math.floor((t - t0) / width);
        if (i >= 0 && i < n) b[i]++;
    }
    return b;
}

function requestsOf(s) {
    // demo/server.mjs: ws, poll, longpoll, post, options; sio-server: ws, poll, post
    return (s.ws ?? 0) + (s.poll ?? 0) + (s.longpoll ?? 0) + (s.post ?? 0) + (s.options ?? 0);
}

async function main() {
    let make;
    if (lib === 'sio') {
        await instrumentSio();
        make = await makeSio();
    } else make = await makeLifeline();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
        clients.push(make(i));
        if (i % 100 === 99) await sleep(50);
    }
    const end = performance.now() + Math.max(20000, N * 10);
    while (open < N && performance.now() < end) await sleep(50);
    const connectMs = performance.now() - t0;
    if (open < N) notes.push(`only ${open}/${N} open after ${Math.round(connectMs)} ms`);
    await sleep(1000); // let the connect wave settle

    // idle
    await admin('/admin/stats/reset', {});
    let a = performance.now();
    await sleep(IDLE);
    let s = await admin('/admin/stats');
    let dt = (performance.now() - a) / 1000;
    const idle = { seconds: dt, requestsPerSec: requestsOf(s) / dt, bytesOutPerSec: (s.bytesOut ?? 0) / dt, bytesInPerSec: (s.bytesIn ?? 0) / dt, raw: s };

    // active
    await admin('/admin/stats/reset', {});
    received = 0;
    a = performance.now();
    let published = 0;
    while (performance.now() - a < ACTIVE) {
        await admin('/admin/publish', { data: { n: published++, t: Date.now() } });
        await sleep(1000 / RATE);
    }
    await sleep(1000);
    s = await admin('/admin/stats');
    dt = (performance.now() - a) / 1000;
    const active = {
        seconds: dt,
        published,
        rate: RATE,
        delivered: received,
        expected: published * N,
        requestsPerSec: requestsOf(s) / dt,
        bytesOutPerSec: (s.bytesOut ?? 0) / dt,
        raw: s,
    };

    // herd
    attempts = [];
    const openBefore = open;
    const tr = performance.now();
    await admin('/admin/restart', {});
    let allBackAt = null;
    let sawDrop = false;
    while (performance.now() - tr < HERD) {
        if (open < openBefore) sawDrop = true;
        if (sawDrop && open >= openBefore && allBackAt === null) allBackAt = performance.now() - tr;
        await sleep(20);
    }
    const span = HERD;
    const buckets = bucketize(attempts, tr, span);
    let last = buckets.length - 1;
    while (last > 0 && buckets[last] === 0) last--;
    const used = buckets.slice(0, last + 1);
    const total = used.reduce((x, y) => x + y, 0);
    const mean = total / Math.max(1, used.length);
    const peak = Math.max(0, ...used);
    const herd = {
        attempts: total,
        byKind: attempts.reduce((o, [, k]) => ((o[k] = (o[k] ?? 0) + 1), o), {}),
        spanMs: used.length * 100,
        peakPer100ms: peak,
        meanPer100ms: mean,
        peakToMean: mean ? peak / mean : null,
        allBackMs: allBackAt,
        openAtEnd: open,
        openBefore,
        buckets: used,
    };
    for (const c of clients) c.close();
    await sleep(300);
    process.stdout.write(JSON.stringify({ lib, clients: N, connectMs, idle, active, herd, notes }) + '\n');
    process.exit(0);
}

main().catch((e) => {
    process.stdout.write(JSON.stringify({ lib, error: String(e?.stack || e), notes }) + '\n');
    process.exit(2);
});

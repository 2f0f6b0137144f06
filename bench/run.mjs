#!/usr/bin/env node
// run.mjs — Lifeline against socket.io-client, measured side by side in one run.
//
//   node bench/run.mjs [--quick] [--clients N]       (make bench / make bench QUICK=1)
//
// Prints Markdown tables, writes bench/results.json, bench/results.md and bench/results.svg
// (--quick: bench/results-quick.*, git-ignored, so `make test` leaves the committed full
// results alone).
// Every figure comes from this one run. Medians, not means (the machine is noisy).
//
// Set-up. Every server is a child process on 127.0.0.1: demo/server.mjs for Lifeline and
// bench/sio-server.mjs (the `socket.io` package, default options) for socket.io; every
// client reaches its server through its own fault proxy (tests/proxy.mjs), so both libraries
// cross the same faults and are counted by the same code. Node clients run in this process
// (Lifeline from dist/lifeline.mjs with the `ws` package; socket.io-client's Node build);
// browser clients run in headless Chromium started with --remote-debugging-port and driven
// over CDP, so that a tab can really be hidden (TOOLCHAIN.md). The fleet runs in a child
// process (bench/fleet.mjs). A global watchdog ends the run (exit 1, partial results
// written) only if it hangs: 10 min quick (a normal quick run takes under 2 min, and a
// slow or shared machine must not fail `make test`), 30 min full. The quick form exits 1
// when a phase produced no results (it threw, or never ran): it checks that every phase
// works, never how fast.
//
// Phases: size and `make bench-core` first; then, concurrently, the idle-cost and
// stall-recovery measurements (which count requests and 100 ms-scale gaps, robust to the
// CPU sharing) beside the time-sensitive foreground: time to first message in Node, then in
// Chromium, then update latency and the wasm ns/event; the fleet last, alone.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import zlib from 'node:zlib';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createProxy } from '../tests/proxy.mjs';
import { CHROMIUM, FLAGS as CHROMIUM_FLAGS } from '../tests/lib/chromium.mjs';
import { startServer, spawnListening } from '../tests/lib/servers.mjs';
import { median, percentile as pct } from './stats.mjs';
import { browserBundle } from './bundle.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'bench');
const QUICK = process.argv.includes('--quick');
const argOf = (k) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : undefined;
};
// (the quick form, which `make test` runs so that the bench never rots, takes 300 clients)
const CLIENTS = Math.min(10000, Math.max(1, Number(argOf('--clients') ?? (QUICK ? 300 : 1000))));
const C = QUICK
    ? {
          reps: 2,
          cap: 15000,
          idleWarm: 5000,
          idleWin: 45000,
          latN: 15,
          stallCap: 50000,
          fleet: { idle: 6000, active: 3000, herd: 4000 },
          sioFleet: Math.min(CLIENTS, 300),
          nsEvents: 20000,
          watchdog: 10 * 60000,
          pool: 8,
      }
    : {
          reps: 7,
          cap: 60000,
          idleWarm: 30000,
          idleWin: 180000,
          latN: 60,
          stallCap: 90000,
          fleet: { idle: 20000, active: 20000, herd: 15000 },
          sioFleet: Math.min(CLIENTS, 1000),
          nsEvents: 200000,
          watchdog: 30 * 60000,
          pool: 8,
      };
const MODES = ['pass', 'refuse', 'blackhole', 'stall', 'flap'];
const LIBS = [
    { id: 'lifeline', name: 'Lifeline' },
    { id: 'sio', name: 'socket.io default' },
    { id: 'sio-ws', name: 'socket.io ws-first' },
];
const T0 = performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1)}s] ${a.join(' ')}\n`);

const results = { meta: {}, size: null, ttfm: {}, idle: {}, latency: null, stall: null, core: null, fleet: {}, notes: [] };
const note = (s) => (results.notes.push(s), log('note:', s));

// ---------------------------------------------------------------- resources & watchdog

const children = new Set();
const proxies = new Set();
const cleanups = new Set();
function killAll() {
    for (const c of children) {
        try {
            c.kill('SIGKILL');
        } catch {}
    }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'])
    process.once(sig, () => {
        killAll();
        process.exit(130);
    });
const watchdog = setTimeout(() => {
    note(`watchdog: the run overran ${C.watchdog / 1000} s and was stopped; results are partial`);
    try {
        writeOutputs();
    } catch {}
    killAll();
    process.exit(1);
}, C.watchdog);

const lifelineServer = (args = []) => startServer('node', ['--origins', '*', ...args]);
const sioServer = () => spawnListening(process.execPath, [path.join(BENCH, 'sio-server.mjs'), '--port', '0']);

async function proxyTo(target, mode = 'pass', opts) {
    const p = await createProxy({ target, listenPort: 0 });
    proxies.add(p);
    p.setMode(mode, opts);
    const close = p.close.bind(p);
    p.close = async () => {
        proxies.delete(p);
        await close();
    };
    return p;
}

async function fetchT(url, init = {}, ms = 10000) {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), ms);
    try {
        return await fetch(url, { ...init, signal: ac.signal });
    } finally {
        clearTimeout(t);
    }
}
const admin = async (base, p, body) =>
    (await fetchT(base + p, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();

// ---------------------------------------------------------------- statistics & formatting

const ms = (v) => (v == null ? '—' : v < 10 ? `${v.toFixed(1)} ms` : v < 10000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`);
const num = (v, d = 1) => (v == null ? '—' : v >= 100 ? String(Math.round(v)) : v.toFixed(d));
const kb = (b) => (b == null ? '—' : b >= 1024 ? `${(b / 1024).toFixed(1)} KB` : `${Math.round(b)} B`);
const ratio = (a, b) => (a == null || b == null || !b ? '—' : `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×`);
function table(head, rows) {
    return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ---------------------------------------------------------------- static origin for pages

let staticSrv = null;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-bench-'));
cleanups.add(() => fs.rmSync(tmp, { recursive: true, force: true }));
async function startStatic() {
    // the page origin for Chromium (/, /lifeline.mjs, /sio.mjs) and the static ETag resource
    // that resource mode watches (/etag.json: ETag + 304, like nginx serving a file)
    const body = JSON.stringify({ weather: 'sunny', t: 1 });
    const etag = '"v1-static"';
    const srv = http.createServer((req, res) => {
        const u = new URL(req.url, 'http://x');
        const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'ETag' };
        if (u.pathname === '/etag.json') {
            if (req.headers['if-none-match'] === etag) {
                res.writeHead(304, { ...cors, ETag: etag, 'Cache-Control': 'no-cache' });
                return res.end();
            }
            res.writeHead(200, { ...cors, ETag: etag, 'Cache-Control': 'no-cache', 'Content-Type': 'application/json' });
            return res.end(body);
        }
        const files = { '/lifeline.mjs': path.join(ROOT, 'dist/lifeline.mjs'), '/sio.mjs': path.join(tmp, 'sio.mjs') };
        if (files[u.pathname] && fs.existsSync(files[u.pathname])) {
            res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-store' });
            return res.end(fs.readFileSync(files[u.pathname]));
        }
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><meta charset="utf-8"><title>bench</title><p>bench</p>');
    });
    const sockets = new Set();
    srv.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.add(() => {
        for (const s of sockets) s.destroy();
        srv.close();
    });
    return { url: `http://127.0.0.1:${srv.address().port}` };
}

// ---------------------------------------------------------------- size

async function measureSize() {
    const gz = (b) => zlib.gzipSync(b, { level: 9 }).length;
    const rows = [];
    for (const f of ['dist/lifeline.mjs', 'dist/lifeline.js']) {
        const b = fs.readFileSync(path.join(ROOT, f));
        rows.push({ name: f + ' (wasm inlined)', raw: b.length, gzip: gz(b) });
    }
    const wasm = path.join(ROOT, 'dist/lifeline.wasm');
    if (fs.existsSync(wasm)) {
        const b = fs.readFileSync(wasm);
        rows.push({ name: 'dist/lifeline.wasm (alone, for reference)', raw: b.length, gzip: gz(b), reference: true });
    }
    for (const pkg of ['socket.io-client', 'engine.io-client', 'phoenix']) {
        const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'))).version;
        const b = await browserBundle(pkg);
        if (pkg === 'socket.io-client') fs.writeFileSync(path.join(tmp, 'sio.mjs'), b);
        rows.push({ name: `${pkg} ${version} (esbuild --bundle --minify, ESM, browser)`, raw: b.length, gzip: gz(b) });
    }
    results.size = rows;
}

// ---------------------------------------------------------------- core cost

function runMake(target, timeoutMs) {
    return new Promise((resolve) => {
        execFile('make', ['--no-print-directory', '-C', ROOT, target], { timeout: timeoutMs, env: { ...process.env, MAKEFLAGS: '' } }, (err, stdout, stderr) =>
            resolve({ err, stdout: String(stdout), stderr: String(stderr) }),
        );
    });
}

async function coreCallgrind() {
    if (!fs.existsSync('/usr/bin/valgrind')) return { skipped: 'valgrind is not installed (make deps installs it)' };
    const r = await runMake('bench-core', QUICK ? 40000 : 120000);
    if (r.err) return { skipped: `make bench-core failed: ${String(r.err.message).split('\n')[0]}` };
    const rows = r.stdout
        .split('\n')
        .map((l) => /^\| (\w+) \| (\d+) \| (-?\d+) \|$/.exec(l.trim()))
        .filter(Boolean)
        .map((m) => ({ cycle: m[1], eventsPerCycle: +m[2], instructionsPerEvent: +m[3] }));
    return { rows };
}

async function coreWasm() {
    // the shipped core through the real loader, decoder and driver: one ws frame per input,
    // parsed (JSON.parse), fed, drained into decoded actions (what a page pays per message,
    // minus the event dispatch)
    const { runtime } = await import(path.join(ROOT, 'js/loader.mjs'));
    const { driver } = await import(path.join(ROOT, 'js/driver.mjs'));
    const { frame } = await import(path.join(ROOT, 'js/protocol.mjs'));
    const ws = (text) => {
        const [args, msgs] = frame(text);
        feed('ll_ws_frame', [wsId, ...args], null, msgs);
    };
    const K = await import(path.join(ROOT, 'js/constants.js'));
    const rt = runtime();
    const x = rt.x;
    const core = rt.alloc();
    let clock = 1000;
    let wsId = 0;
    let delivered = 0;
    x.ll_init(core, 1, 0);
    x.ll_set_cursor(core, ...rt.args(['1']));
    const feed = driver(
        rt,
        core,
        () => clock,
        () => 0,
        () => {},
        (a) => {
            if (a.type === K.ACT_WS_OPEN) wsId = a.socket;
            if (a.type === K.ACT_DELIVER) delivered++;
        },
    );
    feed('ll_start', [1, 1]);
    feed('ll_ws_opened', [wsId]);
    ws('{"type":"hello","cursor":"1","heartbeat":25000}');
    const N = C.nsEvents;
    const frames = Array.from({ length: N }, (_, i) => `{"type":"msg","cursor":"${i + 2}","data":{"n":${i}}}`);
    const batches = [];
    let i = 0;
    const per = Math.floor(N / 5);
    for (let b = 0; b < 5; b++) {
        const t = performance.now();
        for (let k = 0; k < per; k++, i++) {
            clock += 1;
            ws(frames[i]);
        }
        batches.push(((performance.now() - t) * 1e6) / per);
    }
    // the bare export, the frame already decoded and its cursor in wasm memory: the core alone
    const core2 = rt.alloc();
    x.ll_init(core2, 1, 0);
    x.ll_set_cursor(core2, ...rt.args(['1']));
    let now = 1000n;
    let ws2 = 0;
    x.ll_start(core2, now, 1, 1);
    for (let p; (p = x.ll_next_action(core2));) {
        const a = rt.action(p);
        if (a.type === K.ACT_WS_OPEN) ws2 = a.socket;
    }
    x.ll_ws_opened(core2, ++now, ws2);
    x.ll_ws_frame(core2, ++now, ws2, K.FRAME_HELLO, 47, 1, ...rt.args(['1']), 0, ...rt.args(['']));
    while (x.ll_next_action(core2));
    const enc = new TextEncoder();
    const bare = [];
    let j = 2;
    for (let b = 0; b < 5; b++) {
        const t = performance.now();
        for (let k = 0; k < per; k++, j++) {
            const [p, n] = rt.args([enc.encode(String(j))]);
            x.ll_ws_frame(core2, ++now, ws2, K.FRAME_MSG, 40, 2, p, n, 0, p, 0);
            while (x.ll_next_action(core2));
        }
        bare.push(((performance.now() - t) * 1e6) / per);
    }
    feed.stop();
    return { events: per * 5, delivered, driverNsPerEvent: median(batches), bareNsPerEvent: median(bare), driverBatches: batches, bareBatches: bare };
}

// ---------------------------------------------------------------- Node clients

let LifelineNode;
let ioNode;
async function loadNodeLibs() {
    LifelineNode = (await import(path.join(ROOT, 'dist/lifeline.mjs'))).Lifeline;
    ioNode = (await import('socket.io-client')).io;
}
const SIO_WS_FIRST = { transports: ['websocket', 'polling'], tryAllTransports: true };

/** First message after construction: {ms|null, transport}. */
function firstNode(lib, url, cap) {
    return new Promise((resolve) => {
        const t0 = performance.now();
        let done = false;
        let finish;
        if (lib === 'lifeline') {
            const l = new LifelineNode(url + '/live/test', { WebSocket, cursor: '0' });
            l.addEventListener('error', () => {});
            finish = (v) => {
                if (done) return;
                done = true;
                clearTimeout(t);
                // the state action may follow the delivery in the same drain
                setTimeout(() => (resolve({ ms: v, transport: l.transport }), l.close()), 0);
            };
            l.addEventListener('message', () => finish(performance.now() - t0));
        } else {
            const s = ioNode(url, { forceNew: true, ...(lib === 'sio-ws' ? SIO_WS_FIRST : {}) });
            finish = (v) => {
                if (done) return;
                done = true;
                clearTimeout(t);
                resolve({ ms: v, transport: s.io.engine?.transport?.name ?? 'none' });
                s.close();
            };
            s.on('msg', () => finish(performance.now() - t0));
        }
        const t = setTimeout(() => finish(null), cap);
    });
}

function summarizeTtfm(trials) {
    const out = {};
    for (const mode of MODES) {
        out[mode] = {};
        for (const lib of LIBS) {
            const runs = trials.filter((t) => t.mode === mode && t.lib === lib.id);
            const got = runs.filter((r) => r.ms != null);
            out[mode][lib.id] = {
                runs: runs.map((r) => (r.ms == null ? null : Math.round(r.ms * 10) / 10)),
                median: got.length * 2 > runs.length ? median(runs.map((r) => (r.ms == null ? Infinity : r.ms))) : null,
                medianDelivered: median(got.map((r) => r.ms)),
                delivered: `${got.length}/${runs.length}`,
                transports: [...new Set(runs.map((r) => r.transport))],
            };
        }
    }
    return out;
}

/** Every (mode, lib, rep); the fault modes that can hold a client longest first, so that
 *  trials waiting for the cap overlap the rest of the phase instead of trailing it. */
function ttfmTrials() {
    const out = [];
    for (const mode of ['blackhole', 'stall', 'flap', 'refuse', 'pass'])
        for (let rep = 0; rep < C.reps; rep++) for (const lib of LIBS) out.push({ mode, lib: lib.id, rep });
    return out;
}

async function ttfmNode(targets) {
    // one warm-up connection per library (module and JIT first use), not counted
    for (const lib of LIBS) {
        const p = await proxyTo(lib.id === 'lifeline' ? targets.lifeline : targets.sio);
        await firstNode(lib.id, p.url, 5000);
        await p.close();
    }
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    // a pool of 8; a trial still waiting after 2 s leaves the pool and waits on, idle (the
    // phase returns once only such trials remain: `wait` resolves with the summary)
    const { all } = await parkingPool(ttfmTrials(), C.pool, async (t) => {
        const p = await proxyTo(t.lib === 'lifeline' ? targets.lifeline : targets.sio, t.mode);
        const r = await firstNode(t.lib, p.url, C.cap);
        await p.close();
        return { ...t, ...r };
    });
    h.disable();
    results.meta.nodeTtfmEventLoopLagMs = { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    return { wait: all.then(summarizeTtfm) };
}

/** Run fn over items, `width` at a time; an item not done within parkMs stops holding its
 *  slot. Resolves once every item has started and every slot is free, to {all: a Promise
 *  of every result}. */
async function parkingPool(items, width, fn, parkMs = 2000) {
    const all = [];
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const pr = fn(items[next++]);
            all.push(pr);
            await Promise.race([pr, sleep(parkMs)]);
        }
    };
    await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
    return { all: Promise.all(all) };
}

// ---------------------------------------------------------------- Chromium

let browser = null;
let chromiumVersion = null;
async function startChromium() {
    if (!fs.existsSync(CHROMIUM)) throw new Error('no Chromium at ' + CHROMIUM);
    const { chromium } = await import('playwright-core');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-bench-chromium-'));
    const rmDir = () => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    cleanups.add(async () => (await sleep(500), rmDir()));
    process.on('exit', () => {
        try {
            rmDir(); // helpers may still have been writing at the first attempt
        } catch {}
    });
    const proc = spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank'], {
        stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(proc);
    proc.on('exit', () => children.delete(proc));
    // SIGTERM and wait: Chromium then ends and reaps its own helpers (a SIGKILL leaves them
    // to init)
    const exited = new Promise((r) => proc.once('exit', r));
    cleanups.add(async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
    });
    const address = await new Promise((resolve, reject) => {
        let err = '';
        const t = setTimeout(() => reject(new Error('Chromium: no DevTools address within 20 s ' + err.slice(-500))), 20000);
        proc.stderr.on('data', (d) => {
            err += d;
            const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
            if (m) {
                clearTimeout(t);
                resolve(m[1]);
            }
        });
        proc.once('exit', (c) => reject(new Error(`Chromium exited (${c}) ${err.slice(-500)}`)));
    });
    proc.stderr.resume();
    browser = await chromium.connectOverCDP(address, { noDefaults: true });
    chromiumVersion = browser.version();
    cleanups.add(() => browser.close().catch(() => {}));
    return browser.contexts()[0];
}

async function openPage(ctx, origin) {
    const page = await ctx.newPage();
    await page.goto(origin + '/', { timeout: 15000 });
    await page.evaluate(async () => {
        window.__L = (await import('/lifeline.mjs')).Lifeline;
        window.__io = (await import('/sio.mjs')).io;
    });
    return page;
}

// Chromium delays a new WebSocket while others of the same renderer are pending or just
// failed (a black-holed attempt in one trial slowed every other trial's WebSocket by
// hundreds of ms when they shared a page): every trial gets its own browser context (its
// own renderer), in a Playwright-launched Chromium whose pages are always visible.
async function ttfmChromium(targets, staticUrl) {
    const { chromium } = await import('playwright-core');
    const b = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 20000 });
    try {
        const run = async (t, cap) => {
            const ctx = await b.newContext();
            const p = await proxyTo(t.lib === 'lifeline' ? targets.lifeline : targets.sio, t.mode);
            try {
                const page = await ctx.newPage();
                await page.goto(staticUrl + '/', { timeout: 15000 });
                const r = await page.evaluate(
                    async ([t, url, cap, wsFirst]) => {
                        const L = (await import('/lifeline.mjs')).Lifeline;
                        const io = (await import('/sio.mjs')).io;
                        return new Promise((resolve) => {
                            const t0 = performance.now();
                            let done = false;
                            let finish;
                            if (t.lib === 'lifeline') {
                                const l = new L(url + '/live/test', { cursor: '0' });
                                finish = (v) => {
                                    if (done) return;
                                    done = true;
                                    setTimeout(() => (resolve({ ms: v, transport: l.transport }), l.close()), 0);
                                };
                                l.addEventListener('message', () => finish(performance.now() - t0));
                            } else {
                                const s = io(url, { forceNew: true, ...(t.lib === 'sio-ws' ? wsFirst : {}) });
                                finish = (v) => {
                                    if (done) return;
                                    done = true;
                                    resolve({ ms: v, transport: s.io.engine?.transport?.name ?? 'none' });
                                    s.close();
                                };
                                s.on('msg', () => finish(performance.now() - t0));
                            }
                            setTimeout(() => finish(null), cap);
                        });
                    },
                    [t, p.url, cap, SIO_WS_FIRST],
                );
                return { ...t, ...r };
            } finally {
                await ctx.close().catch(() => {});
                await p.close();
            }
        };
        await run({ mode: 'pass', lib: 'lifeline', rep: -1 }, 5000); // warm the browser up, not counted
        // one trial at a time (a renderer per trial costs CPU that would bend the others'
        // timings); a trial still waiting after 2 s goes on waiting, idle, in the background
        // while the next one starts — so that the capped ones do not serialize the run
        const { all } = await parkingPool(ttfmTrials(), 1, (t) => run(t, C.cap));
        return { wait: all.then(summarizeTtfm).finally(() => b.close().catch(() => {})) };
    } catch (e) {
        await b.close().catch(() => {});
        throw e;
    }
}

// ---------------------------------------------------------------- idle cost

/** IPv4 + TCP headers with timestamps: a segment's cost on the wire beyond its payload. */
const TCP_IP_HEADER = 52;

function idleRow(name, where, st, seconds) {
    const req = st.http_total + st.ws_upgrades;
    const bytes = st.bytes.http.up + st.bytes.http.down + st.bytes.ws.up + st.bytes.ws.down;
    const reads = st.reads ? st.reads.http.up + st.reads.http.down + st.reads.ws.up + st.reads.ws.down : 0;
    return {
        // on the wire, estimated: every read a segment with its headers, and a bare ACK back
        wirePerMin: ((bytes + reads * 2 * TCP_IP_HEADER) * 60) / seconds,
        name,
        where,
        seconds,
        requests: req,
        bytes,
        requestsPerMin: (req * 60) / seconds,
        bytesPerMin: (bytes * 60) / seconds,
        http: st.http_requests,
        wsUpgrades: st.ws_upgrades,
    };
}

async function waitFor(fn, ms, every = 50) {
    const end = performance.now() + ms;
    while (performance.now() < end) {
        if (await fn()) return true;
        await sleep(every);
    }
    return false;
}

async function idlePhase(servers, ctx, staticUrl) {
    // Node: one client per transport, each behind its own proxy, no data published
    const defs = [
        { name: 'Lifeline — WebSocket', target: servers.L, make: (u) => new LifelineNode(u + '/live/test', { WebSocket }), want: 'websocket' },
        { name: 'Lifeline — long poll', target: servers.L, make: (u) => new LifelineNode(u + '/live/test', { WebSocket, websocket: false }), want: 'longpoll' },
        {
            name: 'Lifeline — interval poll (server --long-poll-max 0)',
            target: servers.L0,
            make: (u) => new LifelineNode(u + '/live/test', { WebSocket, websocket: false }),
            want: 'poll',
        },
        { name: 'Lifeline — resource mode (static ETag URL)', target: staticUrl, make: (u) => LifelineNode.watch(u + '/etag.json'), want: 'resource' },
        { name: 'socket.io default (WebSocket after upgrade)', target: servers.S, make: (u) => ioNode(u, { forceNew: true }), sio: true },
        { name: 'socket.io polling only', target: servers.S, make: (u) => ioNode(u, { forceNew: true, transports: ['polling'] }), sio: true },
    ];
    const live = [];
    for (const d of defs) {
        const p = await proxyTo(d.target);
        const c = d.make(p.url);
        if (!d.sio) c.addEventListener('error', () => {});
        live.push({ d, p, c });
    }
    // hidden tabs: started while in front, then hidden behind the foreground page
    const hidden = [];
    if (ctx) {
        const hdefs = [
            { name: 'Lifeline (WebSocket) — tab hidden', target: servers.L, code: 'lifeline' },
            { name: 'Lifeline (long poll) — tab hidden', target: servers.L, code: 'lifeline-lp' },
            { name: 'socket.io default — tab hidden', target: servers.S, code: 'sio' },
        ];
        for (const h of hdefs) {
            const p = await proxyTo(h.target);
            const page = await openPage(ctx, staticUrl);
            await page.bringToFront();
            await page.evaluate(
                ([code, url]) => {
                    if (code === 'sio') window.__c = window.__io(url, { forceNew: true });
                    else window.__c = new window.__L(url + '/live/test', code === 'lifeline-lp' ? { websocket: false } : {});
                },
                [h.code, p.url],
            );
            const ok = await waitFor(
                () =>
                    page.evaluate(
                        ([code]) =>
                            code === 'sio' ? window.__c.connected && window.__c.io.engine.transport.name === 'websocket' : window.__c.state === 'open',
                        [h.code],
                    ),
                8000,
                100,
            );
            if (!ok) note(`${h.name}: not connected in front within 8 s`);
            hidden.push({ h, p, page });
        }
    }
    return { live, hidden };
}

async function idleMeasure(state, fg) {
    const { live, hidden } = state;
    const rows = { node: [], hidden: [] };
    const t0 = performance.now();
    await sleep(C.idleWarm);
    for (const x of live) {
        const tr = x.d.sio ? x.c.io.engine?.transport?.name : x.c.transport;
        x.transport = tr;
        if (x.d.want && tr !== x.d.want) note(`${x.d.name}: transport is ${tr}, not ${x.d.want}`);
        x.p.resetStats();
    }
    const start = performance.now();
    await sleep(C.idleWin);
    const secs = (performance.now() - start) / 1000;
    for (const x of live) rows.node.push({ ...idleRow(x.d.name, 'Node', x.p.stats(), secs), transport: x.transport });
    for (const x of live) {
        try {
            x.d.sio ? x.c.close() : x.c.close();
        } catch {}
        await x.p.close();
    }
    if (hidden.length) {
        // hidden since the foreground page came to the front (fg.hiddenAt)
        for (const x of hidden) {
            const st = x.p.stats();
            const secs2 = (performance.now() - fg.hiddenAt) / 1000;
            const after = x.afterGrace ? idleRow(x.h.name, 'Chromium', subtract(st, x.afterGrace), (performance.now() - x.afterGraceAt) / 1000) : null;
            rows.hidden.push({ ...idleRow(x.h.name, 'Chromium, hidden', st, secs2), visibility: x.visibility, afterGrace: after });
            await x.page.close().catch(() => {});
            await x.p.close();
        }
    }
    void t0;
    return rows;
}
function subtract(a, b) {
    return {
        http_total: a.http_total - b.http_total,
        ws_upgrades: a.ws_upgrades - b.ws_upgrades,
        bytes: {
            http: { up: a.bytes.http.up - b.bytes.http.up, down: a.bytes.http.down - b.bytes.http.down },
            ws: { up: a.bytes.ws.up - b.bytes.ws.up, down: a.bytes.ws.down - b.bytes.ws.down },
        },
    };
}

// ---------------------------------------------------------------- stall recovery

async function stallPhase(onReady = () => {}) {
    const [L, S] = await Promise.all([lifelineServer(), sioServer()]);
    const pL = await proxyTo(L.url);
    const pS = await proxyTo(S.url);
    const libs = {
        lifeline: { got: new Map(), dup: 0, published: new Map(), gone: [] },
        sio: { got: new Map(), dup: 0, published: new Map(), gone: [] },
    };
    const l = new LifelineNode(pL.url + '/live/test', { WebSocket });
    l.addEventListener('error', () => {});
    // when each library said its socket was gone (Lifeline: stalled; socket.io: disconnect)
    l.addEventListener('statechange', (e) => e.reason === 'ws_stalled' && libs.lifeline.gone.push(performance.now()));
    l.addEventListener('message', (e) => {
        const i = e.data?.i;
        const g = libs.lifeline.got;
        g.has(i) ? libs.lifeline.dup++ : g.set(i, performance.now());
    });
    const s = ioNode(pS.url, { forceNew: true });
    s.on('disconnect', () => libs.sio.gone.push(performance.now()));
    s.on('msg', (m) => {
        const i = m?.data?.i;
        if (i == null) return;
        const g = libs.sio.got;
        g.has(i) ? libs.sio.dup++ : g.set(i, performance.now());
    });
    const ready = await waitFor(() => l.transport === 'websocket' && s.connected && s.io.engine?.transport?.name === 'websocket', 10000);
    if (!ready) note(`stall: clients not both on WebSocket within 10 s (lifeline ${l.transport}, socket.io ${s.io.engine?.transport?.name})`);
    onReady();
    let i = 0;
    let stop = false;
    const publisher = (async () => {
        while (!stop) {
            const k = i++;
            const t = performance.now();
            libs.lifeline.published.set(k, t);
            libs.sio.published.set(k, t);
            await Promise.all([admin(L.url, '/admin/publish', { data: { i: k } }), admin(S.url, '/admin/publish', { data: { i: k } })]).catch(() => {});
            await sleep(100);
        }
    })();
    await sleep(2000);
    const tStall = performance.now();
    const firstAfter = Math.min(...[...libs.lifeline.published].filter(([, t]) => t >= tStall).map(([k]) => k), Infinity);
    // the proxy freezes both open WebSockets and keeps stalling every new one
    pL.setMode('stall');
    pS.setMode('stall');
    const recovered = (lib) => [...libs[lib].got].some(([k, t]) => t > tStall && libs[lib].published.get(k) >= tStall);
    await waitFor(() => recovered('lifeline') && recovered('sio'), C.stallCap, 100);
    await sleep(recovered('lifeline') && recovered('sio') ? 2000 : 0);
    stop = true;
    await publisher;
    const lastPublished = i - 1;
    await sleep(2500); // what is in flight lands
    const out = {};
    for (const [lib, st] of Object.entries(libs)) {
        const firstGot = Math.min(...st.got.keys());
        let lost = 0;
        for (let k = firstGot; k <= lastPublished; k++) if (!st.got.has(k)) lost++;
        const resumed = [...st.got].filter(([k, t]) => t > tStall && st.published.get(k) >= tStall).map(([, t]) => t);
        // the stall began right after the last message that arrived before it: detection counts from there
        const lastBefore = Math.max(...[...st.got.values()].filter((t) => t <= tStall));
        const noticed = st.gone.find((t) => t > tStall);
        out[lib] = {
            detectedMs: noticed === undefined ? null : noticed - lastBefore,
            recoveryMs: resumed.length ? Math.min(...resumed) - tStall : null,
            cap: C.stallCap,
            published: lastPublished - firstGot + 1,
            lost,
            duplicated: st.dup,
            transportAfter: lib === 'lifeline' ? l.transport : s.io.engine?.transport?.name,
            firstAfterStall: firstAfter,
        };
    }
    l.close();
    s.close();
    await pL.close();
    await pS.close();
    L.stop();
    S.stop();
    return out;
}

// ---------------------------------------------------------------- update latency

async function latencyPhase() {
    const [L, L0, S] = await Promise.all([lifelineServer(), lifelineServer(['--long-poll-max', '0']), sioServer()]);
    const clients = [
        { name: 'Lifeline — WebSocket', srv: L, want: 'websocket', make: (u) => new LifelineNode(u + '/live/test', { WebSocket }) },
        { name: 'Lifeline — long poll', srv: L, want: 'longpoll', make: (u) => new LifelineNode(u + '/live/test', { WebSocket, websocket: false }) },
        { name: 'Lifeline — interval poll', srv: L0, want: 'poll', make: (u) => new LifelineNode(u + '/live/test', { WebSocket, websocket: false }) },
        { name: 'socket.io default (WebSocket)', srv: S, want: 'websocket', sio: true, make: (u) => ioNode(u, { forceNew: true }) },
        { name: 'socket.io polling only', srv: S, want: 'polling', sio: true, make: (u) => ioNode(u, { forceNew: true, transports: ['polling'] }) },
    ];
    const sent = new Map();
    for (const c of clients) {
        c.p = await proxyTo(c.srv.url);
        c.lat = [];
        c.c = c.make(c.p.url);
        const on = (k) => sent.has(k) && c.lat.push(performance.now() - sent.get(k));
        if (c.sio) c.c.on('msg', (m) => on(m?.data?.k));
        else {
            c.c.addEventListener('error', () => {});
            c.c.addEventListener('message', (e) => on(e.data?.k));
        }
    }
    const tr = (c) => (c.sio ? (c.c.connected ? c.c.io.engine?.transport?.name : 'none') : c.c.state === 'open' ? c.c.transport : 'none');
    const ok = await waitFor(() => clients.every((c) => tr(c) === c.want), 10000);
    if (!ok) note('latency: not every client on its transport within 10 s: ' + clients.map((c) => `${c.name}=${tr(c)}`).join(', '));
    await sleep(500);
    for (let k = 0; k < C.latN; k++) {
        await sleep(200 + Math.random() * 300);
        sent.set(k, performance.now());
        await Promise.all([L, L0, S].map((s) => admin(s.url, '/admin/publish', { data: { k } }))).catch(() => {});
    }
    await sleep(3000);
    const rows = clients.map((c) => ({ name: c.name, transport: tr(c), n: c.lat.length, sent: C.latN, median: median(c.lat), p95: pct(c.lat, 95) }));
    for (const c of clients) {
        c.c.close();
        await c.p.close();
    }
    L.stop();
    L0.stop();
    S.stop();
    return rows;
}

// ---------------------------------------------------------------- fleet

function runFleet(lib, url, n) {
    const deadline = 30000 + n * 15 + C.fleet.idle + C.fleet.active + C.fleet.herd + 10000;
    return new Promise((resolve) => {
        const proc = spawn(
            process.execPath,
            [
                path.join(BENCH, 'fleet.mjs'),
                '--lib',
                lib,
                '--url',
                url,
                '--clients',
                String(n),
                '--idle',
                String(C.fleet.idle),
                '--active',
                String(C.fleet.active),
                '--herd',
                String(C.fleet.herd),
                '--rate',
                '1',
                '--deadline',
                String(deadline),
            ],
            { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        children.add(proc);
        let out = '';
        let err = '';
        proc.stdout.on('data', (d) => (out += d));
        proc.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
        proc.on('exit', () => {
            children.delete(proc);
            try {
                resolve(JSON.parse(out.trim().split('\n').pop()));
            } catch {
                resolve({ lib, error: `no result ${err}` });
            }
        });
    });
}

// ---------------------------------------------------------------- report

function tryAllTransportsSupported() {
    const dir = path.join(ROOT, 'node_modules/engine.io-client');
    const v = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'))).version;
    const src = fs.readFileSync(path.join(dir, 'build/esm/socket.js'), 'utf8');
    return { engineIoClient: v, supported: src.includes('tryAllTransports') };
}

function renderMarkdown() {
    const r = results;
    const out = [];
    out.push(`# Lifeline vs socket.io-client — ${r.meta.quick ? 'quick' : 'full'} run, ${r.meta.date}`);
    out.push('');
    out.push(
        `Node ${r.meta.node}, ${r.meta.cpus} CPUs, Chromium ${r.meta.chromium ?? 'n/a'}; socket.io-client ${r.meta.versions['socket.io-client']}, socket.io ${r.meta.versions['socket.io']}, ` +
            `engine.io-client ${r.meta.tryAllTransports.engineIoClient} (${r.meta.tryAllTransports.supported ? 'supports' : 'does NOT support'} \`tryAllTransports\`). ` +
            `Medians of ${r.meta.reps} runs; every figure from this run; ratios are the other ÷ Lifeline (or ÷ the first row).`,
    );
    if (r.size) {
        out.push('', '## Size', '');
        const base = r.size[0].gzip;
        out.push(
            table(
                ['file', 'raw', 'gzip -9', 'gzip vs lifeline.mjs'],
                r.size.map((s) => [s.name, kb(s.raw), kb(s.gzip), s.reference ? '—' : ratio(s.gzip, base)]),
            ),
        );
    }
    for (const env of ['node', 'chromium']) {
        const t = r.ttfm[env];
        if (!t) continue;
        out.push(
            '',
            `## Time to first message — ${env === 'node' ? 'Node' : 'headless Chromium'} (median, cap ${ms(r.meta.cap)}; delivered k/n within the cap)`,
            '',
        );
        const cell = (x) =>
            `${x.median == null ? `**never** (${x.delivered})` : ms(x.median)}${x.median != null && x.delivered !== `${r.meta.reps}/${r.meta.reps}` ? ` (${x.delivered})` : ''}`;
        out.push(
            table(
                ['fault', 'Lifeline', 'socket.io default', '× Lifeline', 'socket.io ws-first', '× Lifeline', 'Lifeline ended on'],
                MODES.map((m) => {
                    const a = t[m].lifeline,
                        b = t[m].sio,
                        c = t[m]['sio-ws'];
                    return [
                        m,
                        cell(a),
                        cell(b),
                        ratio(b.median, a.median),
                        cell(c),
                        c.median == null ? '∞' : ratio(c.median, a.median),
                        a.transports.join(', '),
                    ];
                }),
            ),
        );
    }
    if (r.idle.node?.length || r.idle.hidden?.length) {
        out.push(
            '',
            `## Idle cost per client (no data; requests = HTTP requests + WebSocket upgrades, bytes = both directions at the proxy; measured over ${ms(r.meta.idleWin)} after ${ms(r.meta.idleWarm)} warm-up and extrapolated per minute)`,
            '',
        );
        const rows = [...(r.idle.node ?? [])];
        const base = rows.find((x) => x.name.startsWith('socket.io default'));
        out.push(
            table(
                ['client', 'where', 'requests/min', 'bytes/min', 'bytes vs socket.io default', 'on the wire, TCP/IPv4 (est.), bytes/min'],
                [
                    ...rows.map((x) => [
                        x.name,
                        x.where,
                        num(x.requestsPerMin),
                        kb(x.bytesPerMin),
                        ratio(x.bytesPerMin, base?.bytesPerMin),
                        x.wirePerMin == null ? '—' : kb(x.wirePerMin),
                    ]),
                    ...(r.idle.hidden ?? []).flatMap((x) => [
                        [x.name + ` (whole window, ${ms(x.seconds * 1000)}, ${x.visibility})`, x.where, num(x.requestsPerMin), kb(x.bytesPerMin), '—', '—'],
                        ...(x.afterGrace
                            ? [
                                  [
                                      x.name + ` (after Lifeline's 30 s hidden grace, ${ms(x.afterGrace.seconds * 1000)})`,
                                      x.where,
                                      num(x.afterGrace.requestsPerMin),
                                      kb(x.afterGrace.bytesPerMin),
                                      '—',
                                      '—',
                                  ],
                              ]
                            : []),
                    ]),
                ],
            ),
        );
    }
    if (r.latency) {
        out.push('', `## Update latency (server publish → client \`message\`, Node, ${r.latency[0]?.sent} publishes 200–500 ms apart)`, '');
        const base = r.latency[0]?.median;
        out.push(
            table(
                ['client', 'transport', 'median', 'p95', 'received', 'median × Lifeline WS'],
                r.latency.map((x) => [x.name, x.transport, ms(x.median), ms(x.p95), `${x.n}/${x.sent}`, ratio(x.median, base)]),
            ),
        );
    }
    if (r.stall) {
        out.push('', '## Stall recovery (WebSocket frozen mid-stream by the proxy, which keeps stalling new WebSockets; 10 messages/s)', '');
        const row = (name, x) => [
            name,
            x.detectedMs == null ? `not within ${ms(x.cap)}` : ms(x.detectedMs),
            x.recoveryMs == null ? `not within ${ms(x.cap)}` : ms(x.recoveryMs),
            String(x.lost),
            String(x.duplicated),
            String(x.published),
            x.transportAfter ?? '—',
        ];
        out.push(
            table(
                ['client', 'stall noticed, after the last message before it', 'delivery resumed after', 'lost', 'duplicated', 'published', 'transport after'],
                [row('Lifeline', r.stall.lifeline), row('socket.io default (no cursor: lost = never delivered)', r.stall.sio)],
            ),
        );
        if (r.stall.lifeline.recoveryMs && r.stall.sio.recoveryMs)
            out.push('', `socket.io takes ${ratio(r.stall.sio.recoveryMs, r.stall.lifeline.recoveryMs)} as long.`);
    }
    if (r.core) {
        out.push('', '## Core cost per input event', '');
        const rows = [];
        if (r.core.callgrind?.rows)
            for (const x of r.core.callgrind.rows) rows.push([`native, callgrind (\`make bench-core\`): ${x.cycle}`, `${x.instructionsPerEvent} instructions`]);
        else rows.push(['native, callgrind', `skipped: ${r.core.callgrind?.skipped}`]);
        if (r.core.wasm) {
            rows.push([
                `wasm in Node, through loader + driver (encode, call, drain and decode actions): ws msg frame`,
                `${num(r.core.wasm.driverNsPerEvent)} ns`,
            ]);
            rows.push([`wasm in Node, bare export call + drain: ws msg frame`, `${num(r.core.wasm.bareNsPerEvent)} ns`]);
        }
        out.push(table(['measure', 'per event'], rows));
    }
    const f = r.fleet;
    if (f.lifeline || f.sio) {
        out.push(
            '',
            `## Fleet (simulated clients in one Node process, real library each; server counters; herd = attempts per 100 ms after /admin/restart)`,
            '',
        );
        const row = (name, x) =>
            x?.error
                ? [name, '—', '—', '—', '—', '—', '—', `error: ${String(x.error).slice(0, 80)}`]
                : [
                      name,
                      String(x.clients),
                      `${num(x.idle.requestsPerSec)} req/s, ${kb(x.idle.bytesOutPerSec)}/s out`,
                      `${num(x.active.requestsPerSec)} req/s, ${kb(x.active.bytesOutPerSec)}/s out (${x.active.delivered}/${x.active.expected} delivered)`,
                      `${x.herd.peakPer100ms} / ${num(x.herd.meanPer100ms)}`,
                      num(x.herd.peakToMean, 2),
                      x.herd.allBackMs == null ? `${x.herd.openAtEnd}/${x.herd.openBefore} back` : ms(x.herd.allBackMs),
                      `${x.herd.attempts} (${Object.entries(x.herd.byKind)
                          .map(([k, v]) => `${k} ${v}`)
                          .join(', ')})`,
                  ];
        out.push(
            table(
                ['client', 'N', 'idle', 'active (1 msg/s)', 'herd peak / mean per 100 ms', 'peak ÷ mean', 'all open again after', 'reconnect attempts'],
                [row('Lifeline (WebSocket) vs demo/server.mjs', f.lifeline), row('socket.io-client default vs socket.io', f.sio)],
            ),
        );
        if (f.lifeline && !f.lifeline.error && f.sio && !f.sio.error && f.sio.clients !== f.lifeline.clients)
            out.push(
                '',
                `socket.io's fleet is ${f.sio.clients} clients (its polling handshake + upgrade per client costs this one Node process far more than a WebSocket; per-client figures compare).`,
            );
    }
    if (r.notes.length) out.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
    return out.join('\n') + '\n';
}

function renderSvg() {
    const r = results;
    const W = 960;
    const parts = [];
    const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
    const colors = { lifeline: '#2f7d32', sio: '#c0392b', 'sio-ws': '#e08e0b', other: '#7f8c8d' };
    let y = 30;
    parts.push(
        `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">Lifeline vs socket.io-client (${r.meta.quick ? 'quick' : 'full'} run, ${esc(r.meta.date)})</text>`,
    );
    // panel: time to first message, log scale, per env
    for (const env of ['node', 'chromium']) {
        const t = r.ttfm[env];
        if (!t) continue;
        const h = 200,
            x0 = 70,
            x1 = W - 20,
            top = y + 25;
        parts.push(
            `<text x="${x0}" y="${y + 15}" font-size="13" font-weight="bold">Time to first message, ${env === 'node' ? 'Node' : 'Chromium'} (median, log scale; ✗ = never within ${ms(r.meta.cap)})</text>`,
        );
        const lo = 1,
            hi = r.meta.cap;
        const sy = (v) => top + h - ((Math.log10(Math.max(lo, v)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * h;
        for (const tick of [1, 10, 100, 1000, 10000, 60000].filter((v) => v <= hi)) {
            parts.push(
                `<line x1="${x0}" x2="${x1}" y1="${sy(tick)}" y2="${sy(tick)}" stroke="#ddd"/><text x="${x0 - 5}" y="${sy(tick) + 4}" font-size="10" text-anchor="end">${ms(tick)}</text>`,
            );
        }
        const gw = (x1 - x0) / MODES.length,
            bw = gw / 4.5;
        MODES.forEach((m, i) => {
            LIBS.forEach((lib, j) => {
                const v = t[m][lib.id].median;
                const bx = x0 + i * gw + gw * 0.1 + j * bw * 1.1;
                if (v == null)
                    parts.push(
                        `<rect x="${bx}" y="${top}" width="${bw}" height="${h}" fill="none" stroke="${colors[lib.id]}" stroke-dasharray="4 3"/><text x="${bx + bw / 2}" y="${top + 14}" font-size="13" text-anchor="middle" fill="${colors[lib.id]}">✗</text>`,
                    );
                else
                    parts.push(
                        `<rect x="${bx}" y="${sy(v)}" width="${bw}" height="${top + h - sy(v)}" fill="${colors[lib.id]}"/><text x="${bx + bw / 2}" y="${sy(v) - 3}" font-size="9" text-anchor="middle">${esc(ms(v))}</text>`,
                    );
            });
            parts.push(`<text x="${x0 + i * gw + gw * 0.45}" y="${top + h + 14}" font-size="11" text-anchor="middle">${m}</text>`);
        });
        y = top + h + 25;
    }
    // legend
    LIBS.forEach((lib, j) =>
        parts.push(
            `<rect x="${70 + j * 200}" y="${y - 4}" width="12" height="12" fill="${colors[lib.id]}"/><text x="${88 + j * 200}" y="${y + 6}" font-size="11">${lib.name}</text>`,
        ),
    );
    y += 25;
    // panel: idle requests/min (horizontal bars)
    const idle = [...(r.idle.node ?? []), ...(r.idle.hidden ?? []).map((x) => ({ ...x, name: x.name }))];
    if (idle.length) {
        parts.push(`<text x="70" y="${y + 12}" font-size="13" font-weight="bold">Idle requests per minute per client (bytes/min at right)</text>`);
        y += 22;
        const maxR = Math.max(1, ...idle.map((x) => x.requestsPerMin));
        for (const x of idle) {
            const w = (x.requestsPerMin / maxR) * 380;
            const col = x.name.startsWith('Lifeline') ? colors.lifeline : colors.sio;
            parts.push(
                `<text x="400" y="${y + 10}" font-size="10" text-anchor="end">${esc(x.name + (x.where.includes('hidden') ? '' : ''))}</text><rect x="405" y="${y + 1}" width="${Math.max(1, w)}" height="11" fill="${col}"/><text x="${410 + w}" y="${y + 10}" font-size="10">${num(x.requestsPerMin)} req · ${esc(kb(x.bytesPerMin))}</text>`,
            );
            y += 15;
        }
        y += 12;
    }
    // panel: size gzip
    if (r.size) {
        parts.push(`<text x="70" y="${y + 12}" font-size="13" font-weight="bold">Size, gzip -9</text>`);
        y += 22;
        const rows = r.size.filter((s) => !s.reference);
        const maxG = Math.max(...rows.map((s) => s.gzip));
        for (const s of rows) {
            const w = (s.gzip / maxG) * 380;
            const col = s.name.startsWith('dist/lifeline') ? colors.lifeline : colors.other;
            parts.push(
                `<text x="400" y="${y + 10}" font-size="10" text-anchor="end">${esc(s.name.replace(/ \(.*\)$/, ''))}</text><rect x="405" y="${y + 1}" width="${w}" height="11" fill="${col}"/><text x="${410 + w}" y="${y + 10}" font-size="10">${esc(kb(s.gzip))}</text>`,
            );
            y += 15;
        }
        y += 10;
    }
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" viewBox="0 0 ${W} ${y + 10}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`;
}

// Which phases wrote nothing: each phase records its figures or a note, so an empty slot
// means it threw or never ran. Chromium phases count only when Chromium started.
function missingPhases() {
    const slots = {
        size: results.size,
        'core (callgrind)': results.core?.callgrind,
        'core (wasm)': results.core?.wasm,
        'time to first message (Node)': results.ttfm.node,
        'update latency': results.latency,
        'idle cost': Object.keys(results.idle).length ? results.idle : null,
        'stall recovery': results.stall,
        'fleet (Lifeline)': results.fleet.lifeline,
        'fleet (socket.io)': results.fleet.sio,
    };
    if (results.meta.chromium) slots['time to first message (Chromium)'] = results.ttfm.chromium;
    return Object.entries(slots)
        .filter(([, v]) => v == null)
        .map(([k]) => k);
}

function writeOutputs() {
    results.meta.seconds = Math.round((performance.now() - T0) / 100) / 10;
    // the quick form (what `make test` runs) must not overwrite the committed full results
    const base = path.join(BENCH, QUICK ? 'results-quick' : 'results');
    fs.writeFileSync(base + '.json', JSON.stringify(results, null, 1) + '\n');
    const md = renderMarkdown();
    fs.writeFileSync(base + '.md', md);
    fs.writeFileSync(base + '.svg', renderSvg());
    return md;
}

// ---------------------------------------------------------------- main

async function main() {
    const versions = {};
    for (const p of ['socket.io-client', 'socket.io', 'engine.io-client', 'ws', 'playwright-core'])
        versions[p] = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', p, 'package.json'))).version;
    Object.assign(results.meta, {
        quick: QUICK,
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        node: process.version,
        cpus: os.cpus().length,
        versions,
        tryAllTransports: tryAllTransportsSupported(),
        reps: C.reps,
        cap: C.cap,
        idleWarm: C.idleWarm,
        idleWin: C.idleWin,
        clients: CLIENTS,
    });
    if (!results.meta.tryAllTransports.supported)
        note('the installed engine.io-client does not know tryAllTransports: the ws-first runs use transports order only');
    for (const f of ['dist/lifeline.mjs', 'dist/lifeline.js', 'build/wasm-inline.mjs'])
        if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run make build first`);
    await loadNodeLibs();

    log('size + make bench-core');
    const [, callgrind] = await Promise.all([measureSize().catch((e) => note('size: ' + e.message)), coreCallgrind()]);
    results.core = { callgrind };

    log('servers');
    const staticSrv0 = await startStatic();
    staticSrv = staticSrv0;
    const [L, L0, S] = await Promise.all([lifelineServer(), lifelineServer(['--long-poll-max', '0']), sioServer()]);
    await admin(L.url, '/admin/publish', { data: { first: true } }); // what cursor=0 receives

    let ctx = null;
    try {
        ctx = await startChromium();
        results.meta.chromium = chromiumVersion;
    } catch (e) {
        note('Chromium parts skipped: ' + e.message.split('\n')[0]);
    }

    // background: idle cost (Node + hidden tabs) and stall recovery
    log('idle clients + hidden tabs');
    const idleState = await idlePhase({ L: L.url, L0: L0.url, S: S.url }, ctx, staticSrv.url).catch((e) => (note('idle: ' + e.message), null));
    let fgPage;
    const fg = { hiddenAt: performance.now() };
    if (ctx) {
        fgPage = await openPage(ctx, staticSrv.url);
        await fgPage.bringToFront();
        fg.hiddenAt = performance.now();
        if (idleState)
            for (const x of idleState.hidden) {
                x.p.resetStats(); // count from the moment the tab went hidden
                x.visibility = await x.page.evaluate(() => document.visibilityState).catch(() => '?');
                if (x.visibility !== 'hidden') note(`${x.h.name}: the tab reports ${x.visibility}, not hidden`);
                // a second counter from the end of Lifeline's hidden grace (30 s) on
                setTimeout(() => {
                    x.afterGrace = x.p.stats();
                    x.afterGraceAt = performance.now();
                }, 35000).unref();
            }
        const v = await fgPage.evaluate(() => document.visibilityState);
        if (v !== 'visible') note(`foreground page is ${v}`);
    }
    const idleDone = idleState
        ? idleMeasure(idleState, fg)
              .then((rows) => (results.idle = rows))
              .catch((e) => note('idle: ' + e.message))
        : Promise.resolve();
    log('stall recovery (background)');
    let stallReady;
    const stallReadyP = new Promise((r) => (stallReady = r));
    const stallDone = stallPhase(stallReady)
        .then((r) => (results.stall = r))
        .catch((e) => note('stall: ' + e.message))
        .finally(stallReady);
    await Promise.race([stallReadyP, sleep(12000)]); // its start-up is not in the timings

    log('time to first message — Node');
    const nodeT = await ttfmNode({ lifeline: L.url, sio: S.url });
    let chromeT = null;
    log('update latency');
    results.latency = await latencyPhase().catch((e) => (note('latency: ' + e.message), null));
    if (ctx) {
        log('time to first message — Chromium');
        try {
            chromeT = await ttfmChromium({ lifeline: L.url, sio: S.url }, staticSrv.url);
        } catch (e) {
            note('Chromium time to first message: ' + e.message.split('\n')[0]);
        }
    }
    log('core ns/event (wasm)');
    results.core.wasm = await coreWasm().catch((e) => (note('wasm core: ' + e.message), null));

    results.ttfm.node = await nodeT.wait;
    if (chromeT) results.ttfm.chromium = await chromeT.wait.catch((e) => note('Chromium time to first message: ' + e.message.split('\n')[0]));

    // the fleet overlaps the tail of the background phases (light: a 10/s publisher and a
    // few idle clients), never the timing-sensitive foreground
    log(`fleet: Lifeline × ${CLIENTS}`);
    const LF = await lifelineServer();
    results.fleet.lifeline = await runFleet('lifeline', LF.url, CLIENTS);
    LF.stop();
    log(`fleet: socket.io × ${C.sioFleet}`);
    const SF = await sioServer();
    results.fleet.sio = await runFleet('sio', SF.url, C.sioFleet);
    SF.stop();

    log('waiting for the background phases');
    await Promise.all([idleDone, stallDone]);
    L.stop();
    L0.stop();
    S.stop();
    if (browser) {
        await browser.close().catch(() => {});
        browser = null;
    }
}

let code = 0;
try {
    await main();
} catch (e) {
    code = 1;
    note('failed: ' + (e?.stack || e));
}
clearTimeout(watchdog);
const missing = missingPhases();
if (missing.length) {
    code = 1;
    note('phases without results: ' + missing.join(', '));
}
for (const p of [...proxies]) await p.close().catch(() => {});
for (const f of [...cleanups].reverse()) {
    try {
        await f();
    } catch {}
}
process.stdout.write(writeOutputs());
log(`done in ${results.meta.seconds} s`);
killAll();
process.exit(code);

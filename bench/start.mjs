#!/usr/bin/env node
// start.mjs — the healthy start in Chromium, alone: where the time to the first message goes.
//
//   node bench/start.mjs [--reps 30] [--direct] [--blackhole N] [--before FILE] [--streams N]
//                        [--latency MS]                             (after make build)
//
// The same trial as bench/run.mjs's Chromium time-to-first-message phase, mode `pass`: a
// fresh browser context per trial, the page imports dist/lifeline.mjs and the socket.io-client
// bundle, then t0 = performance.now(), the client is constructed, and the trial ends at its
// first message (Lifeline: cursor "0", the retained message; socket.io: the `msg` the server
// emits on connection). Lifeline, socket.io WebSocket-first and socket.io default take turns
// within each repetition (the order rotates), so the load of this shared machine hits all
// three alike; medians and the spread (p10–p90) are printed per library.
//
// Phases: an init script wraps the page's WebSocket, fetch and XMLHttpRequest before any
// library loads, and stamps (ms after t0) what each library does on the wire: WebSocket
// created, open, each frame in (by its first bytes), each request sent and answered, plus the
// end of the constructor and the first message. The medians of these stamps show what sits
// on the critical path. The wrappers are the same for all three libraries.
//
// --direct: the clients reach the servers without the fault proxy (tests/proxy.mjs forces
// one connection per HTTP request); --blackhole N: N more Lifeline trials through a proxy that
// black-holes the upgrade (the race poll must deliver in about one round trip); --before FILE:
// a fourth contender, another build of dist/lifeline.mjs (e.g. `git show main:…` built
// elsewhere; its lifeline-share.mjs and lifeline-pool.mjs beside it), interleaved with the rest, for a before/after
// comparison within one run. --streams N: the page follows N streams of one server (Lifeline:
// an instance per stream, pooled on one connection; socket.io: a namespace per stream on one
// Manager) and a trial ends when every stream has had its first message — for Lifeline, the
// second and later streams join once dist/lifeline-pool.mjs has loaded. --latency MS: the
// proxy delays every chunk by MS each way (mode latency: a round trip of 2 × MS) instead
// of passing it at once.
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createProxy } from '../tests/proxy.mjs';
import { CHROMIUM, FLAGS as CHROMIUM_FLAGS } from '../tests/lib/chromium.mjs';
import { startServer, spawnListening } from '../tests/lib/servers.mjs';
import { median, percentile as pct } from './stats.mjs';
import { browserBundle } from './bundle.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argOf = (k, d) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? process.argv[i + 1] : d;
};
const REPS = Math.max(1, Number(argOf('--reps', 30)));
const BLACKHOLE = Math.max(0, Number(argOf('--blackhole', 0)));
const DIRECT = process.argv.includes('--direct');
const CAP = 15000; // a trial that has no message by then counts as none (a hang guard)
const SIO_WS_FIRST = { transports: ['websocket', 'polling'], tryAllTransports: true };
const BEFORE = argOf('--before');
const STREAMS = Math.max(1, Number(argOf('--streams', 1)));
const LATENCY = Math.max(0, Number(argOf('--latency', 0)));
/** The streams a page follows: `test` (the admin API's default), then test-2, test-3, … */
const STREAM_NAMES = Array.from({ length: STREAMS }, (_, i) => (i ? `test-${i + 1}` : 'test'));
const LIBS = ['lifeline', 'solo', ...(BEFORE ? ['before'] : []), 'sio-ws', 'sio'];
const NAMES = {
    lifeline: 'Lifeline',
    solo: 'Lifeline, share: false',
    before: 'Lifeline before (' + BEFORE + ')',
    'sio-ws': 'socket.io ws-first',
    sio: 'socket.io default',
};
const isLifeline = (lib) => lib === 'lifeline' || lib === 'solo' || lib === 'before';

const cleanups = [];
const watchdog = setTimeout(() => (console.error('start.mjs: watchdog, stopped after 15 min'), process.exit(1)), 15 * 60000);

/** The page origin: /, /lifeline.mjs, /sio.mjs (socket.io-client bundled like run.mjs does). */
async function startStatic() {
    const sio = await browserBundle('socket.io-client');
    // the other build's on-demand chunks are the lifeline-<name>.mjs beside it (their property names differ)
    const files = { '/lifeline.mjs': fs.readFileSync(path.join(ROOT, 'dist/lifeline.mjs')), '/sio.mjs': sio };
    let before = BEFORE && fs.readFileSync(BEFORE, 'utf8');
    for (const name of ['share', 'pool']) {
        files[`/lifeline-${name}.mjs`] = fs.readFileSync(path.join(ROOT, `dist/lifeline-${name}.mjs`));
        const theirs = BEFORE && path.join(path.dirname(BEFORE), `lifeline-${name}.mjs`);
        if (!theirs || !fs.existsSync(theirs)) continue;
        files[`/before-${name}.mjs`] = fs.readFileSync(theirs);
        before = before.replace(`"./lifeline-${name}.mjs"`, `"./before-${name}.mjs"`);
    }
    if (before) files['/before.mjs'] = Buffer.from(before);
    const srv = http.createServer((req, res) => {
        const file = files[new URL(req.url, 'http://x').pathname];
        res.writeHead(200, { 'Content-Type': file ? 'text/javascript' : 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(file ?? '<!doctype html><meta charset="utf-8"><title>start</title>');
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => (srv.closeAllConnections(), srv.close()));
    return `http://127.0.0.1:${srv.address().port}`;
}

// Runs in the page before any script: stamps every WebSocket, fetch and XHR into __wire.
function instrument() {
    const wire = (window.__wire = []);
    const mark = (what) => wire.push([performance.now(), what]);
    const NativeWS = window.WebSocket;
    window.WebSocket = class extends NativeWS {
        constructor(...a) {
            super(...a);
            mark('ws created');
            this.addEventListener('open', () => mark('ws open'));
            // a Lifeline frame by its type (hello, msg, …), a socket.io packet by its first bytes
            const frame = (d) => /^\{.*?"type":"(\w+)"/.exec(d)?.[1] ?? String(d).slice(0, 14);
            this.addEventListener('message', (e) => mark('ws in ' + frame(e.data)));
            this.addEventListener('close', () => mark('ws closed'));
        }
        send(d) {
            mark('ws out ' + String(d).slice(0, 14));
            return super.send(d);
        }
    };
    const nativeFetch = window.fetch;
    window.fetch = function (...a) {
        mark('fetch sent');
        const p = nativeFetch.apply(this, a);
        p.then(
            (r) => mark('fetch answered ' + r.status),
            () => mark('fetch failed'),
        );
        return p;
    };
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (...a) {
        mark('xhr sent');
        this.addEventListener('load', () => mark('xhr answered ' + this.responseText.slice(0, 14)));
        return send.apply(this, a);
    };
}

// Runs in the page: one client from construction to its first message (with several
// streams: to the first message of every one).
async function trialInPage([lib, url, cap, wsFirst, names]) {
    const L = (await import(lib === 'before' ? '/before.mjs' : '/lifeline.mjs')).Lifeline;
    const io = (await import('/sio.mjs')).io;
    return new Promise((resolve) => {
        window.__wire.length = 0;
        const marks = [];
        const t0 = performance.now();
        let done = false,
            finish,
            transport;
        if (lib === 'lifeline' || lib === 'solo' || lib === 'before') {
            // (the default shares the connection among tabs: the first tab leads once its Web Lock is granted)
            const ls = names.map((name) => new L(url + '/live/' + name, { cursor: '0', ...(lib === 'solo' && { share: false }) }));
            const l = ls[0],
                waiting = new Set(ls);
            marks.push([performance.now(), 'constructed']);
            l.addEventListener('statechange', (e) => marks.push([performance.now(), 'state ' + e.state + '/' + e.transport]));
            ls.forEach((x, i) =>
                x.addEventListener('message', () => {
                    if (ls.length > 1 && waiting.has(x)) marks.push([performance.now(), 'first message of stream ' + (i + 1)]);
                    waiting.delete(x);
                    if (!waiting.size) finish(performance.now());
                }),
            );
            transport = () => l.transport;
            finish = (at) => {
                if (done) return;
                done = true;
                setTimeout(() => (resolve(result(at, transport())), ls.forEach((x) => x.close())), 0);
            };
        } else {
            // one stream: the main namespace; several: a namespace each, on the first one's Manager
            const s = io(names.length > 1 ? url + '/' + names[0] : url, { forceNew: true, ...(lib === 'sio-ws' ? wsFirst : {}) });
            const ss = [s, ...names.slice(1).map((name) => s.io.socket('/' + name).connect())],
                waiting = new Set(ss);
            marks.push([performance.now(), 'constructed']);
            s.on('connect', () => marks.push([performance.now(), 'connect']));
            ss.forEach((x, i) =>
                x.on('msg', () => {
                    if (ss.length > 1 && waiting.has(x)) marks.push([performance.now(), 'first message of stream ' + (i + 1)]);
                    waiting.delete(x);
                    if (!waiting.size) finish(performance.now());
                }),
            );
            finish = (at) => {
                if (done) return;
                done = true;
                resolve(result(at, s.io.engine?.transport?.name ?? 'none'));
                ss.forEach((x) => x.close());
            };
        }
        const result = (at, transport) => ({
            ms: at == null ? null : at - t0,
            transport,
            phases: [...window.__wire, ...marks]
                .filter(([t]) => at == null || t <= at + 0.01)
                .sort((a, b) => a[0] - b[0])
                .map(([t, w]) => [Math.round((t - t0) * 100) / 100, w]),
        });
        setTimeout(() => finish(null), cap);
    });
}

const f1 = (v) => (v == null ? '—' : v.toFixed(1));

/** The phases of several trials: each event name's k-th occurrence, median time after t0. */
function phaseTable(trials) {
    const at = new Map();
    for (const t of trials) {
        const seen = new Map();
        for (const [ms, w] of t.phases) {
            const name = w.replace(/"sid":.*/, '"sid":…'); // socket.io's session ids differ per trial
            const k = (seen.get(name) ?? 0) + 1;
            seen.set(name, k);
            const key = k > 1 ? `${name} (#${k})` : name;
            if (!at.has(key)) at.set(key, []);
            at.get(key).push(ms);
        }
    }
    return [...at].map(([k, v]) => [k, median(v), pct(v, 10), pct(v, 90), v.length]).sort((a, b) => a[1] - b[1]);
}

async function main() {
    if (!fs.existsSync(path.join(ROOT, 'dist/lifeline.mjs'))) throw new Error('dist/lifeline.mjs is missing: run make build first');
    const [lifelineServer, sioServer, origin] = await Promise.all([
        startServer('node', ['--origins', '*']),
        spawnListening(process.execPath, [path.join(ROOT, 'bench/sio-server.mjs'), '--port', '0']),
        startStatic(),
    ]);
    cleanups.push(
        () => lifelineServer.stop(),
        () => sioServer.stop(),
    );
    const lifelineUrl = lifelineServer.url,
        sioUrl = sioServer.url;
    for (const stream of STREAM_NAMES)
        await fetch(lifelineUrl + '/admin/publish', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ stream, data: { first: true } }),
        });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 20000 });
    cleanups.push(() => browser.close());
    const trial = async (lib, mode = 'pass') => {
        let proxy = null;
        if (!DIRECT || mode !== 'pass' || LATENCY) {
            proxy = await createProxy({ target: isLifeline(lib) ? lifelineUrl : sioUrl, listenPort: 0 });
            if (LATENCY && mode === 'pass') proxy.setMode('latency', { ms: LATENCY });
            else proxy.setMode(mode);
        }
        const ctx = await browser.newContext();
        try {
            await ctx.addInitScript(instrument);
            const page = await ctx.newPage();
            await page.goto(origin + '/', { timeout: 15000 });
            const url = proxy ? proxy.url : isLifeline(lib) ? lifelineUrl : sioUrl;
            return { lib, mode, ...(await page.evaluate(trialInPage, [lib, url, CAP, SIO_WS_FIRST, STREAM_NAMES])) };
        } finally {
            await ctx.close().catch(() => {});
            await proxy?.close();
        }
    };
    for (const lib of LIBS) await trial(lib); // warm-up, not counted
    const trials = [];
    for (let rep = 0; rep < REPS; rep++) {
        const order = LIBS.map((_, i) => LIBS[(i + rep) % LIBS.length]);
        for (const lib of order) trials.push(await trial(lib));
        process.stderr.write(`\r${rep + 1}/${REPS}`);
    }
    const holes = [];
    for (let i = 0; i < BLACKHOLE; i++) holes.push(await trial('lifeline', 'blackhole'));
    process.stderr.write('\n');

    const out = [
        `# Healthy start in Chromium: ${REPS} interleaved trials per library${LATENCY ? ` (through tests/proxy.mjs, mode latency: ${LATENCY} ms each way)` : DIRECT ? ' (direct, no proxy)' : ' (through tests/proxy.mjs, mode pass)'}` +
            (STREAMS > 1 ? `, ${STREAMS} streams in the page (until every one has had its first message)` : ''),
        '',
    ];
    out.push('| library | median | p10 | p90 | min | max | delivered | transports |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
    const rows = [
        ...LIBS.map((lib) => [NAMES[lib], trials.filter((t) => t.lib === lib)]),
        ...(holes.length ? [['Lifeline, WebSocket black-holed', holes]] : []),
    ];
    for (const [name, ts] of rows) {
        const v = ts.map((t) => t.ms);
        out.push(
            `| ${name} | ${f1(median(v))} ms | ${f1(pct(v, 10))} | ${f1(pct(v, 90))} | ${f1(pct(v, 0))} | ${f1(Math.max(...v.filter((x) => x != null)))} | ${v.filter((x) => x != null).length}/${v.length} | ${[...new Set(ts.map((t) => t.transport))].join(', ')} |`,
        );
    }
    // paired: in each repetition, a Lifeline build minus socket.io ws-first
    for (const lib of LIBS.filter(isLifeline)) {
        const diffs = [];
        for (let rep = 0; rep < REPS; rep++) {
            const [a, b] = [lib, 'sio-ws'].map((l) => trials.filter((t) => t.lib === l)[rep]?.ms);
            if (a != null && b != null) diffs.push(a - b);
        }
        out.push(
            '',
            `Paired per repetition, ${NAMES[lib]} − socket.io ws-first: median ${f1(median(diffs))} ms (p10 ${f1(pct(diffs, 10))}, p90 ${f1(pct(diffs, 90))}); faster in ${diffs.filter((d) => d < 0).length}/${diffs.length}.`,
        );
    }
    for (const [name, ts] of rows) {
        out.push(
            '',
            `## ${name}: phases (ms after construction; median, p10, p90, trials that had it)`,
            '',
            '| phase | median | p10 | p90 | n |',
            '| --- | --- | --- | --- | --- |',
        );
        for (const [k, m, lo, hi, n] of phaseTable(ts.filter((t) => t.ms != null))) out.push(`| ${k} | ${f1(m)} | ${f1(lo)} | ${f1(hi)} | ${n} |`);
    }
    console.log(out.join('\n'));
    if (process.argv.includes('--json')) fs.writeFileSync(argOf('--json'), JSON.stringify({ trials, holes }, null, 1));
}

main()
    .catch((e) => {
        console.error(e);
        process.exitCode = 1;
    })
    .finally(async () => {
        clearTimeout(watchdog);
        for (const c of cleanups.reverse())
            await Promise.resolve()
                .then(c)
                .catch(() => {});
    });

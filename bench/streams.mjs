#!/usr/bin/env node
// streams.mjs — what one page following N streams costs the server (issue #23): Lifeline
// (its streams ride one connection by default: protocol v2), Lifeline with
// `multiplex: false` (a connection per stream, as before v2), and socket.io-client with one
// namespace per stream (its namespaces share one connection by default), in the same run,
// in Chromium.
//
//   node bench/streams.mjs [--quick]   (after `make build`) → bench/streams-results.{md,json}
//                                      (--quick: shorter, into bench/out/)
//
// For 1, 5 and 20 streams in one page and two network conditions — the WebSocket works, and
// the upgrade is refused (Lifeline long-polls, socket.io stays on its polling transport) —
// each library connects through its own tests/proxy.mjs to its own server (demo/server.mjs,
// bench/sio-server.mjs). Once every stream is connected the proxy's counters are reset, one
// message is published to every stream every 5 s for the window, and the proxy counts TCP
// connections, HTTP requests, WebSocket upgrades and bytes (both directions, HTTP and
// WebSocket); every stream must have received every message. Figures are per minute (the
// window's counts scaled), plus the WebSockets open at the end; and the longest request
// target the page sent (a poll of every stream names each with its cursor).
import { admin } from '../tests/lib/servers.mjs';
import { createProxy } from '../tests/proxy.mjs';
import { perMinute as f, runBench, startRig, until, writeResults } from './browser-kit.mjs';

const QUICK = process.argv.includes('--quick');
const WINDOW = QUICK ? 10000 : 30000;
const STREAMS = [1, 5, 20];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[streams]', ...a);
const cleanups = [];

// N clients in a page: window.__got[i] counts stream i's messages, window.__ready() says
// every one is connected, window.__longest the longest URL the page fetched.
const CLIENT = {
    async lifeline([base, names, opts]) {
        const { Lifeline } = await import('/lifeline.mjs');
        const fetch0 = window.fetch.bind(window);
        window.__longest = 0;
        const fetch = (u, init) => (
            (window.__longest = Math.max(window.__longest, new URL(String(u)).pathname.length + new URL(String(u)).search.length)),
            fetch0(u, init)
        );
        window.__got = names.map(() => 0);
        window.__c = names.map((name, i) => {
            const live = new Lifeline(`${base}/live/${name}`, { fetch, ...opts });
            live.addEventListener('message', () => window.__got[i]++);
            return live;
        });
        window.__ready = () => window.__c.every((l) => l.state == 'open');
    },
    async sio([base, names]) {
        const { io } = await import('/sio.mjs');
        window.__longest = 0;
        window.__got = names.map(() => 0);
        window.__c = names.map((name, i) => {
            const s = io(`${base}/${name}`); // namespaces of one URL share one Manager: one connection
            s.on('msg', (m) => m.welcome || window.__got[i]++);
            return s;
        });
        window.__ready = () => window.__c.every((s) => s.connected);
    },
};

async function measure(browser, origin, lib, n, refuse, servers) {
    const proxy = await createProxy({ target: lib.sio ? servers.sio : servers.lifeline, listenPort: 0 });
    if (refuse) proxy.setMode('refuse');
    const ctx = await browser.newContext();
    try {
        const tag = `s${Date.now()}`,
            names = Array.from({ length: n }, (_, i) => `${tag}-${String(i).padStart(2, '0')}`);
        const page = await ctx.newPage();
        await page.goto(origin + '/');
        await page.evaluate(CLIENT[lib.sio ? 'sio' : 'lifeline'], [proxy.url, names, lib.opts]);
        const connected = () => page.evaluate(() => window.__ready());
        await until(connected, 30000, `${lib.name}: ${n} streams connected`).catch(() => {});
        await sleep(1500); // upgrades and fallbacks settle
        proxy.resetStats();
        const t0 = Date.now();
        let sent = 0;
        while (Date.now() - t0 < WINDOW) {
            sent++;
            for (const stream of names) await admin(lib.sio ? servers.sio : servers.lifeline, '/admin/publish', { stream, data: { n: sent } });
            await sleep(Math.min(5000, WINDOW - (Date.now() - t0)));
        }
        await sleep(500); // the last messages arrive
        const s = proxy.stats(),
            ms = Date.now() - t0;
        const got = await page.evaluate(() => window.__got);
        const perMin = (v) => (v * 60000) / ms;
        const row = {
            lib: lib.name,
            streams: n,
            network: refuse ? 'upgrade refused' : 'WebSocket works',
            connectionsPerMin: perMin(s.connections),
            requestsPerMin: perMin(s.http_total),
            upgradesPerMin: perMin(s.ws_upgrades),
            bytesPerMin: perMin(s.bytes.http.up + s.bytes.http.down + s.bytes.ws.up + s.bytes.ws.down),
            wsOpen: s.ws_open,
            connected: await connected(),
            messages: sent,
            allReceived: got.filter((g) => g >= sent).length,
            longestUrl: await page.evaluate(() => window.__longest),
        };
        log(JSON.stringify(row));
        return row;
    } finally {
        await ctx.close();
        await proxy.close();
    }
}

async function main() {
    const { origin, servers, browser } = await startRig(cleanups);
    const libs = [
        { name: 'Lifeline', opts: {} },
        { name: 'Lifeline multiplex: false', opts: { multiplex: false } },
        { name: 'socket.io-client', sio: true },
    ];
    const rows = [];
    for (const refuse of [false, true]) for (const n of STREAMS) for (const lib of libs) rows.push(await measure(browser, origin, lib, n, refuse, servers));
    const md = [
        `# Streams: what one page following N streams costs the server (bench/streams.mjs${QUICK ? ' --quick' : ''})`,
        '',
        `Chromium ${browser.version()}, one page, a message to every stream every 5 s, window ${WINDOW / 1000} s, counted at a proxy per library; per minute. socket.io-client: one namespace per stream.`,
        '',
        '| network | streams | library | connected | connections/min | HTTP requests/min | WebSocket upgrades/min | bytes/min | WebSockets open | streams that got every message | longest URL |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...rows.map(
            (r) =>
                `| ${r.network} | ${r.streams} | ${r.lib} | ${r.connected ? 'yes' : 'no'} | ${f(r.connectionsPerMin)} | ${f(r.requestsPerMin)} | ${f(r.upgradesPerMin)} | ${Math.round(r.bytesPerMin)} | ${r.wsOpen} | ${r.allReceived} of ${r.streams} | ${r.longestUrl || '—'} |`,
        ),
        '',
    ].join('\n');
    writeResults('streams', QUICK, md, { chromium: browser.version(), window: WINDOW, rows });
}

await runBench(main, cleanups, log);

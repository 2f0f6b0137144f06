// helpers.mjs — shared rig for the real-browser tests in tests/browser/ (not a test file).
//
//   const rig = await startRig();            // reference server (child process) + fixture server
//   const proxy = await rig.proxy();         // a fault proxy in front of the server (tests/proxy.mjs)
//   const b = await launchBrowser();         // playwright launch: pages always visible, no bfcache
//   const b = await launchCdpBrowser();      // our own chromium + connectOverCDP: real hiding, bfcache
//   const page = await b.context.newPage();
//   await page.goto(rig.fixture({ build: 'esm', live: [{ tag: 'a', url: proxy.url + '/live/test', opts }] }));
//   await waitLog(page, (log) => log.a.messages.length >= 2, 'two messages');
//   ... finally: await b.close(); await rig.close();
//
// Topology: the page comes from a tiny node:http server on 127.0.0.1 (the fixture page and
// /dist/*), the Lifeline URL points at a proxy on 127.0.0.1 in front of the reference
// server, so the proxy's stats count Lifeline's traffic and nothing else. A page fulfilled
// by Playwright cannot open WebSockets to 127.0.0.1 (local network access checks), hence a
// real server. The reference server answers CORS with `*` by default.
//
// The fixture page (one per URL, GET /fixture.html?cfg=<JSON>) loads the ESM or the <script>
// build and creates one Lifeline per entry of cfg.live, logging everything into
// window.__log[tag] = {t0, messages: [{t, data, cursor}], states: [{t, state, transport,
// reason}], errors: [{t, code, reason, message}], resets}. window.__page logs visibility,
// online/offline, pagehide/pageshow (with event.persisted). window.__make(tag, url, opts)
// adds an instance later; window.__live[tag] is the Lifeline itself.

import { before, after } from 'node:test';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';
import { ROOT, startServer, publish as publishTo, admin } from '../lib/servers.mjs';
import { createProxy } from '../proxy.mjs';

export { CHROMIUM, FLAGS, skip } from '../lib/chromium.mjs';
import { CHROMIUM, FLAGS, skip } from '../lib/chromium.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Bounded: resolve p, or reject after ms with `what`. */
export async function within(p, ms, what) {
    let t;
    try {
        return await Promise.race([p, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))]);
    } finally {
        clearTimeout(t);
    }
}

// ------------------------------------------------------------------ the fixture page

const BOOT = String.raw`
window.__log = {}; window.__live = {}; window.__page = [];
const P = (type, extra) => window.__page.push({ t: performance.now(), type, visibility: document.visibilityState, onLine: navigator.onLine, ...extra });
document.addEventListener('visibilitychange', () => P('visibilitychange'));
addEventListener('online', () => P('online'));
addEventListener('offline', () => P('offline'));
addEventListener('pagehide', (e) => P('pagehide', { persisted: e.persisted }));
addEventListener('pageshow', (e) => P('pageshow', { persisted: e.persisted }));
window.__boot = (Lifeline) => {
    window.__make = (tag, url, opts = {}) => {
        const log = (window.__log[tag] = { t0: performance.now(), messages: [], states: [], errors: [], resets: [] });
        const live = (window.__live[tag] = new Lifeline(url, opts));
        live.addEventListener('message', (e) => {
            const m = { t: performance.now(), data: e.data, cursor: e.cursor, transport: live.transport };
            log.messages.push(m);
            // a replayed backlog is delivered before the transport is announced (it becomes
            // the transport once caught up, in the same drain): read it after the drain
            queueMicrotask(() => (m.transport = live.transport));
            // what an application keeps to resume after a real reload
            try { sessionStorage.setItem('cursor:' + tag, e.cursor); } catch {}
        });
        live.addEventListener('statechange', (e) => log.states.push({ t: performance.now(), state: e.state, transport: e.transport, reason: e.reason }));
        live.addEventListener('error', (e) => log.errors.push({ t: performance.now(), code: e.code, reason: e.reason, message: e.message }));
        live.addEventListener('reset', (e) => log.resets.push({ t: performance.now(), from: e.from, to: e.to }));
        return true;
    };
    const cfg = JSON.parse(new URLSearchParams(location.search).get('cfg') || '{}');
    for (const { tag, url, opts } of cfg.live || []) {
        const o = { ...opts };
        const kept = cfg.resumeFromStorage && sessionStorage.getItem('cursor:' + tag);
        if (kept) o.cursor = kept;
        window.__make(tag, url, o);
    }
    window.__ready = true;
};
`;

function fixtureHtml(build) {
    const boot = `<script>${BOOT}</script>`;
    const load =
        build === 'script'
            ? `<script src="/dist/lifeline.js"></script><script>window.__boot(window.Lifeline)</script>`
            : `<script type="module">import { Lifeline } from '/dist/lifeline.mjs'; window.__boot(Lifeline);</script>`;
    return `<!doctype html><html><head><meta charset="utf-8"><title>lifeline fixture (${build})</title></head><body><p>fixture ${build}</p>${boot}${load}</body></html>`;
}

function startFixtureServer() {
    const server = http.createServer((req, res) => {
        const u = new URL(req.url, 'http://x');
        const send = (status, type, body) => {
            res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
            res.end(body);
        };
        if (u.pathname === '/fixture.html') {
            const cfg = JSON.parse(u.searchParams.get('cfg') || '{}');
            return send(200, 'text/html; charset=utf-8', fixtureHtml(cfg.build === 'script' ? 'script' : 'esm'));
        }
        if (u.pathname === '/other.html')
            return send(200, 'text/html; charset=utf-8', '<!doctype html><meta charset="utf-8"><title>elsewhere</title><p>elsewhere</p>');
        const m = /^\/dist\/(lifeline\.(?:mjs|js|wasm)|lifeline-(?:share|pool)\.mjs)$/.exec(u.pathname);
        if (m) {
            const type = m[1].endsWith('wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8';
            return send(200, type, fs.readFileSync(path.join(ROOT, 'dist', m[1])));
        }
        if (u.pathname === '/favicon.ico') return send(204, 'text/plain', '');
        send(404, 'text/plain', 'not found');
    });
    const sockets = new Set();
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () =>
            resolve({
                url: `http://127.0.0.1:${server.address().port}`,
                close: () =>
                    new Promise((r) => {
                        for (const s of sockets) s.destroy();
                        server.close(() => r());
                    }),
            }),
        );
    });
}

/** The reference server, a fixture server, and proxies made on demand. */
export async function startRig({ serverArgs = [] } = {}) {
    // Fixture pages come from another origin (the fixture server, or a proxy's port): list them all.
    const server = await startServer('node', ['--origins', '*', ...serverArgs]);
    let fixture;
    try {
        fixture = await startFixtureServer();
    } catch (e) {
        await server.stop();
        throw e;
    }
    const proxies = [];
    return {
        server,
        fixtureUrl: fixture.url,
        /** The fixture page's URL for cfg {build: 'esm'|'script', live: [{tag, url, opts}], resumeFromStorage}. */
        fixture: (cfg) => `${fixture.url}/fixture.html?cfg=${encodeURIComponent(JSON.stringify(cfg))}`,
        otherUrl: `${fixture.url}/other.html`,
        async proxy() {
            const p = await createProxy({ target: server.url, listenPort: 0 });
            proxies.push(p);
            return p;
        },
        publish: (data) => publishTo(server.url, data),
        admin: (p, body, o) => admin(server.url, p, body, o),
        async close() {
            await Promise.allSettled(proxies.map((p) => p.close()));
            await Promise.allSettled([fixture.close(), server.stop()]);
        },
    };
}

/** One rig and one browser for a test file: started before its tests, closed after them.
 *  launch: launchBrowser (Playwright's) or launchCdpBrowser (hidden tabs, bfcache). */
export function useRig(launch = launchBrowser) {
    const env = {};
    before(async () => {
        if (skip) return;
        env.rig = await startRig();
        env.b = await launch();
    });
    after(async () => {
        await env.b?.close();
        await env.rig?.close();
    });
    return env;
}

// ------------------------------------------------------------------ browsers

/** Playwright-launched Chromium (focus emulation: pages never hidden; bfcache disabled).
 *  Use browser.newContext() per case: each context has its own storage. */
export async function launchBrowser() {
    const browser = await within(chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS }), 30000, 'chromium launch');
    return {
        browser,
        async close() {
            await within(browser.close(), 10000, 'browser close').catch(() => {});
        },
    };
}

/** Our own Chromium with --remote-debugging-port=0, driven over CDP: newPage() really hides
 *  the page under it, bringToFront() shows it; the back/forward cache is not disabled. */
export async function launchCdpBrowser() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'll-cdp-'));
    const proc = spawn(CHROMIUM, [...FLAGS, `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank'], {
        stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const kill = () => {
        try {
            process.kill(proc.pid, 'SIGKILL');
        } catch {}
    };
    process.on('exit', kill);
    const exited = new Promise((r) => proc.once('exit', r));
    try {
        const wsEndpoint = await within(
            new Promise((resolve, reject) => {
                proc.stderr.setEncoding('utf8');
                proc.stderr.on('data', (d) => {
                    err += d;
                    if (err.length > 65536) err = err.slice(-32768);
                    const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
                    if (m) resolve(m[1]);
                });
                proc.once('error', reject);
                proc.once('exit', (c) => reject(new Error(`chromium exited (${c}): ${err}`)));
            }),
            30000,
            'chromium DevTools endpoint',
        );
        const browser = await within(chromium.connectOverCDP(wsEndpoint, { noDefaults: true }), 15000, 'connectOverCDP');
        const context = browser.contexts()[0];
        return {
            browser,
            context,
            pid: proc.pid,
            async close() {
                // ask the browser to quit (it reaps its own children), then insist
                try {
                    const s = await within(browser.newBrowserCDPSession(), 3000, 'cdp session');
                    await within(s.send('Browser.close'), 3000, 'Browser.close').catch(() => {});
                } catch {}
                await within(browser.close(), 3000, 'cdp disconnect').catch(() => {});
                await within(exited, 5000, 'chromium exit').catch(() => {
                    try {
                        process.kill(proc.pid, 'SIGTERM');
                    } catch {}
                });
                await within(exited, 3000, 'chromium exit after SIGTERM').catch(kill);
                process.off('exit', kill);
                fs.rmSync(dir, { recursive: true, force: true });
            },
        };
    } catch (e) {
        kill();
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
    }
}

// ------------------------------------------------------------------ page helpers

/** Open the fixture and wait until its Lifelines exist. Uncaught page errors go to page.__errors. */
export async function openFixture(page, url) {
    page.__errors = [];
    page.__console = [];
    page.on('pageerror', (e) => page.__errors.push(String(e)));
    // console errors include the browser's own "WebSocket connection failed" lines, which
    // the fault modes cause on purpose: kept apart
    page.on('console', (m) => m.type() === 'error' && page.__console.push(m.text()));
    await page.goto(url, { timeout: 15000 });
    await page.waitForFunction(() => window.__ready === true, null, { timeout: 10000 });
}

export const getLog = (page) => page.evaluate(() => ({ ...window.__log, __page: window.__page }));

/** Wait (bounded) until pred(log) is truthy; returns the log. */
export async function waitLog(page, pred, what, timeoutMs = 10000) {
    const end = Date.now() + timeoutMs;
    let log;
    for (;;) {
        log = await getLog(page);
        let ok = false;
        try {
            ok = pred(log);
        } catch {}
        if (ok) return log;
        if (Date.now() > end) {
            const err = new Error(`timed out (${timeoutMs} ms) waiting for ${what}\nlog: ${JSON.stringify(log).slice(0, 4000)}`);
            err.log = log;
            throw err;
        }
        await sleep(25);
    }
}

/** The current state of one instance. */
export const lastState = (l) => l.states[l.states.length - 1] ?? { state: 'idle', transport: 'none', reason: 'none' };
export const isOpen = (l, transport) => {
    const s = lastState(l);
    return s.state === 'open' && (!transport || s.transport === transport);
};

/** A summary line of an instance's state history, for test output. */
export const history = (l) => l.states.map((s) => `${s.state}/${s.transport}/${s.reason}@${Math.round(s.t - l.t0)}`).join(' → ');

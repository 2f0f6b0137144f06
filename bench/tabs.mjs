#!/usr/bin/env node
// tabs.mjs — what N open tabs of one app cost the server (issue #13): Lifeline (tabs share
// one connection by default), Lifeline with `share: false`, and socket.io-client (one
// connection per tab), in the same run, in Chromium.
//
//   node bench/tabs.mjs [--quick]   (after `make build`) → bench/tabs-results.{md,json}
//                                   (--quick: shorter, into bench/out/)
//
// For 1, 5 and 20 tabs of one browser context (one origin, so they share Web Locks and
// BroadcastChannel) and two network conditions — the WebSocket works, and the upgrade is
// refused (Lifeline long-polls, socket.io stays on its polling transport) — each library's
// tabs connect through their own tests/proxy.mjs to their own server (demo/server.mjs,
// bench/sio-server.mjs). Once every tab is connected the proxy's counters are reset, one
// message is published every 5 s for the window, and the proxy counts TCP connections,
// HTTP requests and WebSocket upgrades; every tab must have received every message. Figures
// are per minute (the window's counts scaled), plus the WebSockets open at the end. Pages
// are Playwright's (never hidden): the cost of tabs the user keeps in sight, socket.io's
// worst case and Lifeline's alike.
//
// Then the takeover times: with 3 tabs sharing a WebSocket, how long until another tab
// leads after the leader is closed (page.close()), crashed (CDP Page.crash), or stuck (its
// main thread busy, lock held, no heartbeat), measured from the kill to the first page
// whose `role` reads 'leader' (polled every 20 ms), 5 times each.
import { admin } from '../tests/lib/servers.mjs';
import { createProxy } from '../tests/proxy.mjs';
import { median } from './stats.mjs';
import { perMinute as f, runBench, startRig, until, writeResults } from './browser-kit.mjs';

const QUICK = process.argv.includes('--quick');
const WINDOW = QUICK ? 10000 : 30000;
const TABS = [1, 5, 20];
const KILLS = QUICK ? 2 : 5;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[tabs]', ...a);
const cleanups = [];

// One client in a page: window.__got counts messages, window.__ready says connected.
const CLIENT = {
    async lifeline([url, opts]) {
        const { Lifeline } = await import('/lifeline.mjs');
        window.__got = 0;
        const live = (window.__c = new Lifeline(url, opts));
        live.addEventListener('message', () => window.__got++);
        window.__ready = () => live.state == 'open';
    },
    async sio([url]) {
        const { io } = await import('/sio.mjs');
        window.__got = 0;
        const s = (window.__c = io(url, { forceNew: true }));
        s.on('msg', (m) => m.welcome || window.__got++);
        window.__ready = () => s.connected;
    },
};

async function measure(browser, origin, lib, n, refuse, servers) {
    const proxy = await createProxy({ target: lib.sio ? servers.sio : servers.lifeline, listenPort: 0 });
    if (refuse) proxy.setMode('refuse');
    const ctx = await browser.newContext();
    try {
        const url = lib.sio ? proxy.url : `${proxy.url}/live/tabs${Date.now()}`;
        const stream = url.split('/live/')[1];
        const pages = [];
        for (let i = 0; i < n; i++) {
            const page = await ctx.newPage();
            await page.goto(origin + '/');
            await page.evaluate(CLIENT[lib.sio ? 'sio' : 'lifeline'], [url, lib.opts]);
            pages.push(page);
        }
        // tabs that hold a long poll each can starve the others of the browser's six
        // connections per host: count how many connect within 30 s rather than wait forever
        const connected = async () => (await Promise.all(pages.map((p) => p.evaluate(() => window.__ready())))).filter(Boolean).length;
        await until(async () => (await connected()) == n, 30000, '').catch(() => {});
        await sleep(1500); // upgrades and fallbacks settle
        proxy.resetStats();
        const t0 = Date.now();
        let sent = 0;
        while (Date.now() - t0 < WINDOW) {
            if (lib.sio) await admin(servers.sio, '/admin/publish', { data: { n: ++sent } });
            else await admin(servers.lifeline, '/admin/publish', { stream, data: { n: ++sent } });
            await sleep(Math.min(5000, WINDOW - (Date.now() - t0)));
        }
        const s = proxy.stats(),
            ms = Date.now() - t0;
        const got = await Promise.all(pages.map((p) => p.evaluate(() => window.__got)));
        const roles = lib.sio ? [] : await Promise.all(pages.map((p) => p.evaluate(() => window.__c.role)));
        const perMin = (v) => (v * 60000) / ms;
        const row = {
            lib: lib.name,
            tabs: n,
            network: refuse ? 'upgrade refused' : 'WebSocket works',
            connectionsPerMin: perMin(s.connections),
            requestsPerMin: perMin(s.http_total),
            upgradesPerMin: perMin(s.ws_upgrades),
            wsOpen: s.ws_open,
            leaders: roles.filter((r) => r == 'leader').length,
            connected: await connected(),
            messages: sent,
            allReceived: got.filter((g) => g >= sent).length,
        };
        log(JSON.stringify(row));
        return row;
    } finally {
        await ctx.close();
        await proxy.close();
    }
}

async function takeovers(browser, origin, servers) {
    const out = { closed: [], crashed: [], stuck: [] };
    for (const how of Object.keys(out)) {
        for (let k = 0; k < KILLS; k++) {
            const ctx = await browser.newContext();
            try {
                const url = `${servers.lifeline}/live/takeover${Date.now()}`;
                const pages = [];
                for (let i = 0; i < 3; i++) {
                    const page = await ctx.newPage();
                    await page.goto(origin + '/');
                    await page.evaluate(CLIENT.lifeline, [url, {}]);
                    pages.push(page);
                }
                const roles = () => Promise.all(pages.map((p) => p.evaluate(() => window.__c.role).catch(() => null)));
                await until(
                    async () => (await roles()).includes('leader') && (await Promise.all(pages.map((p) => p.evaluate(() => window.__ready())))).every(Boolean),
                    15000,
                    'a leader',
                );
                const leader = pages[(await roles()).indexOf('leader')];
                const rest = pages.filter((p) => p != leader);
                const t0 = Date.now();
                if (how == 'closed') await leader.close();
                else if (how == 'crashed') {
                    const cdp = await ctx.newCDPSession(leader);
                    cdp.send('Page.crash').catch(() => {});
                } else
                    leader
                        .evaluate(() => {
                            const end = performance.now() + 8000;
                            while (performance.now() < end);
                        })
                        .catch(() => {});
                let took = null;
                while (Date.now() - t0 < 15000 && took == null) {
                    const r = await Promise.all(rest.map((p) => p.evaluate(() => window.__c.role).catch(() => null)));
                    if (r.includes('leader')) took = Date.now() - t0;
                    else await sleep(20);
                }
                out[how].push(took);
                log(how, took, 'ms');
            } finally {
                await ctx.close().catch(() => {});
            }
        }
    }
    return out;
}

async function main() {
    const { origin, servers, browser } = await startRig(cleanups);
    const libs = [
        { name: 'Lifeline (shared)', opts: {} },
        { name: 'Lifeline share: false', opts: { share: false } },
        { name: 'socket.io-client', sio: true },
    ];
    const rows = [];
    for (const refuse of [false, true]) for (const n of TABS) for (const lib of libs) rows.push(await measure(browser, origin, lib, n, refuse, servers));
    const kills = await takeovers(browser, origin, servers);
    const md = [
        `# Tabs: what N open tabs cost the server (bench/tabs.mjs${QUICK ? ' --quick' : ''})`,
        '',
        `Chromium ${browser.version()}, one browser context, a message every 5 s, window ${WINDOW / 1000} s, counted at a proxy per library; per minute.`,
        '',
        '| network | tabs | library | tabs connected | connections/min | HTTP requests/min | WebSocket upgrades/min | WebSockets open | leaders | tabs that got every message |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...rows.map(
            (r) =>
                `| ${r.network} | ${r.tabs} | ${r.lib} | ${r.connected} | ${f(r.connectionsPerMin)} | ${f(r.requestsPerMin)} | ${f(r.upgradesPerMin)} | ${r.wsOpen} | ${r.lib.includes('shared') ? r.leaders : '—'} | ${r.allReceived} of ${r.tabs} |`,
        ),
        '',
        `Takeover (3 tabs, a new leader after the old one was …; ${KILLS} runs each, ms, median [all]):`,
        '',
        '| leader | median ms | runs |',
        '| --- | --- | --- |',
        ...Object.entries(kills).map(([how, a]) => `| ${how} | ${median(a) ?? '—'} | ${a.join(', ')} |`),
        '',
    ].join('\n');
    writeResults('tabs', QUICK, md, { chromium: browser.version(), window: WINDOW, rows, takeovers: kills });
}

await runBench(main, cleanups, log);

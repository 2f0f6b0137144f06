// The demo never says the wrong thing (issue #14): what index.html and script.html tell a
// person, in Chromium against the reference demo server, for a fresh load, a remembered
// fallback, refuse then black hole, a stall, a flap and a server restart — and the page as a
// person sees it at 390 px (the fault buttons right after the connection card, "What
// happened" shown whole, fault labels on the timeline apart).
// `history(page)` is the "What happened" list, oldest first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin } from '../lib/servers.mjs';
import { skip, launchBrowser, sleep } from './helpers.mjs';
import { openDemo } from '../cluster/demo-page.mjs';

let server, b;
before(async () => {
    if (skip) return;
    server = await startServer('node', ['--tick', '500', '--name', 'demo-node']);
    b = await launchBrowser();
});
after(async () => {
    await b?.close();
    await server?.stop();
});

const history = (page) => page.evaluate(() => [...document.querySelectorAll('#history li span')].map((s) => s.textContent).reverse());
// The main stream's (ticker's) lines: the others are prefixed with their stream's name, and
// their order against the main stream's is not fixed (each stream's Lifeline starts on its own).
const mainLines = (lines) => lines.filter((l) => !/^(counter|chat): /.test(l));
const reason = (page) => page.textContent('#reason');
const main = (page, pred, arg, timeout = 30000) => page.waitForFunction(pred, arg, { timeout });
// (right after a reload the page's module may not have made window.lifeline yet: a predicate that threw would fail the wait)
const onPolling = () => window.lifeline?.state === 'open' && ['longpoll', 'poll'].includes(window.lifeline.transport);
const onWebSocket = () => window.lifeline?.state === 'open' && window.lifeline.transport === 'websocket';
const allOnWebSocket = () => {
    const all = Object.values(window.lifelines ?? {}); // every stream's, set at once
    return all.length > 0 && all.every((l) => l.state === 'open' && l.transport === 'websocket');
};
const said = (page, re) =>
    page.waitForFunction((src) => [...document.querySelectorAll('#history li span')].some((s) => new RegExp(src).test(s.textContent)), re.source, {
        timeout: 30000,
    });
const fault = async (page, mode) => {
    await page.click(`button.fault[data-mode="${mode}"]`);
    await page.waitForFunction((m) => document.querySelector(`button.fault[data-mode="${m}"]`).getAttribute('aria-pressed') === 'true', mode, {
        timeout: 10000,
    });
};
const reconnect = async (page) => {
    await page.waitForFunction(() => !document.getElementById('reconnect').disabled, null, { timeout: 10000 });
    await page.click('#reconnect');
};
/** A fresh context on a healthy server (no remembered fallback from another test). */
async function fresh(path = '/', opts = {}) {
    await admin(server.url, '/admin/fault', { mode: 'none' });
    const ctx = await b.browser.newContext(opts);
    const page = await openDemo(ctx, server.url + path);
    return { ctx, page };
}

test(
    'fresh load on a healthy server: one "Connecting" line, then "Connected over WebSocket" — never "switched back" or "fell back"',
    { skip, timeout: 60000 },
    async (t) => {
        const { ctx, page } = await fresh();
        try {
            await main(page, onWebSocket);
            await sleep(1000);
            const all = await history(page);
            t.diagnostic(all.join(' | '));
            const lines = mainLines(all);
            assert.equal(lines.filter((l) => /^Connecting/.test(l)).length, 1, 'one Connecting line for the main stream');
            assert.match(lines[0], /^Connecting: trying a WebSocket, with an HTTP poll racing beside it unless it opens at once/);
            assert.match(await reason(page), /^Connected over WebSocket: the server said hello/);
            for (const l of lines) assert.doesNotMatch(l, /Switched back|Fell back|started on polling|failed/i, l);
            assert.deepEqual(page.problems, []);
        } finally {
            await ctx.close();
        }
    },
);

test('remembered fallback: the reload starts on polling and says why; it never claims it is trying a WebSocket first', { skip, timeout: 90000 }, async (t) => {
    await admin(server.url, '/admin/fault', { mode: 'blackhole' });
    const ctx = await b.browser.newContext();
    try {
        const page = await openDemo(ctx, server.url + '/?wsTimeout=1000');
        page.wsFailuresExpected = true;
        await said(page, /^Fell back to long polling: the WebSocket never answered \(black hole\)/); // the main stream's own line
        await page.reload();
        await main(page, onPolling);
        await sleep(1000);
        const all = await history(page);
        t.diagnostic(all.join(' | '));
        // the main stream fell back before the reload (its fallback is remembered); the others may not have
        const lines = mainLines(all);
        assert.match(
            lines[0],
            /^Connecting over polling: the WebSocket failed here a short while ago \(remembered for this site\), so this connection started on polling/,
        );
        assert.ok(!lines.some((l) => /trying a WebSocket/.test(l)), 'no line of the main stream claims a WebSocket is tried first');
        assert.match(await reason(page), /long polling/);
        assert.doesNotMatch(await reason(page), /Switched back|Connected over WebSocket/);
    } finally {
        await ctx.close();
        await admin(server.url, '/admin/fault', { mode: 'none' });
    }
});

test('refuse then black hole (reconnecting the page each time): the words say this connection, never a page load', { skip, timeout: 90000 }, async (t) => {
    const { ctx, page } = await fresh('/?wsTimeout=1000');
    try {
        await main(page, onWebSocket);
        page.wsFailuresExpected = true;
        await fault(page, 'refuse');
        await reconnect(page);
        await main(page, onPolling);
        await fault(page, 'blackhole');
        await reconnect(page);
        await main(page, onPolling);
        await sleep(2500); // the black-holed probe times out meanwhile
        const lines = await history(page);
        t.diagnostic(lines.join(' | '));
        for (const l of [...lines, await reason(page)]) assert.doesNotMatch(l, /page load/, l);
        assert.match(await reason(page), /(Started on|Still on|Fell back to|Live over) long polling/);
        assert.doesNotMatch(await reason(page), /WebSocket: the server said hello/);
    } finally {
        await ctx.close();
        await admin(server.url, '/admin/fault', { mode: 'none' });
    }
});

test('stall: "Reconnecting: the WebSocket went silent", then polling; nothing claims a switch back up', { skip, timeout: 90000 }, async (t) => {
    const { ctx, page } = await fresh();
    try {
        await main(page, allOnWebSocket); // every stream's hello said before the fault
        await fault(page, 'stall');
        await said(page, /^Reconnecting: the WebSocket went silent and missed a ping \(stalled\)/);
        await main(page, onPolling);
        await sleep(1000);
        const all = await history(page);
        const lines = all.slice(all.findIndex((l) => /^Fault switched.*: stall/.test(l)));
        assert.match(lines[0] ?? '', /^Fault switched/, all.join(' | '));
        t.diagnostic(lines.join(' | '));
        assert.ok(!lines.some((l) => /Switched back up|Connected over WebSocket/.test(l)), 'no WebSocket claimed while stalled');
        assert.match(await reason(page), /long polling/);
    } finally {
        await ctx.close();
        await admin(server.url, '/admin/fault', { mode: 'none' });
    }
});

test('flap: the page says the WebSocket kept dropping and falls back to polling', { skip, timeout: 120000 }, async (t) => {
    const { ctx, page } = await fresh();
    try {
        await main(page, onWebSocket);
        await fault(page, 'flap');
        await reconnect(page);
        await said(page, /flapping/);
        await main(page, onPolling, undefined, 60000);
        const lines = await history(page);
        t.diagnostic(lines.join(' | '));
        assert.ok(
            lines.some((l) => /^Fell back to long polling: the WebSocket kept dropping right after it connected \(flapping\)/.test(l)),
            lines.join(' | '),
        );
    } finally {
        await ctx.close();
        await admin(server.url, '/admin/fault', { mode: 'none' });
    }
});

test('restart: "Reconnecting: the WebSocket closed", then back on the WebSocket; no fallback claimed', { skip, timeout: 60000 }, async (t) => {
    const { ctx, page } = await fresh();
    try {
        await main(page, onWebSocket);
        const before = (await history(page)).length;
        await page.click('#restart');
        await said(page, /^Reconnecting: the WebSocket closed/);
        await main(page, onWebSocket);
        await sleep(500);
        const lines = (await history(page)).slice(before);
        t.diagnostic(lines.join(' | '));
        assert.ok(!lines.some((l) => /Fell back|started on polling/.test(l)), lines.join(' | '));
        assert.match(await reason(page), /over WebSocket/);
    } finally {
        await ctx.close();
    }
});

test(
    '390 px: the fault buttons come right after the connection card; "What happened" is shown whole; timeline fault labels never overlap',
    { skip, timeout: 60000 },
    async () => {
        const { ctx, page } = await fresh('/', { viewport: { width: 390, height: 844 } });
        try {
            await main(page, onWebSocket);
            page.wsFailuresExpected = true;
            for (const m of ['refuse', 'blackhole', 'stall', 'flap', 'none', 'refuse', 'none']) await fault(page, m); // marks close together
            await sleep(1500); // the timeline redraws
            const box = await page.evaluate(() => {
                const top = (sel) => document.querySelector(sel).getBoundingClientRect().top + scrollY;
                const list = document.getElementById('history');
                const labels = [...document.querySelectorAll('#timeline text.tl-mark-text')].map((t) => t.getBBox()).map((r) => [r.x, r.x + r.width]);
                return {
                    conn: top('.conn'),
                    faults: top('.faults'),
                    others: ['.value', '.counter', '.chat', '.served'].map(top),
                    scrolls: list.scrollHeight > list.clientHeight + 1,
                    lastInside: list.lastElementChild.getBoundingClientRect().bottom <= document.querySelector('.history').getBoundingClientRect().bottom,
                    labels,
                };
            });
            assert.ok(box.faults > box.conn && box.others.every((y) => y > box.faults), JSON.stringify(box));
            assert.equal(box.scrolls, false, 'the list does not scroll inside itself');
            assert.ok(box.lastInside, 'its last entry is inside the card');
            assert.ok(box.labels.length >= 1, 'at least one fault label');
            const sorted = box.labels.sort((a, b) => a[0] - b[0]);
            for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i][0] >= sorted[i - 1][1], `labels overlap: ${JSON.stringify(sorted)}`);
        } finally {
            await ctx.close();
            await admin(server.url, '/admin/fault', { mode: 'none' });
        }
    },
);

test(
    'script.html: a fresh load says "Connected over WebSocket"; a replayed backlog is stamped with when each was published',
    { skip, timeout: 60000 },
    async () => {
        const quiet = await startServer('node', ['--name', 'no-tick']); // no ticks of its own: the backlog is ours
        const ctx = await b.browser.newContext();
        try {
            const old = Date.now() - 3 * 3600_000; // three hours ago
            const ts = [old, old + 60_000, old + 120_000];
            for (const [i, t] of ts.entries()) await admin(quiet.url, '/admin/publish', { stream: 'ticker', data: { kind: 'tick', t, value: 40 + i } });
            const page = await openDemo(ctx, quiet.url + '/script.html');
            await main(page, onWebSocket);
            await page.waitForFunction(() => document.querySelectorAll('#feed li').length >= 3, null, { timeout: 10000 });
            assert.match(await reason(page), /^Connected over WebSocket: the server said hello/);
            const stamps = await page.evaluate(() =>
                [...document.querySelectorAll('#feed li')].map((li) => [li.querySelector('span').textContent, li.querySelector('time').dateTime]).reverse(),
            );
            assert.deepEqual(
                stamps,
                ts.map((t, i) => [`tick ${(40 + i).toFixed(2)}`, new Date(t).toISOString()]),
            );
            assert.deepEqual(page.problems, []);
        } finally {
            await ctx.close();
            await quiet.stop();
        }
    },
);

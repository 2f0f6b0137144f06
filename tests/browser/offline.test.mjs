// Scenario 4: offline (Playwright's context.setOffline: CDP network emulation; the page gets
// `offline`/`online` events and navigator.onLine) → nothing tried; online → reconnect at once,
// nothing lost. Two Lifelines in one page, each through its own proxy:
//   p  long polling (websocket: false): the held poll is aborted, state offline;
//   w  a WebSocket. Under this emulation an open socket is not closed but frozen: nothing
//      it sends leaves, and frames sent to it are held back until online (measured here).
//      So the ping the core sends on `offline` (the browser's word is only a hint) goes
//      unanswered: the socket is dropped with ws_stalled, state offline.
// Nothing is tried until `online`; then both reconnect at once.
// A second test fires a synthetic `offline` while the network really works: the socket
// answers the ping and is kept (README, Decisions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, useRig, openFixture, waitLog, getLog, isOpen, lastState, history, sleep } from './helpers.mjs';

const BASE = { wsTimeout: 1000, raceDelay: 100, pingIdle: 500, pongTimeoutMin: 300, pongTimeoutMax: 1000, backoffBase: 200, backoffMax: 1000, probeMin: 60000 };

const env = useRig();

const traffic = (p) => {
    const s = p.stats();
    return { connections: s.connections, ws_upgrades: s.ws_upgrades, http_total: s.http_total };
};
const data = (l) => l.messages.map((m) => [m.data.n, m.cursor]);

/** A page with two Lifelines, each through its own proxy: p long-polls, w on a WebSocket. */
async function openPair(ctx) {
    const page = await ctx.newPage();
    const px = { p: await env.rig.proxy(), w: await env.rig.proxy() };
    await openFixture(
        page,
        env.rig.fixture({
            build: 'esm',
            live: [
                { tag: 'p', url: px.p.url + '/live/test', opts: { ...BASE, websocket: false } },
                { tag: 'w', url: px.w.url + '/live/test', opts: BASE },
            ],
        }),
    );
    await waitLog(page, (l) => isOpen(l.p, 'longpoll') && isOpen(l.w, 'websocket'), 'both open');
    return { page, px };
}

test('offline: nothing tried; online: reconnect at once, nothing lost', { skip, timeout: 60000 }, async (t) => {
    const ctx = await env.b.browser.newContext();
    try {
        const { page, px } = await openPair(ctx);
        const want = [[1, await env.rig.publish({ n: 1, what: 'offline-test' })]];
        await waitLog(page, (l) => ['p', 'w'].every((k) => l[k].messages.length === 1), 'message 1 on both');

        await ctx.setOffline(true);
        let log = await waitLog(
            page,
            (l) => l.__page.some((e) => e.type === 'offline') && lastState(l.p).state === 'offline' && lastState(l.w).state === 'offline',
            'offline event; p and w offline',
            8000,
        );
        assert.equal(await page.evaluate(() => navigator.onLine), false);
        assert.deepEqual([lastState(log.p).reason], ['offline']);
        assert.equal(lastState(log.w).reason, 'ws_stalled', 'w: the unanswered ping drops it: ' + history(log.w));
        assert.ok(log.w.errors.some((e) => e.code === 'ws_failed' && e.reason === 'ws_stalled'));
        // dropped within pongTimeout of going offline, not at the next pingIdle
        const off = log.__page.find((e) => e.type === 'offline').t;
        assert.ok(lastState(log.w).t - off < 2000, `w dropped ${Math.round(lastState(log.w).t - off)} ms after offline`);

        const states = Object.fromEntries(['p', 'w'].map((k) => [k, log[k].states.length]));
        const pageStats = () =>
            page.evaluate(() => Object.fromEntries(['p', 'w'].map((k) => [k, [window.__live[k].stats.requests, window.__live[k].stats.wsOpened]])));
        const before = { stats: await pageStats(), p: traffic(px.p), w: traffic(px.w) };
        want.push([2, await env.rig.publish({ n: 2, what: 'offline-test' })]);
        await sleep(3000);
        log = await getLog(page);
        const afterOff = { stats: await pageStats(), p: traffic(px.p), w: traffic(px.w) };
        t.diagnostic(`offline 3 s: before ${JSON.stringify(before)} after ${JSON.stringify(afterOff)}`);
        assert.deepEqual(afterOff, before, 'no request, no WebSocket attempt while offline');
        assert.equal(log.p.states.length, states.p, 'p: no retry loop: ' + history(log.p));
        assert.equal(log.w.states.length, states.w, 'w: no retry loop: ' + history(log.w));
        assert.equal(log.p.messages.length, 1);
        assert.equal(log.w.messages.length, 1);

        const online = Date.now();
        await ctx.setOffline(false);
        log = await waitLog(
            page,
            (l) =>
                l.__page.some((e) => e.type === 'online') &&
                isOpen(l.p, 'longpoll') &&
                isOpen(l.w, 'websocket') &&
                l.p.messages.length >= 2 &&
                l.w.messages.length >= 2,
            'online: p and w open again with message 2',
            8000,
        );
        const took = Date.now() - online;
        t.diagnostic(`online: back and caught up in ${took} ms; p ${history(log.p)}; w ${history(log.w)}`);
        assert.ok(took < 3000, `reconnected at once (${took} ms)`);
        for (const k of ['p', 'w'])
            assert.ok(
                log[k].states.some((s) => s.reason === 'online'),
                `${k}: online reason`,
            );
        want.push([3, await env.rig.publish({ n: 3, what: 'offline-test' })]);
        log = await waitLog(page, (l) => ['p', 'w'].every((k) => l[k].messages.length >= 3), 'message 3 on both', 5000);
        await sleep(200);
        log = await getLog(page);
        for (const k of ['p', 'w']) assert.deepEqual(data(log[k]), want, `${k}: every message once, in order`);
        assert.deepEqual(page.__errors, []);
    } finally {
        await ctx.close();
    }
});

test('a synthetic offline event while the network works: the WebSocket answers its ping and is kept', { skip, timeout: 30000 }, async (t) => {
    const ctx = await env.b.browser.newContext();
    try {
        const { page, px } = await openPair(ctx);
        const up = px.w.stats().bytes.ws.up;
        await page.evaluate(() => dispatchEvent(new Event('offline')));
        let log = await waitLog(page, (l) => lastState(l.p).state === 'offline', 'p offline', 5000);
        await sleep(1000); // > pongTimeoutMax: a ping unanswered by now would have dropped it
        log = await getLog(page);
        t.diagnostic(`synthetic offline: w ${history(log.w)}; p ${history(log.p)}; w sent ${px.w.stats().bytes.ws.up - up} bytes`);
        assert.ok(px.w.stats().bytes.ws.up > up, 'w pinged at once');
        assert.ok(isOpen(log.w, 'websocket'), 'w kept: ' + history(log.w));
        const want = [[1, await env.rig.publish({ n: 1, what: 'synthetic-offline' })]];
        await waitLog(page, (l) => l.w.messages.length === 1, 'w still receives', 5000);
        await page.evaluate(() => dispatchEvent(new Event('online')));
        log = await waitLog(page, (l) => l.p.messages.length === 1 && isOpen(l.p, 'longpoll'), 'p back with message 1', 5000);
        assert.deepEqual(data(log.p), want);
        assert.deepEqual(data(log.w), want);
        assert.deepEqual(page.__errors, []);
    } finally {
        await ctx.close();
    }
});

// Scenarios 3 and 5 in a Chromium we start ourselves and drive over CDP (Playwright's own
// launch emulates focus, so its pages never hide, and it disables the back/forward cache):
//  3. a really hidden tab (another tab opened over it) makes zero requests and runs no
//     reconnect loop; brought to the front it catches up at once, nothing lost;
//  5. leaving the page (pagehide) stops all traffic; coming back through the back/forward
//     cache resumes from the cursor, nothing lost.
// Each page runs two Lifelines: 'w' (WebSocket) and 'p' (websocket: false, long polling),
// each through its own proxy, so each one's traffic is counted apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, useRig, launchCdpBrowser, openFixture, waitLog, getLog, isOpen, lastState, history, sleep, within } from './helpers.mjs';

const BASE = { wsTimeout: 1000, raceDelay: 100, pingIdle: 500, pongTimeoutMin: 300, backoffBase: 200, backoffMax: 1000 };

const env = useRig(launchCdpBrowser);

/** What the proxy saw that a silent client would not change. */
const traffic = (p) => {
    const s = p.stats();
    return { connections: s.connections, ws_upgrades: s.ws_upgrades, http_total: s.http_total, up: s.bytes.http.up + s.bytes.ws.up };
};

async function twoLives(page, opts = {}, cfgExtra = {}) {
    const pw = await env.rig.proxy();
    const pp = await env.rig.proxy();
    const url = env.rig.fixture({
        build: 'esm',
        ...cfgExtra,
        live: [
            { tag: 'w', url: pw.url + '/live/test', opts: { ...BASE, ...opts } },
            { tag: 'p', url: pp.url + '/live/test', opts: { ...BASE, ...opts, websocket: false } },
        ],
    });
    await openFixture(page, url);
    await waitLog(page, (l) => isOpen(l.w, 'websocket') && isOpen(l.p, 'longpoll'), 'w open over websocket, p over longpoll');
    return { pw, pp };
}

const data = (l) => l.messages.map((m) => [m.data.n, m.cursor]);

test('a really hidden tab: zero requests, no reconnect loop; shown again it catches up at once', { skip, timeout: 60000 }, async (t) => {
    const ctx = env.b.context;
    const page = await ctx.newPage();
    let cover;
    try {
        const { pw, pp } = await twoLives(page, { hiddenGrace: 500 });
        const want = [[1, await env.rig.publish({ n: 1, what: 'hidden-test' })]];
        await waitLog(page, (l) => l.w.messages.length === 1 && l.p.messages.length === 1, 'message 1 on both');

        // another tab over it: the page is hidden for real
        cover = await ctx.newPage();
        await cover.goto(env.rig.otherUrl);
        let log = await waitLog(
            page,
            (l) =>
                l.__page.some((e) => e.type === 'visibilitychange' && e.visibility === 'hidden') &&
                lastState(l.w).state === 'paused' &&
                lastState(l.p).state === 'paused',
            'hidden, both paused',
            10000,
        );
        assert.equal(await page.evaluate(() => document.visibilityState), 'hidden');
        assert.deepEqual([lastState(log.w).reason, lastState(log.p).reason], ['hidden', 'hidden']);
        const hiddenAt = Date.now();
        const states = { w: log.w.states.length, p: log.p.states.length };
        const pageStats = await page.evaluate(() => [window.__live.w.stats, window.__live.p.stats].map((s) => [s.requests, s.wsOpened]));
        await sleep(200); // let a closing WebSocket's last bytes land
        const before = { w: traffic(pw), p: traffic(pp) };
        // published while nobody looks
        for (let n = 2; n <= 4; n++) {
            want.push([n, await env.rig.publish({ n, what: 'hidden-test' })]);
            await sleep(1000);
        }
        await sleep(Math.max(0, 6000 - (Date.now() - hiddenAt)));
        log = await getLog(page);
        const afterHidden = { w: traffic(pw), p: traffic(pp) };
        t.diagnostic(`hidden ${Date.now() - hiddenAt} ms: proxy traffic before ${JSON.stringify(before)} after ${JSON.stringify(afterHidden)}`);
        assert.deepEqual(afterHidden, before, 'zero requests, zero bytes from the hidden tab');
        assert.deepEqual(
            await page.evaluate(() => [window.__live.w.stats, window.__live.p.stats].map((s) => [s.requests, s.wsOpened])),
            pageStats,
            'no request and no WebSocket attempt counted in the page either',
        );
        assert.equal(log.w.states.length, states.w, 'no reconnect loop (w): ' + history(log.w));
        assert.equal(log.p.states.length, states.p, 'no reconnect loop (p): ' + history(log.p));
        assert.equal(log.w.messages.length, 1);
        assert.equal(log.p.messages.length, 1);

        // to the front: catch up at once
        const shown = Date.now();
        await page.bringToFront();
        log = await waitLog(page, (l) => l.w.messages.length >= 4 && l.p.messages.length >= 4, 'caught up after shown', 10000);
        const took = Date.now() - shown;
        t.diagnostic(`visible again: caught up in ${took} ms; w ${history(log.w)}; p ${history(log.p)}`);
        assert.ok(took < 3000, `caught up at once (${took} ms)`);
        await sleep(200);
        log = await getLog(page);
        assert.deepEqual(data(log.w), want);
        assert.deepEqual(data(log.p), want);
        assert.ok(isOpen(log.w, 'websocket'), history(log.w));
        assert.ok(isOpen(log.p, 'longpoll'), history(log.p));
        assert.ok(log.w.states.some((s) => s.reason === 'visible'));
        assert.ok(log.p.states.some((s) => s.reason === 'visible'));
        assert.deepEqual(page.__errors, []);
    } finally {
        await cover?.close().catch(() => {});
        await page.close().catch(() => {});
    }
});

test('pagehide stops all traffic; back through the back/forward cache resumes from the cursor', { skip, timeout: 60000 }, async (t) => {
    const ctx = env.b.context;
    const page = await ctx.newPage();
    try {
        const cdp = await ctx.newCDPSession(page);
        const notUsed = [];
        cdp.on('Page.backForwardCacheNotUsed', (e) => notUsed.push(e));
        await cdp.send('Page.enable');
        // resumeFromStorage: should the cache not be used, the reloaded page resumes from the
        // cursor kept in sessionStorage (what an application would do)
        const { pw, pp } = await twoLives(page, {}, { resumeFromStorage: true });
        const want = [[1, await env.rig.publish({ n: 1, what: 'bfcache-test' })]];
        await waitLog(page, (l) => l.w.messages.length === 1 && l.p.messages.length === 1, 'message 1 on both');

        await page.goto(env.rig.otherUrl, { timeout: 10000 });
        await sleep(300);
        const left = { w: traffic(pw), p: traffic(pp) };
        assert.equal(pw.stats().ws_open, 0, 'the WebSocket was closed on pagehide');
        for (let n = 2; n <= 3; n++) {
            want.push([n, await env.rig.publish({ n, what: 'bfcache-test' })]);
            await sleep(500);
        }
        await sleep(1000);
        const later = { w: traffic(pw), p: traffic(pp) };
        t.diagnostic(`away: proxy traffic at leaving ${JSON.stringify(left)}, 2 s later ${JSON.stringify(later)}`);
        assert.deepEqual(later, left, 'nothing on the wire after the user left');

        const back = Date.now();
        await within(page.goBack({ waitUntil: 'commit', timeout: 10000 }), 12000, 'goBack');
        await page.waitForFunction(() => window.__ready === true, null, { timeout: 10000 });
        let log = await getLog(page);
        const show = log.__page.filter((e) => e.type === 'pageshow').at(-1);
        const restored = !!show?.persisted;
        t.diagnostic(`back: pageshow persisted=${show?.persisted}; bfcache not used: ${JSON.stringify(notUsed).slice(0, 2000) || 'none'}`);
        log = await waitLog(page, (l) => l.w.messages.length >= 3 && l.p.messages.length >= 3, 'caught up after coming back', 10000);
        t.diagnostic(`caught up ${Date.now() - back} ms after goBack; w ${history(log.w)}; p ${history(log.p)}`);
        await sleep(200);
        log = await getLog(page);
        assert.ok(restored, `the page came back from the back/forward cache (not used: ${JSON.stringify(notUsed)})`);
        assert.deepEqual(
            log.__page.filter((e) => e.type === 'pagehide').map((e) => e.persisted),
            [true],
            'pagehide with persisted: true',
        );
        assert.deepEqual(data(log.w), want);
        assert.deepEqual(data(log.p), want);
        for (const l of [log.w, log.p]) {
            const r = l.states.map((s) => `${s.state}/${s.reason}`);
            assert.ok(r.includes('paused/pagehide'), r.join());
            assert.ok(r.includes('connecting/pageshow'), r.join());
        }
        assert.deepEqual(page.__errors, []);
    } finally {
        await page.close().catch(() => {});
    }
});

// Chrome's freeze and resume (a background tab frozen: timers stopped, no visibilitychange
// on resume), driven for real through CDP Page.setWebLifecycleState in a Chromium we start
// ourselves. Freezing hides the page first (Chrome freezes hidden pages only) and resuming
// leaves it hidden, as a background tab resumed for a moment: it stays quiet; shown, it
// catches up. A page that did not take resume as its return would stay away for good
// (a page that left ignores visibility). Two Lifelines, 'w' (WebSocket) and 'p' (long
// polling), each through its own proxy: zero requests while frozen and while resumed but
// hidden; shown, both catch up at once with nothing lost or repeated. "At once" is asserted
// without a clock: every timer that could bring them back (ping, backoff, probes) is set
// far beyond the hang guard, so only the page's own events can.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, useRig, launchCdpBrowser, openFixture, waitLog, getLog, isOpen, history, sleep } from './helpers.mjs';

// No timer fires within the test's guards: a catch-up can only come from the resume itself.
const SLOW = { wsTimeout: 5000, raceDelay: 100, pingIdle: 120000, backoffBase: 60000, backoffMax: 120000, probeMin: 60000, probeMax: 120000 };
const GUARD = 15000;

const env = useRig(launchCdpBrowser);

const traffic = (p) => {
    const s = p.stats();
    return { connections: s.connections, ws_upgrades: s.ws_upgrades, http_total: s.http_total, up: s.bytes.http.up + s.bytes.ws.up };
};
const data = (l) => l.messages.map((m) => [m.data.n, m.cursor]);

test(
    'frozen (CDP): zero requests; resumed, still hidden: quiet; shown: caught up at once from the cursor, nothing lost or repeated',
    { skip, timeout: 90000 },
    async (t) => {
        const ctx = env.b.context;
        const page = await ctx.newPage();
        try {
            const cdp = await ctx.newCDPSession(page);
            const pw = await env.rig.proxy();
            const pp = await env.rig.proxy();
            await openFixture(
                page,
                env.rig.fixture({
                    build: 'esm',
                    live: [
                        { tag: 'w', url: pw.url + '/live/test', opts: SLOW },
                        { tag: 'p', url: pp.url + '/live/test', opts: { ...SLOW, websocket: false } },
                    ],
                }),
            );
            await page.evaluate(() => {
                for (const type of ['freeze', 'resume']) document.addEventListener(type, () => window.__page.push({ t: performance.now(), type }));
            });
            await waitLog(page, (l) => isOpen(l.w, 'websocket') && isOpen(l.p, 'longpoll'), 'w open over websocket, p over longpoll');
            const want = [[1, await env.rig.publish({ n: 1, what: 'freeze-test' })]];
            await waitLog(page, (l) => l.w.messages.length === 1 && l.p.messages.length === 1, 'message 1 on both');

            await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
            await sleep(500); // the closing socket's and the aborted poll's last bytes
            const frozen = { w: traffic(pw), p: traffic(pp) };
            assert.equal(pw.stats().ws_open, 0, 'the WebSocket was closed on freeze');
            for (let n = 2; n <= 4; n++) {
                want.push([n, await env.rig.publish({ n, what: 'freeze-test' })]);
                await sleep(700);
            }
            await sleep(1000);
            const later = { w: traffic(pw), p: traffic(pp) };
            t.diagnostic(`frozen: proxy traffic ${JSON.stringify(frozen)}, 3 s later ${JSON.stringify(later)}`);
            assert.deepEqual(later, frozen, 'zero requests, zero bytes while frozen');

            await cdp.send('Page.setWebLifecycleState', { state: 'active' });
            let log = await waitLog(page, (l) => l.__page.some((e) => e.type === 'resume'), 'resume event');
            assert.equal(await page.evaluate(() => document.visibilityState), 'hidden');
            await sleep(1000);
            assert.deepEqual({ w: traffic(pw), p: traffic(pp) }, frozen, 'resumed but hidden: still quiet');

            // CDP's 'active' leaves the page hidden; another tab to the front and back shows it
            const cover = await ctx.newPage();
            const shown = Date.now();
            await page.bringToFront();
            await cover.close();
            log = await waitLog(page, (l) => l.w.messages.length >= 4 && l.p.messages.length >= 4, 'caught up after resume and shown', GUARD);
            t.diagnostic(`resumed and shown: caught up in ${Date.now() - shown} ms; w ${history(log.w)}; p ${history(log.p)}`);
            await sleep(300);
            log = await getLog(page);
            assert.deepEqual(data(log.w), want, 'w: every message once, in order');
            assert.deepEqual(data(log.p), want, 'p: every message once, in order');
            assert.deepEqual(
                log.__page.filter((e) => e.type === 'freeze' || e.type === 'resume').map((e) => e.type),
                ['freeze', 'resume'],
            );
            for (const l of [log.w, log.p]) {
                const r = l.states.map((s) => `${s.state}/${s.reason}`);
                assert.ok(r.includes('paused/freeze'), r.join());
                assert.ok(r.includes('connecting/visible'), r.join());
            }
            assert.ok(isOpen(log.w, 'websocket'), history(log.w));
            assert.ok(isOpen(log.p, 'longpoll'), history(log.p));
            assert.deepEqual(page.__errors, []);
        } finally {
            await page.close().catch(() => {});
        }
    },
);

// Sharing and the page's condition, in a Chromium we start ourselves and drive over CDP
// (Playwright's launch emulates focus, so its pages never hide, and it disables the
// back/forward cache): the group's transport runs in a visible tab whenever there is one,
// pauses when every tab is hidden, and a tab going through the back/forward cache leaves
// the group and joins again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, useRig, launchCdpBrowser, openFixture, waitLog, getLog, isOpen, lastState, sleep, within } from './helpers.mjs';
import { admin } from '../lib/servers.mjs';

const BASE = { wsTimeout: 1000, raceDelay: 100, backoffBase: 200, backoffMax: 1000, hiddenGrace: 500 };
const env = useRig(launchCdpBrowser);
let streams = 0;

async function stream() {
    const proxy = await env.rig.proxy();
    const name = `hidden${++streams}x${Date.now()}`;
    return {
        proxy,
        url: `${proxy.url}/live/${name}`,
        publish: async (data) => (await admin(env.rig.server.url, '/admin/publish', { stream: name, data })).cursor,
    };
}
async function tab(url, opts = {}) {
    const page = await env.b.context.newPage();
    await openFixture(page, env.rig.fixture({ build: 'esm', live: [{ tag: 'a', url, opts: { ...BASE, ...opts } }] }));
    return page;
}
const role = (p) => p.evaluate(() => window.__live.a.role);
const visibility = (p) => p.evaluate(() => document.visibilityState);
const ns = (l) => l.a.messages.map((m) => m.data.n);
const traffic = (p) => {
    const s = p.stats();
    return { connections: s.connections, ws_upgrades: s.ws_upgrades, http_total: s.http_total, up: s.bytes.http.up + s.bytes.ws.up };
};
async function until(f, what, ms = 10000) {
    const end = Date.now() + ms;
    for (;;) {
        if (await f()) return;
        if (Date.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
        await sleep(20);
    }
}
const closeAll = (pages) => Promise.all(pages.map((p) => p.close().catch(() => {})));

/** Two tabs on stream s (added to pages), the first in front and leading. */
async function twoTabs(s, pages) {
    pages.push(await tab(s.url), await tab(s.url));
    await pages[0].bringToFront();
    await until(async () => (await role(pages[0])) == 'leader', 'the tab in front leads');
    return pages;
}

test('every tab hidden: zero requests; one shown again leads and every tab catches up', { skip, timeout: 60000 }, async (t) => {
    const pages = [];
    try {
        const s = await stream();
        for (let i = 0; i < 3; i++) pages.push(await tab(s.url));
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a, 'websocket'), 'open');
        await until(async () => (await role(pages[2])) == 'leader', 'the visible tab leads');
        await s.publish({ n: 1 });
        for (const p of pages) await waitLog(p, (l) => l.a.messages.length == 1, 'message 1');
        // a page over all three: every tab of the group is hidden
        const cover = await env.b.context.newPage();
        pages.push(cover);
        await cover.goto(env.rig.otherUrl);
        for (const p of pages.slice(0, 3)) assert.equal(await visibility(p), 'hidden');
        await waitLog(pages[2], (l) => lastState(l.a).state == 'paused', 'the leader paused');
        await sleep(300);
        const before = traffic(s.proxy);
        assert.equal(s.proxy.stats().ws_open, 0);
        for (let n = 2; n <= 4; n++) (await s.publish({ n }), await sleep(1000));
        await sleep(2000);
        assert.deepEqual(traffic(s.proxy), before, 'zero requests while every tab is hidden');
        // tab 0 comes to the front: it takes the lead from the hidden leader and all catch up
        const shown = Date.now();
        await pages[0].bringToFront();
        await until(async () => (await role(pages[0])) == 'leader', 'the shown tab leads', 5000);
        t.diagnostic(`shown tab leads after ${Date.now() - shown} ms`);
        for (const p of pages.slice(0, 3)) await waitLog(p, (l) => l.a.messages.length >= 4, 'caught up');
        for (const p of pages.slice(0, 3)) assert.deepEqual(ns(await getLog(p)), [1, 2, 3, 4]);
    } finally {
        await closeAll(pages);
    }
});

test('the leader hidden while another tab is visible: the visible tab takes over, no gap', { skip, timeout: 60000 }, async (t) => {
    const pages = [];
    try {
        const s = await stream();
        const [a, b] = await twoTabs(s, pages);
        await until(async () => (await role(b)) == 'follower', 'b follows');
        let n = 0,
            stop = false;
        const publisher = (async () => {
            while (!stop) (await s.publish({ n: ++n }), await sleep(30));
        })();
        await sleep(1000);
        const t0 = Date.now();
        await b.bringToFront(); // a is hidden now
        await until(async () => (await role(b)) == 'leader', 'b leads', 5000);
        const took = Date.now() - t0;
        await until(async () => (await role(a)) == 'follower', 'a follows', 5000);
        await sleep(1000);
        stop = true;
        await publisher;
        t.diagnostic(`hidden leader handed over in ${took} ms`);
        for (const p of pages) {
            const l = await waitLog(p, (l) => l.a.messages.length >= n, `all ${n} messages`);
            assert.deepEqual(
                ns(l),
                Array.from({ length: n }, (_, i) => i + 1),
                'no gap, no repeat',
            );
        }
        // the connection runs in the visible tab
        await waitLog(b, (l) => isOpen(l.a, 'websocket'), 'open');
        assert.equal(s.proxy.stats().ws_open, 1);
    } finally {
        await closeAll(pages);
    }
});

test('a tab through the back/forward cache leaves the group and joins again', { skip, timeout: 60000 }, async (t) => {
    const pages = [];
    try {
        const s = await stream();
        const [a, b] = await twoTabs(s, pages);
        await s.publish({ n: 1 });
        for (const p of pages) await waitLog(p, (l) => l.a.messages.length == 1, 'message 1');
        const cdp = await env.b.context.newCDPSession(a);
        const notUsed = [];
        cdp.on('Page.backForwardCacheNotUsed', (e) => notUsed.push(e));
        await cdp.send('Page.enable');
        await a.goto(env.rig.otherUrl);
        // a left: b now holds the lock, alone and hidden, so its core is paused
        await until(async () => (await role(b)) == 'leader', 'b leads');
        await waitLog(b, (l) => lastState(l.a).state == 'paused', 'b paused (hidden)');
        await sleep(300);
        assert.equal(s.proxy.stats().ws_open, 0, 'no connection while every tab of the group is hidden');
        await s.publish({ n: 2 });
        await within(a.goBack({ waitUntil: 'commit', timeout: 10000 }), 12000, 'goBack');
        await a.waitForFunction(() => window.__ready === true, null, { timeout: 10000 });
        const show = (await getLog(a)).__page.filter((e) => e.type === 'pageshow').at(-1);
        assert.ok(show?.persisted, `back from the back/forward cache (not used: ${JSON.stringify(notUsed).slice(0, 1000)})`);
        // a is visible again and b hidden: a leads again; a catches up with message 2
        await until(async () => (await role(a)) == 'leader' && (await role(b)) == 'follower', 'a leads again, b follows').catch(async (e) => {
            throw new Error(
                `${e.message}: roles ${await role(a)} ${await role(b)}, errors ${a.__errors} ${a.__console}, a ${await visibility(a)}, b ${await visibility(b)}; a ${JSON.stringify((await getLog(a)).a.states)}`,
            );
        });
        await s.publish({ n: 3 });
        for (const p of pages) {
            const l = await waitLog(p, (l) => l.a.messages.length >= 3, 'messages 1 to 3');
            assert.deepEqual(ns(l), [1, 2, 3]);
        }
        await sleep(300);
        assert.equal(s.proxy.stats().ws_open, 1, 'one connection again');
        t.diagnostic(`a: ${(await getLog(a)).a.states.map((x) => `${x.state}/${x.reason}`).join(' ')}`);
    } finally {
        await closeAll(pages);
    }
});

test('a frozen hidden leader: a tab shown takes over at once; thawed, the old leader follows', { skip, timeout: 60000 }, async (t) => {
    const pages = [];
    try {
        const s = await stream();
        const [a, b] = await twoTabs(s, pages);
        await s.publish({ n: 1 });
        const cover = await env.b.context.newPage();
        pages.push(cover);
        await cover.goto(env.rig.otherUrl); // everything of the group hidden
        const cdp = await env.b.context.newCDPSession(a);
        await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
        await s.publish({ n: 2 });
        const t0 = Date.now();
        await b.bringToFront();
        await until(async () => (await role(b)) == 'leader', 'b leads', 5000);
        t.diagnostic(`frozen hidden leader replaced ${Date.now() - t0} ms after a tab was shown`);
        await waitLog(b, (l) => l.a.messages.length >= 2, 'b has 1 and 2');
        await cdp.send('Page.setWebLifecycleState', { state: 'active' });
        await until(async () => (await role(a)) == 'follower', 'a follows once thawed');
        await s.publish({ n: 3 });
        for (const p of [a, b]) {
            const l = await waitLog(p, (l) => l.a.messages.length >= 3, 'messages 1 to 3');
            assert.deepEqual(ns(l), [1, 2, 3]);
        }
    } finally {
        await closeAll(pages);
    }
});

// Sharing one connection between the tabs of an origin (issue #13), in Chromium: real
// pages of one origin in one browser context (they share Web Locks and BroadcastChannel),
// the reference server behind a fault proxy per test (its stats count that test's traffic),
// a stream per test. Pages here are always visible (Playwright's focus emulation);
// share-hidden.test.mjs hides them for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, useRig, openFixture, waitLog, getLog, isOpen, sleep } from './helpers.mjs';
import { admin } from '../lib/servers.mjs';
import { prng } from '../lib/prng.mjs';

const BASE = { wsTimeout: 1000, raceDelay: 100, backoffBase: 200, backoffMax: 1000 };
const env = useRig();
let streams = 0;

/** A fresh stream (so its messages are this test's alone), behind a fresh proxy. */
async function stream() {
    const proxy = await env.rig.proxy();
    const name = `share${++streams}x${Date.now()}`;
    return {
        proxy,
        url: `${proxy.url}/live/${name}`,
        publish: async (data) => (await admin(env.rig.server.url, '/admin/publish', { stream: name, data })).cursor,
    };
}

/** n tabs of one context, each with one Lifeline 'a' on url. */
async function tabs(ctx, n, url, opts = {}) {
    const pages = [];
    for (let i = 0; i < n; i++) pages.push(await tab(ctx, url, opts));
    return pages;
}
async function tab(ctx, url, opts = {}) {
    return tabOf(ctx, [{ tag: 'a', url, opts: { ...BASE, ...opts } }]);
}
/** A tab of the fixture with these Lifelines ({tag, url, opts}). */
async function tabOf(ctx, live) {
    const page = await ctx.newPage();
    try {
        await openFixture(page, env.rig.fixture({ build: 'esm', live }));
    } catch (e) {
        throw new Error(`${e.message}; page errors: ${page.__errors}`, { cause: e });
    }
    return page;
}
const roles = (pages) => Promise.all(pages.map((p) => p.evaluate(() => window.__live.a.role)));
const ns = (l) => l.a.messages.map((m) => m.data.n);

/** Wait until every tab delivered exactly `want` (a list of n), none more. */
async function allGot(pages, want, what) {
    for (const p of pages) await waitLog(p, (l) => l.a.messages.length >= want.length, what, 15000);
    for (const p of pages) assert.deepEqual(ns(await getLog(p)), want, `${what}: every message once, in order`);
}

test('five tabs: one leader, one WebSocket at the server, every tab gets every message once', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        const pages = await tabs(ctx, 5, s.url);
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a, 'websocket'), 'open over the websocket');
        let r = await roles(pages);
        assert.equal(r.filter((x) => x == 'leader').length, 1, `one leader: ${r}`);
        assert.equal(r.filter((x) => x == 'follower').length, 4);
        await waitLog(pages[0], () => true, '');
        const want = [];
        for (let n = 1; n <= 20; n++) (await s.publish({ n }), want.push(n));
        await allGot(pages, want, 'twenty messages');
        const st = s.proxy.stats();
        assert.equal(st.ws_upgrades, 1, 'one WebSocket was ever opened');
        assert.equal(st.ws_open, 1);
        // every tab knows how many share the connection
        for (const p of pages) await p.waitForFunction(() => window.__live.a.stats.tabs == 5, null, { timeout: 5000 });
    } finally {
        await ctx.close();
    }
});

test(
    'five tabs × three streams: one WebSocket at the server (tab sharing and protocol v2 together); every tab gets every stream',
    { skip, timeout: 60000 },
    async () => {
        const ctx = await env.b.browser.newContext();
        try {
            const proxy = await env.rig.proxy();
            const names = ['x', 'y', 'z'].map((t) => `multi${t}${Date.now()}`);
            const pages = [];
            for (let i = 0; i < 5; i++)
                pages.push(
                    await tabOf(
                        ctx,
                        names.map((n, j) => ({ tag: 'abc'[j], url: `${proxy.url}/live/${n}`, opts: BASE })),
                    ),
                );
            for (const p of pages) await waitLog(p, (l) => ['a', 'b', 'c'].every((t) => isOpen(l[t], 'websocket')), 'every stream open over the websocket');
            for (let n = 1; n <= 5; n++) for (const name of names) await admin(env.rig.server.url, '/admin/publish', { stream: name, data: { n } });
            for (const p of pages)
                await waitLog(p, (l) => ['a', 'b', 'c'].every((t) => l[t].messages.length >= 5), 'every tab got five messages of every stream', 15000);
            for (const p of pages) {
                const l = await getLog(p);
                for (const t of ['a', 'b', 'c'])
                    assert.deepEqual(
                        l[t].messages.map((m) => m.data.n),
                        [1, 2, 3, 4, 5],
                        `stream ${t}: once each, in order`,
                    );
            }
            const st = proxy.stats();
            assert.equal(st.ws_upgrades, 1, 'one WebSocket was ever opened for 5 tabs × 3 streams');
            assert.equal(st.ws_open, 1);
        } finally {
            await ctx.close();
        }
    },
);

test(
    "a stream only a second tab follows rides on the first tab's WebSocket; the first tab closing, the second carries both on one socket, nothing lost or repeated",
    { skip, timeout: 60000 },
    async () => {
        const ctx = await env.b.browser.newContext();
        try {
            const proxy = await env.rig.proxy();
            const [x, y] = ['x', 'y'].map((t) => `ride${t}${Date.now()}`);
            const live = (tag, name) => ({ tag, url: `${proxy.url}/live/${name}`, opts: BASE });
            const publish = (stream, n) => admin(env.rig.server.url, '/admin/publish', { stream, data: { n } });
            const first = await tabOf(ctx, [live('a', x)]);
            await waitLog(first, (l) => isOpen(l.a, 'websocket'), 'the first tab open over the websocket');
            const second = await tabOf(ctx, [live('a', x), live('b', y)]);
            await waitLog(second, (l) => isOpen(l.a, 'websocket') && isOpen(l.b, 'websocket'), 'both streams open in the second tab');
            assert.deepEqual(await second.evaluate(() => [window.__live.a.role, window.__live.b.role]), ['follower', 'leader']);
            for (let n = 1; n <= 5; n++) (await publish(x, n), await publish(y, n));
            await waitLog(second, (l) => l.a.messages.length >= 5 && l.b.messages.length >= 5, 'the second tab got both streams', 15000);
            assert.equal(proxy.stats().ws_upgrades, 1, 'one WebSocket for two tabs and two streams');
            await first.close();
            await second.waitForFunction(() => window.__live.a.role == 'leader', null, { timeout: 15000 });
            for (let n = 6; n <= 10; n++) (await publish(x, n), await publish(y, n));
            await waitLog(second, (l) => l.a.messages.length >= 10 && l.b.messages.length >= 10, 'both streams go on', 15000);
            await sleep(300);
            const l = await getLog(second);
            for (const t of ['a', 'b'])
                assert.deepEqual(
                    l[t].messages.map((m) => m.data.n),
                    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                    `stream ${t}: once each, in order`,
                );
            const st = proxy.stats();
            assert.equal(st.ws_open, 1, 'one WebSocket open now');
            assert.equal(st.ws_upgrades, 2, "the first tab's, then the second tab's for both streams");
        } finally {
            await ctx.close();
        }
    },
);

test(
    'a lone tab leads from its first task: its WebSocket serves before lifeline-share.mjs has loaded; then the module adopts its lock',
    { skip, timeout: 60000 },
    async () => {
        const s = await stream(),
            ctx = await env.b.browser.newContext();
        let release;
        const held = new Promise((r) => (release = r));
        // the sharing module is held back until this test lets it go
        await ctx.route('**/dist/lifeline-share.mjs', async (route) => (await held, route.continue()));
        try {
            const page = await tab(ctx, s.url);
            await waitLog(page, (l) => l.a.states.some((x) => x.transport == 'websocket'), 'open on the WebSocket', 15000);
            await s.publish({ n: 1 });
            await waitLog(page, (l) => l.a.messages.length == 1, 'the message', 15000);
            assert.equal((await getLog(page)).a.messages[0].transport, 'websocket');
            assert.equal(await page.evaluate(() => window.__live.a.role), 'leader', 'a leader before its group module loaded');
            assert.equal(
                await page.evaluate(() => performance.getEntriesByType('resource').some((e) => e.name.includes('lifeline-share'))),
                false,
                'lifeline-share.mjs not loaded yet',
            );
            release();
            // loaded, the module adopts the lock the tab holds: a second tab follows it
            await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.includes('lifeline-share')), null, { timeout: 15000 });
            const other = await tab(ctx, s.url);
            await other.waitForFunction(() => window.__live.a.role == 'follower' && window.__live.a.stats.tabs == 2, null, { timeout: 15000 });
            await s.publish({ n: 2 });
            for (const p of [page, other]) await waitLog(p, (l) => l.a.messages.some((m) => m.data.n == 2), 'the second message', 15000);
            assert.equal(await page.evaluate(() => window.__live.a.role), 'leader');
            assert.equal(s.proxy.stats().ws_upgrades, 1, 'one WebSocket for both tabs');
        } finally {
            release();
            await ctx.close();
        }
    },
);

test('upgrade refused: five tabs hold one long poll at a time', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        s.proxy.setMode('refuse');
        const pages = await tabs(ctx, 5, s.url, { probeMin: 60000 });
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a, 'longpoll'), 'open over long polls', 15000);
        const stats = () => admin(env.rig.server.url, '/admin/stats');
        let most = 0;
        const before = (await stats()).longpoll;
        for (let i = 0; i < 30; i++) ((most = Math.max(most, (await stats()).held)), await sleep(100));
        const want = [1, 2, 3];
        for (const n of want) await s.publish({ n });
        await allGot(pages, want, 'three messages by long poll');
        assert.equal(most, 1, 'one long poll held at a time');
        assert.ok((await stats()).longpoll > before, 'the leader long-polls');
    } finally {
        await ctx.close();
    }
});

test('a tab joining with an old cursor gets the gap exactly once, then the live stream', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        const pages = await tabs(ctx, 2, s.url);
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a), 'open');
        const cursors = [];
        for (let n = 1; n <= 10; n++) cursors.push(await s.publish({ n }));
        await allGot(pages, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'ten messages');
        const late = await tab(ctx, s.url, { cursor: cursors[2] }); // delivered up to n = 3
        assert.equal(await late.evaluate(() => window.__live.a.role), 'follower');
        await waitLog(late, (l) => l.a.messages.length >= 7, 'the gap');
        for (let n = 11; n <= 13; n++) await s.publish({ n });
        await allGot([late], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 'gap then live');
        await allGot(pages, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 'the others go on');
    } finally {
        await ctx.close();
    }
});

test('sends from followers go through the leader and are acked once', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        const pages = await tabs(ctx, 3, s.url);
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a), 'open');
        const r = await roles(pages);
        const followers = pages.filter((_, i) => r[i] == 'follower');
        const acks = await Promise.all(
            followers.map((p, i) =>
                p.evaluate(async (i) => {
                    let acked = 0;
                    await Promise.all([1, 2, 3, 4, 5].map((k) => window.__live.a.send({ text: `f${i}-${k}` }).then(() => acked++)));
                    return acked;
                }, i),
            ),
        );
        assert.deepEqual(acks, [5, 5]);
        // the demo server publishes each send to the stream: each arrives once at every tab
        for (const p of pages) {
            const l = await waitLog(p, (l) => l.a.messages.length >= 10, 'the ten sends, published');
            const texts = l.a.messages.map((m) => m.data.text).sort();
            assert.equal(new Set(texts).size, 10, `ten different sends: ${texts}`);
        }
        assert.equal(s.proxy.stats().ws_upgrades, 1);
    } finally {
        await ctx.close();
    }
});

test('two URLs make two groups; share: false makes separate connections', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s1 = await stream(),
            s2 = await stream(),
            s3 = await stream();
        const g1 = await tabs(ctx, 2, s1.url),
            g2 = await tabs(ctx, 2, s2.url),
            solo = await tabs(ctx, 3, s3.url, { share: false });
        for (const p of [...g1, ...g2, ...solo]) await waitLog(p, (l) => isOpen(l.a, 'websocket'), 'open');
        assert.deepEqual((await roles(g1)).sort(), ['follower', 'leader']);
        assert.deepEqual((await roles(g2)).sort(), ['follower', 'leader']);
        assert.deepEqual(await roles(solo), ['solo', 'solo', 'solo']);
        assert.equal(s1.proxy.stats().ws_open, 1);
        assert.equal(s2.proxy.stats().ws_open, 1);
        assert.equal(s3.proxy.stats().ws_open, 3, 'share: false: a connection per tab');
    } finally {
        await ctx.close();
    }
});

/** The first page that leads, polled until `ms`; [page, ms it took] or [null]. */
async function leaderOf(pages, t0 = Date.now(), ms = 10000) {
    while (Date.now() - t0 < ms) {
        const r = await Promise.all(pages.map((p) => p.evaluate(() => window.__live.a.role).catch(() => null)));
        const i = r.indexOf('leader');
        if (i >= 0) return [pages[i], Date.now() - t0];
        await sleep(20);
    }
    return [null];
}

const SEED = Number(process.env.SHARE_SEED ?? 13);

test(`seeded leader kills and closes (seed ${SEED}) over 520 messages: every tab 0 lost, 0 repeated, in order`, { skip, timeout: 180000 }, async (t) => {
    const ctx = await env.b.browser.newContext();
    const rnd = prng(SEED); // the same seed, the same kills
    const N = 520,
        kills = [];
    try {
        const s = await stream();
        // every tab starts from "everything" (cursor 0 on a fresh stream): each must end with 1..N
        let pages = await tabs(ctx, 5, s.url, { cursor: '0' });
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a), 'open');
        let published = 0,
            done = false;
        const publisher = (async () => {
            for (let n = 1; n <= N; n++) {
                await s.publish({ n });
                published = n;
                await sleep(15);
            }
            done = true;
        })();
        while (!done) {
            await sleep(1500 + rnd.next() * 1500);
            if (done) break;
            const [leader] = await leaderOf(pages);
            assert.ok(leader, 'a leader');
            const how = (kills.length + (SEED & 1)) % 2 ? 'crashed' : 'closed'; // both, in turn
            const rest = pages.filter((p) => p != leader);
            const t0 = Date.now();
            if (how == 'closed') await leader.close();
            else {
                const cdp = await ctx.newCDPSession(leader);
                const crashed = leader.waitForEvent('crash', { timeout: 5000 });
                cdp.send('Page.crash').catch(() => {}); // never answered: the renderer is gone
                await crashed;
            }
            const [, took] = await leaderOf(rest, t0);
            kills.push({ how, at: published, took });
            if (process.env.SHARE_DEBUG) console.error(kills.at(-1));
            // a new tab takes the place of the dead one, from cursor 0 as well
            pages = [...rest, await tab(ctx, s.url, { cursor: '0' })];
            if (how == 'crashed') leader.close().catch(() => {});
        }
        await publisher;
        const want = Array.from({ length: N }, (_, i) => i + 1);
        let lost = 0,
            repeated = 0,
            disorder = 0;
        for (const p of pages) {
            const l = await waitLog(p, (l) => l.a.messages.length >= N, `all ${N} messages`, 30000).catch(() => getLog(p));
            const got = ns(l);
            lost += want.filter((n) => !got.includes(n)).length;
            repeated += got.length - new Set(got).size;
            disorder += got.some((n, i) => i && n <= got[i - 1]) ? 1 : 0;
        }
        t.diagnostic(`kills: ${JSON.stringify(kills)}; tabs checked ${pages.length}: lost ${lost}, repeated ${repeated}, out of order ${disorder}`);
        assert.ok(kills.length >= 3, `at least three leaders killed: ${kills.length}`);
        assert.ok(
            kills.every((k) => k.took != null),
            'a new leader every time',
        );
        assert.deepEqual({ lost, repeated, disorder }, { lost: 0, repeated: 0, disorder: 0 });
    } finally {
        await ctx.close();
    }
});

// Chromium freezes only hidden pages (Page.setWebLifecycleState on a visible one does
// nothing; share-hidden.test.mjs freezes a hidden leader): a visible leader whose main thread
// is stuck holds its lock and sends no heartbeat, which is what a follower must notice.
test('a stuck leader (lock still held, no heartbeat) is replaced; back, it follows; nothing lost or repeated', { skip, timeout: 60000 }, async (t) => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        const pages = await tabs(ctx, 3, s.url);
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a), 'open');
        const [leader] = await leaderOf(pages);
        const rest = pages.filter((p) => p != leader);
        let n = 0,
            stop = false;
        const publisher = (async () => {
            while (!stop) (await s.publish({ n: ++n }), await sleep(30));
        })();
        await sleep(500);
        const t0 = Date.now();
        const stuck = leader.evaluate(() => {
            const end = performance.now() + 8000;
            while (performance.now() < end);
        });
        const [next, took] = await leaderOf(rest, t0, 15000);
        t.diagnostic(`stuck leader replaced after ${took} ms`);
        assert.ok(next, 'a new leader');
        await stuck;
        await until(async () => (await leader.evaluate(() => window.__live.a.role)) == 'follower', 'the tab back follows');
        await sleep(500);
        stop = true;
        await publisher;
        const want = Array.from({ length: n }, (_, i) => i + 1);
        for (const p of pages) await waitLog(p, (l) => l.a.messages.length >= n, `all ${n} messages`);
        for (const p of pages) assert.deepEqual(ns(await getLog(p)), want, 'every message once, in order');
        await sleep(300);
        assert.equal(s.proxy.stats().ws_open, 1, 'one connection again');
    } finally {
        await ctx.close();
    }
});

async function until(f, what, ms = 10000) {
    const end = Date.now() + ms;
    while (!(await f())) {
        if (Date.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
        await sleep(20);
    }
}

test('send ids stay unique across a change of leader; every send is acked', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    // every page records the ids of the sends its WebSockets carry
    await ctx.addInitScript(() => {
        window.__ids = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (text) {
            const m = /^\{"type":"send",(?:"s":\d+,)?"id":(\d+),/.exec(text); // (on a v2 socket, its subscription first)
            if (m) window.__ids.push(+m[1]);
            return send.call(this, text);
        };
    });
    try {
        const s = await stream();
        const pages = await tabs(ctx, 3, s.url);
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a, 'websocket'), 'open');
        const sendAll = () => Promise.all(pages.map((p) => p.evaluate(() => Promise.all([1, 2, 3].map((k) => window.__live.a.send({ k }))).then(() => true))));
        assert.deepEqual(await sendAll(), [true, true, true]);
        const [first] = await leaderOf(pages);
        const ids = await first.evaluate(() => window.__ids);
        await first.close();
        const rest = pages.filter((p) => p != first);
        const [second] = await leaderOf(rest);
        await waitLog(second, (l) => isOpen(l.a, 'websocket'), 'open again');
        pages.splice(0, 3, ...rest);
        assert.deepEqual(await sendAll(), [true, true]);
        ids.push(...(await second.evaluate(() => window.__ids)));
        assert.equal(ids.length, 15, `9 sends by the first leader, 6 by the second: ${ids}`);
        assert.equal(new Set(ids).size, ids.length, `no id twice: ${ids}`);
    } finally {
        await ctx.close();
    }
});

test('a reset reaches every tab at the cursor it leaves, once; then the stream goes on', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        const pages = await tabs(ctx, 3, s.url);
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a, 'websocket'), 'open');
        await s.publish({ n: 1 });
        const last = await s.publish({ n: 2 });
        await allGot(pages, [1, 2], 'two messages');
        await admin(env.rig.server.url, '/admin/restart', {}); // a new epoch: every cursor is unknown
        for (const p of pages) {
            const l = await waitLog(p, (l) => l.a.resets.length >= 1 && isOpen(l.a), 'a reset, open again', 15000);
            assert.equal(l.a.resets[0].from, last);
        }
        await s.publish({ n: 3 });
        await allGot(pages, [1, 2, 3], 'the message after the reset');
        for (const p of pages) {
            const l = await getLog(p);
            assert.equal(l.a.resets.length, 1, 'one reset per tab');
        }
        const tos = await Promise.all(pages.map(async (p) => (await getLog(p)).a.resets[0].to));
        assert.equal(new Set(tos).size, 1, `the same reset everywhere: ${tos}`);
    } finally {
        await ctx.close();
    }
});

test('a send in flight when its leader dies is sent again by the next leader and acked', { skip, timeout: 60000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        const pages = await tabs(ctx, 3, s.url, { pingIdle: 60000 }); // no ping finds the stall first
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a, 'websocket'), 'open');
        const [leader] = await leaderOf(pages);
        const rest = pages.filter((p) => p != leader);
        s.proxy.setMode('stall'); // the leader's socket carries nothing more either way
        await rest[0].evaluate(() => {
            window.__acked = 0;
            window.__live.a.send({ text: 'in flight' }).then(() => window.__acked++);
        });
        await sleep(500);
        assert.equal(await rest[0].evaluate(() => window.__acked), 0, 'not acked through the stalled socket');
        s.proxy.setMode('pass');
        await leader.close();
        await rest[0].waitForFunction(() => window.__acked == 1, null, { timeout: 15000 });
        for (const p of rest) await waitLog(p, (l) => l.a.messages.some((m) => m.data.text == 'in flight'), 'the send, published');
    } finally {
        await ctx.close();
    }
});

test('a tab joining with a cursor the server no longer has gets its own reset, the others none', { skip, timeout: 90000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const s = await stream();
        const first = await s.publish({ n: 1 });
        // past the server's retention (1000 messages): the first one is gone
        for (let n = 2; n <= 1010; n += 30) await Promise.all(Array.from({ length: Math.min(30, 1011 - n) }, (_, i) => s.publish({ n: n + i })));
        const pages = await tabs(ctx, 2, s.url);
        for (const p of pages) await waitLog(p, (l) => isOpen(l.a, 'websocket'), 'open');
        const late = await tab(ctx, s.url, { cursor: first });
        const l = await waitLog(late, (l) => l.a.resets.length >= 1, 'the late tab reset');
        assert.equal(l.a.resets[0].from, first);
        await s.publish({ n: 2000 });
        for (const p of [...pages, late]) await waitLog(p, (l) => l.a.messages.some((m) => m.data.n == 2000), 'the next message');
        const logs = await Promise.all([...pages, late].map(getLog));
        assert.deepEqual(
            logs.map((x) => x.a.resets.length),
            [0, 0, 1],
            'only the tab behind is reset',
        );
        assert.deepEqual(ns(logs[2]), [2000], 'after the reset: the live stream, nothing twice');
    } finally {
        await ctx.close();
    }
});

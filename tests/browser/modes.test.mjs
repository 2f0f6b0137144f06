// Scenarios 2 and 6: each fault-proxy mode in a real page. First data arrives, the
// transport and the statechange/error reason are the ones the policy names, messages
// published afterwards arrive too, in order, once each. Time to first message is printed
// per mode (asserted only against generous bounds).
//
// Every case starts with the cursor just before a message published beforehand, so the
// first message is a replay the transport must fetch; then more are published live.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skip, startRig, launchBrowser, openFixture, waitLog, isOpen, lastState, history, sleep } from './helpers.mjs';

// small timings so that every failure is detected within about a second
const OPTS = {
    wsTimeout: 1000,
    raceDelay: 100,
    pingIdle: 500,
    pongTimeoutMin: 300,
    pongTimeoutMax: 1000,
    backoffBase: 200,
    backoffMax: 1000,
    probeMin: 60000,
    probeMax: 60000,
};

let rig, b;
const ttfm = {};
before(async () => {
    if (skip) return;
    rig = await startRig();
    b = await launchBrowser();
});
after(async () => {
    const rows = Object.entries(ttfm).map(([m, v]) => `${m}=${v}`);
    if (rows.length) console.log(`time to first message (ms): ${rows.join(', ')}`);
    await b?.close();
    await rig?.close();
});

/**
 * Run one case: a fresh proxy in `mode`, a fresh browser context (no remembered fallback),
 * the fixture page with one Lifeline through the proxy.
 *  settled(log) — when the policy's outcome is visible (then more messages are published)
 *  check(log, proxy) — assertions on the outcome
 *  midway(ctx) — optional, after the first message (e.g. change the proxy's mode)
 */
async function runCase(t, name, { mode, modeOpts, build = 'esm', settled, check, midway, settleMs = 8000 }) {
    const proxy = await rig.proxy();
    proxy.setMode(mode, modeOpts);
    const ctx = await b.browser.newContext();
    try {
        const before = await rig.publish({ name, n: 0 });
        const first = await rig.publish({ name, n: 1 });
        const page = await ctx.newPage();
        await openFixture(page, rig.fixture({ build, live: [{ tag: 'a', url: proxy.url + '/live/test', opts: { ...OPTS, cursor: before } }] }));
        let log = await waitLog(page, (l) => l.a.messages.length >= 1, `${name}: first message`, 8000);
        const ms = Math.round(log.a.messages[0].t - log.a.t0);
        ttfm[name] = ms;
        t.diagnostic(`${name}: first message after ${ms} ms over ${log.a.messages[0].transport}`);
        assert.deepEqual(log.a.messages[0].data, { name, n: 1 });
        assert.equal(log.a.messages[0].cursor, first);
        assert.ok(ms < 5000, `first message within 5 s (${ms} ms)`);
        if (midway) await midway({ page, proxy });
        log = await waitLog(page, settled, `${name}: the policy's outcome`, settleMs);
        const cursors = [first];
        for (let n = 2; n <= 4; n++) {
            cursors.push(await rig.publish({ name, n }));
            await sleep(30);
        }
        log = await waitLog(page, (l) => l.a.messages.length >= 4, `${name}: every message`, 8000);
        await sleep(200); // a duplicate would show up now
        log = await waitLog(page, () => true, 'log');
        t.diagnostic(`${name}: ${history(log.a)}`);
        t.diagnostic(`${name}: errors ${log.a.errors.map((e) => `${e.code}/${e.reason}`).join(', ') || 'none'}; proxy ${JSON.stringify(proxy.stats())}`);
        assert.deepEqual(
            log.a.messages.map((m) => [m.data.n, m.cursor]),
            cursors.map((c, i) => [i + 1, c]),
            'every message once, in order',
        );
        assert.equal(await page.evaluate(() => window.__live.a.transport), lastState(log.a).transport, 'live.transport agrees with the last statechange');
        await check(log, proxy);
        assert.deepEqual(page.__errors, [], 'no uncaught page errors');
        await page.evaluate(() => window.__live.a.close());
        return log;
    } finally {
        await ctx.close();
    }
}

const reasons = (l) => l.states.map((s) => s.reason);
const errs = (l) => l.errors.map((e) => `${e.code}/${e.reason}`);

test('pass: WebSocket, hello', { skip, timeout: 30000 }, async (t) => {
    await runCase(t, 'pass', {
        mode: 'pass',
        settled: (l) => isOpen(l.a, 'websocket'),
        check(l, proxy) {
            // ws_hello; or, should hello come after raceDelay on a loaded machine, the race
            // poll delivers first and the WebSocket takes over ('upgrade')
            assert.equal(lastState(l.a).state, 'open');
            assert.equal(lastState(l.a).transport, 'websocket');
            assert.ok(['ws_hello', 'upgrade'].includes(lastState(l.a).reason), lastState(l.a).reason);
            assert.deepEqual(l.a.errors, []);
            assert.ok(l.a.messages.slice(1).every((m) => m.transport === 'websocket'));
            assert.equal(proxy.stats().ws_upgrades, 1);
        },
    });
});

test('refuse: falls back at once with ws_refused, long polling', { skip, timeout: 30000 }, async (t) => {
    await runCase(t, 'refuse', {
        mode: 'refuse',
        settled: (l) => isOpen(l.a, 'longpoll'),
        check(l, proxy) {
            assert.ok(errs(l.a).includes('ws_failed/ws_refused'), errs(l.a).join());
            assert.ok(reasons(l.a).includes('ws_refused'));
            assert.equal(lastState(l.a).transport, 'longpoll');
            assert.ok(proxy.stats().refused >= 1);
            // the poll raced at start carries on: no delay after the refusal
            assert.ok(l.a.messages[0].t - l.a.t0 < 3000);
        },
    });
});

test('blackhole: the race poll delivers first; ws_blackhole at wsTimeout; long polling', { skip, timeout: 30000 }, async (t) => {
    await runCase(t, 'blackhole', {
        mode: 'blackhole',
        settled: (l) => reasons(l.a).includes('ws_blackhole') && isOpen(l.a, 'longpoll'),
        check(l, proxy) {
            const first = l.a.messages[0];
            assert.equal(first.transport, 'longpoll');
            // race, don't wait: well before the WebSocket is given up (1000 ms)
            assert.ok(first.t - l.a.t0 < OPTS.wsTimeout, `first data before wsTimeout (${Math.round(first.t - l.a.t0)} ms)`);
            assert.ok(errs(l.a).includes('ws_failed/ws_blackhole'), errs(l.a).join());
            const gaveUp = l.a.states.find((s) => s.reason === 'ws_blackhole');
            assert.ok(gaveUp.t - l.a.t0 >= OPTS.wsTimeout - 50, 'given up at wsTimeout, not before');
            assert.equal(lastState(l.a).transport, 'longpoll');
            assert.ok(proxy.stats().blackholed >= 1);
        },
    });
});

test('stall before hello (101, then silence): ws_no_hello, the race poll delivers', { skip, timeout: 30000 }, async (t) => {
    await runCase(t, 'stall', {
        mode: 'stall',
        settled: (l) => reasons(l.a).includes('ws_no_hello') && isOpen(l.a, 'longpoll'),
        check(l, proxy) {
            assert.equal(l.a.messages[0].transport, 'longpoll');
            assert.ok(proxy.stats().ws_upgrades >= 1);
            assert.ok(l.a.messages[0].t - l.a.t0 < OPTS.wsTimeout, 'first data before wsTimeout');
            assert.ok(errs(l.a).includes('ws_failed/ws_no_hello'), errs(l.a).join());
            assert.equal(lastState(l.a).transport, 'longpoll');
            assert.ok(proxy.stats().stalled >= 1);
        },
    });
});

test('stall after open: the unanswered ping says ws_stalled; recovers with nothing lost', { skip, timeout: 30000 }, async (t) => {
    await runCase(t, 'stall-after-open', {
        mode: 'pass',
        midway: async ({ page, proxy }) => {
            await waitLog(page, (l) => isOpen(l.a, 'websocket'), 'open over websocket');
            proxy.setMode('stall'); // freezes the open socket; new ones stall before hello
        },
        // stalled → reconnect, which stalls before hello (ws_no_hello) → falls back to
        // long polling; the held long poll announces 'open' only when it answers, i.e.
        // when the next message arrives
        settled: (l) => reasons(l.a).includes('ws_stalled') && reasons(l.a).includes('ws_no_hello'),
        check(l) {
            assert.ok(errs(l.a).includes('ws_failed/ws_stalled'), errs(l.a).join());
            const i = reasons(l.a).indexOf('ws_stalled');
            assert.equal(l.a.states[i].state, 'reconnecting');
            // detected within pingIdle + pongTimeout (+ timer slack) of the stall
            const open = l.a.states.find((s) => s.transport === 'websocket');
            assert.ok(l.a.states[i].t - open.t < 3000);
            assert.equal(lastState(l.a).state, 'open');
            assert.equal(lastState(l.a).transport, 'longpoll');
            assert.ok(l.a.messages.slice(1).every((m) => m.transport === 'longpoll'));
        },
    });
});

test('flap: three short lives in a row, then ws_flapping and long polling', { skip, timeout: 40000 }, async (t) => {
    await runCase(t, 'flap', {
        mode: 'flap',
        modeOpts: { ms: 300 },
        settleMs: 15000,
        settled: (l) => reasons(l.a).includes('ws_flapping'),
        check(l, proxy) {
            assert.ok(errs(l.a).includes('ws_failed/ws_flapping'), errs(l.a).join());
            const hellos = l.a.states.filter((s) => s.state === 'open' && s.transport === 'websocket').length;
            assert.equal(hellos, 3, 'flapLimit (3) lives');
            assert.ok(proxy.stats().flapped >= 3);
            assert.equal(lastState(l.a).state, 'open');
            assert.equal(lastState(l.a).transport, 'longpoll');
        },
    });
});

test('corrupt: error events reach the page; after the corruption clears, every message arrives once', { skip, timeout: 40000 }, async (t) => {
    const proxy = await rig.proxy();
    proxy.setMode('corrupt');
    const ctx = await b.browser.newContext();
    try {
        const before = await rig.publish({ name: 'corrupt', n: 0 });
        const cursors = [await rig.publish({ name: 'corrupt', n: 1 })];
        const page = await ctx.newPage();
        await openFixture(page, rig.fixture({ build: 'esm', live: [{ tag: 'a', url: proxy.url + '/live/test', opts: { ...OPTS, cursor: before } }] }));
        // both transports damaged: a bad hello frame, bad poll bodies
        let log = await waitLog(
            page,
            (l) => l.a.errors.some((e) => e.code === 'bad_frame') && l.a.errors.some((e) => e.code === 'bad_response'),
            'bad_frame and bad_response errors',
            10000,
        );
        assert.equal(log.a.messages.length, 0, 'nothing delivered from a damaged frame or body');
        cursors.push(await rig.publish({ name: 'corrupt', n: 2 }));
        await sleep(300);
        log = await waitLog(page, () => true, 'log');
        assert.equal(log.a.messages.length, 0);
        proxy.setMode('pass');
        const cleared = await page.evaluate(() => performance.now());
        log = await waitLog(page, (l) => l.a.messages.length >= 2, 'the messages held back by the corruption', 10000);
        const ms = Math.round(log.a.messages[0].t - log.a.t0);
        const sinceClear = Math.round(log.a.messages[0].t - cleared);
        ttfm.corrupt = `${ms} (${sinceClear} after clearing)`;
        // recovery waits out the error backoff (backoffBase 200, backoffMax 1000, full jitter)
        t.diagnostic(`corrupt: first message after ${ms} ms, ${sinceClear} ms after the corruption cleared`);
        assert.ok(sinceClear < 3000, `recovered within the backoff cap (${sinceClear} ms)`);
        cursors.push(await rig.publish({ name: 'corrupt', n: 3 }));
        log = await waitLog(page, (l) => l.a.messages.length >= 3, 'a live message after recovery', 8000);
        await sleep(200);
        log = await waitLog(page, () => true, 'log');
        t.diagnostic(`corrupt: ${history(log.a)}`);
        t.diagnostic(`corrupt: errors ${errs(log.a).join(', ')}; proxy corrupted ${proxy.stats().corrupted}`);
        assert.deepEqual(
            log.a.messages.map((m) => [m.data.n, m.cursor]),
            cursors.map((c, i) => [i + 1, c]),
            'every message once, in order',
        );
        assert.ok(errs(log.a).includes('bad_frame/ws_bad_frame'), errs(log.a).join());
        assert.ok(proxy.stats().corrupted >= 2);
        assert.ok(isOpen(log.a), 'open again');
        assert.deepEqual(page.__errors, []);
        await page.evaluate(() => window.__live.a.close());
    } finally {
        await ctx.close();
    }
});

test('the <script> build behind a black hole behaves the same', { skip, timeout: 30000 }, async (t) => {
    await runCase(t, 'blackhole-script', {
        mode: 'blackhole',
        build: 'script',
        settled: (l) => reasons(l.a).includes('ws_blackhole') && isOpen(l.a, 'longpoll'),
        check(l) {
            assert.ok(l.a.messages[0].t - l.a.t0 < OPTS.wsTimeout);
            assert.equal(lastState(l.a).transport, 'longpoll');
        },
    });
});

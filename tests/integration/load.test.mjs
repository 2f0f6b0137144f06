// Load discipline against the real servers: Retry-After is obeyed, an idle poll gets the
// cheap empty answer without a preflight, long polling when offered (interval polling when
// not), nothing at all after close(), nothing at all from a hidden page.
//
// Requests are counted where they land (the fault proxy's connection counts, the server's
// /admin/stats) and, for exact timing, where they start (an injected fetch and WebSocket).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, admin, serverAvailable } from '../lib/servers.mjs';
import { client, FAST, createProxy, fakePage, sleep, waitFor, head, timeouts, orderViolation, WebSocket } from './helpers.mjs';

const now = () => performance.now();

/** A fetch and a WebSocket class that log every request the client starts (and its answer). */
function instrumented() {
    const reqs = [];
    const fetchW = async (url, init = {}) => {
        const r = { t: now(), kind: init.method ?? 'GET', url: String(url), headers: { ...(init.headers ?? {}) } };
        reqs.push(r);
        const res = await fetch(url, init);
        r.status = res.status;
        r.tResp = now();
        r.retryAfter = res.headers.get('retry-after');
        return res;
    };
    class WSW extends WebSocket {
        constructor(...a) {
            super(...a);
            reqs.push({ t: now(), kind: 'WS', url: String(a[0]) });
        }
    }
    return { reqs, fetch: fetchW, WebSocket: WSW };
}

/** setTimeout/clearTimeout that know which of the client's timers are still pending. */
function trackedTimers() {
    const live = new Set();
    return {
        live,
        setTimeout(f, ms) {
            const h = setTimeout(() => {
                live.delete(h);
                f();
            }, ms);
            live.add(h);
            return h;
        },
        clearTimeout(h) {
            live.delete(h);
            clearTimeout(h);
        },
    };
}

const stats = (url) => admin(url, '/admin/stats');
const num = (s, k) => s[k] ?? 0;

describe('load discipline (node server)', () => {
    let server;
    before(async () => {
        server = await startServer('node', ['--heartbeat', '1000']);
    });
    after(() => server?.stop());

    it('(a) Retry-After: no request reaches the server before it ends; after unshedding, data flows', async () => {
        const start = await head(server.url); // (before shedding: the head poll would be shed too)
        await admin(server.url, '/admin/config', { shed: { status: 429, retryAfter: '2' } });
        const proxy = await createProxy({ target: server.url, listenPort: 0 });
        const io = instrumented();
        // the connections that reach the proxy, timestamped (sampled every few ms)
        const arrivals = [];
        let seen = 0;
        const sampler = setInterval(() => {
            const c = proxy.stats().connections;
            for (; seen < c; seen++) arrivals.push(now());
        }, 5);
        const { l, rec } = client(`${proxy.url}/live/test`, { ...FAST, cursor: start, fetch: io.fetch, WebSocket: io.WebSocket });
        try {
            await sleep(5500);
            const shed = io.reqs.filter((r) => r.status === 429);
            assert.ok(shed.length >= 1, `the client met the 429\n${rec.dump()}`);
            assert.ok(shed.every((r) => r.retryAfter === '2'));
            // exact: no request started within 2 s of a 429 the client had received
            for (const r of shed) {
                const early = io.reqs.filter((q) => q.t > r.tResp && q.t < r.tResp + 2000);
                assert.deepEqual(
                    early.map((q) => `${q.kind} +${Math.round(q.t - r.tResp)} ms`),
                    [],
                    `requests inside Retry-After\n${rec.dump()}`,
                );
                // and at the proxy (sampled: an arrival is seen no earlier than it happened)
                const landed = arrivals.filter((a) => a > r.tResp + 20 && a < r.tResp + 2000);
                assert.equal(landed.length, 0, `connections reached the server ${landed.map((a) => Math.round(a - r.tResp))} ms after a 429`);
            }
            // 5.5 s of shedding at one request per ≥ 2 s (plus the first WebSocket attempt and race poll)
            assert.ok(io.reqs.length <= 8, `${io.reqs.length} requests while shed\n${rec.dump()}`);
            assert.ok(
                rec.states.some((s) => s.reason === 'retry_after'),
                rec.dump(),
            );
            const st = await stats(server.url);
            assert.ok(num(st, '429') >= 1);

            await admin(server.url, '/admin/config', { shed: null });
            const c = await publish(server.url, { after: 'unshed' });
            await waitFor(
                () => rec.messages.some((m) => m.cursor === c),
                8000,
                () => `data after unshedding\n${rec.dump()}`,
            );
            await waitFor(
                () => l.transport === 'websocket',
                8000,
                () => `back on the websocket\n${rec.dump()}`,
            );
        } finally {
            clearInterval(sampler);
            l.close();
            await proxy.close();
            await admin(server.url, '/admin/config', { shed: null });
        }
    });

    it('(b, c) idle long poll: the cheap empty answer (204), no preflight, no custom header; transport longpoll', async () => {
        const io = instrumented();
        const start = await head(server.url);
        await admin(server.url, '/admin/stats/reset', {});
        const { l, rec } = client(`${server.url}/live/test`, { ...FAST, websocket: false, longPollWait: 800, cursor: start, fetch: io.fetch });
        try {
            await waitFor(
                () => l.state === 'open',
                5000,
                () => rec.dump(),
            );
            assert.equal(l.transport, 'longpoll');
            await sleep(3000); // idle: each long poll expires empty
            const st = await stats(server.url);
            assert.equal(num(st, 'options'), 0, 'no preflight');
            assert.equal(num(st, 'ws'), 0);
            assert.ok(num(st, 'longpoll') >= 2, JSON.stringify(st));
            // the first poll is a short one (the client learns Lifeline-Long-Poll from its answer)
            assert.ok(num(st, 'poll') <= 1, `every poll but the first a long poll: ${JSON.stringify(st)}`);
            assert.ok(num(st, '204') + num(st, '304') >= 2, `idle answers are empty: ${JSON.stringify(st)}`);
            assert.equal(num(st, '200'), 0, `nothing changed, no 200: ${JSON.stringify(st)}`);
            assert.equal(l.stats.bytesIn, 0, 'empty answers carry no body');
            // the request is a simple one: a GET with the cursor in the query, no custom header
            assert.ok(io.reqs.length >= 3);
            for (const [i, r] of io.reqs.entries()) {
                assert.equal(r.kind, 'GET');
                assert.deepEqual(Object.keys(r.headers), [], `headers ${JSON.stringify(r.headers)}`);
                const q = new URL(r.url).searchParams;
                assert.equal(q.get('cursor'), start);
                if (i > 0) assert.equal(q.get('wait'), '800', r.url);
                if (r.status !== undefined) assert.equal(r.status, 204, r.url); // (the last is still held)
            }
            // a change is answered at once by the held poll
            const c = await publish(server.url, { hi: 1 });
            await waitFor(
                () => rec.messages.some((m) => m.cursor === c),
                3000,
                () => rec.dump(),
            );
            assert.equal(rec.messages.at(-1).transport, 'longpoll');
        } finally {
            l.close();
        }
    });

    it('(d) close(): no request and no timer afterwards — in every state', async () => {
        const t0 = timeouts();
        const setups = [
            ['websocket', 'pass', {}],
            ['long poll held', 'pass', { websocket: false, longPollWait: 5000 }],
            ['blackholed upgrade + race poll', 'blackhole', { wsTimeout: 5000 }],
            ['backing off (server unreachable)', 'drop', {}],
            ['stalled socket', 'pass', {}, 'stall'],
        ];
        const runs = [];
        for (const [name, mode, opts, later] of setups) {
            const proxy = await createProxy({ target: server.url, listenPort: 0 });
            proxy.setMode(mode);
            const timers = trackedTimers();
            const { l, rec } = client(`${proxy.url}/live/test`, { ...FAST, ...opts, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout });
            runs.push({ name, proxy, l, rec, timers, later });
        }
        try {
            await sleep(1500);
            for (const r of runs) if (r.later) r.proxy.setMode(r.later);
            await sleep(300);
            const during = timeouts();
            assert.ok(during > t0, `the Timeout count sees the clients' timers (${t0} before, ${during} while running)`);
            for (const r of runs) r.l.close();
            await sleep(300);
            const before = runs.map((r) => r.proxy.stats().connections);
            const srv = await stats(server.url);
            await sleep(3000);
            const srv2 = await stats(server.url);
            runs.forEach((r, i) => {
                assert.equal(r.l.state, 'closed', r.name);
                assert.equal(r.proxy.stats().connections, before[i], `${r.name}: requests after close()\n${r.rec.dump()}`);
                assert.equal(r.timers.live.size, 0, `${r.name}: the client's timers still pending after close()`);
            });
            for (const k of ['ws', 'poll', 'longpoll', 'post', 'options']) assert.equal(num(srv2, k), num(srv, k), `server saw ${k} after close()`);
        } finally {
            for (const r of runs) r.l.close();
            for (const r of runs) await r.proxy.close();
        }
        await sleep(200);
        // process level: nothing left behind by the library (sockets, ws and fetch internals included)
        const left = timeouts();
        assert.ok(left <= t0, `Timeout handles: ${t0} before, ${left} after close()\n${JSON.stringify(process.getActiveResourcesInfo())}`);
    });

    describe('(e) hidden: zero requests, then catching up at once', { concurrency: true }, () => {
        async function hiddenCase(opts, expectTransport) {
            const proxy = await createProxy({ target: server.url, listenPort: 0 });
            const pg = fakePage();
            const start = await head(server.url);
            const { l, rec } = client(`${proxy.url}/live/test`, {
                ...FAST,
                hiddenGrace: 300,
                cursor: start,
                document: pg.document,
                window: pg.window,
                ...opts,
            });
            try {
                await waitFor(
                    () => l.state === 'open' && l.transport === expectTransport,
                    5000,
                    () => rec.dump(),
                );
                pg.hide();
                await waitFor(
                    () => l.state === 'paused',
                    3000,
                    () => `paused when hidden\n${rec.dump()}`,
                );
                await sleep(200);
                const s0 = proxy.stats();
                assert.equal(s0.ws_open, 0, 'no socket left open while hidden');
                const c = [];
                for (let i = 0; i < 3; i++) c.push(await publish(server.url, { hidden: i }));
                await sleep(3000);
                const s1 = proxy.stats();
                assert.equal(s1.connections, s0.connections, `requests while hidden\n${rec.dump()}`);
                assert.equal(rec.messages.filter((m) => c.includes(m.cursor)).length, 0);
                const shownAt = Date.now();
                pg.show();
                await waitFor(
                    () => c.every((x) => rec.messages.some((m) => m.cursor === x)),
                    3000,
                    () => `caught up when visible\n${rec.dump()}`,
                );
                assert.ok(Date.now() - shownAt < 2000, `caught up in ${Date.now() - shownAt} ms`);
                assert.ok(
                    rec.states.some((s) => s.reason === 'hidden'),
                    rec.dump(),
                );
                assert.deepEqual(
                    rec.messages.filter((m) => c.includes(m.cursor)).map((m) => m.cursor),
                    c,
                    'each once, in order',
                );
                assert.equal(orderViolation(rec), null, rec.dump());
            } finally {
                l.close();
                await proxy.close();
            }
        }

        it('on the websocket (closed after hiddenGrace)', () => hiddenCase({}, 'websocket'));
        it('long polling (the held poll is aborted)', () => hiddenCase({ websocket: false, longPollWait: 5000 }, 'longpoll'));
        it('interval polling', () => hiddenCase({ websocket: false, longPollWait: 0, minInterval: 200, maxInterval: 400 }, 'poll'));

        it('a page that starts hidden sends nothing until shown', async () => {
            const proxy = await createProxy({ target: server.url, listenPort: 0 });
            const pg = fakePage({ hidden: true });
            const start = await head(server.url);
            const { l, rec } = client(`${proxy.url}/live/test`, { ...FAST, cursor: start, document: pg.document, window: pg.window });
            try {
                await sleep(2500);
                assert.equal(proxy.stats().connections, 0, rec.dump());
                const c = await publish(server.url, { shown: 1 });
                pg.show();
                await waitFor(
                    () => rec.messages.some((m) => m.cursor === c),
                    3000,
                    () => rec.dump(),
                );
            } finally {
                l.close();
                await proxy.close();
            }
        });
    });
});

for (const kind of ['node', 'flask']) {
    describe(
        `(c) interval polling when the ${kind} server has no long poll (--long-poll-max 0)`,
        {
            skip: serverAvailable(kind) ? false : `${kind} server not available`,
        },
        () => {
            let server;
            before(async () => {
                server = await startServer(kind, ['--long-poll-max', '0', ...(kind === 'flask' ? ['--no-websocket'] : [])]);
            });
            after(() => server?.stop());

            it('transport poll, on an interval, no wait= asked after the first answer; data arrives', async () => {
                const io = instrumented();
                const start = await head(server.url);
                await admin(server.url, '/admin/stats/reset', {});
                const { l, rec } = client(`${server.url}/live/test`, {
                    ...FAST,
                    websocket: false,
                    minInterval: 200,
                    maxInterval: 600,
                    cursor: start,
                    fetch: io.fetch,
                });
                try {
                    await waitFor(
                        () => l.state === 'open',
                        5000,
                        () => rec.dump(),
                    );
                    assert.equal(l.transport, 'poll');
                    await sleep(2500);
                    assert.ok(l.stats.interval >= 200, `interval ${l.stats.interval}`);
                    const st = await stats(server.url);
                    // (the first poll asks wait= before the client knows; Flask counts it as a long poll)
                    assert.ok(num(st, 'longpoll') <= 1, JSON.stringify(st));
                    assert.ok(num(st, 'poll') >= 3 && num(st, 'poll') <= 20, `interval polls in 2.5 s: ${JSON.stringify(st)}`);
                    assert.ok(
                        io.reqs.slice(1).every((r) => !new URL(r.url).searchParams.has('wait')),
                        io.reqs.map((r) => r.url).join('\n'),
                    );
                    // requests are spaced by the interval, never back to back
                    const gaps = io.reqs.slice(1).map((r, i) => r.t - io.reqs[i].t);
                    assert.ok(
                        gaps.every((g) => g >= 100),
                        `gaps ${gaps.map(Math.round)}`,
                    );
                    const c = await publish(server.url, { polled: 1 });
                    await waitFor(
                        () => rec.messages.some((m) => m.cursor === c),
                        3000,
                        () => rec.dump(),
                    );
                    assert.equal(rec.messages.at(-1).transport, 'poll');
                } finally {
                    l.close();
                }
            });
        },
    );
}

describe('(c) long polling is used when the flask server offers it', { skip: serverAvailable('flask') ? false : 'flask server not available' }, () => {
    let server;
    before(async () => {
        server = await startServer('flask', ['--no-websocket']);
    });
    after(() => server?.stop());

    it('transport longpoll; idle answers empty; no preflight', async () => {
        const start = await head(server.url);
        await admin(server.url, '/admin/stats/reset', {});
        const { l, rec } = client(`${server.url}/live/test`, { ...FAST, websocket: false, longPollWait: 800, cursor: start });
        try {
            await waitFor(
                () => l.state === 'open',
                5000,
                () => rec.dump(),
            );
            assert.equal(l.transport, 'longpoll');
            await sleep(2500);
            const st = await stats(server.url);
            assert.ok(num(st, 'longpoll') >= 2, JSON.stringify(st));
            assert.equal(num(st, 'options'), 0);
            assert.ok(num(st, '204') + num(st, '304') >= 2, JSON.stringify(st));
            const c = await publish(server.url, { lp: 1 });
            await waitFor(
                () => rec.messages.some((m) => m.cursor === c),
                3000,
                () => rec.dump(),
            );
        } finally {
            l.close();
        }
    });
});

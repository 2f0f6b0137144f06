// faults.mjs — "every fault mode" suite, shared by faults-*.test.mjs (one file per server).
//
// Lifeline (ws + shim) ↔ fault proxy (tests/proxy.mjs) ↔ a real server. For each proxy mode:
// published data (straight to the server's admin API) arrives, exactly once and in order, on
// the transport the policy says, with the reason the library reports; and, once the fault
// clears, the client switches back up to the WebSocket (when the server has one).
//
// The modes run concurrently against one server (each with its own proxy and client, each
// publishing messages tagged with its own name), so a file takes about as long as its
// slowest mode. Timings are never asserted beyond generous bounds.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, serverAvailable } from '../lib/servers.mjs';
import { client, FAST, createProxy, waitFor, sleep, orderViolation, head } from './helpers.mjs';

const LONG = 15000; // generous bound for anything that should take a second or two

/**
 * @param {string} title
 * @param {'node'|'flask'} kind
 * @param {string[]} args server CLI arguments
 * @param {boolean} hasWs whether the server offers the WebSocket transport
 */
export function faultSuite(title, kind, args, hasWs) {
    describe(title, { concurrency: true, skip: serverAvailable(kind) ? false : `${kind} server not available` }, () => {
        let server;
        const open = new Set();
        before(async () => {
            server = await startServer(kind, ['--heartbeat', '1000', ...args]);
        });
        after(async () => {
            for (const c of open) await c();
            await server?.stop();
        });

        /** setup(mode, opts, clientOpts), then body(t); the client and proxy close either way. */
        async function trial(mode, ...rest) {
            const body = rest.pop(),
                t = await setup(mode, ...rest);
            try {
                await body(t);
            } finally {
                await t.close();
            }
        }

        /** A proxy in `mode`, a client through it resuming from the server's head. */
        async function setup(mode, opts = {}, clientOpts = {}) {
            const proxy = await createProxy({ target: server.url, listenPort: 0 });
            proxy.setMode(mode, opts);
            const start = await head(server.url);
            const { l, rec } = client(`${proxy.url}/live/test`, { ...FAST, cursor: start, ...clientOpts });
            const done = async () => {
                l.close();
                await proxy.close();
            };
            open.add(done);
            let n = 0;
            const t = {
                proxy,
                l,
                rec,
                /** Publish `k` messages tagged `tag` straight to the server. */
                async send(tag, k = 3) {
                    const sent = [];
                    for (let i = 0; i < k; i++) {
                        const data = { tag, i: ++n };
                        sent.push({ data, cursor: await publish(server.url, data) });
                    }
                    return sent;
                },
                /** Wait for every one of `sent` (each exactly once, in order); return their arrival records. */
                async arrive(sent, ms = LONG) {
                    const want = new Set(sent.map((s) => s.cursor));
                    const got = () => rec.messages.filter((m) => want.has(m.cursor));
                    await waitFor(
                        () => got().length >= sent.length,
                        ms,
                        () => `${sent.length} messages (have ${got().length})\n${rec.dump()}`,
                    );
                    await sleep(50); // a duplicate would show up right behind
                    const g = got();
                    assert.deepEqual(
                        g.map((m) => m.data),
                        sent.map((s) => s.data),
                        'each message exactly once, in order',
                    );
                    return g;
                },
                /** Nothing of `sent` has arrived (yet). */
                none(sent) {
                    const want = new Set(sent.map((s) => s.cursor));
                    assert.equal(rec.messages.filter((m) => want.has(m.cursor)).length, 0, `no message should have arrived yet\n${rec.dump()}`);
                },
                async state(pred, what, ms = LONG) {
                    return waitFor(
                        () => rec.states.find(pred),
                        ms,
                        () => `${what}\n${rec.dump()}`,
                    );
                },
                async transport(tr, ms = LONG) {
                    await waitFor(
                        () => l.state === 'open' && l.transport === tr,
                        ms,
                        () => `open/${tr}\n${rec.dump()}`,
                    );
                },
                /** Wait until the client sat on websocket with no state change for `quietMs`. */
                async settledOnWs(quietMs = 1200, ms = LONG) {
                    await waitFor(
                        () => l.state === 'open' && l.transport === 'websocket' && Date.now() - rec.lastStateAt > quietMs,
                        ms,
                        () => `settled on websocket\n${rec.dump()}`,
                    );
                },
                check() {
                    const v = orderViolation(rec);
                    assert.equal(v, null, `${v}\n${rec.dump()}`);
                    assert.equal(rec.resets.length, 0, `no reset expected\n${rec.dump()}`);
                },
                close: async () => {
                    open.delete(done);
                    await done();
                },
            };
            return t;
        }

        const onTransport = (arrived, tr) =>
            assert.deepEqual(
                arrived.map((m) => m.transport),
                arrived.map(() => tr),
                `delivered while transport was ${tr}`,
            );

        /** The client is up on the transport the server offers. */
        async function upOnBest(t) {
            if (hasWs) await t.transport('websocket');
            else await t.transport('longpoll');
        }

        /** After the fault cleared: back on the WebSocket (reason upgrade when it had fallen back), data flows there. */
        async function recovers(t, { upgraded = true } = {}) {
            const clearedAt = Date.now() - t.rec.t0;
            if (hasWs) {
                if (upgraded)
                    await t.state(
                        (s) => s.t >= clearedAt && s.state === 'open' && s.transport === 'websocket' && s.reason === 'upgrade',
                        'upgrade after the fault cleared',
                    );
                await t.settledOnWs();
                onTransport(await t.arrive(await t.send('after')), 'websocket');
            } else {
                await sleep(1200); // no probe: the server said it cannot upgrade
                assert.equal(t.rec.states.filter((s) => s.transport === 'websocket').length, 0, 'never on a websocket');
                onTransport(await t.arrive(await t.send('after')), 'longpoll');
            }
        }

        it('pass: data on the best transport', async () => {
            await trial('pass', async (t) => {
                await upOnBest(t);
                await t.state((s) => s.state === 'open', 'open');
                const first = t.rec.states.find((s) => s.state === 'open');
                // (on a busy machine the race poll may open first; the socket then takes over)
                if (hasWs) assert.ok(first.reason === 'ws_hello' || (first.reason === 'poll_ok' && t.rec.reasons().includes('upgrade')), t.rec.dump());
                // no WebSocket: the server says so on the race poll's answer (and holds the upgrade
                // meanwhile): polling alone, the attempt dropped without an error
                else {
                    await t.state((s) => s.reason === 'ws_unavailable', 'statechange ws_unavailable');
                    assert.equal(t.rec.errors.filter((e) => e.code === 'ws_failed').length, 0, t.rec.dump());
                }
                onTransport(await t.arrive(await t.send('pass', 5)), hasWs ? 'websocket' : 'longpoll');
                if (hasWs) assert.equal(t.rec.errors.filter((e) => e.code === 'ws_failed').length, 0, t.rec.dump());
                t.check();
            });
        });

        it('latency: data on the best transport, just later', async () => {
            await trial('latency', { ms: 150 }, async (t) => {
                await upOnBest(t);
                onTransport(await t.arrive(await t.send('latency', 5)), hasWs ? 'websocket' : 'longpoll');
                // the socket said hello: as the first transport, or taking over from the race poll
                if (hasWs)
                    assert.ok(
                        t.rec.reasons().some((r) => r === 'ws_hello' || r === 'upgrade'),
                        t.rec.dump(),
                    );
                t.check();
            });
        });

        it('refuse: ws_refused, long polling, then upgrade', async () => {
            await trial('refuse', async (t) => {
                await t.state((s) => s.reason === 'ws_refused', 'statechange ws_refused');
                await t.transport('longpoll');
                assert.ok(
                    t.rec.errors.some((e) => e.code === 'ws_failed' && e.reason === 'ws_refused'),
                    t.rec.dump(),
                );
                onTransport(await t.arrive(await t.send('refuse')), 'longpoll');
                t.proxy.setMode('pass');
                await recovers(t);
                t.check();
            });
        });

        it('blackhole: ws_blackhole, long polling (raced: data before the timeout), then upgrade', async () => {
            await trial('blackhole', async (t) => {
                // the race poll starts beside the hung upgrade: polling is open before wsTimeout
                await t.transport('longpoll', FAST.wsTimeout + 5000);
                // (no WebSocket: the poll's answer says so, and the hung attempt is dropped quietly)
                const why = hasWs ? 'ws_blackhole' : 'ws_unavailable';
                await t.state((s) => s.reason === why, `statechange ${why}`);
                assert.ok(t.proxy.stats().blackholed >= 1);
                onTransport(await t.arrive(await t.send('blackhole')), 'longpoll');
                t.proxy.setMode('pass');
                await recovers(t);
                t.check();
            });
        });

        it('stall after open: ws_stalled, long polling, then upgrade', async () => {
            await trial('pass', async (t) => {
                await upOnBest(t);
                t.proxy.setMode('stall');
                const during = await t.send('stall');
                if (hasWs) {
                    await t.state((s) => s.reason === 'ws_stalled', 'statechange ws_stalled');
                    assert.ok(
                        t.rec.errors.some((e) => e.code === 'ws_failed' && e.reason === 'ws_stalled'),
                        t.rec.dump(),
                    );
                    assert.ok(t.proxy.stats().stalled >= 1);
                    await t.transport('longpoll');
                    const got = await t.arrive(during);
                    // what the frozen socket held back comes by poll (see the delivery-order test below
                    // for the transport the client reports while delivering it)
                    assert.ok(
                        got.every((m) => m.transport === 'longpoll' || m.transport === 'none'),
                        t.rec.dump(),
                    );
                    onTransport(await t.arrive(await t.send('stall')), 'longpoll');
                } else {
                    onTransport(await t.arrive(during), 'longpoll'); // no socket to stall
                }
                t.proxy.setMode('pass');
                await recovers(t, { upgraded: hasWs });
                t.check();
            });
        });

        it('the first poll batch after an outage is delivered while state says open/longpoll', {}, async () => {
            // with a WebSocket: a stalled socket (ws_stalled → reconnecting/none → poll);
            // without: polls reset (network errors → reconnecting/none → poll)
            await trial(hasWs ? 'pass' : 'reset', async (t) => {
                let during;
                if (hasWs) {
                    await t.transport('websocket');
                    t.proxy.setMode('stall');
                    during = await t.send('order');
                    await t.state((s) => s.reason === 'ws_stalled', 'statechange ws_stalled');
                } else {
                    during = await t.send('order');
                    await waitFor(() => t.rec.errors.some((e) => e.code === 'network'), LONG, 'network error');
                    t.proxy.setMode('pass');
                }
                const got = await t.arrive(during);
                assert.deepEqual(
                    got.map((m) => `${m.state}/${m.transport}`),
                    got.map(() => 'open/longpoll'),
                    t.rec.dump(),
                );
            });
        });

        it('flap: ws_flapping, falls back, data keeps arriving, then stays up on the websocket', async () => {
            await trial('flap', { ms: 200 }, async (t) => {
                if (hasWs) {
                    await t.state((s) => s.reason === 'ws_flapping', 'statechange ws_flapping');
                    assert.ok(
                        t.rec.errors.some((e) => e.code === 'ws_failed' && e.reason === 'ws_flapping'),
                        t.rec.dump(),
                    );
                    await t.state((s) => s.state === 'open' && s.transport === 'longpoll' && s.reason === 'ws_flapping', 'open/longpoll ws_flapping');
                    assert.ok(t.proxy.stats().flapped >= 3);
                } else {
                    await t.transport('longpoll');
                }
                await t.arrive(await t.send('flap', 5));
                t.proxy.setMode('pass');
                if (hasWs) {
                    await t.settledOnWs(1500);
                    onTransport(await t.arrive(await t.send('after')), 'websocket');
                } else {
                    await recovers(t);
                }
                t.check();
            });
        });

        it(
            'flap: re-probes of a path that keeps flapping are spaced out on the growing probe schedule',
            {
                skip: !hasWs && 'no websocket to flap',
            },
            async () => {
                await trial('flap', { ms: 200 }, { probeMin: 200, probeMax: 60000 }, async (t) => {
                    await t.state((s) => s.reason === 'ws_flapping', 'statechange ws_flapping');
                    const before = t.proxy.stats().ws_upgrades;
                    await sleep(6000);
                    const probes = t.proxy.stats().ws_upgrades - before;
                    // growing: ~[100,200] + [200,400] + [400,800] + [800,1600] + [1600,3200] ms apart
                    // (each probe also lives 200 ms): at most ~6 in 6 s; not growing: ~15
                    assert.ok(probes <= 9, `${probes} WebSocket attempts in 6 s of flapping\n${t.rec.dump()}`);
                });
            },
        );

        it('reset: plain HTTP is reset; upgrades pass', async () => {
            await trial('reset', async (t) => {
                if (hasWs) {
                    // the WebSocket needs no plain request: nothing to reset
                    await t.transport('websocket');
                    onTransport(await t.arrive(await t.send('reset')), 'websocket');
                } else {
                    const during = await t.send('reset');
                    await waitFor(
                        () => t.rec.errors.some((e) => e.code === 'network'),
                        LONG,
                        () => `network error\n${t.rec.dump()}`,
                    );
                    assert.ok(t.proxy.stats().reset >= 1);
                    await sleep(500);
                    t.none(during);
                    t.proxy.setMode('pass');
                    // the first batch after the outage: see the delivery-order test
                    assert.ok(
                        (await t.arrive(during)).every((m) => m.transport === 'longpoll' || m.transport === 'none'),
                        t.rec.dump(),
                    );
                    await recovers(t);
                }
                t.check();
            });
        });

        it('drop then recover: nothing while the server is unreachable, everything after', async () => {
            await trial('pass', async (t) => {
                await upOnBest(t);
                t.proxy.setMode('drop');
                const during = await t.send('drop', 5);
                if (hasWs) await t.state((s) => s.reason === 'ws_closed', 'statechange ws_closed (socket lost)');
                await sleep(1000);
                t.none(during);
                assert.ok(t.proxy.stats().dropped >= 1);
                t.proxy.setMode('pass');
                await t.arrive(during);
                if (hasWs) await t.settledOnWs();
                await recovers(t, { upgraded: false });
                t.check();
            });
        });

        it('corrupt: error events, nothing bad delivered, everything after it clears', async () => {
            // started under corruption: the hello and every 200 body are damaged
            await trial('corrupt', async (t) => {
                const during = await t.send('corrupt', 5);
                if (hasWs) {
                    await waitFor(
                        () => t.rec.errors.some((e) => e.code === 'bad_frame' && e.reason === 'ws_bad_frame'),
                        LONG,
                        () => `bad_frame error\n${t.rec.dump()}`,
                    );
                    await t.state((s) => s.reason === 'ws_bad_frame', 'statechange ws_bad_frame');
                }
                await waitFor(
                    () => t.rec.errors.some((e) => e.code === 'bad_response'),
                    LONG,
                    () => `bad_response error\n${t.rec.dump()}`,
                );
                assert.ok(t.proxy.stats().corrupted >= 1);
                await sleep(300);
                t.none(during);
                assert.equal(t.rec.messages.length, 0, 'nothing delivered from damaged answers');
                t.proxy.setMode('pass');
                await t.arrive(during);
                if (hasWs) await t.settledOnWs();
                await recovers(t, { upgraded: false });
                t.check();
            });
        });
    });
}

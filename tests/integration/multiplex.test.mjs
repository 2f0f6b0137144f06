// multiplex.test.mjs — protocol v2 end to end (server/DESIGN.md "Protocol v2"): the
// instances of one page on one endpoint ride one connection of a real server, Node and
// Flask. One WebSocket for three streams; with the upgrade refused, one long poll at a time
// for all of them; one stream refused while the others deliver; and seeded chaos through
// the fault proxy with five streams over 1,000 messages each: none lost, none repeated, per
// stream.
//
//   node --test tests/integration/multiplex.test.mjs
//   MULTIPLEX_SEED=1234 …   replay a chaos schedule
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, admin, serverAvailable } from '../lib/servers.mjs';
import { Lifeline, WebSocket, FAST, createProxy, fakePage, memoryStorage, sleep, waitFor, cmpCursor } from './helpers.mjs';
import { prng } from '../lib/prng.mjs';

const SEED = process.env.MULTIPLEX_SEED !== undefined ? Number(process.env.MULTIPLEX_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;

/** The instances of one page: one storage, one page, so that they pool. */
function page(base, streams, options = {}) {
    const storage = memoryStorage(),
        pg = fakePage();
    return streams.map((stream) => {
        const l = new Lifeline(`${base}/live/${stream}`, { WebSocket, storage, seed: 7, document: pg.document, window: pg.window, ...FAST, ...options }),
            rec = { stream, messages: [], errors: [], resets: [] };
        l.addEventListener('message', (e) => rec.messages.push({ data: e.data, cursor: e.cursor }));
        l.addEventListener('error', (e) => rec.errors.push(e));
        l.addEventListener('reset', (e) => rec.resets.push(e));
        return { l, rec, pg };
    });
}

for (const kind of ['node', 'flask']) {
    describe(`protocol v2, client and server: ${kind}`, { skip: !serverAvailable(kind) && `no ${kind}` }, () => {
        let server;
        before(async () => (server = await startServer(kind, ['--auth-test'])));
        after(async () => server?.stop());

        it('three streams of one page over one WebSocket: the server sees one socket; each stream gets its own messages in order', async () => {
            await admin(server.url, '/admin/stats/reset', {});
            const clients = page(server.url, ['m-a', 'm-b', 'm-c']);
            try {
                await waitFor(() => clients.every((c) => c.l.state == 'open' && c.l.transport == 'websocket'), 10000, 'all open on the WebSocket');
                const sent = { 'm-a': [], 'm-b': [], 'm-c': [] };
                for (let i = 0; i < 10; i++) for (const s of Object.keys(sent)) sent[s].push(await publish(server.url, `${s}:${i}`, s));
                await waitFor(() => clients.every((c) => c.rec.messages.length == 10), 10000, 'every message');
                for (const c of clients)
                    assert.deepEqual(
                        c.rec.messages.map((m) => m.cursor),
                        sent[c.rec.stream],
                        c.rec.stream,
                    );
                const stats = await admin(server.url, '/admin/stats');
                assert.equal(stats.wsOpen, 1, 'one socket');
                assert.equal(stats['101'], 1, 'one upgrade');
            } finally {
                for (const c of clients) c.l.close();
            }
        });

        it('with the upgrade refused, one long poll at a time carries every stream', async () => {
            await admin(server.url, '/admin/fault', { mode: 'refuse' });
            await admin(server.url, '/admin/stats/reset', {});
            const clients = page(server.url, ['p-a', 'p-b', 'p-c']);
            try {
                await waitFor(() => clients.every((c) => c.l.state == 'open' && c.l.transport == 'longpoll'), 15000, 'all open on long polling');
                let most = 0;
                for (let i = 0; i < 6; i++) {
                    for (const s of ['p-a', 'p-b', 'p-c']) await publish(server.url, `${s}:${i}`, s);
                    most = Math.max(most, (await admin(server.url, '/admin/stats')).held);
                    await sleep(50);
                }
                await waitFor(() => clients.every((c) => c.rec.messages.length == 6), 10000, 'every message');
                assert.ok(most <= 1, `at most one poll held at a time (saw ${most})`);
            } finally {
                for (const c of clients) c.l.close();
                await admin(server.url, '/admin/fault', { mode: 'none' });
            }
        });

        it('one stream refused (authorize): that instance errors and closes, the others deliver', async () => {
            const clients = page(server.url, ['r-a', 'private-r', 'r-b']);
            try {
                await waitFor(() => clients[1].l.state == 'closed', 10000, 'the refused one closed');
                assert.equal(clients[1].rec.errors.at(-1)?.serverCode, 'forbidden');
                await waitFor(() => clients[0].l.state == 'open' && clients[2].l.state == 'open', 10000, 'the others open');
                const a = await publish(server.url, 'a!', 'r-a'),
                    b = await publish(server.url, 'b!', 'r-b');
                await waitFor(() => clients[0].rec.messages.length && clients[2].rec.messages.length, 10000, 'delivered');
                assert.deepEqual([clients[0].rec.messages[0].cursor, clients[2].rec.messages[0].cursor], [a, b]);
            } finally {
                for (const c of clients) c.l.close();
            }
        });

        it(
            'seeded chaos through the fault proxy, five streams over 1,000 messages each: none lost, none repeated, per stream',
            { timeout: 120000 },
            async () => {
                const rnd = prng(SEED);
                const proxy = await createProxy({ target: server.url, listenPort: 0 });
                const streams = ['x1', 'x2', 'x3', 'x4', 'x5'];
                const heads = {};
                for (const s of streams) heads[s] = await publish(server.url, 'marker', s);
                // one page (one storage, one page's events), each stream from its marker
                const storage = memoryStorage(),
                    pg = fakePage();
                const live = streams.map((s) => {
                    const l = new Lifeline(`${proxy.url}/live/${s}`, {
                            WebSocket,
                            storage,
                            seed: 7,
                            document: pg.document,
                            window: pg.window,
                            ...FAST,
                            cursor: heads[s],
                        }),
                        got = [];
                    l.addEventListener('message', (e) => got.push(e.cursor));
                    return { s, l, got };
                });
                const published = Object.fromEntries(streams.map((s) => [s, []]));
                let publishing = true;
                const faults = ['refuse', 'blackhole', 'stall', 'flap', 'reset', 'latency', 'drop'];
                const chaos = (async () => {
                    while (publishing) {
                        const mode = faults[rnd.int(0, faults.length - 1)];
                        proxy.setMode(mode, mode == 'flap' ? { ms: rnd.int(50, 400) } : mode == 'latency' ? { ms: rnd.int(20, 300) } : {});
                        await sleep(rnd.int(150, 1500));
                        proxy.setMode('pass');
                        await sleep(rnd.int(0, 800));
                    }
                })();
                try {
                    for (let i = 0; i < 1000; i++) {
                        for (const s of streams) published[s].push(await publish(server.url, i, s));
                        if (i % 10 == 0) await sleep(5);
                    }
                    publishing = false;
                    await chaos;
                    proxy.setMode('pass');
                    await waitFor(
                        () => live.every((c) => c.got.length >= 1000),
                        60000,
                        () => `every stream caught up (seed ${SEED}): ${live.map((c) => `${c.s} ${c.got.length}`).join(', ')}`,
                    );
                    await sleep(300);
                    for (const c of live) {
                        const lost = published[c.s].filter((k) => !c.got.includes(k)).length,
                            repeated = c.got.length - new Set(c.got).size,
                            ordered = c.got.every((k, j) => j == 0 || cmpCursor(c.got[j - 1], k) < 0);
                        assert.deepEqual({ stream: c.s, lost, repeated, ordered }, { stream: c.s, lost: 0, repeated: 0, ordered: true }, `seed ${SEED}`);
                    }
                    console.log(`# seed ${SEED}: ${live.map((c) => `${c.s} ${c.got.length}`).join(', ')} received; 0 lost, 0 repeated per stream`);
                } finally {
                    publishing = false;
                    for (const c of live) c.l.close();
                    await proxy.close?.();
                }
            },
        );
    });
}

describe('protocol v2: a v2 client against a v1 server (the Node demo server with --v1)', () => {
    let server;
    before(async () => (server = await startServer('node', ['--v1'])));
    after(async () => server?.stop());

    for (const websocket of [true, false])
        it(`${websocket ? 'over WebSockets' : 'polling'}: one connection per stream, as before v2; every stream delivers`, async () => {
            await admin(server.url, '/admin/stats/reset', {});
            const clients = page(server.url, ['v-a', 'v-b', 'v-c'], { websocket });
            try {
                await waitFor(() => clients.every((c) => c.l.state == 'open'), 15000, 'all open');
                for (const s of ['v-a', 'v-b', 'v-c']) await publish(server.url, s, s);
                await waitFor(() => clients.every((c) => c.rec.messages.length == 1), 10000, 'every stream delivered');
                const stats = await admin(server.url, '/admin/stats');
                if (websocket) assert.equal(stats.wsOpen, 3, 'a socket per stream');
                else assert.equal(stats['404'], 1, 'the poll of many streams was tried once');
            } finally {
                for (const c of clients) c.l.close();
            }
        });
});

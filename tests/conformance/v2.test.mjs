// v2.test.mjs — wire protocol v2 on every row that serves WebSockets (protocol/v2.json,
// docs/protocol.md "WebSocket v2"): many streams over one socket, each subscription with its
// own id, cursor, reset, authorisation, sends and acks; refusals that end one subscription
// and leave the socket and the others running; v1 unchanged for a client that offers only v1.
//
// Exact frames are asserted (deepEqual on the parsed JSON, and key order on the raw text of
// a msg), so both servers give the same bytes a client sees.
//
//   node --test tests/conformance/v2.test.mjs
import assert from 'node:assert/strict';
import { forEachServer, CURSOR_RE } from './matrix.mjs';
import { admin, connectWs, fetchT, liveUrlOf, publish } from '../lib/servers.mjs';
import { bodyOf, assertJsonError } from './matrix.mjs';
import { CHECK_ORDER, ERRORS, LIMITS, SUBPROTOCOL, SUBPROTOCOL_V2, FIRST_SUBSCRIPTION, POLL_PARAM, POLL_SEPARATOR } from '../../server/node/protocol.mjs';

const V2 = [SUBPROTOCOL_V2, SUBPROTOCOL];

/** A socket on `stream` offering v2 (and v1); resolves once hello came. */
async function opened(t, stream, opts = {}) {
    const c = await connectWs(liveUrlOf(t.url, stream), { protocols: V2, ...opts });
    const hello = await c.next();
    assert.equal(c.protocol, SUBPROTOCOL_V2);
    assert.deepEqual([hello.type, hello.v, 'cursor' in hello], ['hello', 2, false], JSON.stringify(hello));
    return c;
}

/** Frames until `n` of them matched `pick` (others are skipped: pongs, beats). */
async function take(c, n, pick = (f) => f.type !== 'pong' && !f.beat) {
    const out = [];
    while (out.length < n) {
        const f = await c.next(5000);
        if (pick(f)) out.push(f);
    }
    return out;
}

/** The socket is still open and answering: a ping gets its pong. */
async function stillOpen(c) {
    c.send({ type: 'ping' });
    assert.deepEqual(await c.nextOfType('pong', 5000), { type: 'pong' });
}

/** The v2 poll of many streams: GET <prefix>/?s=…&s=…[&wait=]; `streams` are `name` or [name, cursor]. */
async function pollStreams(t, streams, { wait, method = 'GET', headers = {} } = {}) {
    const u = new URL(liveUrlOf(t.url, ''));
    for (const s of streams) u.searchParams.append(POLL_PARAM, Array.isArray(s) ? s.join(POLL_SEPARATOR) : s);
    if (wait !== undefined) u.searchParams.set('wait', String(wait));
    const t0 = Date.now();
    const r = await bodyOf(await fetchT(u.href, { method, headers }, 15000));
    return { ...r, ms: Date.now() - t0 };
}
const entryError = (e, code) => assert.deepEqual([e?.error, typeof e?.message], [code, 'string'], JSON.stringify(e));

/** The spec orders check `earlier` before `later` for `kind` (CHECK_ORDER's camelCase name). */
function ordered(kind, earlier, later) {
    const names = CHECK_ORDER[kind].map(([check]) => check);
    assert.ok(names.indexOf(earlier) >= 0 && names.indexOf(earlier) < names.indexOf(later), `${kind}: ${earlier} before ${later}`);
}

const refused = (s, code) => (f) => assert.deepEqual([f.type, f.s, f.code, typeof f.message], ['refused', s, code, 'string'], JSON.stringify(f));

forEachServer(
    'wire protocol v2',
    (t) => {
        t.wsTest(
            'a client offering v2 and v1 is served v2: hello with v 2 and no cursor, then the URL stream as subscription 1 (subd with the head)',
            async () => {
                const head = await publish(t.url, 'before', 'a');
                const c = await opened(t, 'a');
                try {
                    assert.deepEqual(await c.next(), { type: 'subd', s: FIRST_SUBSCRIPTION, cursor: head });
                    const cur = await publish(t.url, { n: 1 }, 'a');
                    assert.deepEqual(await c.next(), { type: 'msg', s: FIRST_SUBSCRIPTION, cursor: cur, data: { n: 1 } });
                } finally {
                    await c.close();
                }
            },
        );

        t.wsTest('a client offering only v1 gets v1 from the same server (hello with a cursor, frames without s)', async () => {
            const c = await connectWs(liveUrlOf(t.url, 'a'), { protocols: [SUBPROTOCOL] });
            try {
                assert.equal(c.protocol, SUBPROTOCOL);
                const hello = await c.next();
                assert.equal(hello.type, 'hello');
                assert.match(hello.cursor, CURSOR_RE);
                assert.equal('v' in hello, false);
                const cur = await publish(t.url, 1, 'a');
                assert.deepEqual(await c.next(), { type: 'msg', cursor: cur, data: 1 });
            } finally {
                await c.close();
            }
        });

        t.wsTest(
            'three streams over one socket: each subscription gets its own messages once, in order, with its id; a cursor 0 gets the backlog; the server counts one socket',
            async () => {
                const old = [await publish(t.url, 'c0', 'c'), await publish(t.url, 'c1', 'c')];
                const c = await opened(t, 'a', { cursor: await t.head('a') });
                try {
                    c.send({
                        type: 'sub',
                        subs: [
                            [2, 'b', null],
                            [3, 'c', '0'],
                        ],
                    });
                    const first = await take(c, 5);
                    const subd = first.filter((f) => f.type === 'subd').map((f) => f.s);
                    assert.deepEqual(subd.sort(), [1, 2, 3], JSON.stringify(first));
                    assert.deepEqual(
                        first.filter((f) => f.type === 'msg').map((f) => [f.s, f.cursor, f.data]),
                        [
                            [3, old[0], 'c0'],
                            [3, old[1], 'c1'],
                        ],
                        'subscription 3 from cursor 0: the backlog, after its subd',
                    );
                    assert.ok(first.findIndex((f) => f.type === 'subd' && f.s === 3) < first.findIndex((f) => f.type === 'msg'), 'subd before its messages');
                    const sent = [];
                    for (let i = 0; i < 5; i++) for (const stream of ['a', 'b', 'c']) sent.push([stream, await publish(t.url, `${stream}${i}`, stream)]);
                    const got = await take(c, sent.length);
                    const ids = { a: 1, b: 2, c: 3 };
                    for (const stream of ['a', 'b', 'c'])
                        assert.deepEqual(
                            got.filter((f) => f.s === ids[stream]).map((f) => [f.type, f.cursor, f.data]),
                            sent.filter(([s]) => s === stream).map(([, cur], i) => ['msg', cur, `${stream}${i}`]),
                            `subscription ${ids[stream]} (${stream})`,
                        );
                    assert.equal((await admin(t.url, '/admin/stats')).wsOpen, 1, 'one socket for three streams');
                } finally {
                    await c.close();
                }
            },
        );

        t.wsTest("a msg's bytes: type, s, cursor, data in that order (the data as published)", async () => {
            const c = await opened(t, 'a');
            try {
                await c.next(); // subd
                const raw = new Promise((resolve) => c.ws.once('message', (d) => resolve(d.toString('utf8'))));
                const cur = await publish(t.url, { x: [1, 'y'] }, 'a');
                assert.equal(await raw, `{"type":"msg","s":1,"cursor":"${cur}","data":{"x":[1,"y"]}}`);
            } finally {
                await c.close();
            }
        });

        t.wsTest(
            "subd's cursor is where the subscription has all there is: the head, or its own cursor when nothing follows it (an empty stream)",
            async () => {
                const c1 = await publish(t.url, 'one', 'full');
                const c2 = await publish(t.url, 'two', 'full');
                const c = await opened(t, 'a');
                try {
                    await c.next(); // subd 1
                    c.send({
                        type: 'sub',
                        subs: [
                            [2, 'empty-e', '0'],
                            [3, 'full', c1],
                            [4, 'full', c2],
                        ],
                    });
                    const frames = await take(c, 4);
                    const subd = Object.fromEntries(frames.filter((f) => f.type == 'subd').map((f) => [f.s, f.cursor]));
                    assert.deepEqual(subd, { 2: '0', 3: c2, 4: c2 }, JSON.stringify(frames));
                    assert.deepEqual(
                        frames.filter((f) => f.type == 'msg').map((f) => [f.s, f.cursor]),
                        [[3, c2]],
                    );
                } finally {
                    await c.close();
                }
            },
        );

        t.wsTest('a subscription whose cursor is from a lost history is told reset (with its id) before its subd; the others are not', async () => {
            const stale = await publish(t.url, 'gone', 'b');
            await admin(t.url, '/admin/restart', {}); // the history is lost: a new epoch / deleted keys
            const c = await opened(t, 'a');
            try {
                c.send({ type: 'sub', subs: [[7, 'b', stale]] });
                const [subd1, reset, subd7] = await take(c, 3);
                assert.equal(subd1.type, 'subd');
                assert.deepEqual([reset.type, reset.s], ['reset', 7], JSON.stringify(reset));
                assert.match(reset.cursor, CURSOR_RE);
                assert.deepEqual(subd7, { type: 'subd', s: 7, cursor: reset.cursor });
                const cur = await publish(t.url, 'new', 'b');
                assert.deepEqual(await c.next(), { type: 'msg', s: 7, cursor: cur, data: 'new' });
            } finally {
                await c.close();
            }
        });

        t.wsTest(
            'refusals end one subscription: forbidden URL stream, bad name, bad cursor, a hook that throws, forbidden sub; the socket and the others carry on',
            async () => {
                const c = await opened(t, 'private-a');
                try {
                    refused(1, 'forbidden')(await c.next());
                    await stillOpen(c);
                    c.send({
                        type: 'sub',
                        subs: [
                            [1, 'open', null], // id 1 is free again after its refusal
                            [2, 'no/such', null],
                            [3, 'open2', 'garbage'],
                            [4, 'throw-x', null],
                            [5, 'private-b', null],
                        ],
                    });
                    const frames = await take(c, 5);
                    assert.deepEqual(frames[0].type === 'subd' && frames[0].s, 1, JSON.stringify(frames[0]));
                    refused(2, 'not_found')(frames[1]);
                    refused(3, 'bad_request')(frames[2]);
                    refused(4, 'internal')(frames[3]);
                    refused(5, 'forbidden')(frames[4]);
                    const cur = await publish(t.url, 'still', 'open');
                    assert.deepEqual(await c.next(), { type: 'msg', s: 1, cursor: cur, data: 'still' });
                    await stillOpen(c);
                } finally {
                    await c.close();
                }
            },
        );

        t.wsTest(`one subscription over max_subscriptions (${LIMITS.maxSubscriptions}) is refused too_many_subscriptions; an unsub makes room`, async () => {
            const c = await opened(t, 'a');
            try {
                const subs = [];
                for (let s = 2; s <= LIMITS.maxSubscriptions + 1; s++) subs.push([s, `s${s}`, null]);
                c.send({ type: 'sub', subs });
                const frames = await take(c, LIMITS.maxSubscriptions + 1); // subd 1 (the URL's), then one frame per entry
                assert.equal(frames.filter((f) => f.type === 'subd').length, LIMITS.maxSubscriptions);
                refused(LIMITS.maxSubscriptions + 1, 'too_many_subscriptions')(frames.at(-1));
                c.send({ type: 'unsub', s: 2 });
                c.send({ type: 'sub', subs: [[LIMITS.maxSubscriptions + 1, 'late', null]] });
                assert.deepEqual((await take(c, 1))[0].type, 'subd');
            } finally {
                await c.close();
            }
        });

        t.wsTest('a malformed sub entry or a live id is bad_frame and the close 1008', async () => {
            for (const entry of [
                [0, 'x', null],
                [65536, 'x', null],
                ['1', 'x', null],
                [2, 5, null],
                [2, 'x'],
                [2, 'x', 7],
                [1, 'x', null],
            ]) {
                const c = await opened(t, 'a');
                try {
                    await c.next(); // subd 1
                    c.send({ type: 'sub', subs: [entry] });
                    const e = await c.nextOfType('error', 5000);
                    assert.deepEqual([e.code, typeof e.message], ['bad_frame', 'string'], JSON.stringify(entry));
                    assert.equal((await c.closed).code, ERRORS.bad_frame.close, JSON.stringify(entry));
                } finally {
                    await c.close();
                }
            }
        });

        t.wsTest(
            'sends name their subscription: acked with it, published to its stream; an unknown id is a rejecting ack not_subscribed; a send without s is bad_frame',
            async () => {
                const c = await opened(t, 'a', { headers: { 'X-User': 'ok' } });
                try {
                    c.send({
                        type: 'sub',
                        subs: [
                            [2, 'b', null],
                            [3, 'members-m', null],
                        ],
                    });
                    await take(c, 3);
                    c.send({ type: 'send', s: 2, id: 10, data: { hi: 1 } });
                    const two = await take(c, 2); // the ack and the published message, in either order
                    const ack = two.find((f) => f.type === 'ack');
                    const msg = two.find((f) => f.type === 'msg');
                    assert.deepEqual(ack, { type: 'ack', s: 2, id: 10 });
                    assert.deepEqual([msg.type, msg.s, msg.data], ['msg', 2, { hi: 1 }], 'the layer published the send to b');
                    c.send({ type: 'send', s: 9, id: 11, data: 1 });
                    const no = await c.next();
                    assert.deepEqual([no.type, no.s, no.id, no.error, typeof no.message], ['ack', 9, 11, 'not_subscribed', 'string'], JSON.stringify(no));
                    c.send({ type: 'send', id: 12, data: 1 });
                    const e = await c.nextOfType('error', 5000);
                    assert.equal(e.code, 'bad_frame');
                    assert.equal((await c.closed).code, ERRORS.bad_frame.close);
                } finally {
                    await c.close();
                }
            },
        );

        t.wsTest("a send refused by authorize is a rejecting ack with the subscription's id; the socket stays", async () => {
            const c = await opened(t, 'a'); // not a member
            try {
                c.send({ type: 'sub', subs: [[2, 'members-m', null]] });
                await take(c, 2);
                c.send({ type: 'send', s: 2, id: 1, data: 1 });
                const ack = await c.next();
                assert.deepEqual([ack.type, ack.s, ack.id, ack.error, typeof ack.message], ['ack', 2, 1, 'forbidden', 'string'], JSON.stringify(ack));
                await stillOpen(c);
            } finally {
                await c.close();
            }
        });

        t.wsTest('unsub ends one subscription: its stream is no longer delivered, the others are, and its id can be used again', async () => {
            const c = await opened(t, 'a');
            try {
                c.send({ type: 'sub', subs: [[2, 'b', null]] });
                await take(c, 2);
                c.send({ type: 'unsub', s: 2 });
                c.send({ type: 'unsub', s: 999 }); // unknown: ignored
                await stillOpen(c);
                await publish(t.url, 'unheard', 'b');
                const cur = await publish(t.url, 'heard', 'a');
                assert.deepEqual(await c.next(), { type: 'msg', s: 1, cursor: cur, data: 'heard' });
                c.send({ type: 'sub', subs: [[2, 'c', null]] });
                assert.equal((await c.next()).type, 'subd');
                const curC = await publish(t.url, 'c!', 'c');
                assert.deepEqual(await c.next(), { type: 'msg', s: 2, cursor: curC, data: 'c!' });
            } finally {
                await c.close();
            }
        });

        t.wsTest('live.disconnect ends the matching subscription with refused revoked; the socket and its other subscriptions carry on', async () => {
            const c = await opened(t, 'a', { headers: { 'X-User': 'alice' } });
            try {
                c.send({ type: 'sub', subs: [[2, 'b', null]] });
                await take(c, 2);
                assert.equal((await admin(t.url, '/admin/disconnect', { stream: 'b', user: 'alice' })).disconnected, 1);
                refused(2, 'revoked')(await c.next());
                await publish(t.url, 'unheard', 'b');
                const cur = await publish(t.url, 'heard', 'a');
                assert.deepEqual(await c.next(), { type: 'msg', s: 1, cursor: cur, data: 'heard' });
            } finally {
                await c.close();
            }
        });

        t.wsTest("a sub entry failing two checks is refused by the earlier in the spec's order (ws_sub)", async () => {
            ordered('wsSub', 'stream_name', 'authorize_subscribe');
            ordered('wsSub', 'subscriptions', 'authorize_subscribe');
            ordered('wsSub', 'authorize_subscribe', 'cursor');
            const c = await opened(t, 'a');
            try {
                await c.next(); // subd 1
                const subs = [];
                for (let s = 2; s <= LIMITS.maxSubscriptions; s++) subs.push([s, `s${s}`, null]); // with the URL's: max_subscriptions live
                c.send({ type: 'sub', subs: [[500, 'private-!', null], [501, 'private-p', 'x'], ...subs, [502, 'private-q', null]] });
                const frames = await take(c, 2 + subs.length + 1);
                refused(500, 'not_found')(frames[0]);
                refused(501, 'forbidden')(frames[1]);
                refused(502, 'too_many_subscriptions')(frames.at(-1));
            } finally {
                await c.close();
            }
        });

        t.wsTest('a sub sent before hello arrives is served after it (frames are handled in order)', async () => {
            const c = await connectWs(liveUrlOf(t.url, 'a'), { protocols: V2 });
            try {
                c.send({ type: 'sub', subs: [[2, 'b', null]] });
                const frames = await take(c, 3);
                assert.deepEqual(
                    frames.map((f) => [f.type, f.s]),
                    [
                        ['hello', undefined],
                        ['subd', 1],
                        ['subd', 2],
                    ],
                );
            } finally {
                await c.close();
            }
        });
    },
    { extraArgs: ['--auth-test'] },
);

forEachServer(
    'wire protocol v2, polling many streams',
    (t) => {
        t.check(
            'one poll answers every stream with news, in the query order: messages after a cursor, the head for one without, nothing for one without news',
            async () => {
                const a = [await publish(t.url, 'a1', 'a'), await publish(t.url, 'a2', 'a')];
                const bHead = await publish(t.url, 'b1', 'b');
                const r = await pollStreams(t, [['b', bHead], 'c', ['a', '0']]);
                assert.equal(r.status, 200, r.text);
                assert.equal(r.headers.get('cache-control'), 'no-store');
                assert.deepEqual(Object.keys(r.body.streams), ['c', 'a'], 'b has nothing new: left out; the query order');
                assert.deepEqual(r.body.streams.a, {
                    cursor: a[1],
                    messages: [
                        { cursor: a[0], data: 'a1' },
                        { cursor: a[1], data: 'a2' },
                    ],
                });
                assert.deepEqual(r.body.streams.c.messages, []);
                assert.match(r.body.streams.c.cursor, CURSOR_RE);
                const none = await pollStreams(t, [
                    ['a', a[1]],
                    ['b', bHead],
                ]);
                assert.equal(none.status, 204, none.text);
            },
        );

        t.check('a poll with wait is held until any of its streams has news, then answers at once with it', async () => {
            const a = await t.head('a');
            const b = await t.head('b');
            const held = pollStreams(
                t,
                [
                    ['a', a],
                    ['b', b],
                ],
                { wait: 8000 },
            );
            await new Promise((resolve) => setTimeout(resolve, 400));
            const cur = await publish(t.url, 'now', 'b');
            const r = await held;
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.body.streams, { b: { cursor: cur, messages: [{ cursor: cur, data: 'now' }] } });
            assert.ok(r.ms < 6000, `answered after ${r.ms} ms`);
            const empty = await pollStreams(
                t,
                [
                    ['a', a],
                    ['b', cur],
                ],
                { wait: 300 },
            );
            assert.equal(empty.status, 204, 'nothing within the wait');
        });

        t.check("each stream's refusal is its own entry, answered at once; the others are served", async () => {
            const cur = await publish(t.url, 'ok', 'fine');
            const r = await pollStreams(t, [['fine', '0'], 'no.such!', 'private-p', ['bad', 'x'], 'throw-t'], { wait: 8000 });
            assert.equal(r.status, 200, r.text);
            assert.ok(r.ms < 6000, `not held: ${r.ms} ms`);
            assert.deepEqual(r.body.streams.fine, { cursor: cur, messages: [{ cursor: cur, data: 'ok' }] });
            entryError(r.body.streams['no.such!'], 'not_found');
            entryError(r.body.streams['private-p'], 'forbidden');
            entryError(r.body.streams.bad, 'bad_request');
            entryError(r.body.streams['throw-t'], 'internal');
        });

        t.check('a stream whose cursor is from a lost history gets a reset entry', async () => {
            const stale = await publish(t.url, 'gone', 'a');
            await admin(t.url, '/admin/restart', {});
            const r = await pollStreams(t, [['a', stale]]);
            assert.equal(r.status, 200, r.text);
            assert.match(r.body.streams.a.reset, CURSOR_RE);
        });

        t.check(
            `the request's own errors are a status: no stream, an empty name, a name twice, a bad wait (400 bad_request), over ${LIMITS.maxSubscriptions} streams (400 too_many_subscriptions), a POST (405)`,
            async () => {
                assertJsonError(await pollStreams(t, []), 400, 'bad_request');
                assertJsonError(await pollStreams(t, [['', '0']]), 400, 'bad_request');
                assertJsonError(await pollStreams(t, ['a', ['a', '0']]), 400, 'bad_request');
                assertJsonError(await pollStreams(t, ['a'], { wait: 'soon' }), 400, 'bad_request');
                const many = Array.from({ length: LIMITS.maxSubscriptions + 1 }, (_, i) => `s${i}`);
                assertJsonError(await pollStreams(t, many), ERRORS.too_many_subscriptions.status, 'too_many_subscriptions');
                const post = await pollStreams(t, ['a'], { method: 'POST' });
                assertJsonError(post, 405, 'method_not_allowed');
            },
        );

        t.check("a request or a stream failing two checks is answered by the earlier in the spec's order (poll_v2, poll_stream)", async () => {
            ordered('pollV2', 'subscriptions', 'wait');
            ordered('pollStream', 'authorize_subscribe', 'cursor');
            const many = Array.from({ length: LIMITS.maxSubscriptions + 1 }, (_, i) => `s${i}`);
            assertJsonError(await pollStreams(t, many, { wait: 'soon' }), ERRORS.too_many_subscriptions.status, 'too_many_subscriptions');
            const r = await pollStreams(t, [
                ['private-p', 'x'],
                ['private-!', 'x'],
            ]);
            entryError(r.body?.streams?.['private-p'], 'forbidden');
            entryError(r.body?.streams?.['private-!'], 'not_found');
        });

        t.check("live.disconnect of a held poll's stream answers it with that stream's entry revoked", async () => {
            const held = pollStreams(
                t,
                [
                    ['a', await t.head('a')],
                    ['b', await t.head('b')],
                ],
                { wait: 8000, headers: { 'X-User': 'alice' } },
            );
            await new Promise((resolve) => setTimeout(resolve, 400));
            assert.equal((await admin(t.url, '/admin/disconnect', { stream: 'b', user: 'alice' })).disconnected, 1);
            const r = await held;
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(Object.keys(r.body.streams), ['b']);
            entryError(r.body.streams.b, 'revoked');
        });
    },
    { extraArgs: ['--auth-test'] },
);

// multiplex.test.mjs — protocol v2 in the client (server/DESIGN.md "Protocol v2"): the
// instances of one page on one endpoint ride one connection, each a subscription of the
// core's table with its own cursor, messages, resets, refusals and sends; a v1 server
// splits them onto connections of their own. Fake socket and fetch, a simulated clock.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Lifeline } from '../../js/index.mjs';
import { fakeClock, fakeFetch, fakeWebSocket } from './fakes.mjs';

const io = () => {
    const clock = fakeClock();
    return { WebSocket: fakeWebSocket(), fetch: fakeFetch(), now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, seed: 1, clock };
};
const open = (o, ...streams) =>
    streams.map(([stream, cursor]) => {
        const options = { ...o };
        delete options.clock; // the test's own
        const l = new Lifeline(`http://example.test/live/${stream}`, { ...options, ...(cursor && { cursor }) }),
            got = [];
        for (const type of ['message', 'reset', 'error', 'statechange']) l.addEventListener(type, (e) => got.push({ type, ...e }));
        return { l, got, msgs: () => got.filter((e) => e.type == 'message').map((e) => [e.cursor, e.data]) };
    });
/** A task later, once the pooling's code (pool.mjs, loaded on demand) has loaded: a second
 *  stream of an endpoint joins the first one's connection then. */
const flush = () => import('../../js/pool.mjs').then(() => new Promise((r) => setTimeout(r, 0)));
/** The socket opened, a v2 hello, and subscriptions 1, 2, … told subd at these cursors. */
const subscribed = (ws, ...cursors) => {
    ws.open();
    ws.frame({ type: 'hello', v: 2, heartbeat: 25000, beat: 25000 });
    cursors.forEach((cursor, i) => ws.frame({ type: 'subd', s: i + 1, cursor }));
    return ws;
};

/** b (from cursor 3) opened the second socket, its own; a v1 server says hello there and
 *  sends b4. */
function bOnItsOwnSocket(o) {
    assert.equal(o.WebSocket.all.length, 2, 'b opened its own socket');
    const own = o.WebSocket.all[1];
    assert.equal(own.url, 'ws://example.test/live/b?cursor=3&beat=1');
    own.open();
    own.frame({ type: 'hello', cursor: '3', heartbeat: 25000 });
    own.frame({ type: 'msg', cursor: '4', data: 'b4' });
}

test('three instances of one endpoint ride one WebSocket: one sub frame as the socket opens (before its hello), each gets its own messages, resets and cursor', async () => {
    const o = io();
    const [a, b, c] = open(o, ['a', '5'], ['b', '2'], ['c']);
    await flush();
    assert.equal(o.WebSocket.all.length, 1, 'one socket for three streams');
    const ws = o.WebSocket.all[0];
    assert.equal(ws.url, 'ws://example.test/live/a?cursor=5&beat=1', 'the first stream names the URL');
    ws.open();
    assert.equal(ws.sent.length, 1, 'one frame at the open');
    assert.deepEqual(
        JSON.parse(ws.last),
        {
            type: 'sub',
            subs: [
                [2, 'b', '2'],
                [3, 'c', null],
            ],
        },
        'every other stream in one frame',
    );
    ws.frame({ type: 'hello', v: 2, heartbeat: 25000, beat: 25000 });
    assert.equal(ws.sent.length, 1, 'the hello asks for nothing more');
    ws.frame({ type: 'subd', s: 1, cursor: '7' });
    ws.frame({ type: 'reset', s: 2, cursor: '9' });
    ws.frame({ type: 'subd', s: 2, cursor: '9' });
    ws.frame({ type: 'subd', s: 3, cursor: '40' });
    ws.frame({ type: 'msg', s: 1, cursor: '6', data: 'a6' });
    ws.frame({ type: 'msg', s: 3, cursor: '41', data: 'c41' });
    ws.frame({ type: 'msg', s: 2, cursor: '10', data: 'b10' });
    ws.frame({ type: 'msg', s: 1, cursor: '7', data: 'a7' });
    assert.deepEqual(a.msgs(), [
        ['6', 'a6'],
        ['7', 'a7'],
    ]);
    assert.deepEqual(b.msgs(), [['10', 'b10']]);
    assert.deepEqual(c.msgs(), [['41', 'c41']]);
    assert.deepEqual(
        b.got.filter((e) => e.type == 'reset').map((e) => [e.from, e.to]),
        [['2', '9']],
    );
    assert.equal(a.got.filter((e) => e.type == 'reset').length + c.got.filter((e) => e.type == 'reset').length, 0, "the reset is b's alone");
    assert.deepEqual([a.l.cursor, b.l.cursor, c.l.cursor], ['7', '10', '41']);
    for (const x of [a, b, c]) assert.equal(x.l.state, 'open');
    for (const x of [a, b, c]) x.l.close();
});

test('sends name their subscription and are acked per instance; closing one instance unsubscribes its stream only', async () => {
    const o = io();
    const [a, b] = open(o, ['a'], ['b']);
    await flush();
    const ws = subscribed(o.WebSocket.all[0], '1', '1');
    const sent = b.l.send({ hi: 1 });
    await flush();
    const frame = JSON.parse(ws.last);
    assert.deepEqual([frame.type, frame.s, frame.data], ['send', 2, { hi: 1 }]);
    ws.frame({ type: 'ack', s: 2, id: frame.id });
    await sent;
    b.l.close();
    await flush();
    assert.deepEqual(JSON.parse(ws.last), { type: 'unsub', s: 2 });
    assert.equal(ws.closed, null, 'the socket stays for a');
    ws.frame({ type: 'msg', s: 1, cursor: '2', data: 'still' });
    assert.deepEqual(a.msgs(), [['2', 'still']]);
    a.l.close();
    assert.notEqual(ws.closed, null, 'the last instance closes the connection');
});

test('the host instance closing keeps the connection for the others; a refused stream errors and closes that instance only', async () => {
    const o = io();
    const [a, b, c] = open(o, ['a'], ['b'], ['private-c']);
    await flush();
    const ws = subscribed(o.WebSocket.all[0], '1', '1');
    ws.frame({ type: 'refused', s: 3, code: 'forbidden', message: 'not allowed' });
    assert.equal(c.l.state, 'closed');
    const error = c.got.find((e) => e.type == 'error');
    assert.deepEqual([error.serverCode, error.reason], ['forbidden', 'refused']);
    assert.equal(b.l.state, 'open');
    a.l.close();
    await flush();
    assert.equal(a.l.state, 'closed');
    assert.deepEqual(JSON.parse(ws.last), { type: 'unsub', s: 1 });
    ws.frame({ type: 'msg', s: 2, cursor: '2', data: 'b2' });
    ws.frame({ type: 'msg', s: 1, cursor: '2', data: 'a, unsubscribed' });
    assert.deepEqual(b.msgs(), [['2', 'b2']]);
    assert.deepEqual(a.msgs(), []);
    b.l.close();
    assert.notEqual(ws.closed, null);
});

test('a v1 server (hello without v) keeps the first stream; the others split onto sockets of their own from their cursors', async () => {
    const o = io();
    const [a, b] = open(o, ['a'], ['b', '3']);
    await flush();
    const ws = o.WebSocket.all[0];
    ws.open();
    ws.frame({ type: 'hello', cursor: '1', heartbeat: 25000 });
    await flush();
    bOnItsOwnSocket(o);
    ws.frame({ type: 'msg', cursor: '2', data: 'a2' });
    assert.deepEqual(a.msgs(), [['2', 'a2']]);
    assert.deepEqual(b.msgs(), [['4', 'b4']]);
    const [c] = open(o, ['c']);
    await flush();
    assert.equal(o.WebSocket.all.length, 3, 'an endpoint that split pools no more');
    for (const x of [a, b, c]) x.l.close();
});

test('a v1 server that said hello while the socket carried one stream: a stream added later gets a socket of its own', async () => {
    const o = io();
    const [a] = open(o, ['a']);
    await flush();
    const ws = o.WebSocket.all[0];
    ws.open();
    ws.frame({ type: 'hello', cursor: '1', heartbeat: 25000 });
    const [b] = open(o, ['b', '3']);
    await flush();
    bOnItsOwnSocket(o);
    assert.deepEqual(b.msgs(), [['4', 'b4']]);
    for (const x of [a, b]) x.l.close();
});

test('over polling: one poll names every stream (<prefix>/?s=<name>~<cursor>), its answer is routed per stream; a 404 there splits', async () => {
    const o = io();
    const [a, b] = open(o, ['a', '5'], ['b', '7']);
    const [c] = open({ ...o, websocket: false }, ['c']); // other options: another connection
    await flush();
    c.l.close();
    o.clock.advance(20); // the race: a poll beside the socket
    const poll = o.fetch.requests.find((r) => r.url.includes('/live/?'));
    assert.ok(poll, 'a poll of all: ' + o.fetch.requests.map((r) => r.url).join(' '));
    assert.equal(poll.url, 'http://example.test/live/?s=a~5&s=b~7');
    poll.reply(
        200,
        { 'lifeline-long-poll': '25000' },
        JSON.stringify({ streams: { b: { cursor: '8', messages: [{ cursor: '8', data: 'b8' }] }, a: { reset: '9' } } }),
    );
    await flush();
    await flush();
    assert.deepEqual(b.msgs(), [['8', 'b8']]);
    assert.deepEqual(
        a.got.filter((e) => e.type == 'reset').map((e) => [e.from, e.to]),
        [['5', '9']],
    );
    const next = o.fetch.open().find((r) => r.url.includes('/live/?'));
    assert.equal(next?.url, 'http://example.test/live/?wait=25000&s=a~9&s=b~8', 'a long poll now');
    next.reply(404, {}, JSON.stringify({ error: 'not_found', message: 'not a stream URL' }));
    await flush();
    await flush();
    assert.ok(
        o.WebSocket.all.some((w) => w.url == 'ws://example.test/live/b?cursor=8&beat=1'),
        'b, split off, opens its own socket from its cursor',
    );
    a.l.close();
    b.l.close();
});

test('a second instance of a stream the connection carries already gets a connection of its own (a poll of all names each stream once)', async () => {
    const o = io();
    const [a, again, b] = open(o, ['a', '5'], ['a', '3'], ['b']);
    await flush();
    assert.deepEqual(
        o.WebSocket.all.map((w) => w.url),
        ['ws://example.test/live/a?cursor=5&beat=1', 'ws://example.test/live/a?cursor=3&beat=1'],
        'b rides the first; the second a has its own',
    );
    o.clock.advance(20); // the race: polls beside the sockets
    const polls = o.fetch.requests.filter((r) => r.url.includes('/live/?')).map((r) => r.url);
    assert.deepEqual(polls, ['http://example.test/live/?s=a~5&s=b'], 'no poll names a twice');
    for (const x of [a, again, b]) x.l.close();
});

// The public API under fake I/O: events, sends, close, options, visibility, fallback memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Lifeline } from '../../js/index.mjs';
import { CONFIG, CONFIG_DEFAULT, CONFIG_MAX, CONFIG_MIN } from '../../js/constants.js';
import { SUBPROTOCOL, SUBPROTOCOL_V2 } from '../../server/node/protocol.mjs';
import { runtime } from '../../js/loader.mjs';
import { fakeClock, fakeWebSocket, fakeFetch, fakeDocument, fakeWindow, settle } from './fakes.mjs';

const URL_ = 'http://example.test/live';

/** A Lifeline with every piece of I/O faked. */
function make(options = {}, url = URL_) {
    const io = {
        clock: fakeClock(),
        WebSocket: fakeWebSocket(),
        fetch: fakeFetch(),
        document: fakeDocument(),
        window: fakeWindow(),
        storage: new Map(),
    };
    const storage = { getItem: (k) => io.storage.get(k) ?? null, setItem: (k, v) => io.storage.set(k, v), removeItem: (k) => io.storage.delete(k) };
    const l = new Lifeline(url, {
        WebSocket: io.WebSocket,
        fetch: io.fetch,
        now: io.clock.now,
        setTimeout: io.clock.setTimeout,
        clearTimeout: io.clock.clearTimeout,
        document: io.document,
        window: io.window,
        storage,
        seed: 1,
        ...options,
    });
    const events = [];
    for (const t of ['message', 'statechange', 'error', 'reset'])
        l.addEventListener(t, (e) =>
            events.push({
                type: t,
                ...Object.fromEntries(
                    ['data', 'cursor', 'state', 'transport', 'reason', 'code', 'message', 'status', 'from', 'to']
                        .filter((k) => e[k] !== undefined)
                        .map((k) => [k, e[k]]),
                ),
            }),
        );
    return { l, events, ...io, ws: () => io.WebSocket.all.at(-1) };
}

const hello = (cursor = '5') => ({ type: 'hello', cursor, heartbeat: 25000 });

test('WebSocket: hello opens, messages arrive as events with data and cursor', () => {
    const { l, events, ws } = make({ cursor: '5' });
    assert.equal(ws().url, 'ws://example.test/live?cursor=5&beat=1'); // beats asked for (docs/protocol.md)
    assert.deepEqual(ws().protocol, [SUBPROTOCOL_V2, SUBPROTOCOL]); // v2 first (many streams over one socket), v1 from a v1 server
    assert.equal(l.state, 'connecting');
    ws().open();
    ws().frame(hello('5'));
    assert.equal(l.state, 'open');
    assert.equal(l.transport, 'websocket');
    ws().frame({ type: 'msg', cursor: '6', data: { n: 6 } });
    ws().frame({ type: 'msg', cursor: '6', data: { n: 6 } }); // a repeat: never delivered twice
    assert.deepEqual(
        events.filter((e) => e.type == 'message'),
        [{ type: 'message', data: { n: 6 }, cursor: '6' }],
    );
    assert.deepEqual(
        events.find((e) => e.type == 'statechange' && e.state == 'open'),
        { type: 'statechange', state: 'open', transport: 'websocket', reason: 'ws_hello' },
    );
    assert.equal(l.cursor, '6');
    assert.equal(l.stats.messages, 1);
    assert.equal(l.stats.wsOpened, 1);
    l.close();
});

test('beats: a server that announces them sends empty frames the client takes as life, and gets empty frames back; one that does not gets pings', () => {
    const { l, events, ws, clock } = make({ cursor: '5' });
    ws().open();
    ws().frame({ ...hello('5'), beat: 25000 });
    ws().frame({ type: 'msg', cursor: '6', data: 6 });
    for (const at of [2500, 5000, 10000]) {
        clock.advance(at); // a beat on the schedule after the last frame (2,500, 5,000, 10,000 ms apart)
        ws().frame('');
    }
    assert.equal(l.state, 'open');
    assert.deepEqual(
        events.filter((e) => e.type == 'error'),
        [],
        'an empty frame is no malformed frame',
    );
    clock.advance(25000 - 17500); // 25 s after hello the client has sent nothing: its own beat
    assert.deepEqual(ws().sent, ['']);
    clock.advance(20000 + 2000 - 7500); // the next beat (20 s after the last) is overdue by the pong timeout: a stall
    assert.equal(ws().closed, 1000);
    assert.equal(events.findLast((e) => e.type == 'statechange').reason, 'ws_stalled');
    l.close();

    const old = make({ cursor: '5' });
    old.ws().open();
    old.ws().frame(hello('5')); // no "beat": a server before beats
    old.clock.advance(5000);
    assert.deepEqual(old.ws().sent, ['{"type":"ping"}']);
    old.l.close();
});

test('a busy socket keeps its armed timer (each message moves the liveness deadline later), and a stall after the last message is still noticed on time', () => {
    const clock = fakeClock();
    let armed = 0;
    const setTimeout = (/** @type {() => void} */ f, /** @type {number} */ ms) => (armed++, clock.setTimeout(f, ms));
    const { l, ws, events } = make({ cursor: '5', now: clock.now, setTimeout, clearTimeout: clock.clearTimeout });
    ws().open();
    ws().frame({ ...hello('5'), beat: 25000 });
    const before = armed;
    for (let i = 6; i < 106; i++) {
        clock.advance(100);
        ws().frame({ type: 'msg', cursor: String(i), data: i });
    }
    assert.ok(armed - before <= 10, `100 messages armed ${armed - before} timers`);
    clock.advance(2500 + 2000 - 1); // the beat due 2,500 ms after the last message, overdue by the pong timeout
    assert.equal(ws().closed, null);
    clock.advance(1);
    assert.equal(ws().closed, 1000);
    assert.equal(events.findLast((e) => e.type == 'statechange').reason, 'ws_stalled');
    l.close();
});

test('the URL: ws/wss and http/https map both ways, query kept', () => {
    const { l, ws } = make({ startRaceDelay: 0 }, 'wss://example.test/live?room=1#x');
    assert.equal(ws().url, 'wss://example.test/live?room=1&beat=1');
    l.close();
    const b = make({ websocket: false, cursor: '3' }, 'https://example.test/live?room=1');
    assert.equal(b.fetch.requests[0].url, 'https://example.test/live?room=1&cursor=3'); // the first poll is a short one
    b.l.close();
});

test('send over the WebSocket resolves on ack; the frame carries the JSON', async () => {
    const { l, ws } = make();
    ws().open();
    ws().frame(hello());
    const p = l.send({ hello: 'world' });
    assert.equal(ws().last, '{"type":"send","id":1,"data":{"hello":"world"}}');
    ws().frame({ type: 'ack', id: 1 });
    assert.equal(await p, undefined);
    l.close();
});

test('sends: overflow, too large, closed reject with the core error name as code', async () => {
    const { l } = make({ maxSends: 1, maxMessageBytes: 64 });
    const first = l.send(1); // buffered while connecting
    await assert.rejects(l.send(2), { code: 'send_overflow' });
    await assert.rejects(l.send('x'.repeat(100)), { code: 'send_too_large' });
    l.close();
    await assert.rejects(first, { code: 'closed' });
    await assert.rejects(l.send(3), { code: 'closed' });
});

test('polling: long polls with the cursor, POST sends as text/plain, stats count', async () => {
    const { l, events, fetch } = make({ websocket: false });
    assert.equal(fetch.requests[0].url, URL_); // no cursor: from now
    fetch.requests[0].reply(200, { 'Lifeline-Long-Poll': '25000', ETag: '"5"' }, '{"cursor":"5","messages":[]}');
    await settle();
    assert.equal(l.state, 'open');
    assert.equal(l.transport, 'longpoll');
    assert.equal(fetch.requests[1].url, URL_ + '?cursor=5&wait=25000');
    fetch.requests[1].reply(200, { 'Lifeline-Long-Poll': '25000' }, '{"cursor":"7","messages":[{"cursor":"6","data":"a"},{"cursor":"7","data":[1]}]}');
    await settle();
    assert.deepEqual(
        events.filter((e) => e.type == 'message').map((e) => [e.data, e.cursor]),
        [
            ['a', '6'],
            [[1], '7'],
        ],
    );
    const p = l.send({ up: 1 });
    const post = fetch.requests.find((r) => r.init.method == 'POST');
    assert.equal(post.url, URL_);
    assert.equal(post.init.body, '{"id":1,"data":{"up":1}}');
    assert.equal(post.init.headers['content-type'], 'text/plain;charset=UTF-8');
    post.reply(200, {}, '{"ack":1}');
    await p;
    assert.equal(l.stats.requests, fetch.requests.length);
    assert.ok(l.stats.bytesIn > 0 && l.stats.bytesOut > 0);
    l.close();
});

test('close() stops every timer, socket, request and listener', async () => {
    const { l, clock, fetch, ws, document, window } = make({ startRaceDelay: 100 });
    clock.advance(100); // the race poll starts beside the silent WebSocket
    assert.equal(fetch.open().length, 1);
    assert.ok(clock.armed() > 0);
    assert.ok(document.listeners > 0 && window.listeners > 0);
    l.close();
    assert.equal(clock.armed(), 0);
    assert.equal(fetch.open().length, 0);
    assert.ok(fetch.requests.every((r) => r.aborted));
    assert.notEqual(ws().closed, null);
    assert.equal(document.listeners, 0);
    assert.equal(window.listeners, 0);
    assert.equal(l.state, 'closed');
    clock.advance(600000);
    assert.equal(fetch.requests.length, 1);
    l.close(); // twice is harmless
});

test('an aborted request sends no input; a late socket event is ignored', async () => {
    const { l, fetch, ws, events, clock } = make({ startRaceDelay: 0 });
    clock.advance(0);
    const sock = ws();
    l.close();
    const n = events.length;
    fetch.requests[0].reply(200, {}, '{"cursor":"1","messages":[{"cursor":"1","data":1}]}');
    sock.open();
    sock.frame(hello());
    await settle();
    assert.equal(events.length, n);
});

test('async iteration yields messages and ends on close', async () => {
    const { l, ws } = make();
    ws().open();
    ws().frame(hello('1'));
    const got = [];
    const done = (async () => {
        for await (const m of l) got.push(m);
    })();
    await settle();
    ws().frame({ type: 'msg', cursor: '2', data: 'a' });
    ws().frame({ type: 'msg', cursor: '3', data: 'b' });
    await settle();
    l.close();
    await done;
    assert.deepEqual(got, [
        { data: 'a', cursor: '2' },
        { data: 'b', cursor: '3' },
    ]);
});

test('a hidden page makes no requests; visible again catches up at once', async () => {
    const { l, fetch, clock, document } = make({ websocket: false, cursor: '1' });
    fetch.requests[0].reply(200, {}, '{"cursor":"1","messages":[]}');
    await settle();
    document.set('hidden');
    const n = fetch.requests.length;
    assert.equal(fetch.open().length, 0);
    clock.advance(10 * 60000);
    assert.equal(fetch.requests.length, n);
    assert.equal(fetch.open().length, 0);
    assert.equal(l.state, 'paused');
    document.set('visible');
    assert.equal(fetch.requests.length, n + 1);
    l.close();
});

test('starting hidden: nothing on the wire until visible', () => {
    const clock = fakeClock();
    const document = fakeDocument('hidden');
    const fetch = fakeFetch();
    const l = new Lifeline(URL_, { websocket: false, fetch, document, now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout });
    clock.advance(60000);
    assert.equal(fetch.requests.length, 0);
    assert.equal(l.state, 'paused');
    document.set('visible');
    assert.equal(fetch.requests.length, 1);
    l.close();
});

test('offline/online and pagehide/pageshow reach the core', () => {
    const { l, window, fetch } = make({ websocket: false });
    window.navigator.onLine = false;
    window.dispatchEvent(new Event('offline'));
    assert.equal(l.state, 'offline');
    assert.ok(fetch.requests.every((r) => r.aborted));
    window.dispatchEvent(new Event('online'));
    assert.equal(fetch.open().length, 1);
    window.dispatchEvent(new Event('pagehide'));
    assert.equal(fetch.open().length, 0);
    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
    assert.equal(fetch.open().length, 1);
    l.close();
});

test('a black-holed WebSocket is remembered; the next start closes its attempt at once and polls', async () => {
    const a = make({ cursor: '1' });
    a.clock.advance(5000); // ws_timeout
    const key = 'lifeline:http://example.test/live';
    assert.ok(JSON.parse(a.storage.get(key)).until > Date.now());
    a.l.close();
    // the same storage, a new page: the storage is read once the start's socket exists;
    // that socket is closed before it could open, and polling serves
    const b = make({ cursor: '1', storage: { getItem: (k) => a.storage.get(k) ?? null, setItem() {}, removeItem() {} } });
    await settle();
    assert.equal(b.WebSocket.all.length, 1);
    assert.equal(b.WebSocket.all[0].closed, 1000);
    assert.equal(b.WebSocket.all[0].readyState, 0);
    assert.equal(b.fetch.requests.length, 1);
    assert.equal(b.l.state, 'connecting');
    assert.deepEqual(b.events.filter((e) => e.type == 'statechange').at(-1), {
        type: 'statechange',
        state: 'connecting',
        transport: 'none',
        reason: 'fallback_remembered',
    });
    b.clock.advance(1000);
    assert.equal(b.WebSocket.all.length, 1, 'no socket again before the probe (probeMin 3 s, equal jitter: 1.5 s at the soonest)');
    b.l.close();
});

test('a remembered fallback is forgotten once the WebSocket serves again', async () => {
    const key = 'lifeline:http://example.test/live',
        store = new Map([[key, JSON.stringify({ until: Date.now() + 60000 })]]);
    const m = make({
        cursor: '1',
        probeMin: 1000,
        storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) },
    });
    m.fetch.requests[0].reply(204);
    await settle();
    m.clock.advance(1000); // the probe
    m.ws().open();
    m.ws().frame(hello('1'));
    assert.equal(m.l.transport, 'websocket');
    assert.equal(store.has(key), false);
    m.l.close();
});

test('option errors are TypeErrors naming the option', () => {
    const WebSocket = fakeWebSocket();
    const bad = (o, re, url = URL_) =>
        assert.throws(
            () => new Lifeline(url, { WebSocket, ...o }),
            (e) => e instanceof TypeError && re.test(e.message),
        );
    bad({ nope: 1 }, /unknown option nope/);
    bad({ raceDelay: -1 }, /raceDelay must be an integer in \[0, 60000\]/);
    bad({ raceDelay: 1.5 }, /raceDelay must be an integer/);
    bad({ raceDelay: '100' }, /raceDelay must be an integer/);
    bad({ maxSends: 1000 }, /maxSends must be an integer in \[1, 256\]/);
    bad({ minInterval: 5000, maxInterval: 1000 }, /option minInterval is out of order/);
    bad({ probeMin: 9000, probeMax: 1000 }, /option probeMin/);
    bad({}, /URL not http\(s\) or ws\(s\)/, 'ftp://example.test/x');
    bad({}, /bad URL/, 'not a url');
    bad({ raceDelay: '100' }, /^Lifeline: option raceDelay must be an integer or true\/false, not "100" \(string\)$/);
    bad({ websocket: 'false' }, /^Lifeline: option websocket must be an integer or true\/false, not "false" \(string\)$/);
    bad({ maxSends: 1000 }, /^Lifeline: option maxSends must be an integer in \[1, 256\], not 1000$/);
    bad({ cursor: 'abc' }, /^Lifeline: option cursor must be a cursor string \('12' or '12-3'\), not "abc" \(string\)$/);
    bad({ cursor: 5 }, /option cursor must be a cursor string \('12' or '12-3'\), not 5 \(number\)/);
    bad({ cursor: '99999999999999999999999' }, /option cursor must be a cursor whose parts fit in 64 bits, not "99999999999999999999999"/); // the core says
    bad({ WebSocket: 42 }, /^Lifeline: option WebSocket must be a WebSocket class, not 42 \(number\)$/);
    bad({ json: 'yes' }, /^Lifeline: option json must be true or false \(or 1\/0\), not "yes" \(string\)$/);
    bad({ share: 'no' }, /option share must be true or false \(or 1\/0\), not "no" \(string\)/);
    bad({ fetch: 'fetch' }, /option fetch must be a function, not "fetch" \(string\)/);
    bad({ storage: {} }, /option storage must be a Storage \(like localStorage\), not \[object Object\] \(object\)/);
    bad({ seed: '1' }, /option seed must be a number, not "1" \(string\)/);
    assert.throws(() => new Lifeline(URL_), /no WebSocket/); // Node 20: no global WebSocket
    new Lifeline(URL_, { websocket: false, fetch: fakeFetch(), document: fakeDocument('hidden') }).close();
});

test('defaults and booleans: websocket: false polls; every core field is an option', () => {
    const { l, fetch, WebSocket } = make({ websocket: false, raceDelay: 0, hiddenInterval: 0, conditionalHeaders: true });
    assert.equal(WebSocket.all.length, 0);
    assert.equal(fetch.requests.length, 1);
    l.close();
    // each field in camelCase is an option that takes its default; a value past either
    // bound is refused naming the option and its range
    CONFIG.forEach((name, i) => {
        const option = name.replace(/_./g, (m) => m[1].toUpperCase()),
            range = new RegExp(`option ${option} must be an integer in \\[${CONFIG_MIN[i]}, ${CONFIG_MAX[i]}\\]`);
        make({ [option]: CONFIG_DEFAULT[i] }).l.close();
        assert.throws(() => make({ [option]: CONFIG_MAX[i] + 1 }), range);
        if (CONFIG_MIN[i] > 0) assert.throws(() => make({ [option]: CONFIG_MIN[i] - 1 }), range);
    });
});

test('re-entrancy: an input arriving during a drain waits for it', async () => {
    const { l, ws, events } = make();
    ws().open();
    ws().frame(hello('1'));
    // the server answers synchronously, inside the send() drain
    const sock = ws();
    sock.send = function (text) {
        this.sent.push(text);
        const { id } = JSON.parse(text);
        this.frame({ type: 'ack', id });
        this.frame({ type: 'msg', cursor: '2', data: 'inside' });
    };
    // and a listener sends from inside a message event
    let inner;
    l.addEventListener('message', (e) => e.data == 'inside' && (inner = l.send('from a listener')));
    await l.send('x');
    await inner;
    assert.deepEqual(
        sock.sent.map((t) => JSON.parse(t).data),
        ['x', 'from a listener'],
    );
    assert.equal(events.filter((e) => e.type == 'message').length, 1);
    l.close();
});

test('bad server input becomes an error event; binary frames are malformed', () => {
    const { l, ws, events } = make();
    ws().open();
    ws().frame(hello('1'));
    const sock = ws();
    sock.frame(new Uint8Array([123, 125]).buffer);
    const e = events.find((x) => x.type == 'error');
    assert.equal(e.code, 'bad_frame');
    assert.equal(e.reason, 'ws_bad_frame');
    assert.equal(sock.closed, 1000); // replaced, resuming from the cursor
    const n = events.length;
    sock.frame({ type: 'error', code: 'nope', message: 'go away' }); // a detached socket: ignored
    sock.frame({ type: 'msg', cursor: '2', data: 'late' });
    sock.drop();
    assert.equal(events.length, n);
    l.close();
});

test('reset events carry the old and new cursor', () => {
    const { l, ws, events } = make({ cursor: '3' });
    ws().open();
    ws().frame({ type: 'reset', cursor: '90' });
    ws().frame(hello('90'));
    assert.deepEqual(
        events.find((e) => e.type == 'reset'),
        { type: 'reset', from: '3', to: '90' },
    );
    assert.equal(l.cursor, '90');
    l.close();
});

test('Lifeline.watch: plain resource mode with conditional requests in Node', async () => {
    const f = fakeFetch(),
        clock = fakeClock();
    const w = Lifeline.watch('http://example.test/data.json', {
        fetch: f,
        now: clock.now,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
        json: true,
    });
    const got = [];
    w.addEventListener('message', (e) => got.push([e.data, e.cursor]));
    assert.equal(f.requests[0].url, 'http://example.test/data.json');
    assert.equal(f.requests[0].init.cache, undefined);
    f.requests[0].reply(200, { ETag: '"v1"' }, '{"a":1}');
    await settle();
    assert.deepEqual(got, [[{ a: 1 }, '"v1"']]);
    clock.advance(60000);
    const again = f.requests[1];
    assert.equal(again.init.headers['If-None-Match'] ?? again.init.headers['if-none-match'], '"v1"');
    again.reply(304, { ETag: '"v1"' });
    await settle();
    assert.equal(got.length, 1);
    await assert.rejects(w.send(1), { code: 'bad_state' });
    w.close();
});

test('resource mode with conditionalHeaders: 0 lets the HTTP cache revalidate', async () => {
    const f = fakeFetch(),
        clock = fakeClock();
    const w = Lifeline.watch('http://example.test/page', {
        fetch: f,
        now: clock.now,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
        conditionalHeaders: 0,
    });
    const got = [];
    w.addEventListener('message', (e) => got.push(e.data));
    assert.equal(f.requests[0].init.cache, 'no-cache');
    f.requests[0].reply(200, { ETag: '"a"' }, 'text body');
    await settle();
    assert.deepEqual(got, ['text body']);
    w.close();
});

test('options.wasm: the module loads asynchronously; calls made meanwhile wait', async () => {
    const bytes = fs.readFileSync(new URL('../../build/lifeline.wasm', import.meta.url));
    const { l, ws } = make({ wasm: bytes });
    const p = l.send('early');
    assert.equal(ws(), undefined);
    for (let i = 0; i < 200 && !ws(); i++) await new Promise((r) => setTimeout(r, 5));
    ws().open();
    ws().frame(hello());
    assert.equal(JSON.parse(ws().last).data, 'early');
    ws().frame({ type: 'ack', id: 1 });
    await p;
    l.close();
    const m = make({ wasm: new WebAssembly.Module(bytes) });
    m.l.close(); // closed before ready: never starts
    await settle();
    assert.equal(m.WebSocket.all.length, 0);
    assert.equal(m.l.state, 'closed');
});

test('a fleet shares one module: closed slots are reused', () => {
    const memory = runtime().x.memory,
        run = () => {
            const fleet = Array.from({ length: 1000 }, () => make({ websocket: false }));
            for (const m of fleet) assert.equal(m.fetch.requests.length, 1);
            fleet.forEach((m) => m.l.close());
        };
    run();
    const size = memory.buffer.byteLength;
    run(); // a second fleet of the same size fits in the slots the first one freed
    assert.equal(memory.buffer.byteLength, size);
});

test('a rejecting ack rejects that send with the server code and message; others still resolve', async () => {
    const { l, ws, events } = make();
    ws().open();
    ws().frame(hello());
    const refused = l.send('no'),
        fine = l.send('yes');
    ws().frame({ type: 'ack', id: 1, error: 'forbidden', message: 'not in this room' });
    ws().frame({ type: 'ack', id: 2 });
    await assert.rejects(refused, { code: 'send_rejected', serverCode: 'forbidden', serverMessage: 'not in this room', status: 0 });
    assert.equal(await fine, undefined);
    assert.deepEqual(
        events.find((e) => e.type == 'error'),
        { type: 'error', code: 'send_rejected', reason: 'none', status: 0, message: 'not in this room' },
    );
    assert.equal(l.state, 'open'); // the socket stays
    l.close();
});

test("a 4xx POST rejects that send with the status and the server's code and message, as a rejecting ack does", async () => {
    const { l, fetch, events } = make({ websocket: false, cursor: '1' });
    fetch.requests[0].reply(204);
    await settle();
    const p = l.send('x');
    fetch.requests.find((r) => r.init.method == 'POST').reply(405, {}, '{"error":"sends_disabled","message":"this stream takes no sends"}');
    await assert.rejects(p, { code: 'send_rejected', status: 405, serverCode: 'sends_disabled', serverMessage: 'this stream takes no sends' });
    assert.deepEqual(
        events.find((e) => e.type == 'error'),
        {
            type: 'error',
            code: 'send_rejected',
            reason: 'http_error',
            status: 405,
            message: '405 from http://example.test/live: this stream takes no sends (sends_disabled)',
        },
    );
    l.close();
});

test("an HTTP error's event names the status, the URL and the server's words; its serverCode is the server's code", async () => {
    const { l, fetch } = make({ websocket: false, cursor: '1' });
    const errors = [];
    l.addEventListener('error', (e) => errors.push(e));
    fetch.requests[0].reply(500, {}, '{"error":"internal","message":"the hook failed"}');
    await settle();
    assert.equal(errors[0].code, 'http_status');
    assert.equal(errors[0].status, 500);
    assert.equal(errors[0].serverCode, 'internal');
    assert.equal(errors[0].message, '500 from http://example.test/live: the hook failed (internal)');
    l.close();
    // not a Lifeline server: no JSON, no words, still the status and the URL
    const b = make({ websocket: false, cursor: '1' });
    const seen = [];
    b.l.addEventListener('error', (e) => seen.push(e));
    b.fetch.requests[0].reply(502, {}, '<html>bad gateway</html>');
    await settle();
    assert.deepEqual([seen[0].message, seen[0].serverCode], ['502 from http://example.test/live', '']);
    b.l.close();
});

test('a URL refused 3 times in a row (404) closes the Lifeline for good: state closed, reason refused, iteration ends, sends reject, no more requests', async () => {
    const { l, fetch, clock, events } = make({ websocket: false, cursor: '1' });
    const iteration = (async () => {
        for await (const m of l) void m;
        return 'ended';
    })();
    const pending = l.send('x');
    pending.catch(() => {}); // asserted below
    const nextPoll = () => {
        // the backoff's timer: step until the next poll goes (bounded)
        for (let ms = 0; ms < 120000 && !fetch.open().some((q) => q.init.method != 'POST'); ms += 100) clock.advance(100);
        return fetch.open().find((q) => q.init.method != 'POST');
    };
    for (let i = 0; i < 3; i++) {
        nextPoll().reply(404, {}, '{"error":"not_found","message":"no stream at /live/news/eu"}');
        await settle();
    }
    const errors = events.filter((e) => e.type == 'error');
    assert.deepEqual(
        errors.map((e) => e.reason),
        ['http_error', 'http_error', 'refused'],
    );
    assert.equal(errors.at(-1).message, '404 from http://example.test/live: no stream at /live/news/eu (not_found)');
    assert.deepEqual(events.at(-1), { type: 'statechange', state: 'closed', transport: 'none', reason: 'refused' });
    assert.equal(l.state, 'closed');
    await assert.rejects(pending, { code: 'closed' });
    await assert.rejects(l.send('y'), { code: 'closed' });
    assert.equal(await iteration, 'ended');
    const made = fetch.requests.length;
    clock.advance(600000);
    await settle();
    assert.equal(fetch.requests.length, made);
});

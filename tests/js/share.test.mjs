// Sharing where it cannot happen: Node has BroadcastChannel but no Web Locks
// (navigator.locks), so every instance runs alone there — role 'solo', one tab — and the
// option is checked like the others. Sharing itself is tested in Chromium
// (tests/browser/share*.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifeline } from '../../js/index.mjs';
import { fakeClock, fakeWebSocket, fakeFetch, fakeDocument, fakeWindow } from './fakes.mjs';

const io = () => {
    const clock = fakeClock();
    return { WebSocket: fakeWebSocket(), fetch: fakeFetch(), now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, seed: 1 };
};

test('without Web Locks every instance runs alone: role solo, stats.tabs 1; one connection per endpoint, its own with multiplex: false', async () => {
    assert.equal(globalThis.navigator?.locks, undefined, 'this Node has no Web Locks');
    const o = io();
    const a = new Lifeline('http://example.test/live/x', o),
        b = new Lifeline('http://example.test/live/y', o),
        c = new Lifeline('http://example.test/live/x', { ...o, multiplex: false });
    assert.deepEqual([a.role, b.role, c.role], ['solo', 'solo', 'solo']);
    assert.deepEqual([a.stats.tabs, b.stats.tabs], [1, 1]);
    await import('../../js/pool.mjs'); // b joins a's connection once the pooling's code has loaded
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(o.WebSocket.all.length, 2, 'a and b ride one WebSocket (protocol v2), c has its own');
    assert.deepEqual([a.state, b.state], ['connecting', 'connecting']);
    a.close();
    b.close();
    c.close();
});

test('share: false and resource mode are solo; share is a known option', () => {
    const o = io();
    const a = new Lifeline('http://example.test/live/x', { ...o, share: false });
    const w = Lifeline.watch('http://example.test/file.json', o);
    assert.deepEqual([a.role, w.role], ['solo', 'solo']);
    a.close();
    w.close();
    assert.throws(() => new Lifeline('http://example.test/live/x', { ...o, sharing: false }), /unknown option sharing/);
});

/** Web Locks as a browser grants them (exclusive, FIFO queue, signal, steal), for Node. */
function fakeLocks() {
    const held = new Map(),
        queues = new Map();
    const abortError = () => new DOMException('aborted', 'AbortError');
    const run = (name, r) => {
        held.set(name, r);
        Promise.resolve(r.cb({ name })).then((v) => {
            if (held.get(name) != r) return; // stolen meanwhile
            held.delete(name);
            r.resolve(v);
            next(name);
        });
    };
    const next = (name) => {
        const q = queues.get(name) || [];
        // granted in a later task, as browsers do (never inside request())
        if (!held.has(name) && q.length) setTimeout(() => !held.has(name) && q.length && run(name, q.shift()));
    };
    return {
        request: (name, opts, cb) =>
            new Promise((resolve, reject) => {
                const r = { cb, resolve, reject };
                if (opts.steal) {
                    held.get(name)?.reject(abortError());
                    held.delete(name);
                    return setTimeout(() => run(name, r));
                }
                const q = queues.get(name) || [];
                queues.set(name, q);
                // ifAvailable: granted only when free and nobody waits, else the callback gets null
                if (opts.ifAvailable && (held.has(name) || q.length)) return setTimeout(() => Promise.resolve(cb(null)).then(resolve, reject));
                opts.signal?.addEventListener('abort', () => q.includes(r) && (q.splice(q.indexOf(r), 1), reject(abortError())));
                q.push(r);
                next(name);
            }),
    };
}

/** Run a test's tabs (in one process) with Web Locks faked; the instances it puts in `all`
 *  are closed after it, whatever happens. */
async function withLocks(body) {
    globalThis.navigator = { locks: fakeLocks() };
    const rig = { WS: fakeWebSocket(), fetch: fakeFetch(), all: [] };
    try {
        await body(rig);
    } finally {
        for (const l of rig.all) l.close();
        delete globalThis.navigator;
    }
}

/** A tab's instances of `streams` (one endpoint), each with the messages it got and the
 *  tab's I/O. */
function streamsOfATab({ WS, fetch, all }, ...streams) {
    const io = tabIo(WS, fetch);
    return streams.map((stream) => {
        const l = new Lifeline(`http://example.test/live/${stream}`, io),
            got = [];
        l.addEventListener('message', (e) => got.push(e.data));
        all.push(l);
        return { l, got, io };
    });
}

/** A tab's I/O: its own clock, storage, document and window; the page's socket and fetch. */
function tabIo(WebSocket, fetch) {
    const clock = fakeClock(),
        storage = new Map();
    return {
        WebSocket,
        fetch,
        now: clock.now,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
        seed: 1,
        document: fakeDocument(),
        window: fakeWindow(),
        storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v), removeItem: (k) => storage.delete(k) },
    };
}

async function until(f, what) {
    for (let i = 0; i < 2000; i++) {
        if (f()) return;
        await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error('timed out waiting for ' + what);
}

test('with Web Locks (faked) and BroadcastChannel: one leader, followers get every message, their sends go through the leader, a closed leader is replaced from the cursor', () =>
    withLocks(async ({ WS, fetch, all }) => {
        const tab = () => {
            const l = new Lifeline('http://example.test/live/shared', tabIo(WS, fetch));
            const got = [];
            l.addEventListener('message', (e) => got.push(e.data.n));
            all.push(l);
            return [l, got];
        };
        const [a, gotA] = tab(),
            [b, gotB] = tab(),
            [c, gotC] = tab();
        // a leads from its first task (its early lock); its group is up once the others answered its heartbeat
        await until(() => a.role == 'leader' && a.stats.tabs == 3, 'a leads a group of three');
        assert.deepEqual([b.role, c.role], ['follower', 'follower']);
        assert.equal(WS.all.length, 1, 'one WebSocket for three tabs');
        const ws = WS.all[0];
        ws.open();
        ws.frame({ type: 'hello', cursor: '5', heartbeat: 25000 });
        for (const n of [6, 7]) ws.frame({ type: 'msg', cursor: String(n), data: { n } });
        await until(() => gotB.length == 2 && gotC.length == 2, 'the followers get both');
        assert.deepEqual(
            [gotA, gotB, gotC],
            [
                [6, 7],
                [6, 7],
                [6, 7],
            ],
        );
        await until(() => b.state == 'open' && b.transport == 'websocket', "b shows the leader's state");
        await until(() => b.stats.tabs == 3, 'three tabs counted');

        // b's send goes out on a's socket, with an id of a's term (0: a led from its first
        // task, before its group's module loaded; a later leader's term is 1 or more); the ack
        // comes back to b
        let acked = false;
        b.send({ hi: 1 }).then(() => (acked = true));
        await until(() => ws.sent.some((f) => f.includes('"hi":1')), "b's send on a's socket");
        const id = JSON.parse(ws.sent.find((f) => f.includes('"hi":1'))).id;
        assert.ok(id > 0 && id < 2 ** 20, `an id of a's term: ${id}`);
        ws.frame({ type: 'ack', id });
        await until(() => acked, 'b acked');

        // a closes: the next tab leads, from its own cursor
        a.close();
        await until(() => b.role == 'leader' || c.role == 'leader', 'a new leader');
        await until(() => WS.all.length == 2, 'its WebSocket');
        assert.match(WS.all[1].url, /cursor=7&beat=1$/);
        assert.equal(ws.closed, 1000, "a's socket closed");
    }));

test('tab sharing composes with multiplexing: three tabs of a page following two streams hold one WebSocket; every tab gets both streams', () =>
    withLocks(async ({ WS, fetch, all }) => {
        const tab = () => streamsOfATab({ WS, fetch, all }, 'x', 'y');
        const tabs = [tab(), tab(), tab()];
        await until(() => tabs[0].every((i) => i.l.role == 'leader' && i.l.stats.tabs == 3), 'the first tab leads both groups of three');
        assert.equal(WS.all.length, 1, 'one WebSocket for 3 tabs × 2 streams');
        const ws = WS.all[0];
        ws.open();
        ws.frame({ type: 'hello', v: 2, heartbeat: 25000, beat: 25000 });
        assert.deepEqual(JSON.parse(ws.last), { type: 'sub', subs: [[2, 'y', null]] });
        ws.frame({ type: 'subd', s: 1, cursor: '5' });
        ws.frame({ type: 'subd', s: 2, cursor: '50' });
        ws.frame({ type: 'msg', s: 1, cursor: '6', data: 'x6' });
        ws.frame({ type: 'msg', s: 2, cursor: '51', data: 'y51' });
        await until(() => tabs.every(([x, y]) => x.got.length == 1 && y.got.length == 1), 'every tab got both');
        for (const [x, y] of tabs) assert.deepEqual([x.got, y.got], [['x6'], ['y51']]);
        assert.equal(WS.all.length, 1, 'still one WebSocket');
    }));

test("a stream only a follower tab follows rides on the leader tab's connection; the tab that hosts closing, the other takes both streams over from their cursors", () =>
    withLocks(async ({ WS, fetch, all }) => {
        const tab = (...streams) => streamsOfATab({ WS, fetch, all }, ...streams);
        const [ax] = tab('x');
        await until(() => WS.all.length == 1, "the first tab's socket");
        const ws = WS.all[0];
        ws.open();
        ws.frame({ type: 'hello', v: 2, heartbeat: 25000, beat: 25000 });
        ws.frame({ type: 'subd', s: 1, cursor: '5' });
        const [bx, by] = tab('x', 'y');
        await until(() => ws.sent.some((f) => f.includes('"y"')), "the second tab's y subscribed on the first tab's socket");
        assert.deepEqual(JSON.parse(ws.sent.find((f) => f.includes('"y"'))), { type: 'sub', subs: [[2, 'y', null]] });
        assert.equal(bx.l.role, 'follower');
        assert.equal(by.l.role, 'leader', "the second tab leads y, on the first tab's connection");
        await until(() => ax.l.stats.tabs == 2 && bx.l.stats.tabs == 2, 'both tabs in the group of x');
        ws.frame({ type: 'subd', s: 2, cursor: '50' });
        ws.frame({ type: 'msg', s: 1, cursor: '6', data: 'x6' });
        ws.frame({ type: 'msg', s: 2, cursor: '51', data: 'y51' });
        // (the follower of x may be behind its leader's cursor: it catches up by polling x)
        const catchUps = () => {
            for (const r of fetch.open()) {
                const after = /\/live\/x\?cursor=(\d+)$/.exec(r.url)?.[1];
                if (after) r.reply(200, {}, JSON.stringify({ cursor: '6', messages: +after < 6 ? [{ cursor: '6', data: 'x6' }] : [] }));
            }
            return true;
        };
        await until(() => catchUps() && bx.got.length == 1 && by.got.length == 1, 'the second tab gets both');
        assert.deepEqual([ax.got, bx.got, by.got], [['x6'], ['x6'], ['y51']]);
        await until(() => by.l.state == 'open', "y shows the host's state");

        // y's send goes out on the first tab's socket, named for y's subscription; acked back
        let acked = false;
        by.l.send({ hi: 1 }).then(() => (acked = true));
        await until(() => ws.sent.some((f) => f.includes('"hi":1')), "y's send on the first tab's socket");
        const send = JSON.parse(ws.sent.find((f) => f.includes('"hi":1')));
        assert.equal(send.s, 2);
        ws.frame({ type: 'ack', s: 2, id: send.id });
        await until(() => acked, "y's send acked");
        assert.equal(WS.all.length, 1, 'one WebSocket for both tabs and both streams');

        // the first tab closes: the second leads x too and hosts both, one socket, from their cursors
        ax.l.close();
        await until(() => WS.all.length == 2, 'the second tab opens its socket');
        await until(() => bx.l.role == 'leader', 'the second tab leads x');
        const ws2 = WS.all[1];
        assert.equal(ws.closed, 1000, "the first tab's socket closed");
        ws2.open();
        ws2.frame({ type: 'hello', v: 2, heartbeat: 25000, beat: 25000 });
        await until(() => ws2.sent.some((f) => f.includes('"sub"')), 'the other stream subscribed');
        // the socket's URL names one stream from its cursor, the sub frame the other
        const subs = ws2.sent.filter((f) => f.includes('"sub"')).join(' ');
        assert.ok(
            (ws2.url.includes('/live/x?cursor=6') && subs.includes(',"y","51"]')) || (ws2.url.includes('/live/y?cursor=51') && subs.includes(',"x","6"]')),
            `both streams from their cursors: ${ws2.url} ${subs}`,
        );
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(WS.all.length, 2, 'still one socket at a time');
    }));

test('a visible tab does not ride on a hidden host: once the host tab is hidden, the rider opens a connection of its own from its cursor', () =>
    withLocks(async ({ WS, fetch, all }) => {
        const [ax] = streamsOfATab({ WS, fetch, all }, 'x');
        await until(() => WS.all.length == 1, "the first tab's socket");
        const ws = WS.all[0];
        ws.open();
        ws.frame({ type: 'hello', v: 2, heartbeat: 25000, beat: 25000 });
        ws.frame({ type: 'subd', s: 1, cursor: '5' });
        const [by] = streamsOfATab({ WS, fetch, all }, 'y');
        await until(() => ws.sent.some((f) => f.includes('"y"')), "the second tab's y on the first tab's socket");
        ws.frame({ type: 'subd', s: 2, cursor: '50' });
        ws.frame({ type: 'msg', s: 2, cursor: '51', data: 'y51' });
        await until(() => by.got.length == 1, 'y51 through the first tab');
        assert.equal(WS.all.length, 1);
        // the host's tab is hidden: its next beat says so, and the visible rider runs y itself
        ax.io.document.set('hidden');
        await until(() => WS.all.some((w) => w.url.includes('/live/y?cursor=51')), 'y on a socket of its own, from its cursor');
    }));

// The Node library's and demo server's own parts, beyond the shared protocol suite: the
// memory store and its cursor rules, the Store base class, sessions, static files, origin checks, decisions the README leaves
// open (listed at the top of server/node/transports/http.mjs and websocket.mjs), the in-process API and
// the CLI contract.
//
//   node --test tests/conformance/

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { MemoryStore, Store } from '../../server/node/index.mjs';
import { Sessions } from '../../server/node/session.mjs';
import { parseCursor, compareCursors } from '../../server/node/cursor.mjs';
import { createServer } from '../../demo/server.mjs';
import { isLoopback } from '../../demo/admin.mjs';
import { startServer, connectWs, fetchT, admin, publish, until } from '../lib/servers.mjs';
import { DEFAULTS } from './matrix.mjs';

// ------------------------------------------------------------------ store

describe('MemoryStore', () => {
    let t = 1000;
    const now = () => t;
    beforeEach(() => {
        t = 1000;
    });
    const datas = (r) => r.messages.map((m) => JSON.parse(m.json));
    const add = (s, stream, d) => s.append(stream, JSON.stringify(d));

    it('parses and orders cursors as (u64, u64) pairs', () => {
        assert.deepEqual(parseCursor('7'), [7n, 0n]);
        assert.deepEqual(parseCursor('7-3'), [7n, 3n]);
        assert.deepEqual(parseCursor('18446744073709551615-18446744073709551615'), [2n ** 64n - 1n, 2n ** 64n - 1n]);
        for (const bad of ['', '-', 'a', '1-', '-1', '1-2-3', '18446744073709551616', '1-18446744073709551616', '1.0', ' 1', undefined, 5]) {
            assert.equal(parseCursor(bad), null, String(bad));
        }
        assert.equal(compareCursors(parseCursor('7'), parseCursor('7-0')), 0);
        assert.equal(compareCursors(parseCursor('7-10'), parseCursor('7-9')), 1);
        assert.equal(compareCursors(parseCursor('6-99'), parseCursor('7')), -1);
        assert.equal(compareCursors(parseCursor('10-0'), parseCursor('9-0')), 1); // numeric, not string order
    });

    it('writes <epoch>-<offset> cursors per stream; an empty stream is <epoch>-0', () => {
        const s = new MemoryStore({ now });
        assert.equal(s.head('a'), '1000-0');
        assert.equal(add(s, 'a', 'x'), '1000-1');
        assert.equal(add(s, 'a', 'y'), '1000-2');
        assert.equal(add(s, 'b', 'z'), '1000-1', 'offsets count per stream');
        assert.equal(s.head('a'), '1000-2');
        assert.equal(s.head('b'), '1000-1');
        assert.deepEqual(datas(s.read('b', '0')), ['z']);
    });

    it('read: from now, 0, resume, limit', () => {
        const s = new MemoryStore({ now });
        for (const d of ['a', 'b', 'c']) add(s, 'x', d);
        assert.deepEqual(s.read('x', undefined), { messages: [], cursor: '1000-3', reset: false });
        assert.deepEqual(datas(s.read('x', '0')), ['a', 'b', 'c']);
        assert.equal(s.read('x', '0-0').messages.length, 3);
        assert.deepEqual(s.read('x', '1000-1'), {
            messages: [
                { cursor: '1000-2', json: '"b"' },
                { cursor: '1000-3', json: '"c"' },
            ],
            cursor: '1000-3',
            reset: false,
        });
        assert.deepEqual(s.read('x', '1000-3'), { messages: [], cursor: '1000-3', reset: false });
        assert.deepEqual(s.read('x', '0', 2).cursor, '1000-2');
        assert.deepEqual(datas(s.read('x', '0', 2)), ['a', 'b']);
        assert.deepEqual(s.read('x', '1000'), s.read('x', '0')); // 1000 is 1000-0
    });

    it('retention: older than oldest−1 resets to head; oldest−1 resumes; 0 gets the rest', () => {
        const s = new MemoryStore({ now, retention: 3 });
        for (let i = 1; i <= 6; i++) add(s, 'x', i);
        assert.deepEqual(s.read('x', '1000-2'), { messages: [], cursor: '1000-6', reset: true });
        assert.deepEqual(datas(s.read('x', '1000-3')), [4, 5, 6]);
        assert.deepEqual(datas(s.read('x', '0')), [4, 5, 6]);
        assert.deepEqual(s.read('x', '5'), { messages: [], cursor: '1000-6', reset: true }); // 5-0: another epoch
        s.retention = 1;
        assert.deepEqual(s.read('x', '1000-4'), { messages: [], cursor: '1000-6', reset: true });
        assert.deepEqual(datas(s.read('x', '1000-5')), [6]);
    });

    it('retentionMs: messages older than that are dropped; a cursor before them resets', () => {
        const s = new MemoryStore({ now, retentionMs: 100 });
        add(s, 'x', 1);
        t = 1050;
        add(s, 'x', 2);
        t = 1120; // message 1 is 120 ms old
        assert.deepEqual(datas(s.read('x', '0')), [2]);
        assert.deepEqual(s.read('x', '1000-0'), { messages: [], cursor: '1000-2', reset: true });
        assert.deepEqual(datas(s.read('x', '1000-1')), [2]);
        t = 1200;
        assert.deepEqual(s.read('x', '1000-1'), { messages: [], cursor: '1000-2', reset: true });
        assert.deepEqual(s.read('x', '1000-2'), { messages: [], cursor: '1000-2', reset: false });
    });

    it('ahead of head and other epochs reset; clear() gets a newer epoch even in the same ms', () => {
        const s = new MemoryStore({ now });
        add(s, 'x', 'x');
        assert.deepEqual(s.read('x', '1000-2'), { messages: [], cursor: '1000-1', reset: true });
        assert.deepEqual(s.read('x', '999-5'), { messages: [], cursor: '1000-1', reset: true });
        assert.deepEqual(s.read('x', '1001-0'), { messages: [], cursor: '1000-1', reset: true });
        s.clear(); // same clock value
        assert.equal(s.head('x'), '1001-0');
        assert.deepEqual(s.read('x', '1000-1'), { messages: [], cursor: '1001-0', reset: true });
        assert.deepEqual(s.read('x', '1001-0'), { messages: [], cursor: '1001-0', reset: false });
        t = 5000;
        s.clear();
        assert.equal(s.head('x'), '5000-0');
    });

    it('subscribe / unsubscribe per stream; a throwing subscriber does not break append', async () => {
        const s = new MemoryStore({ now });
        let woken = 0;
        let other = 0;
        s.subscribe('x', () => {
            throw new Error('boom');
        });
        const off = s.subscribe('x', () => woken++);
        s.subscribe('y', () => other++);
        add(s, 'x', 1);
        off();
        add(s, 'x', 2);
        assert.equal(woken, 1);
        assert.equal(other, 0);
        const w = s.wait('x', s.head('x'), 5000);
        add(s, 'x', 3);
        assert.equal(await w, true);
        assert.equal(await s.wait('x', s.head('x'), 20), false);
    });

    it('rejects bad input', () => {
        assert.throws(() => new MemoryStore({ retention: 0 }));
        assert.throws(() => new MemoryStore().read('x', 'nope'));
    });
});

describe('Store (the base every store extends)', () => {
    it('a store that gives append, read, head and subscribe inherits wait (true on news, false at the timeout), health, clear', async () => {
        class Wrapped extends Store {
            inner = new MemoryStore();
            append = (stream, json) => this.inner.append(stream, json);
            read = (stream, c, l) => this.inner.read(stream, c, l);
            head = (stream) => this.inner.head(stream);
            subscribe = (stream, fn) => this.inner.subscribe(stream, fn);
        }
        const s = new Wrapped();
        const w = s.wait('x', s.head('x'), 5000);
        s.append('x', '1');
        assert.equal(await w, true);
        assert.equal(await s.wait('x', s.head('x'), 20), false);
        assert.equal(await s.wait('x', '0', 5000), true, 'a message after the cursor exists already');
        assert.deepEqual(s.health(), { ok: true, store: 'custom' });
        assert.equal(s.clear(), undefined);
        assert.throws(() => new Store().append('x', '1'), /no append/);
        assert.throws(() => new Store({ retention: 0 }), RangeError);
        assert.ok(new MemoryStore() instanceof Store);
    });
});

describe('Session and Sessions', () => {
    const req = (user) => ({ headers: { 'x-user': user } });
    function open(sessions, store, kind, stream, user, cursor) {
        const log = [];
        const session = sessions.open({
            store,
            stream,
            req: req(user),
            kind,
            cursor,
            revoke: (message) => (log.push(['revoke', message]), session.end()),
            close: () => (log.push(['close']), session.end()),
        });
        return { session, log };
    }

    it('reads after its cursor: messages and resets move it, nothing new does not, none takes the head', async () => {
        const store = new MemoryStore({ retention: 2 });
        const sessions = new Sessions();
        const a = open(sessions, store, 'long_poll', 'x', 'a', '0').session;
        assert.deepEqual(await a.read(10), { messages: [], cursor: `${store.epoch}-0`, reset: false });
        assert.equal(a.cursor, '0', 'nothing new: 0 stays everything retained');
        const c1 = store.append('x', '1');
        assert.deepEqual(await a.read(10), { messages: [{ cursor: c1, json: '1' }], cursor: c1, reset: false });
        assert.equal(a.cursor, c1);
        const now = open(sessions, store, 'websocket', 'x', 'a').session;
        await now.read(10);
        assert.equal(now.cursor, c1, 'from now: the head');
        for (const d of ['2', '3', '4']) store.append('x', d);
        const r = await a.read(10);
        assert.equal(r.reset, true);
        assert.equal(a.cursor, store.head('x'), 'a reset moves to the head');
    });

    it('follow: subscribed first, one step at a time, once more when woken meanwhile; end releases it', async () => {
        const store = new MemoryStore();
        const sessions = new Sessions();
        const { session } = open(sessions, store, 'websocket', 'x', 'a', '0');
        let steps = 0;
        let release;
        const gate = new Promise((r) => (release = r));
        const reader = session.follow(
            async () => {
                steps++;
                await gate;
            },
            { failed: (err) => assert.fail(err) },
        );
        store.append('x', '1');
        store.append('x', '2'); // while the first step runs
        store.append('x', '3');
        assert.equal(steps, 1);
        release();
        await until(() => steps === 2);
        await new Promise((r) => setTimeout(r, 10));
        assert.equal(steps, 2, 'three wake-ups during one step: one more step');
        session.end();
        store.append('x', '4');
        await reader.wake();
        assert.equal(steps, 2, 'ended: no step');
    });

    it('the registry counts by kind; disconnect revokes by stream and request; close drops every one', () => {
        const store = new MemoryStore();
        const sessions = new Sessions();
        const ws1 = open(sessions, store, 'websocket', 'x', 'a');
        const ws2 = open(sessions, store, 'websocket', 'y', 'b');
        const lp = open(sessions, store, 'long_poll', 'x', 'b');
        assert.equal(sessions.count(), 3);
        assert.equal(sessions.count('websocket'), 2);
        assert.equal(sessions.count('long_poll'), 1);
        assert.equal(
            sessions.disconnect('x', (r) => r.headers['x-user'] === 'b', 'gone'),
            1,
        );
        assert.deepEqual(lp.log, [['revoke', 'gone']]);
        assert.equal(sessions.count('long_poll'), 0);
        assert.equal(sessions.disconnect('z', undefined, 'gone'), 0);
        assert.equal(sessions.disconnect(null, undefined, 'all'), 2);
        assert.deepEqual(ws1.log, [['revoke', 'all']]);
        const again = open(sessions, store, 'websocket', 'x', 'a');
        sessions.close();
        assert.deepEqual(again.log, [['close']]);
        assert.equal(sessions.count(), 0);
        assert.equal(ws2.session.ended, true);
    });
});

it('isLoopback', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
    for (const a of ['10.0.0.1', '192.168.1.1', '::ffff:10.0.0.1', '::', '0.0.0.0', '', undefined, '1127.0.0.1']) {
        assert.ok(!isLoopback(a), String(a));
    }
});

// ------------------------------------------------------------------ in-process server

describe('node server (in process)', () => {
    let s;
    let dir;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-static-'));
        fs.mkdirSync(path.join(dir, 'public', 'sub'), { recursive: true });
        fs.mkdirSync(path.join(dir, 'dist'));
        fs.writeFileSync(path.join(dir, 'public', 'index.html'), '<!doctype html><title>demo</title>');
        fs.writeFileSync(path.join(dir, 'public', 'sub', 'app.js'), 'export {};');
        fs.writeFileSync(path.join(dir, 'dist', 'lifeline.mjs'), 'export default 1;');
        fs.writeFileSync(path.join(dir, 'dist', 'lifeline.js'), 'var x;');
        fs.writeFileSync(path.join(dir, 'dist', 'lifeline.d.ts'), 'export {};');
        fs.writeFileSync(path.join(dir, 'dist', 'lifeline.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
        fs.writeFileSync(path.join(dir, 'secret.txt'), 'do not serve');
        s = await createServer({
            port: 0,
            publicDir: path.join(dir, 'public'),
            distDir: path.join(dir, 'dist'),
            origins: ['http://a.test'],
        });
    });
    after(async () => {
        await s?.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(async () => {
        s.setFault('none');
        s.configure(DEFAULTS);
        await s.restart();
    });

    it('exposes url, store, publish, restart, stats', async () => {
        assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
        const cursor = await s.publish('test', 'x');
        assert.equal(s.store.head('test'), cursor);
        const r = await fetchT(`${s.url}/live/test?cursor=0`);
        assert.equal((await r.json()).messages[0].data, 'x');
        assert.equal(s.stats.poll, s.stats.poll); // a snapshot object
        assert.equal(typeof s.stats.wsOpen, 'number');
    });

    const get = async (p, init) => {
        const r = await fetchT(`${s.url}${p}`, init);
        return { status: r.status, type: r.headers.get('content-type'), headers: r.headers, text: await r.text() };
    };

    it('static files with content types; / is index.html', async () => {
        const idx = await get('/');
        assert.equal(idx.status, 200);
        assert.match(idx.type, /^text\/html/);
        assert.match(idx.text, /demo/);
        assert.match((await get('/sub/app.js')).type, /^text\/javascript/);
        assert.match((await get('/dist/lifeline.mjs')).type, /^text\/javascript/);
        assert.match((await get('/dist/lifeline.js')).type, /^text\/javascript/);
        assert.equal((await get('/dist/lifeline.wasm')).type, 'application/wasm');
        assert.equal((await get('/dist/lifeline.d.ts')).status, 200);
        const head = await get('/dist/lifeline.mjs', { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.text, '');
    });

    it('no directory traversal; missing files are JSON 404s', async () => {
        for (const p of [
            '/../secret.txt',
            '/%2e%2e/secret.txt',
            '/dist/../../secret.txt',
            '/dist/%2e%2e/secret.txt',
            '/sub/..%2f..%2fsecret.txt',
            '/%00',
            '/nope.html',
            '/sub',
        ]) {
            const r = await get(p);
            assert.ok(r.status === 404 || r.status === 400, `${p} → ${r.status}`);
            assert.doesNotMatch(r.text, /do not serve/);
            assert.ok(JSON.parse(r.text).error, p);
        }
        // Raw request line, so no client normalises the path first.
        const raw = await new Promise((resolve, reject) => {
            const sock = net.connect(new URL(s.url).port, '127.0.0.1');
            let buf = '';
            sock.on('data', (d) => (buf += d));
            sock.on('end', () => resolve(buf));
            sock.on('error', reject);
            sock.write('GET /../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        });
        assert.match(raw, /^HTTP\/1\.1 404/);
        assert.doesNotMatch(raw, /do not serve/);
        assert.equal((await get('/x', { method: 'DELETE' })).status, 405);
    });

    it('a missing public directory is a 404, not a crash', async () => {
        const s2 = await createServer({ port: 0, publicDir: path.join(dir, 'nope'), distDir: path.join(dir, 'nope2') });
        try {
            assert.equal((await fetchT(`${s2.url}/`)).status, 404);
            assert.equal((await fetchT(`${s2.url}/dist/lifeline.mjs`)).status, 404);
        } finally {
            await s2.close();
        }
    });

    it('origin list: a WebSocket from another origin is refused 403; listed or absent Origin is accepted', async () => {
        await assert.rejects(connectWs(s.url, { headers: { Origin: 'http://evil.test' } }), (e) => e.status === 403);
        const ok = await connectWs(s.url, { headers: { Origin: 'http://a.test' } });
        assert.equal((await ok.next()).type, 'hello');
        await ok.close();
        const none = await connectWs(s.url);
        assert.equal((await none.next()).type, 'hello');
        await none.close();
    });

    it('preflight from a disallowed origin gets no allow headers', async () => {
        const r = await get('/live/test', {
            method: 'OPTIONS',
            headers: { Origin: 'http://evil.test', 'Access-Control-Request-Method': 'POST' },
        });
        assert.equal(r.headers.get('access-control-allow-origin'), null);
        assert.equal(r.headers.get('access-control-allow-methods'), null);
    });

    it('a bad cursor on the WebSocket: error bad_request, close 1008', async () => {
        const ws = await connectWs(s.url, { cursor: 'nope' });
        const f = await ws.next();
        assert.equal(f.type, 'error');
        assert.equal(f.code, 'bad_request');
        assert.equal((await ws.waitClose()).code, 1008);
    });

    it('binary frames are bad_frame + close 1003; frames over 64 KiB are too_large + close 1009', async () => {
        const ws = await connectWs(s.url);
        await ws.next();
        ws.sendRaw(Buffer.from([1, 2, 3]), { binary: true });
        assert.equal((await ws.next()).code, 'bad_frame');
        assert.equal((await ws.waitClose()).code, 1003);
        const big = await connectWs(s.url);
        await big.next();
        big.send({ type: 'send', id: 1, data: 'x'.repeat(70 * 1024) });
        assert.equal((await big.next()).code, 'too_large');
        assert.equal((await big.waitClose()).code, 1009);
    });

    it('send: a non-integer id is bad_frame; missing data is null', async () => {
        const ws = await connectWs(s.url);
        await ws.next();
        ws.send({ type: 'send', id: 3 });
        const got = [await ws.next(), await ws.next()];
        assert.deepEqual(
            got.find((f) => f.type === 'ack'),
            { type: 'ack', id: 3 },
        );
        assert.equal(got.find((f) => f.type === 'msg').data, null);
        ws.send({ type: 'send', id: 'x', data: 1 });
        assert.equal((await ws.next()).code, 'bad_frame');
        await ws.waitClose();
        const r = await fetchT(`${s.url}/live/test`, { method: 'POST', body: '{"id":1.5,"data":1}' });
        assert.equal(r.status, 400);
    });

    it('HEAD poll: status and headers, no body; no cursor with wait answers at once', async () => {
        const r = await get('/live/test?cursor=0', { method: 'HEAD' });
        assert.equal(r.status, 204);
        const t0 = Date.now();
        const r2 = await get('/live/test?wait=5000');
        assert.equal(r2.status, 200);
        assert.ok(Date.now() - t0 < 2000);
    });

    it('an aborted long poll leaves nothing held', async () => {
        const ac = new AbortController();
        const p = fetchT(`${s.url}/live/test?cursor=${s.store.head('test')}&wait=20000`, { signal: ac.signal }).catch((e) => e);
        await until(() => s.stats.held === 1, { what: 'poll held' });
        ac.abort();
        await p;
        await until(() => s.stats.held === 0, { what: 'poll released' });
    });

    it('long polls are woken by WebSocket sends too', async () => {
        const c = s.store.head('test');
        const p = fetchT(`${s.url}/live/test?cursor=${c}&wait=5000`).then((r) => r.json());
        await until(() => s.stats.held === 1, { what: 'poll held' });
        const ws = await connectWs(s.url);
        await ws.next();
        ws.send({ type: 'send', id: 1, data: 'via ws' });
        const body = await p;
        assert.deepEqual(
            body.messages.map((m) => m.data),
            ['via ws'],
        );
        await ws.close();
    });

    it('admin refuses a cross-origin browser request', async () => {
        const r = await get('/admin/stats', { headers: { Origin: 'http://evil.test' } });
        assert.equal(r.status, 403);
        assert.equal(JSON.parse(r.text).error, 'forbidden');
        const same = await get('/admin/stats', { headers: { Origin: s.url } });
        assert.equal(same.status, 200);
    });

    it('admin: bad input is a JSON 400/404/405, never a crash', async () => {
        const post = (p, body) => get(p, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
        assert.equal((await post('/admin/fault', '{"mode":"explode"}')).status, 400);
        assert.equal((await post('/admin/fault', '{"mode":"slow","ms":-1}')).status, 400);
        assert.equal((await post('/admin/config', '{"retention":0}')).status, 400);
        assert.equal((await post('/admin/config', '{"shed":{"status":500}}')).status, 400);
        assert.equal((await post('/admin/config', '{"batch":"many"}')).status, 400);
        assert.equal((await post('/admin/config', '{"bogus":1}')).status, 400);
        assert.equal((await post('/admin/publish', 'not json')).status, 400);
        assert.equal((await post('/admin/publish', '[1]')).status, 400);
        assert.equal((await post('/admin/nope', '{}')).status, 404);
        assert.equal((await get('/admin/restart')).status, 405);
        assert.equal((await get('/live/test?cursor=0')).status, 204); // still alive
    });

    it('blackholed sockets are destroyed on restart', async () => {
        s.setFault('blackhole');
        const sock = net.connect(new URL(s.url).port, '127.0.0.1');
        await new Promise((r) => sock.once('connect', r));
        const closed = new Promise((r) => sock.once('close', r));
        sock.on('error', () => {});
        sock.write(
            'GET /live/test HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
        let got = '';
        sock.on('data', (d) => (got += d));
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(got, '', 'never answered');
        await s.restart();
        await closed;
    });

    it('shedding refuses the upgrade with the status and Retry-After', async () => {
        s.configure({ shed: { status: 503, retryAfter: '3' } });
        await assert.rejects(connectWs(s.url), (e) => e.status === 503 && e.headers['retry-after'] === '3');
    });

    it('malformed HTTP does not crash the server', async () => {
        const raw = await new Promise((resolve) => {
            const sock = net.connect(new URL(s.url).port, '127.0.0.1');
            let buf = '';
            sock.on('data', (d) => (buf += d));
            sock.on('close', () => resolve(buf));
            sock.on('error', () => resolve(buf));
            sock.write('NOT HTTP AT ALL\r\n\r\n');
        });
        assert.match(raw, /^HTTP\/1\.1 400/);
        assert.equal((await get('/live/test')).status, 200);
    });
});

// ------------------------------------------------------------------ async store

/** The in-memory store behind promises, with a hop through the event loop on every call. */
class AsyncStore {
    constructor() {
        this.inner = new MemoryStore();
    }
    set retention(n) {
        this.inner.retention = n;
    }
    #later(fn) {
        return new Promise((r) => setImmediate(() => r(fn())));
    }
    append(stream, json) {
        return this.#later(() => this.inner.append(stream, json));
    }
    read(stream, c, l) {
        return this.#later(() => this.inner.read(stream, c, l));
    }
    head(stream) {
        return this.#later(() => this.inner.head(stream));
    }
    subscribe(stream, fn) {
        return this.inner.subscribe(stream, fn);
    }
    clear() {
        return this.inner.clear();
    }
}

describe('node server over an async store', () => {
    let s;
    before(async () => {
        s = await createServer({ port: 0, store: new AsyncStore() });
    });
    after(() => s?.close());

    it('WebSocket: no message lost or repeated while the backlog is read', async () => {
        for (let i = 0; i < 20; i++) await s.publish('test', i);
        const pub = (async () => {
            for (let i = 20; i < 40; i++) await s.publish('test', i);
        })();
        const ws = await connectWs(s.url, { cursor: '0' });
        await pub;
        assert.equal((await ws.next()).type, 'hello');
        const got = [];
        while (got.length < 40) got.push((await ws.next()).data);
        assert.deepEqual(got, [...Array(40).keys()]);
        assert.ok((await ws.silentFor(100)).silent);
        ws.send({ type: 'ping' });
        ws.send({ type: 'send', id: 9, data: 'x' });
        const rest = [await ws.next(), await ws.next(), await ws.next()];
        assert.deepEqual(rest[0], { type: 'pong' });
        assert.ok(rest.some((f) => f.type === 'ack' && f.id === 9));
        await ws.close();
    });

    it('polls and long polls', async () => {
        const c = await s.store.head('test');
        const p = fetchT(`${s.url}/live/test?cursor=${c}&wait=3000`);
        await new Promise((r) => setTimeout(r, 100));
        await s.publish('test', 'late');
        const body = await (await p).json();
        assert.deepEqual(
            body.messages.map((m) => m.data),
            ['late'],
        );
    });
});

// ------------------------------------------------------------------ CLI

describe('CLI', () => {
    it('prints exactly one LISTENING line, honours flags, stops on SIGTERM', async () => {
        const srv = await startServer('node', ['--heartbeat', '1234', '--retention', '2', '--long-poll-max', '777']);
        try {
            assert.match(srv.output(), /^LISTENING http:\/\/127\.0\.0\.1:\d+\n$/);
            const r = await fetchT(`${srv.url}/live/test`);
            assert.equal(r.headers.get('lifeline-long-poll'), '777');
            const cfg = await admin(srv.url, '/admin/config');
            assert.equal(cfg.heartbeat, 1234);
            assert.equal(cfg.retention, 2);
            const c1 = await publish(srv.url, 1);
            await publish(srv.url, 2);
            await publish(srv.url, 3);
            assert.equal((await fetchT(`${srv.url}/live/test?cursor=${c1}`)).status, 200); // oldest−1
            await publish(srv.url, 4);
            assert.equal((await fetchT(`${srv.url}/live/test?cursor=${c1}`)).status, 410);
        } finally {
            await srv.stop();
        }
        assert.ok(srv.proc.exitCode !== null || srv.proc.signalCode !== null);
    });

    it('a bad flag exits non-zero before listening', async () => {
        await assert.rejects(startServer('node', ['--bogus', '1'], { timeoutMs: 5000 }), /exited/);
    });
});

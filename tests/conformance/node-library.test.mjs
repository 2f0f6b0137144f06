// lifeline-live/server as an application mounts it (server/node/): on node:http beside other
// routes, as Connect/Express-style middleware, with hooks returning promises, and its
// options checked at construction. In process, no demo layer.
//
//   node --test tests/conformance/node-library.test.mjs

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createLifeline, Rejected, MemoryStore } from '../../server/node/index.mjs';
import { parseOrigins } from '../../server/node/origin.mjs';
import { connectWs, fetchT } from '../lib/servers.mjs';
import { SUBPROTOCOL, SUBPROTOCOL_V2 } from '../../server/node/protocol.mjs';

/** Listen on a free loopback port; returns {url, close}. */
async function listen(server) {
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return {
        url: `http://127.0.0.1:${server.address().port}`,
        close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
    };
}

/** A node:http server with `live` mounted (requests and upgrades), listening on a free port;
 *  `cleanup` gets its closing and live's. */
async function serve(live, cleanup) {
    const server = http.createServer((req, res) => live.handle(req, res) || res.end());
    server.on('upgrade', (req, socket, head) => live.upgrade(req, socket, head) || socket.destroy());
    const s = await listen(server);
    cleanup.push(
        () => s.close(),
        () => live.close(),
    );
    return s;
}

/** Connect's dispatch, reduced: each layer is (req, res, next); an unanswered request is 404. */
function connectApp(...layers) {
    return (req, res) => {
        let i = 0;
        const next = (err) => {
            const layer = layers[i++];
            if (err || !layer) {
                res.writeHead(err ? 500 : 404);
                return res.end(err ? 'error' : 'app 404');
            }
            layer(req, res, next);
        };
        next();
    };
}

describe('mounting', () => {
    const cleanup = [];
    after(async () => {
        for (const f of cleanup.reverse()) await f();
    });

    it('on node:http: answers its prefix, passes everything else through, upgrades only its own', async () => {
        const live = createLifeline({ prefix: '/updates', onSend: (stream, data) => live.publish(stream, data) });
        const server = http.createServer((req, res) => live.handle(req, res) || res.end('app'));
        server.on('upgrade', (req, socket, head) => live.upgrade(req, socket, head) || socket.destroy());
        const s = await listen(server);
        cleanup.push(
            () => s.close(),
            () => live.close(),
        );
        assert.equal(await (await fetchT(`${s.url}/`)).text(), 'app');
        assert.equal(await (await fetchT(`${s.url}/live/x`)).text(), 'app', 'another prefix is not ours');
        assert.equal(await (await fetchT(`${s.url}/updatesx`)).text(), 'app');
        assert.equal((await fetchT(`${s.url}/updates`)).status, 404);
        const c = await live.publish('news', { n: 1 });
        const r = await (await fetchT(`${s.url}/updates/news?cursor=0`)).json();
        assert.deepEqual(r.messages, [{ cursor: c, data: { n: 1 } }]);
        const ws = await connectWs(`${s.url}/updates/news`, { cursor: '0' });
        try {
            assert.equal((await ws.next()).type, 'hello');
            assert.deepEqual((await ws.next()).data, { n: 1 });
        } finally {
            await ws.close();
        }
        await assert.rejects(connectWs(`${s.url}/live/news`, { timeoutMs: 2000 }), 'another prefix is not upgraded');
    });

    it('as Connect/Express middleware: `live.handle(req, res) || next()`, and mounted under a path (originalUrl)', async () => {
        const live = createLifeline({ onSend: async (stream, data) => void (await live.publish(stream, data)) });
        const app = connectApp(
            (req, res, next) => live.handle(req, res) || next(),
            (req, res, next) => (req.url === '/hello' ? res.end('hello from the app') : next()),
        );
        const s = await listen(http.createServer(app));
        cleanup.push(
            () => s.close(),
            () => live.close(),
        );
        assert.equal(await (await fetchT(`${s.url}/hello`)).text(), 'hello from the app');
        assert.equal((await fetchT(`${s.url}/nothing`)).status, 404);
        const p = await fetchT(`${s.url}/live/chat`, { method: 'POST', body: '{"id":1,"data":"hi"}' });
        assert.deepEqual(await p.json(), { ack: 1 });
        assert.equal((await (await fetchT(`${s.url}/live/chat?cursor=0`)).json()).messages[0].data, 'hi');
        // Express's app.use('/api', …) strips the mount path from req.url; originalUrl keeps it.
        const req = { url: '/live/chat?cursor=0', originalUrl: '/api/live/chat?cursor=0', method: 'GET', headers: {} };
        assert.equal(live.handle(req, {}), false, 'a URL outside the prefix, as the app sees it, is passed through');
    });

    it('hooks may return promises; a send is acked only after onSend resolved', async () => {
        const order = [];
        const live = createLifeline({
            authorize: async (stream, action) => (await new Promise((r) => setTimeout(r, 20)), !(stream === 'closed' && action === 'subscribe')),
            onSend: async (stream, data) => {
                await new Promise((r) => setTimeout(r, 50));
                if (data === 'bad') throw new Rejected('bad_data', 'no bad data', 422);
                order.push('stored');
            },
        });
        const s = await serve(live, cleanup);
        assert.equal((await fetchT(`${s.url}/live/closed`)).status, 403);
        const ok = await fetchT(`${s.url}/live/open`, { method: 'POST', body: '{"id":1,"data":"good"}' });
        order.push('acked');
        assert.equal(ok.status, 200);
        assert.deepEqual(order, ['stored', 'acked']);
        const bad = await fetchT(`${s.url}/live/open`, { method: 'POST', body: '{"id":2,"data":"bad"}' });
        assert.equal(bad.status, 422);
        assert.deepEqual(await bad.json(), { error: 'bad_data', message: 'no bad data' });
        const ws = await connectWs(`${s.url}/live/open`);
        try {
            assert.equal((await ws.next()).type, 'hello');
            ws.send({ type: 'send', id: 7, data: 'bad' });
            assert.deepEqual(await ws.next(), { type: 'ack', id: 7, error: 'bad_data', message: 'no bad data' });
        } finally {
            await ws.close();
        }
    });

    it('trustProxy: the own origin comes from X-Forwarded-Proto/-Host only when on', async () => {
        const lives = [createLifeline({ onSend() {} }), createLifeline({ onSend() {}, trustProxy: true })];
        const servers = await Promise.all(lives.map((live) => listen(http.createServer((req, res) => live.handle(req, res) || res.end()))));
        cleanup.push(...servers.map((s) => () => s.close()), ...lives.map((l) => () => l.close()));
        const send = (s) =>
            fetchT(`${s.url}/live/x`, {
                method: 'POST',
                body: '{"id":1,"data":1}',
                headers: { Origin: 'https://app.example', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'app.example' },
            });
        assert.equal((await send(servers[0])).status, 403);
        assert.equal((await send(servers[1])).status, 200);
    });

    it('a socket whose cursor falls out of retention after hello: error frame overflow, close 1013', async () => {
        // A store whose reads wait for a gate: the socket cannot read while the stream moves on.
        let gate = null;
        class GatedStore extends MemoryStore {
            async read(...a) {
                await gate;
                return super.read(...a);
            }
        }
        const live = createLifeline({ store: new GatedStore({ retention: 2 }) });
        const s = await serve(live, cleanup);
        const c0 = await live.publish('a', 0);
        const ws = await connectWs(`${s.url}/live/a`, { cursor: c0 });
        assert.equal((await ws.next()).type, 'hello');
        let open;
        gate = new Promise((r) => (open = r));
        for (let i = 1; i <= 5; i++) await live.publish('a', i);
        open();
        const f = await ws.next(3000);
        assert.deepEqual([f.type, f.code], ['error', 'overflow']);
        assert.equal((await ws.waitClose(3000)).code, 1013);
    });

    it('v2: a subscription whose cursor falls out of retention after its subd is told reset (with its id) and reads on; the socket and the others stay', async () => {
        let gate = null;
        class GatedStore extends MemoryStore {
            async read(stream, ...a) {
                if (stream === 'a') await gate;
                return super.read(stream, ...a);
            }
        }
        const live = createLifeline({ store: new GatedStore({ retention: 2 }) });
        const s = await serve(live, cleanup);
        const c0 = await live.publish('a', 0);
        const ws = await connectWs(`${s.url}/live/a`, { cursor: c0, protocols: [SUBPROTOCOL_V2, SUBPROTOCOL] });
        assert.equal((await ws.next()).type, 'hello');
        assert.equal((await ws.next()).type, 'subd');
        ws.send({ type: 'sub', subs: [[2, 'b', null]] });
        assert.equal((await ws.next()).type, 'subd');
        let open;
        gate = new Promise((r) => (open = r));
        for (let i = 1; i <= 5; i++) await live.publish('a', i);
        const b = await live.publish('b', 'b1');
        assert.deepEqual(await ws.next(3000), { type: 'msg', s: 2, cursor: b, data: 'b1' }, 'b is delivered while a waits');
        open();
        const head = await live.store.head('a');
        assert.deepEqual(await ws.next(3000), { type: 'reset', s: 1, cursor: head });
        const c6 = await live.publish('a', 6);
        assert.deepEqual(await ws.next(3000), { type: 'msg', s: 1, cursor: c6, data: 6 });
    });

    it('news during a socket read is read too: a message appended while the read before it was answered arrives', async () => {
        // A store whose reads answer what was there when asked, but only when a gate opens: the
        // second append lands while the socket's read of the first is on its way.
        let gate = null;
        class SlowStore extends MemoryStore {
            async read(...a) {
                const r = super.read(...a);
                await gate;
                return r;
            }
        }
        const live = createLifeline({ store: new SlowStore() });
        const s = await serve(live, cleanup);
        const ws = await connectWs(`${s.url}/live/a`);
        assert.equal((await ws.next()).type, 'hello');
        let open;
        gate = new Promise((r) => (open = r));
        await live.publish('a', 1); // the socket's read of it starts, and waits at the gate
        await new Promise((r) => setTimeout(r, 50));
        await live.publish('a', 2); // news while that read is on its way
        open();
        assert.deepEqual([(await ws.next(3000)).data, (await ws.next(3000)).data], [1, 2]);
    });

    it('close() ends sockets and held long polls', async () => {
        const live = createLifeline();
        const s = await serve(live, cleanup); // (closing it twice is fine)
        const ws = await connectWs(`${s.url}/live/a`);
        await ws.next();
        const held = fetchT(`${s.url}/live/a?cursor=${live.store.head('a')}&wait=20000`).then(
            (r) => r.status,
            () => 'ended',
        );
        await new Promise((r) => setTimeout(r, 100));
        await live.close();
        await ws.waitClose(3000);
        assert.equal(await held, 'ended');
        const after = await fetchT(`${s.url}/live/a`);
        assert.deepEqual([after.status, after.headers.get('retry-after'), (await after.json()).error], [503, '1', 'unavailable']);
    });
});

describe('options and publish', () => {
    it('bad options throw a TypeError at construction', () => {
        for (const o of [
            { heartbeat: 0 },
            { batch: 'x' },
            { retention: 0 },
            { prefix: 'live' },
            { prefix: '/live/' },
            { onSend: 1 },
            { origins: 5 },
            { origins: ['http://a', 5] },
            { heartbeat: 24 * 3600e3 + 1 },
            { bogus: 1 },
            { store: new MemoryStore(), redis: 'redis://x' },
        ]) {
            assert.throws(() => createLifeline(o), TypeError, Object.keys(o).join());
        }
    });

    it("origins: '*', a list or a comma-separated string, each normalized to scheme://host[:port] (as Flask's)", () => {
        assert.equal(parseOrigins('*'), '*');
        assert.equal(parseOrigins('https://a.example, *'), '*');
        assert.deepEqual(parseOrigins('https://A.example:443/, http://b.example:8080'), ['https://a.example', 'http://b.example:8080']);
        assert.deepEqual(parseOrigins(['HTTP://[::1]:80', 'null', ' ']), ['http://[::1]', 'null']);
        assert.deepEqual(parseOrigins(undefined), []);
    });

    it('configure() changes run-time options, checked; maxBody only at construction', async () => {
        const live = createLifeline();
        assert.equal(live.configure({ batch: 7, interval: null }).batch, 7);
        assert.equal(live.config.batch, 7);
        assert.equal(live.store.retention, 1000);
        live.configure({ retention: 5 });
        assert.equal(live.store.retention, 5, 'reaches the store');
        assert.throws(() => live.configure({ batch: 0 }), TypeError);
        assert.throws(() => live.configure({ maxBody: 10 }), TypeError);
        assert.equal(live.config.batch, 7, 'a refused change changes nothing');
        await live.close();
    });

    it('publish checks the stream name and the data; cursors increase per stream', async () => {
        const live = createLifeline();
        await assert.rejects(live.publish('bad name', 1), TypeError);
        await assert.rejects(
            live.publish('a', () => 1),
            TypeError,
        );
        const [a1, a2, b1] = [await live.publish('a', 1), await live.publish('a', { x: 2 }), await live.publish('b', null)];
        assert.match(a1, /^\d+-1$/);
        assert.match(a2, /^\d+-2$/);
        assert.match(b1, /^\d+-1$/);
        await live.close();
    });

    it('Rejected: code, message, status; a status other than a 4xx but 408/429 is a RangeError, a bad code or message a TypeError', () => {
        const r = new Rejected('nope', 'not now', 409);
        assert.deepEqual([r.code, r.reason, r.status, r instanceof Error], ['nope', 'not now', 409, true]);
        assert.equal(new Rejected().code, 'rejected');
        for (const s of [200, 408, 429, 500, 'x', 400.5]) assert.throws(() => new Rejected('c', 'm', s), RangeError, String(s));
        for (const [c, m] of [
            ['', 'm'],
            [7, 'm'],
            ['c', 7],
        ])
            assert.throws(() => new Rejected(c, m), TypeError);
    });
});

// proxy.test.mjs — proves each fault mode of tests/proxy.mjs against a tiny HTTP + ws
// server. Run: node --test tests/proxy.test.mjs
//
// Every wait is bounded; every server, proxy and socket is closed in after().

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import { createProxy } from './proxy.mjs';

const BODY = JSON.stringify({ hello: 'world' });
const HELLO = JSON.stringify({ type: 'hello' });

let server;
let wss;
let proxy;
const clients = new Set();

before(async () => {
    server = http.createServer((req, res) => {
        if (req.method === 'POST') {
            const parts = [];
            req.on('data', (c) => parts.push(c));
            req.on('end', () => {
                const body = Buffer.concat(parts);
                res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
                res.end(body);
            });
            return;
        }
        if (req.url === '/chunked') {
            res.writeHead(200, { 'content-type': 'application/json' }); // no length: chunked
            res.write(BODY.slice(0, 5));
            setTimeout(() => res.end(BODY.slice(5)), 10);
            return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
        res.end(BODY);
    });
    server.keepAliveTimeout = 1000;
    wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => {
        ws.send(HELLO);
        ws.on('message', (data) => ws.send(JSON.stringify({ type: 'echo', data: data.toString() })));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = await createProxy({ target: `http://127.0.0.1:${server.address().port}`, listenPort: 0 });
});

after(async () => {
    for (const ws of clients) ws.terminate();
    await proxy.close();
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
    proxy.setMode('pass');
    proxy.resetStats();
});

// ---------------------------------------------------------------------------- helpers

/** One HTTP request through the proxy; resolves {status, headers, body} or rejects. */
function request(path = '/', { method = 'GET', body, timeout = 2000, agent = false } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(`${proxy.url}${path}`, { method, agent }, (res) => {
            const parts = [];
            res.on('data', (c) => parts.push(c));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString() }));
            res.on('error', reject);
        });
        req.setTimeout(timeout, () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end(body);
    });
}

/**
 * Open a WebSocket through the proxy and record what happens to it:
 * events is a list of [ms since start, kind, detail].
 */
function openWs(path = '/') {
    const t0 = Date.now();
    const ws = new WebSocket(`${proxy.url.replace('http', 'ws')}${path}`);
    clients.add(ws);
    const rec = { ws, events: [], messages: [], status: null };
    const waiters = [];
    const note = (kind, detail) => {
        rec.events.push([Date.now() - t0, kind, detail]);
        for (const w of [...waiters]) w();
    };
    ws.on('open', () => note('open'));
    ws.on('message', (d) => {
        rec.messages.push(d.toString());
        note('message', d.toString());
    });
    ws.on('unexpected-response', (req, res) => {
        rec.status = res.statusCode;
        note('unexpected', res.statusCode);
        req.destroy();
    });
    ws.on('error', (e) => note('error', e.message));
    ws.on('close', (code) => {
        clients.delete(ws);
        note('close', code);
    });
    /** Resolve with the first event of `kind` (after `from` events), or null after `ms`. */
    rec.next = (kind, ms = 1500, pred = () => true) =>
        new Promise((resolve) => {
            const check = () => {
                const e = rec.events.find(([, k, d]) => k === kind && pred(d));
                if (e) {
                    done(e);
                    return true;
                }
                return false;
            };
            const tm = setTimeout(() => done(null), ms);
            const w = () => check();
            function done(v) {
                clearTimeout(tm);
                const i = waiters.indexOf(w);
                if (i !== -1) waiters.splice(i, 1);
                resolve(v);
            }
            if (!check()) waiters.push(w);
        });
    rec.t0 = t0;
    return rec;
}

// ---------------------------------------------------------------------------- modes

test('pass: plain requests, keep-alive clients and WebSockets go through; stats count them', async () => {
    const r = await request('/');
    assert.equal(r.status, 200);
    assert.equal(r.body, BODY);
    assert.equal(r.headers.connection, 'close');
    const p = await request('/', { method: 'POST', body: '{"id":1}' });
    assert.equal(p.body, '{"id":1}');

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
        for (let i = 0; i < 3; i++) assert.equal((await request('/', { agent })).body, BODY);
    } finally {
        agent.destroy();
    }

    const w = openWs('/live');
    assert.ok(await w.next('open'));
    assert.ok(await w.next('message', 1500, (d) => d === HELLO));
    w.ws.send('ping-1');
    assert.ok(await w.next('message', 1500, (d) => d.includes('ping-1')));
    w.ws.close();
    assert.ok(await w.next('close'));

    const s = proxy.stats();
    assert.equal(s.ws_upgrades, 1);
    assert.deepEqual(s.http_requests, { GET: 4, POST: 1 });
    assert.equal(s.http_total, 5);
    assert.ok(s.bytes.http.up > 0 && s.bytes.http.down > 5 * BODY.length);
    assert.ok(s.bytes.ws.up > 0 && s.bytes.ws.down > 0);
    proxy.resetStats();
    assert.equal(proxy.stats().http_total, 0);
});

test('refuse: an upgrade gets 403 and is closed; plain HTTP passes', async () => {
    proxy.setMode('refuse');
    const w = openWs('/');
    assert.ok(await w.next('unexpected'));
    assert.equal(w.status, 403);
    assert.equal(
        w.events.some(([, k]) => k === 'open'),
        false,
    );
    assert.equal((await request('/')).status, 200);
    assert.equal(proxy.stats().refused, 1);
});

test('blackhole: an upgrade is never answered nor closed; plain HTTP passes', async () => {
    proxy.setMode('blackhole');
    const w = openWs('/');
    const got = await Promise.race([w.next('open', 700), w.next('close', 700), w.next('unexpected', 700)]);
    assert.equal(got, null, 'nothing happens to a black-holed upgrade');
    assert.equal((await request('/')).status, 200);
    assert.equal(proxy.stats().blackholed, 1);
    w.ws.terminate(); // the client gives up
    assert.ok(await w.next('close'));
});

test('stall: a new WebSocket opens (101) but no frame follows', async () => {
    proxy.setMode('stall');
    const w = openWs('/');
    assert.ok(await w.next('open'));
    assert.equal(await w.next('message', 600), null, 'the server hello is withheld');
    w.ws.send('anyone?');
    assert.equal(await w.next('message', 400), null);
    assert.equal(await w.next('close', 10), null, 'nothing is closed');
    assert.equal(proxy.stats().stalled, 1);
    w.ws.terminate();
});

test('stall: switching it on freezes WebSockets already open, both ways', async () => {
    const w = openWs('/');
    assert.ok(await w.next('message', 1500, (d) => d === HELLO));
    const received = [];
    const serverSide = [...wss.clients].at(-1);
    serverSide.on('message', (d) => received.push(d.toString()));
    proxy.setMode('stall');
    w.ws.send('frozen-up');
    serverSide.send('frozen-down');
    assert.equal(await w.next('message', 600, (d) => d.includes('frozen')), null);
    assert.deepEqual(received, []);
    serverSide.terminate(); // even the server going away is not passed on
    assert.equal(await w.next('close', 400), null);
    w.ws.terminate();
});

test('flap: each WebSocket is cut opts.ms after its 101', async () => {
    proxy.setMode('flap', { ms: 250 });
    const w = openWs('/');
    const open = await w.next('open');
    assert.ok(open);
    assert.ok(await w.next('message', 1000, (d) => d === HELLO), 'frames pass before the cut');
    const close = await w.next('close', 2000);
    assert.ok(close, 'closed');
    const lived = close[0] - open[0];
    assert.ok(lived >= 200 && lived < 1500, `lived ${lived} ms`);
    assert.equal(close[2], 1006);
    assert.equal(proxy.stats().flapped, 1);
});

test('reset: plain HTTP connections are reset on arrival; upgrades pass', async () => {
    proxy.setMode('reset');
    await assert.rejects(request('/'), (e) => /ECONNRESET|socket hang up/.test(e.code ?? e.message));
    const w = openWs('/');
    assert.ok(await w.next('message', 1500, (d) => d === HELLO));
    w.ws.close();
    assert.equal(proxy.stats().reset, 1);
});

test('latency: every chunk is delayed opts.ms in both directions', async () => {
    proxy.setMode('latency', { ms: 150 });
    const t0 = Date.now();
    const r = await request('/');
    assert.equal(r.body, BODY);
    assert.ok(Date.now() - t0 >= 290, `round trip ${Date.now() - t0} ms`);

    const w = openWs('/');
    assert.ok(await w.next('message', 2000, (d) => d === HELLO));
    const t1 = Date.now();
    w.ws.send('slow');
    assert.ok(await w.next('message', 2000, (d) => d.includes('slow')));
    assert.ok(Date.now() - t1 >= 290, `echo took ${Date.now() - t1} ms`);
    w.ws.close();
});

test('drop: open connections are destroyed, new ones too', async () => {
    const w = openWs('/');
    assert.ok(await w.next('message', 1500, (d) => d === HELLO));
    proxy.setMode('drop');
    const close = await w.next('close', 1000);
    assert.ok(close, 'the open WebSocket is cut');
    assert.equal(close[2], 1006);
    await assert.rejects(request('/'));
    const w2 = openWs('/');
    assert.ok(await w2.next('close', 1000));
    assert.equal(
        w2.events.some(([, k]) => k === 'open'),
        false,
    );
    assert.ok(proxy.stats().dropped >= 3);
});

test('corrupt: WebSocket text frames and 200 bodies are damaged, framing kept', async () => {
    proxy.setMode('corrupt');
    const w = openWs('/');
    const first = await w.next('message', 1500);
    assert.ok(first);
    assert.equal(first[2], 'x' + HELLO.slice(1));
    assert.throws(() => JSON.parse(first[2]));
    w.ws.send('still framed');
    assert.ok(await w.next('message', 1500, (d) => d.includes('still framed') && d.startsWith('x')));
    w.ws.close();

    const r = await request('/');
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers['content-length']), BODY.length);
    assert.equal(r.body, 'x' + BODY.slice(1));

    const c = await request('/chunked');
    assert.equal(c.body, 'x' + BODY.slice(1));
    assert.ok(proxy.stats().corrupted >= 4);
});

test('modes apply to new connections: a WebSocket opened in pass survives refuse', async () => {
    const w = openWs('/');
    assert.ok(await w.next('message', 1500, (d) => d === HELLO));
    proxy.setMode('refuse');
    w.ws.send('after');
    assert.ok(await w.next('message', 1500, (d) => d.includes('after')));
    w.ws.close();
    assert.throws(() => proxy.setMode('nonsense'), RangeError);
});

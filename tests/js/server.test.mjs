// Lifeline against the real Node reference server (demo/server.mjs), with `ws`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Lifeline } from '../../js/index.mjs';
import { startServer, publish, admin, until } from '../lib/servers.mjs';

const server = await startServer('node', ['--heartbeat', '2000']);
after(() => server.stop());

/** The next `n` messages (bounded wait). */
function take(l, n, ms = 8000) {
    const got = [];
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${got.length} of ${n} messages: ${JSON.stringify(got)}`)), ms);
        l.addEventListener('message', (e) => {
            got.push(e.data);
            if (got.length == n) (clearTimeout(t), resolve(got));
        });
    });
}

test('WebSocket: published messages arrive in order; send() resolves on the ack', async () => {
    const l = new Lifeline(server.liveUrl, { WebSocket });
    try {
        await until(() => l.state == 'open' && l.transport == 'websocket', { timeoutMs: 5000, what: 'websocket open' });
        const got = take(l, 5);
        for (let i = 1; i <= 5; i++) await publish(server.url, { i });
        assert.deepEqual(
            await got,
            [1, 2, 3, 4, 5].map((i) => ({ i })),
        );
        await Promise.race([l.send({ hello: 1 }), new Promise((_, no) => setTimeout(() => no(new Error('no ack')), 5000))]);
        assert.equal(l.stats.wsOpened, 1);
    } finally {
        l.close();
    }
});

test('refused upgrades: falls back to polling and still receives', async () => {
    await admin(server.url, '/admin/fault', { mode: 'refuse' });
    const l = new Lifeline(server.liveUrl, { WebSocket, storage: { getItem: () => null, setItem() {}, removeItem() {} } });
    const reasons = [];
    l.addEventListener('statechange', (e) => reasons.push(e.reason));
    try {
        await until(() => l.state == 'open' && l.transport != 'websocket', { timeoutMs: 8000, what: 'polling' });
        const got = take(l, 2);
        await publish(server.url, 'a');
        await publish(server.url, 'b');
        assert.deepEqual(await got, ['a', 'b']);
        assert.ok(reasons.includes('ws_refused'), reasons.join(' '));
        await Promise.race([l.send('over POST'), new Promise((_, no) => setTimeout(() => no(new Error('no ack')), 5000))]);
    } finally {
        l.close();
        await admin(server.url, '/admin/fault', { mode: 'none' });
    }
});

test('Lifeline.watch polls a plain resource', async () => {
    const l = Lifeline.watch(server.url + '/admin/stats', { json: true, minInterval: 50, maxInterval: 100 });
    try {
        const [first] = await take(l, 1);
        assert.equal(typeof first, 'object');
    } finally {
        l.close();
    }
});

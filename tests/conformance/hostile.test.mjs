// Hostile input (issue 20, "Hostile-input findings"): what a hostile network sends — bad
// JSON, smuggling shapes, broken WebSocket frames, slow and flooding clients — answered the
// same way by both servers, on every row of matrix.mjs. Each describe names the finding it
// covers. Raw bytes go through raw.mjs; timeouts are shortened by the test servers' CLI
// flags so that no test waits for a production timeout.
//
//   node --test tests/conformance/hostile.test.mjs
//   LIFELINE_SERVERS=node node --test tests/conformance/hostile.test.mjs

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { admin, publish, connectWs, fetchT, liveUrlOf, SUBPROTOCOL } from '../lib/servers.mjs';
import { forEachServer, poll, post, bodyOf, assertJsonError } from './matrix.mjs';
import { rawConnect, rawWebSocket, frame } from './raw.mjs';

const SEND_ID_MAX = 9007199254740991; // spec send_id_max (2^53 - 1)
const MAX_JSON_DEPTH = 64; // spec max_json_depth: the outermost { or [ is depth 1

/** A send body whose whole document nests `depth` levels (the send object is level 1). */
function nestedSend(depth, id = 1) {
    const inner = depth - 1;
    return `{"id":${id},"data":${'['.repeat(inner)}${']'.repeat(inner)}}`;
}

function hostOf(url) {
    return new URL(url).host;
}

forEachServer('hostile input', (t) => {
    const { check, wsTest } = t;

    describe('finding 1: a lone surrogate in a send', () => {
        check('"\\ud800" is acked, stored escaped and served back by polls', async () => {
            const r = await bodyOf(await post(t.url, '{"id":1,"data":"a\\ud800b"}'));
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.body, { ack: 1 });
            const p = await poll(t.url, { cursor: '0' });
            assert.equal(p.status, 200, p.text);
            assert.equal(p.body.messages.length, 1);
            assert.equal(p.body.messages[0].data, 'a\ud800b');
            const after = await bodyOf(await post(t.url, '{"id":2,"data":"next"}'));
            assert.equal(after.status, 200);
            const p2 = await poll(t.url, { cursor: '0' });
            assert.deepEqual(
                p2.body.messages.map((m) => m.data),
                ['a\ud800b', 'next'],
            );
        });

        wsTest('a WebSocket reading past it gets it as a message and stays open', async () => {
            await post(t.url, '{"id":1,"data":"\\udfff"}');
            await publish(t.url, 'after');
            const c = await connectWs(t.url, { cursor: '0' });
            try {
                assert.equal((await c.next()).type, 'hello');
                const m1 = await c.next();
                assert.equal(m1.type, 'msg');
                assert.equal(m1.data, '\udfff');
                assert.equal((await c.next()).data, 'after');
                c.send({ type: 'ping' });
                assert.equal((await c.next()).type, 'pong');
            } finally {
                await c.close();
            }
        });
    });

    describe('finding 4: request-smuggling shapes', () => {
        const send = '{"id":1,"data":1}';
        check('Content-Length together with Transfer-Encoding: chunked is 400', async () => {
            const c = rawConnect(t.url);
            c.write(
                `POST /live/test HTTP/1.1\r\nHost: ${hostOf(t.url)}\r\nContent-Type: text/plain\r\nContent-Length: ${send.length}\r\n` +
                    `Transfer-Encoding: chunked\r\n\r\n${send.length.toString(16)}\r\n${send}\r\n0\r\n\r\n`,
            );
            const r = await c.response(5000);
            c.destroy();
            assert.ok(r, 'an answer');
            assert.equal(r.status, 400, r.text);
        });

        check('two different Content-Length headers are 400', async () => {
            const c = rawConnect(t.url);
            c.write(
                `POST /live/test HTTP/1.1\r\nHost: ${hostOf(t.url)}\r\nContent-Type: text/plain\r\nContent-Length: ${send.length}\r\n` +
                    `Content-Length: ${send.length + 5}\r\n\r\n${send}GET /`,
            );
            const r = await c.response(5000);
            c.destroy();
            assert.ok(r, 'an answer');
            assert.equal(r.status, 400, r.text);
        });
    });

    describe('finding 6: JSON nesting depth', () => {
        check(`a send nested ${MAX_JSON_DEPTH} deep is acked, ${MAX_JSON_DEPTH + 1} deep is 400 bad_request`, async () => {
            const ok = await bodyOf(await post(t.url, nestedSend(MAX_JSON_DEPTH)));
            assert.equal(ok.status, 200, ok.text);
            const deep = await bodyOf(await post(t.url, nestedSend(MAX_JSON_DEPTH + 1)));
            assertJsonError(deep, 400, 'bad_request');
        });

        check('a 30,000-deep array is 400 bad_request, not 500', async () => {
            const r = await bodyOf(await post(t.url, nestedSend(30000)));
            assertJsonError(r, 400, 'bad_request');
            assert.equal((await poll(t.url)).status, 200, 'the server still answers');
        });

        wsTest('on a WebSocket: error frame bad_frame, close 1008', async () => {
            const c = await connectWs(t.url);
            try {
                assert.equal((await c.next()).type, 'hello');
                c.sendRaw(`{"type":"send","id":1,"data":${'['.repeat(30000)}${']'.repeat(30000)}}`);
                const e = await c.next();
                assert.equal(e.type, 'error');
                assert.equal(e.code, 'bad_frame');
                assert.equal((await c.closed).code, 1008);
            } finally {
                await c.close();
            }
        });
    });

    describe('finding 7: an oversized body', () => {
        // 14 MiB: more than the kernel's buffers take on loopback (a 1 MiB body fits in them,
        // so the sender never noticed the early close), less than the drain bound (16 MiB).
        // Before the fix about half of such sends ended in EPIPE; four in a row all must read 413.
        check('a 14 MiB POST reads as 413, not a reset (the server drains, then closes)', async () => {
            const big = Buffer.alloc(14 << 20, 0x20);
            big.write('{"id":1,"data":"', 0);
            for (let i = 0; i < 4; i++) {
                const res = await fetchT(liveUrlOf(t.url), { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: big }, 20000);
                const r = await bodyOf(res);
                assert.equal(r.status, 413, r.text);
                assert.equal(typeof r.body.error, 'string');
            }
        });
    });

    describe('finding 8: send ids', () => {
        const acks = async (idText) => bodyOf(await post(t.url, `{"id":${idText},"data":null}`));
        check(`ids are integers 0..${SEND_ID_MAX}; 1.0 is the integer 1`, async () => {
            assert.equal((await acks('0')).text, '{"ack":0}');
            assert.equal((await acks(String(SEND_ID_MAX))).text, `{"ack":${SEND_ID_MAX}}`);
            const one = await acks('1.0');
            assert.equal(one.status, 200, one.text);
            assert.equal(one.text, '{"ack":1}');
        });

        check('2^53, 2^53+1, 1e30, 1.5 and -1 are 400 bad_request', async () => {
            for (const id of ['9007199254740992', '9007199254740993', '1e30', '1.5', '-1']) {
                assertJsonError(await acks(id), 400, 'bad_request');
            }
        });

        wsTest('on a WebSocket: id 1.0 is acked as 1, id 1e30 is bad_frame + 1008', async () => {
            const c = await connectWs(t.url);
            try {
                assert.equal((await c.next()).type, 'hello');
                c.sendRaw('{"type":"send","id":1.0,"data":"x"}');
                const ack = await c.nextOfType('ack');
                assert.equal(ack.id, 1);
                assert.equal(ack.error, undefined);
                c.sendRaw('{"type":"send","id":1e30,"data":"x"}');
                const e = await c.nextOfType('error');
                assert.equal(e.code, 'bad_frame');
                assert.equal((await c.closed).code, 1008);
            } finally {
                await c.close();
            }
        });
    });

    describe('finding 9: a burst of sends on one socket', () => {
        wsTest('3,000 sends back to back: every ack and every message delivered, in order', async () => {
            const n = 3000; // three times the default retention
            const c = await connectWs(t.url, { timeoutMs: 20000 });
            try {
                assert.equal((await c.next()).type, 'hello');
                const frames = [];
                for (let i = 0; i < n; i++) frames.push(JSON.stringify({ type: 'send', id: i, data: i }));
                c.ws._socket.cork();
                for (const f of frames) c.sendRaw(f);
                c.ws._socket.uncork();
                const acks = [];
                const msgs = [];
                const end = Date.now() + 30000;
                while ((acks.length < n || msgs.length < n) && Date.now() < end) {
                    const f = await c.next(Math.max(1, end - Date.now()));
                    if (f.type === 'ack') acks.push(f.id);
                    else if (f.type === 'msg') msgs.push(f.data);
                }
                assert.equal(acks.length, n, 'acks');
                assert.deepEqual(acks, [...Array(n).keys()]);
                assert.equal(msgs.length, n, 'messages');
                assert.deepEqual(msgs, [...Array(n).keys()]);
            } finally {
                await c.close();
            }
        });
    });

    describe('finding 10: refused upgrades, methods, query strings', () => {
        const upgradeTo = (path, extra = '') =>
            `GET ${path} HTTP/1.1\r\nHost: ${hostOf(t.url)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n${extra}\r\n`;

        check('a refused upgrade (403 origin, 404 path) is answered, then the connection is closed at once', async () => {
            for (const [path, extra, status] of [
                ['/live/test', 'Origin: http://evil.example\r\n', 403],
                ['/live/no%20such', '', 404],
            ]) {
                const c = rawConnect(t.url);
                c.write(upgradeTo(path, extra));
                const r = await c.response(5000);
                assert.ok(r, `${path}: an answer`);
                assert.equal(r.status, status, `${path}: ${r.text}`);
                assert.equal(await c.ended(1500), 'closed', `${path}: the server closed the connection`);
                c.destroy();
            }
        });

        check('TRACE, PROPFIND and other methods: JSON 405 method_not_allowed with Allow', async () => {
            for (const method of ['TRACE', 'PROPFIND', 'PROPPATCH']) {
                const c = rawConnect(t.url);
                c.write(`${method} /live/test HTTP/1.1\r\nHost: ${hostOf(t.url)}\r\nConnection: close\r\n\r\n`);
                const r = await c.response(5000);
                c.destroy();
                assert.ok(r, `${method}: an answer`);
                assert.equal(r.status, 405, `${method}: ${r.text}`);
                assert.equal(r.body?.error, 'method_not_allowed', `${method}: ${r.text}`);
                assert.match(r.headers.allow ?? '', /GET/, `${method}: Allow`);
            }
        });

        check('a lower-case method is not GET, and an unregistered one is no method: 400', async () => {
            for (const line of ['get /live/test', 'Get /live/test', 'BREW /live/test']) {
                const c = rawConnect(t.url);
                c.write(`${line} HTTP/1.1\r\nHost: ${hostOf(t.url)}\r\nConnection: close\r\n\r\n`);
                const r = await c.response(5000);
                c.destroy();
                assert.ok(r, `${line}: an answer`);
                assert.equal(r.status, 400, `${line}: ${r.text}`);
            }
        });

        check('1,000 query parameters are ignored (200); a request target over 8,000 bytes is 414', async () => {
            const many = Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&');
            assert.ok(many.length < 8000);
            const r = await bodyOf(await fetchT(`${liveUrlOf(t.url)}?${many}`));
            assert.equal(r.status, 200, r.text);
            const long = await fetchT(`${liveUrlOf(t.url)}?pad=${'x'.repeat(8100)}`);
            await long.arrayBuffer();
            assert.equal(long.status, 414);
        });
    });
});

// finding 11: revocation. The demo's /admin/disconnect calls live.disconnect(stream,
// {where: req => X-User is `user`}).
forEachServer('revocation', (t) => {
    t.check('live.disconnect ends a held long poll of the matching request with 403 revoked', async () => {
        const cur = await t.head();
        const held = poll(t.url, { cursor: cur, wait: '10000' }, { headers: { 'X-User': 'alice' } });
        const other = poll(t.url, { cursor: cur, wait: '1500' }, { headers: { 'X-User': 'bob' } });
        await new Promise((r) => setTimeout(r, 300));
        const r = await admin(t.url, '/admin/disconnect', { stream: 'test', user: 'alice' });
        assert.equal(r.disconnected, 1);
        const p = await held;
        assertJsonError(p, 403, 'revoked');
        assert.ok(p.ms < 5000, `answered after ${p.ms} ms`);
        assert.equal((await other).status, 204, 'the other user waits on');
    });

    t.wsTest('live.disconnect ends the matching WebSockets with error revoked and close 1008; others stay', async () => {
        const alice = await connectWs(t.url, { headers: { 'X-User': 'alice' } });
        const bob = await connectWs(t.url, { headers: { 'X-User': 'bob' } });
        try {
            assert.equal((await alice.next()).type, 'hello');
            assert.equal((await bob.next()).type, 'hello');
            const r = await admin(t.url, '/admin/disconnect', { stream: 'test', user: 'alice' });
            assert.equal(r.disconnected, 1);
            const e = await alice.next();
            assert.equal(e.type, 'error');
            assert.equal(e.code, 'revoked');
            assert.equal((await alice.closed).code, 1008);
            bob.send({ type: 'ping' });
            assert.equal((await bob.next()).type, 'pong');
            assert.equal((await admin(t.url, '/admin/disconnect', { stream: 'other' })).disconnected, 0);
        } finally {
            await alice.close();
            await bob.close();
        }
    });
});

// finding 5: WebSocket framing (RFC 6455 §5): every violation is a close frame with 1002
// (protocol error) or 1007 (invalid UTF-8), as `ws` answers on Node.
forEachServer('hostile WebSocket frames', (t) => {
    const cases = [
        ['an unmasked client frame', frame({ payload: '{"type":"ping"}', mask: false }), 1002],
        ['a frame with RSV1 set', frame({ rsv: 4, payload: '{"type":"ping"}' }), 1002],
        ['a reserved opcode (3)', frame({ opcode: 3, payload: 'x' }), 1002],
        ['a 126-byte ping', frame({ opcode: 9, payload: Buffer.alloc(126, 0x61) }), 1002],
        ['a fragmented ping', frame({ fin: false, opcode: 9, payload: 'x' }), 1002],
        ['a continuation without a start', frame({ opcode: 0, payload: '{"type":"ping"}' }), 1002],
        ['a text frame with invalid UTF-8', frame({ payload: Buffer.from([0x22, 0xff, 0xfe, 0x22]) }), 1007],
        ['a close frame with code 999', frame({ opcode: 8, payload: Buffer.from([0x03, 0xe7]) }), 1002],
        ['a close frame with a 1-byte payload', frame({ opcode: 8, payload: Buffer.from([0x03]) }), 1002],
    ];
    for (const [what, bytes, code] of cases) {
        t.wsTest(`${what}: close frame ${code}`, async () => {
            const ws = await rawWebSocket(t.url);
            try {
                ws.write(bytes);
                const close = await ws.closeFrame(3000);
                assert.ok(close, `${what}: a close frame (got ${ws.frames().map((f) => f.opcode)})`);
                assert.equal(close.code, code, what);
            } finally {
                ws.destroy();
            }
        });
    }
    t.wsTest('a fragmented text message with valid UTF-8 split across frames is served', async () => {
        const ws = await rawWebSocket(t.url);
        try {
            const text = Buffer.from('{"type":"ping","pad":"é"}');
            const cut = text.indexOf(0xc3) + 1; // inside the two bytes of é
            ws.write(frame({ fin: false, opcode: 1, payload: text.subarray(0, cut) }));
            ws.write(frame({ opcode: 0, payload: text.subarray(cut) }));
            const end = Date.now() + 3000;
            while (!ws.texts().some((f) => f.type === 'pong') && Date.now() < end) await ws.conn.ended(20);
            assert.ok(
                ws.texts().some((f) => f.type === 'pong'),
                'a pong',
            );
        } finally {
            ws.destroy();
        }
    });
});

// finding 3: slow requests. The test servers run with 600 ms header and body timeouts.
const SHORT = 600;
forEachServer(
    'hostile slow requests',
    (t) => {
        const skipDev = t.row.args.includes('--flask-run') ? "Werkzeug's development server has no timeouts (README)" : false;
        const trickle = (c, text, everyMs) => {
            let i = 0;
            const timer = setInterval(() => {
                if (i >= text.length) return clearInterval(timer);
                c.write(text[i++]);
            }, everyMs);
            return () => clearInterval(timer);
        };

        describe('finding 3: header and body timeouts', { skip: skipDev }, () => {
            t.check('headers trickled a byte at a time: the connection is closed after request_header_timeout_ms', async () => {
                const c = rawConnect(t.url);
                const t0 = Date.now();
                const stop = trickle(c, `GET /live/test HTTP/1.1\r\nHost: x\r\n${'X-Slow: y\r\n'.repeat(200)}\r\n`, 50);
                try {
                    assert.equal(await c.ended(SHORT * 5), 'closed');
                    assert.ok(Date.now() - t0 >= SHORT * 0.8, `closed after ${Date.now() - t0} ms`);
                } finally {
                    stop();
                    c.destroy();
                }
            });

            t.check('a chunked body trickled forever: 408 request_timeout, then closed', async () => {
                const c = rawConnect(t.url);
                c.write(`POST /live/test HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n`);
                const stop = trickle(c, '1\r\n \r\n'.repeat(1000), 20);
                try {
                    const r = await c.response(SHORT * 5);
                    assert.ok(r, 'an answer');
                    assert.equal(r.status, 408, r.text);
                    assert.equal(r.body?.error, 'request_timeout');
                    assert.equal(await c.ended(SHORT * 3), 'closed');
                } finally {
                    stop();
                    c.destroy();
                }
            });

            t.check('Content-Length 100 with 10 bytes sent: 408 request_timeout, then closed', async () => {
                const c = rawConnect(t.url);
                c.write(`POST /live/test HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n{"id":1,"d`);
                try {
                    const r = await c.response(SHORT * 5);
                    assert.ok(r, 'an answer');
                    assert.equal(r.status, 408, r.text);
                    assert.equal(r.body?.error, 'request_timeout');
                    assert.equal(await c.ended(SHORT * 3), 'closed');
                } finally {
                    c.destroy();
                }
            });

            t.wsTest('the timeouts do not touch a WebSocket or a held long poll', async () => {
                const c = await connectWs(t.url);
                try {
                    assert.equal((await c.next()).type, 'hello');
                    const cur = await t.head();
                    const held = poll(t.url, { cursor: cur, wait: String(SHORT * 3) });
                    await new Promise((r) => setTimeout(r, SHORT * 2));
                    await publish(t.url, 'late');
                    const p = await held;
                    assert.equal(p.status, 200);
                    const m = await c.nextOfType('msg');
                    assert.equal(m.data, 'late');
                } finally {
                    await c.close();
                }
            });
        });
    },
    { extraArgs: ['--request-header-timeout', String(SHORT), '--request-body-timeout', String(SHORT)] },
);

// finding 2: WebSocket backpressure. The test servers run with a 64 KiB pending limit; a
// client that stops reading while 12 MB are published is not buffered for: it gets at most
// what the kernel and that limit hold, then a close 1013 (it resumes from its cursor).
forEachServer(
    'hostile slow WebSocket consumers',
    (t) => {
        t.wsTest('a client that stops reading: bounded, then closed 1013', async () => {
            await admin(t.url, '/admin/config', { retention: 20 });
            const c = await connectWs(t.url, { timeoutMs: 20000 });
            try {
                assert.equal((await c.next()).type, 'hello');
                c.ws._socket.pause();
                const pad = 'x'.repeat(30000);
                const n = 400;
                for (let i = 0; i < n; i++) await publish(t.url, { i, pad });
                c.ws._socket.resume();
                const info = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r(null), 20000))]);
                assert.ok(info, 'the server closed the socket');
                assert.equal(info.code, 1013, `close ${info.code} ${info.reason}`);
                const got = c.frames.filter((f) => f.type === 'msg').map((f) => f.data.i);
                assert.ok(got.length < n, `got ${got.length} of ${n}: the server did not buffer them all`);
                assert.deepEqual(got, [...Array(got.length).keys()], 'what came, came in order');
            } finally {
                await c.close();
            }
        });
    },
    { extraArgs: ['--max-pending-bytes-per-socket', '65536'] },
);

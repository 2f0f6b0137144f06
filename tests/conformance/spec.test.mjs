// The wire protocol's spec (protocol/v1.json) iterated against every row of matrix.mjs:
// every row of the error table and every check-order case is a test, asserting the exact
// status, error code, headers (Allow, CORS, Vary, caching, Retry-After) and WebSocket close
// code the spec gives. Both servers run the same tests against the same spec values, so a
// difference between them fails here.
//
// The errors are triggered through the test rule (`--auth-test`, server/DESIGN.md "The test
// rule": private-*, members-*, readonly-*, throw-* streams) on a server with one listed
// origin, and, for the library's own `sends_disabled`, on a server without an on_send hook
// (`--no-sends`). A check-order case makes one request fail two checks of a kind at once
// and asserts that the one earlier in the spec's order answers.
//
//   node --test tests/conformance/spec.test.mjs
//   LIFELINE_SERVERS=node node --test tests/conformance/spec.test.mjs

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import WebSocket from 'ws';
import { admin, connectWs, fetchT, liveUrlOf, wsUrl, SUBPROTOCOL } from '../lib/servers.mjs';
import { forEachServer, bodyOf, rawUpgrade } from './matrix.mjs';

const SPEC = JSON.parse(fs.readFileSync(new URL('../../protocol/v1.json', import.meta.url), 'utf8'));
const SPEC_V2 = JSON.parse(fs.readFileSync(new URL('../../protocol/v2.json', import.meta.url), 'utf8'));
const ERRORS = Object.fromEntries([...SPEC.errors, ...SPEC_V2.errors].map((e) => [e.code, e]));
const H = SPEC.headers;
const MAX_BODY = SPEC.limits.max_body.value;
const LISTED = 'https://listed.example';
const FOREIGN = 'https://foreign.example';
const BIG = JSON.stringify({ id: 1, data: 'x'.repeat(MAX_BODY) }); // over max_body
const vary = (h) => (h.get('vary') ?? '').split(',').map((s) => s.trim().toLowerCase());

// ------------------------------------------------------------------ what the spec says

/** An HTTP error answer as the spec's error table gives it for `code`. */
function assertHttpError(r, code, { method = 'GET', origin } = {}) {
    const e = ERRORS[code];
    assert.equal(r.status, e.status, `${code}: status (${r.text})`);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(r.body?.error, code, r.text);
    assert.equal(typeof r.body.message, 'string');
    assert.equal(r.headers.get('allow'), e.allow ? H[e.allow] : null, `${code}: Allow`);
    if (e.retry_after) assert.equal(r.headers.get('retry-after'), String(SPEC.limits.retry_after_unavailable.value));
    assertCommonHeaders(r, { method, origin });
}

/** Every answer of a stream URL: Vary, the expose list, ACAO for a listed origin only; GET/HEAD: the poll headers. */
function assertCommonHeaders(r, { method = 'GET', origin } = {}) {
    assert.ok(vary(r.headers).includes(H.vary.toLowerCase()), `Vary: ${r.headers.get('vary')}`);
    assert.equal(r.headers.get('access-control-expose-headers'), H.expose.join(', '));
    assert.equal(r.headers.get('access-control-allow-origin'), origin === LISTED ? LISTED : null);
    if (method === 'GET' || method === 'HEAD') {
        assert.equal(r.headers.get('cache-control'), H.poll_cache_control);
        assert.equal(r.headers.get(H.long_poll.toLowerCase()), String(SPEC.options.long_poll_max.default));
    } else {
        assert.equal(r.headers.get(H.long_poll.toLowerCase()), null);
    }
}

/** The error frame the spec gives for `code`, then its close code (a binary frame's for bad_frame when `binary`). */
async function assertWsError(ws, code, { binary = false } = {}) {
    const f = await ws.next(3000);
    assert.deepEqual([f.type, f.code, typeof f.message], ['error', code, 'string'], JSON.stringify(f));
    const closed = await ws.waitClose(3000);
    assert.equal(closed.code, binary ? ERRORS[code].binary_close : ERRORS[code].close, `${code}: close code`);
}

/** A rejecting ack (the socket stays open: a ping is answered). */
async function assertRejectingAck(ws, id, code) {
    const f = await ws.next(3000);
    assert.deepEqual([f.type, f.id, f.error, typeof f.message], ['ack', id, code, 'string'], JSON.stringify(f));
    ws.send({ type: 'ping' });
    assert.deepEqual(await ws.next(3000), { type: 'pong' });
}

/** A refused upgrade: the status (no 101), the JSON error. */
function assertRefusedUpgrade(r, code) {
    assert.equal(r.status, ERRORS[code].status, r.text);
    assert.equal(r.body?.error, code, r.text);
}

// ------------------------------------------------------------------ requests

const url = (t, stream, query = '') => liveUrlOf(t.url, stream) + query;
async function get(t, stream, query = '', headers = {}, method = 'GET') {
    return bodyOf(await fetchT(url(t, stream, query), { method, headers }));
}
async function send(t, stream, body, headers = {}, method = 'POST') {
    return bodyOf(await fetchT(url(t, stream), { method, headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers }, body }));
}
async function opened(t, stream, opts = {}) {
    const ws = await connectWs(liveUrlOf(t.url, stream), opts);
    const hello = await ws.next(3000);
    assert.equal(hello.type, 'hello');
    return ws;
}
const pathOf = (t, stream, query = '') => new URL(url(t, stream, query)).pathname + query;

// ------------------------------------------------------------------ the error table

/**
 * How each error of the table is triggered here, per server configuration: `main` (the test
 * rule, one listed origin) or `noSends` (no on_send hook). A case is [title, config,
 * transport ('http' | 'ws' | 'upgrade'), run(t)].
 */
const TRIGGERS = {
    bad_request: [
        ['a poll with a malformed cursor', 'main', 'http', async (t) => assertHttpError(await get(t, 'test', '?cursor=x1'), 'bad_request')],
        ['a poll with an empty cursor', 'main', 'http', async (t) => assertHttpError(await get(t, 'test', '?cursor='), 'bad_request')],
        ['a poll with an empty wait', 'main', 'http', async (t) => assertHttpError(await get(t, 'test', '?cursor=0&wait='), 'bad_request')],
        [
            `a poll with a wait of ${SPEC.grammar.wait.max_digits + 1} digits`,
            'main',
            'http',
            async (t) => assertHttpError(await get(t, 'test', `?cursor=0&wait=${'9'.repeat(SPEC.grammar.wait.max_digits + 1)}`), 'bad_request'),
        ],
        ['a POST that is not JSON', 'main', 'http', async (t) => assertHttpError(await send(t, 'test', 'not json'), 'bad_request', { method: 'POST' })],
        ['a POST that is not a send', 'main', 'http', async (t) => assertHttpError(await send(t, 'test', '{"data":1}'), 'bad_request', { method: 'POST' })],
        ['a WebSocket with a malformed cursor', 'main', 'ws', async (t) => assertWsError(await connectWs(t.url, { cursor: 'garbage' }), 'bad_request')],
    ],
    not_found: [
        ['a poll of a path that is not a stream', 'main', 'http', async (t) => assertHttpError(await bodyOf(await fetchT(t.url + '/live/a/b')), 'not_found')],
        [
            'a POST to a path that is not a stream',
            'main',
            'http',
            async (t) =>
                assertHttpError(await bodyOf(await fetchT(t.url + '/live/a/b', { method: 'POST', body: '{"id":1}' })), 'not_found', { method: 'POST' }),
        ],
        ['an upgrade to a path that is not a stream', 'main', 'upgrade', async (t) => assertRefusedUpgrade(await rawUpgrade(t.url, '/live/a/b'), 'not_found')],
    ],
    method_not_allowed: [
        ['PUT', 'main', 'http', async (t) => assertHttpError(await send(t, 'test', '{}', {}, 'PUT'), 'method_not_allowed', { method: 'PUT' })],
        ['DELETE', 'main', 'http', async (t) => assertHttpError(await get(t, 'test', '', {}, 'DELETE'), 'method_not_allowed', { method: 'DELETE' })],
    ],
    forbidden_origin: [
        [
            'a POST from a foreign origin',
            'main',
            'http',
            async (t) =>
                assertHttpError(await send(t, 'test', '{"id":1,"data":1}', { Origin: FOREIGN }), 'forbidden_origin', { method: 'POST', origin: FOREIGN }),
        ],
        [
            'an upgrade from a foreign origin',
            'main',
            'upgrade',
            async (t) => assertRefusedUpgrade(await rawUpgrade(t.url, pathOf(t, 'test'), { Origin: FOREIGN }), 'forbidden_origin'),
        ],
    ],
    sends_disabled: [
        [
            'a POST without an on_send hook',
            'noSends',
            'http',
            async (t) => assertHttpError(await send(t, 'test', '{"id":1,"data":1}'), 'sends_disabled', { method: 'POST' }),
        ],
        [
            'a WebSocket send without an on_send hook: a rejecting ack',
            'noSends',
            'ws',
            async (t) => {
                const ws = await opened(t, 'test');
                ws.send({ type: 'send', id: 7, data: 1 });
                await assertRejectingAck(ws, 7, 'sends_disabled');
                await ws.close();
            },
        ],
    ],
    forbidden: [
        ['a poll refused by authorize', 'main', 'http', async (t) => assertHttpError(await get(t, 'private-a', '?cursor=0'), 'forbidden')],
        [
            'a POST refused by authorize',
            'main',
            'http',
            async (t) => assertHttpError(await send(t, 'members-a', '{"id":1,"data":1}'), 'forbidden', { method: 'POST' }),
        ],
        [
            'an upgrade refused by authorize: accepted, then the error frame',
            'main',
            'ws',
            async (t) => assertWsError(await connectWs(liveUrlOf(t.url, 'private-a')), 'forbidden'),
        ],
        [
            'a WebSocket send refused by authorize: a rejecting ack',
            'main',
            'ws',
            async (t) => {
                const ws = await opened(t, 'members-a');
                ws.send({ type: 'send', id: 3, data: 1 });
                await assertRejectingAck(ws, 3, 'forbidden');
                await ws.close();
            },
        ],
    ],
    too_large: [
        ['a POST body over max_body', 'main', 'http', async (t) => assertHttpError(await send(t, 'test', BIG), 'too_large', { method: 'POST' })],
        [
            'a WebSocket message over max_body',
            'main',
            'ws',
            async (t) => {
                const ws = await opened(t, 'test');
                ws.sendRaw(JSON.stringify({ type: 'send', id: 1, data: 'x'.repeat(MAX_BODY) }));
                await assertWsError(ws, 'too_large');
            },
        ],
    ],
    bad_frame: [
        [
            'a frame that is not JSON',
            'main',
            'ws',
            async (t) => {
                const ws = await opened(t, 'test');
                ws.sendRaw('not json');
                await assertWsError(ws, 'bad_frame');
            },
        ],
        [
            'a frame that is a JSON array',
            'main',
            'ws',
            async (t) => {
                const ws = await opened(t, 'test');
                ws.sendRaw('[1,2]');
                await assertWsError(ws, 'bad_frame');
            },
        ],
        [
            'a send without an id',
            'main',
            'ws',
            async (t) => {
                const ws = await opened(t, 'test');
                ws.sendRaw('{"type":"send","data":1}');
                await assertWsError(ws, 'bad_frame');
            },
        ],
        [
            'a binary frame (its own close code)',
            'main',
            'ws',
            async (t) => {
                const ws = await opened(t, 'test');
                ws.sendRaw(Buffer.from('{"type":"ping"}'), { binary: true });
                await assertWsError(ws, 'bad_frame', { binary: true });
            },
        ],
    ],
    internal: [
        ['a poll whose authorize throws', 'main', 'http', async (t) => assertHttpError(await get(t, 'throw-a', '?cursor=0'), 'internal')],
        [
            'a POST whose authorize throws',
            'main',
            'http',
            async (t) => assertHttpError(await send(t, 'throw-a', '{"id":1,"data":1}'), 'internal', { method: 'POST' }),
        ],
        ['a WebSocket whose authorize throws', 'main', 'ws', async (t) => assertWsError(await connectWs(liveUrlOf(t.url, 'throw-a')), 'internal')],
    ],
    rejected: [
        [
            "on_send's Rejected: its own code and status on POST",
            'main',
            'http',
            async (t) => {
                const r = await send(t, 'readonly-a', '{"id":1,"data":1}');
                assert.deepEqual([r.status, r.body?.error, typeof r.body?.message], [403, 'read_only', 'string'], r.text);
                assertCommonHeaders(r, { method: 'POST' });
            },
        ],
        [
            "on_send's Rejected: a rejecting ack with its code",
            'main',
            'ws',
            async (t) => {
                const ws = await opened(t, 'readonly-a');
                ws.send({ type: 'send', id: 9, data: 1 });
                await assertRejectingAck(ws, 9, 'read_only');
                await ws.close();
            },
        ],
    ],
};

/** Errors of the table this file cannot trigger from outside a server, and where they are tested. */
const ELSEWHERE = {
    overflow:
        'needs a socket that cannot read while its stream moves past retention: node-library.test.mjs (a gated store) and server/flask/tests/test_gevent.py (a frozen session)',
    unavailable:
        'needs the store down or the handler closed: node-library.test.mjs (close()), tests/integration/redis.test.mjs, server/flask/tests/test_redis.py',
    request_timeout: 'a limit of the hostile-input work (10 s timeouts), tested with it',
    slow_consumer: 'a limit of the hostile-input work (a socket that never reads), tested with it',
    uri_too_long: 'hostile.test.mjs, finding 10 (a request target over max_request_target_bytes)',
    revoked: 'hostile.test.mjs, revocation (live.disconnect)',
    too_many_streams:
        'needs max_streams streams: tests/cluster/redis-production.test.mjs and server/flask/tests/test_redis_production.py (a small max_streams)',
    too_many_subscriptions: 'v2: v2.test.mjs (one subscription over max_subscriptions; a poll of too many streams)',
    not_subscribed: 'v2: v2.test.mjs (a send naming a subscription the socket does not hold)',
};

// ------------------------------------------------------------------ check order

/**
 * Requests that fail two checks of one kind at once: the earlier check in the spec's order
 * answers. [kind, earlier check, later check, config, run(t)]; the test also asserts that
 * the spec really orders the two that way.
 */
const ORDER_CASES = [
    [
        'poll',
        'stream_name',
        'method',
        'main',
        async (t) => assertHttpError(await bodyOf(await fetchT(t.url + '/live/a/b', { method: 'PUT' })), 'not_found', { method: 'PUT' }),
    ],
    [
        'poll',
        'method',
        'authorize_subscribe',
        'main',
        async (t) => assertHttpError(await get(t, 'private-a', '', {}, 'PUT'), 'method_not_allowed', { method: 'PUT' }),
    ],
    ['poll', 'authorize_subscribe', 'cursor', 'main', async (t) => assertHttpError(await get(t, 'private-a', '?cursor=x'), 'forbidden')],
    ['poll', 'authorize_subscribe', 'wait', 'main', async (t) => assertHttpError(await get(t, 'private-a', '?cursor=0&wait=x'), 'forbidden')],
    [
        'post',
        'stream_name',
        'origin',
        'main',
        async (t) =>
            assertHttpError(await bodyOf(await fetchT(t.url + '/live/a/b', { method: 'POST', headers: { Origin: FOREIGN }, body: '{"id":1}' })), 'not_found', {
                method: 'POST',
                origin: FOREIGN,
            }),
    ],
    [
        'post',
        'origin',
        'sends_enabled',
        'noSends',
        async (t) => assertHttpError(await send(t, 'test', '{"id":1,"data":1}', { Origin: FOREIGN }), 'forbidden_origin', { method: 'POST', origin: FOREIGN }),
    ],
    [
        'post',
        'origin',
        'authorize_send',
        'main',
        async (t) =>
            assertHttpError(await send(t, 'members-a', '{"id":1,"data":1}', { Origin: FOREIGN }), 'forbidden_origin', { method: 'POST', origin: FOREIGN }),
    ],
    [
        'post',
        'sends_enabled',
        'authorize_send',
        'noSends',
        async (t) => assertHttpError(await send(t, 'members-a', '{"id":1,"data":1}'), 'sends_disabled', { method: 'POST' }),
    ],
    ['post', 'sends_enabled', 'json', 'noSends', async (t) => assertHttpError(await send(t, 'test', 'not json'), 'sends_disabled', { method: 'POST' })],
    ['post', 'authorize_send', 'size', 'main', async (t) => assertHttpError(await send(t, 'members-a', BIG), 'forbidden', { method: 'POST' })],
    ['post', 'authorize_send', 'json', 'main', async (t) => assertHttpError(await send(t, 'members-a', 'not json'), 'forbidden', { method: 'POST' })],
    ['post', 'size', 'json', 'main', async (t) => assertHttpError(await send(t, 'test', 'x'.repeat(MAX_BODY + 1)), 'too_large', { method: 'POST' })],
    [
        'post',
        'send_shape',
        'on_send',
        'main',
        async (t) => assertHttpError(await send(t, 'readonly-a', '{"id":-1,"data":1}'), 'bad_request', { method: 'POST' }),
    ],
    ['upgrade', 'stream_name', 'origin', 'main', async (t) => assertRefusedUpgrade(await rawUpgrade(t.url, '/live/a/b', { Origin: FOREIGN }), 'not_found')],
    [
        'upgrade',
        'origin',
        'authorize_subscribe',
        'main',
        async (t) => assertRefusedUpgrade(await rawUpgrade(t.url, pathOf(t, 'private-a'), { Origin: FOREIGN }), 'forbidden_origin'),
    ],
    [
        'ws_open',
        'authorize_subscribe',
        'cursor',
        'main',
        async (t) => assertWsError(await connectWs(liveUrlOf(t.url, 'private-a'), { cursor: 'garbage' }), 'forbidden'),
    ],
    [
        'ws_frame',
        'text',
        'json',
        'main',
        async (t) => {
            const ws = await opened(t, 'test');
            ws.sendRaw(Buffer.from('not json'), { binary: true });
            await assertWsError(ws, 'bad_frame', { binary: true });
        },
    ],
    [
        'ws_frame',
        'size',
        'text',
        'main',
        async (t) => {
            const ws = await opened(t, 'test');
            ws.sendRaw(Buffer.alloc(MAX_BODY + 1, 120), { binary: true });
            await assertWsError(ws, 'too_large');
        },
    ],
    [
        'ws_frame',
        'send_shape',
        'authorize_send',
        'main',
        async (t) => {
            const ws = await opened(t, 'members-a');
            ws.sendRaw('{"type":"send","id":-1,"data":1}');
            await assertWsError(ws, 'bad_frame');
        },
    ],
    [
        'ws_send',
        'sends_enabled',
        'authorize_send',
        'noSends',
        async (t) => {
            const ws = await opened(t, 'members-a');
            ws.send({ type: 'send', id: 5, data: 1 });
            await assertRejectingAck(ws, 5, 'sends_disabled');
            await ws.close();
        },
    ],
];

/** Kinds whose checks continue in another kind's (an upgrade's after the 101, a send frame's after its shape). */
const CONTINUES = { upgrade: 'ws_open', ws_frame: 'ws_send' };

/** The position of a check in the spec's order for `kind` (and the kind it continues in), or -1. */
function position(kind, check) {
    const order = [kind, CONTINUES[kind]].filter(Boolean).flatMap((k) => SPEC.check_order[k].map((s) => s.check));
    return order.indexOf(check);
}

// ------------------------------------------------------------------ the tests

describe('spec: every error and check-order case has a test', () => {
    it('every error code of protocol/v1.json and v2.json is triggered here or named with where it is tested', () => {
        for (const e of Object.values(ERRORS)) assert.ok(TRIGGERS[e.code] || ELSEWHERE[e.code], `no test for error ${e.code}`);
        for (const code of [...Object.keys(TRIGGERS), ...Object.keys(ELSEWHERE)]) assert.ok(ERRORS[code], `${code} is not in the spec`);
    });
    it("every check-order case names two checks in the spec's order", () => {
        for (const [kind, earlier, later] of ORDER_CASES) {
            const a = position(kind, earlier),
                b = position(kind, later);
            assert.ok(a >= 0 && b >= 0 && a < b, `${kind}: ${earlier} before ${later}`);
        }
    });
});

function cases(config) {
    return (t) => {
        const { row, check, wsTest } = t;
        const test = (transport) => (transport === 'http' ? check : wsTest);
        describe('error table', () => {
            for (const [code, triggers] of Object.entries(TRIGGERS)) {
                for (const [title, cfg, transport, run] of triggers) {
                    if (cfg !== config) continue;
                    const e = ERRORS[code];
                    const what =
                        transport === 'http' ? `${e.status} ${code}` : transport === 'upgrade' ? `${e.status} ${code}, no 101` : `${code}, close ${e.close}`;
                    test(transport)(`${code}: ${title} → ${what}`, () => run(t));
                }
            }
        });
        describe('check order', () => {
            for (const [kind, earlier, later, cfg, run] of ORDER_CASES) {
                if (cfg !== config) continue;
                const transport = kind.startsWith('ws') || kind === 'upgrade' ? 'ws' : 'http';
                test(transport)(`${kind}: failing ${earlier} and ${later}, ${earlier} answers`, () => run(t));
            }
        });
        if (config !== 'main') return;
        describe('headers', () => {
            check(`OPTIONS from a listed origin: 204, Allow, the CORS preflight headers, max age ${SPEC.limits.preflight_max_age.value}`, async () => {
                const r = await bodyOf(
                    await fetchT(url(t, 'test'), { method: 'OPTIONS', headers: { Origin: LISTED, 'Access-Control-Request-Method': 'POST' } }),
                );
                assert.equal(r.status, 204);
                assert.equal(r.headers.get('allow'), H.allow);
                assert.equal(r.headers.get('access-control-allow-methods'), H.cors_allow_methods);
                assert.equal(r.headers.get('access-control-allow-headers'), H.cors_allow_headers);
                assert.equal(r.headers.get('access-control-max-age'), String(SPEC.limits.preflight_max_age.value));
                assertCommonHeaders(r, { method: 'OPTIONS', origin: LISTED });
            });
            check('OPTIONS asking for headers: Access-Control-Allow-Headers echoes them', async () => {
                const r = await bodyOf(
                    await fetchT(url(t, 'test'), {
                        method: 'OPTIONS',
                        headers: { Origin: LISTED, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'if-none-match, x-custom' },
                    }),
                );
                assert.equal(r.headers.get('access-control-allow-headers'), 'if-none-match, x-custom');
            });
            check('OPTIONS from a foreign origin: 204 and Allow, no CORS grant', async () => {
                const r = await bodyOf(
                    await fetchT(url(t, 'test'), { method: 'OPTIONS', headers: { Origin: FOREIGN, 'Access-Control-Request-Method': 'POST' } }),
                );
                assert.equal(r.status, 204);
                assert.equal(r.headers.get('allow'), H.allow);
                assert.equal(r.headers.get('access-control-allow-methods'), null);
                assertCommonHeaders(r, { method: 'OPTIONS', origin: FOREIGN });
            });
            for (const [name, origin] of [
                ['no Origin', undefined],
                ['a listed origin', LISTED],
                ['a foreign origin', FOREIGN],
            ]) {
                check(`a poll, a 204 and a POST ack from ${name}: Vary, expose list, caching headers`, async () => {
                    const headers = origin ? { Origin: origin } : {};
                    const first = await get(t, 'test', '', headers);
                    assert.equal(first.status, 200);
                    assertCommonHeaders(first, { origin });
                    const none = await get(t, 'test', `?cursor=${first.body.cursor}`, headers);
                    assert.equal(none.status, 204);
                    assertCommonHeaders(none, { origin });
                    if (origin !== FOREIGN) {
                        const ack = await send(t, 'test', '{"id":2,"data":1}', headers);
                        assert.deepEqual([ack.status, ack.body], [200, { ack: 2 }]);
                        assertCommonHeaders(ack, { method: 'POST', origin });
                    }
                });
            }
            const beats = SPEC.limits.silent_peer_heartbeats.value;
            wsTest(
                `a socket from which nothing comes for ${beats} heartbeats is dropped without a close frame; one that answers control pings stays`,
                async () => {
                    const hb = 200;
                    await admin(t.url, '/admin/config', { heartbeat: hb });
                    const open = (autoPong) =>
                        new Promise((resolve, reject) => {
                            const ws = new WebSocket(wsUrl(t.url), [SUBPROTOCOL], { autoPong, perMessageDeflate: false });
                            const frames = [];
                            const t0 = Date.now();
                            ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
                            ws.on('error', () => {});
                            ws.on('open', () =>
                                resolve({ ws, frames, closed: new Promise((r) => ws.on('close', (code) => r({ code, ms: Date.now() - t0 }))) }),
                            );
                            ws.once('unexpected-response', () => reject(new Error('upgrade refused')));
                        });
                    const [deaf, alive] = await Promise.all([open(false), open(true)]);
                    const closed = await Promise.race([deaf.closed, new Promise((r) => setTimeout(() => r(null), (beats + 3) * hb + 2000))]);
                    assert.ok(closed, `dropped within ${beats + 3} heartbeats and 2 s`);
                    assert.equal(closed.code, 1006, 'no close frame');
                    assert.ok(closed.ms >= beats * hb, `not before ${beats} heartbeats (${closed.ms} ms)`);
                    assert.equal(alive.ws.readyState, WebSocket.OPEN, 'the socket that answers control pings is open');
                    assert.equal(alive.frames[0]?.type, 'hello');
                    assert.equal(alive.frames[0].heartbeat, hb);
                    alive.ws.close();
                },
            );
            wsTest(`the upgrade answers the subprotocol ${SPEC.subprotocol}`, async () => {
                const ws = await opened(t, 'test');
                assert.equal(ws.protocol, SPEC.subprotocol);
                await ws.close();
            });
        });
        void row;
    };
}

forEachServer('spec (test rule, one listed origin)', cases('main'), { extraArgs: ['--auth-test', '--origins', LISTED] });
forEachServer('spec (no on_send hook)', cases('noSends'), { extraArgs: ['--auth-test', '--no-sends'] });

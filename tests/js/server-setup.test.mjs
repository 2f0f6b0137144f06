// The Node handler as an app sets it up: the client it serves (no build step for the page),
// and options from the environment (LIFELINE_*, the Flask extension's names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { createLifeline } from '../../server/node/index.mjs';
import { ROOT } from '../lib/servers.mjs';

/** A node:http server around a handler; f(base) runs against it. */
async function serving(live, f) {
    const server = http.createServer((req, res) => live.handle(req, res) || (res.writeHead(404), res.end()));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
        return await f(`http://127.0.0.1:${server.address().port}`);
    } finally {
        server.close();
        await live.close();
    }
}

test('the handler serves the built client under <prefix>/client/ by hashed name, cached for a year; scriptTag writes its tag', async () => {
    const manifest = JSON.parse(fs.readFileSync(`${ROOT}/dist/client/manifest.json`, 'utf8'));
    const live = createLifeline({ prefix: '/updates', env: null });
    assert.equal(live.clientUrl('lifeline.js'), `/updates/client/${manifest['lifeline.js']}`);
    assert.match(manifest['lifeline.js'], /^lifeline\.[0-9a-f]{12}\.js$/);
    assert.equal(live.scriptTag(), `<script src="/updates/client/${manifest['lifeline.js']}"></script>`);
    assert.equal(live.scriptTag('csp'), `<script src="/updates/client/${manifest['lifeline.csp.js']}"></script>`);
    assert.throws(() => live.scriptTag('nope'), /build is 'script' or 'csp'/);
    assert.throws(() => live.clientUrl('lifeline.exe'), /no client file "lifeline.exe"; there are /);
    await serving(live, async (base) => {
        const r = await fetch(base + live.clientUrl('lifeline.js'));
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
        assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
        assert.equal(r.headers.get('access-control-allow-origin'), '*');
        assert.deepEqual(Buffer.from(await r.arrayBuffer()), fs.readFileSync(`${ROOT}/dist/lifeline.js`));
        // the module imports its on-demand chunks by their hashed names
        const esm = await (await fetch(base + live.clientUrl('lifeline.mjs'))).text();
        for (const chunk of ['lifeline-share.mjs', 'lifeline-pool.mjs']) {
            assert.ok(esm.includes(`"./${manifest[chunk]}"`), chunk);
            assert.equal((await fetch(base + `/updates/client/${manifest[chunk]}`)).status, 200);
        }
        assert.equal((await fetch(base + live.clientUrl('lifeline.wasm'))).headers.get('content-type'), 'application/wasm');
        const missing = await fetch(base + '/updates/client/lifeline.000000000000.js');
        assert.equal(missing.status, 404);
        assert.equal((await missing.json()).error, 'not_found');
    });
});

test('options come from the environment (LIFELINE_*) unless given; a bad value names its variable', async () => {
    const env = {
        LIFELINE_HEARTBEAT: '5000',
        LIFELINE_URL_PREFIX: '/stream',
        LIFELINE_ORIGINS: 'https://a.example, https://b.example',
        LIFELINE_TRUST_PROXY: 'yes',
        LIFELINE_INTERVAL: 'none',
    };
    const live = createLifeline({ env, batch: 7, heartbeat: 3000 });
    assert.equal(live.config.heartbeat, 3000); // given wins
    assert.equal(live.config.batch, 7);
    assert.equal(live.config.interval, null);
    assert.equal(live.clientUrl('lifeline.js').startsWith('/stream/client/'), true);
    await serving(live, async (base) => {
        const r = await fetch(base + '/stream/news', { headers: { origin: 'https://b.example' } });
        assert.equal(r.headers.get('access-control-allow-origin'), 'https://b.example');
    });
    const fromEnv = createLifeline({ env: { ...env, LIFELINE_STREAM_TTL: '60000', LIFELINE_MAX_JSON_DEPTH: '8' } });
    assert.equal(fromEnv.config.heartbeat, 5000);
    // every option of the spec has its variable, as in Flask
    assert.equal(fromEnv.config.streamTtl, 60000);
    assert.equal(fromEnv.config.maxJsonDepth, 8);
    await fromEnv.close();
    assert.throws(() => createLifeline({ env: { LIFELINE_BATCH: 'ten' } }), /^TypeError: LIFELINE_BATCH must be a whole number, not "ten"$/);
    assert.throws(() => createLifeline({ env: { LIFELINE_TRUST_PROXY: 'maybe' } }), /LIFELINE_TRUST_PROXY must be true or false/);
    // LIFELINE_REDIS_URL makes the Redis store (no connection is needed to make it)
    const redis = createLifeline({ env: { LIFELINE_REDIS_URL: 'redis://127.0.0.1:1' }, log: () => {} });
    assert.equal(redis.store.constructor.name, 'RedisStore');
    await redis.close();
});

test('a body parser mounted before the handler: its text serves the send; a parsed body is a 500 that says to mount Lifeline first, not a hang', async () => {
    const live = createLifeline({ env: null, onSend: () => {} });
    /** Middleware as Express's body parsers are: read the stream, set req.body and req._body. */
    const parsers = {
        text: (req, body) => ((req.body = body), (req._body = true)),
        json: (req, body) => ((req.body = JSON.parse(body)), (req._body = true)),
        drain: () => {}, // read, kept nowhere
    };
    const server = http.createServer((req, res) => {
        const parser = parsers[req.headers['x-parser']];
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            parser(req, Buffer.concat(chunks).toString());
            live.handle(req, res);
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const warnings = [];
    const onWarning = (w) => warnings.push(w.code);
    process.on('warning', onWarning);
    try {
        const send = (parser) =>
            fetch(`http://127.0.0.1:${server.address().port}/live/news`, {
                method: 'POST',
                headers: { 'content-type': 'text/plain', 'x-parser': parser },
                body: '{"id":7,"data":{"a":1}}',
                signal: AbortSignal.timeout(5000),
            });
        const text = await send('text');
        assert.deepEqual([text.status, await text.json()], [200, { ack: 7 }]);
        for (const parser of ['json', 'drain']) {
            const r = await send(parser);
            assert.equal(r.status, 500);
            assert.match((await r.json()).message, /^the request body was read before Lifeline's handler .*mount live.handle before body parsers/);
        }
        await new Promise((r) => setImmediate(r));
        assert.deepEqual(warnings, ['LIFELINE_BODY_CONSUMED']); // once
    } finally {
        process.off('warning', onWarning);
        server.close();
        await live.close();
    }
});

// Cross-origin in a real page: the page comes from one origin (the fixture server) and
// Lifeline talks to another (the proxy's port). Protocol polls carry the cursor in the
// query and no custom header, and sends are text/plain POSTs, so neither ever costs a CORS
// preflight: one request each, as the server's CORS headers allow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, useRig, openFixture, waitLog, isOpen, sleep } from './helpers.mjs';

const env = useRig();

test('cross-origin polls and sends: no preflight, every message once', { skip, timeout: 30000 }, async () => {
    const proxy = await env.rig.proxy();
    const ctx = await env.b.browser.newContext();
    try {
        const start = await env.rig.publish({ n: 0 });
        const page = await ctx.newPage();
        const opts = { websocket: false, cursor: start, minInterval: 200, maxInterval: 400 };
        await openFixture(page, env.rig.fixture({ build: 'esm', live: [{ tag: 'a', url: proxy.url + '/live/test', opts }] }));
        const pageOrigin = await page.evaluate(() => location.origin);
        assert.notEqual(pageOrigin, new URL(proxy.url).origin, 'two origins');
        await waitLog(page, (l) => isOpen(l.a, 'longpoll'), 'long polling', 8000);
        const sent = await page.evaluate(() => window.__live.a.send({ from: 'page' }).then(() => 'acked'));
        assert.equal(sent, 'acked');
        for (let n = 1; n <= 3; n++) await env.rig.publish({ n });
        const log = await waitLog(page, (l) => l.a.messages.length >= 4, 'every message', 8000);
        await sleep(300);
        const http = proxy.stats().http_requests;
        assert.equal(http.OPTIONS ?? 0, 0, `no preflight: ${JSON.stringify(http)}`);
        assert.ok(http.GET >= 2 && http.POST === 1, JSON.stringify(http));
        assert.deepEqual(
            log.a.messages.map((m) => m.data),
            [{ from: 'page' }, { n: 1 }, { n: 2 }, { n: 3 }],
        );
        assert.deepEqual(log.a.errors, []);
    } finally {
        await ctx.close();
    }
});

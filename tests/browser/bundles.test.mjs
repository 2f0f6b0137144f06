// Scenario 1: the ES module build and the <script> build each connect from a real page
// (served by a 127.0.0.1 fixture server, Lifeline pointed straight at the reference server)
// and receive a published message over a WebSocket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, useRig, openFixture, waitLog, isOpen, history } from './helpers.mjs';

const env = useRig();

for (const build of ['esm', 'script']) {
    test(`${build} build: connects and receives a published message`, { skip, timeout: 30000 }, async (t) => {
        const ctx = await env.b.browser.newContext();
        try {
            const page = await ctx.newPage();
            const url = env.rig.server.url + '/live/test';
            await openFixture(page, env.rig.fixture({ build, live: [{ tag: 'a', url, opts: {} }] }));
            const kind = await page.evaluate(() => typeof window.Lifeline);
            // the <script> build defines the global; the module build does not
            assert.equal(kind, build === 'script' ? 'function' : 'undefined');
            await waitLog(page, (l) => isOpen(l.a, 'websocket'), 'open over websocket');
            const cursor = await env.rig.publish({ build, n: 1 });
            const log = await waitLog(page, (l) => l.a.messages.length >= 1, 'the published message');
            t.diagnostic(`${build}: ${history(log.a)}`);
            assert.deepEqual(
                log.a.messages.map((m) => [m.data, m.cursor, m.transport]),
                [[{ build, n: 1 }, cursor, 'websocket']],
            );
            assert.deepEqual(log.a.errors, []);
            assert.deepEqual(page.__errors, []);
            assert.deepEqual(page.__console, []);
            await page.evaluate(() => window.__live.a.close());
            const after = await waitLog(page, (l) => l.a.states.at(-1).state === 'closed', 'closed');
            assert.equal(after.a.states.at(-1).reason, 'closed_by_app');
        } finally {
            await ctx.close();
        }
    });
}
test('the first statechange reaches a listener attached right after construction', { skip, timeout: 20000 }, async () => {
    const ctx = await env.b.browser.newContext();
    try {
        const page = await ctx.newPage();
        await openFixture(page, env.rig.fixture({ build: 'esm', live: [] }));
        const seen = await page.evaluate(async (url) => {
            const { Lifeline } = await import('/dist/lifeline.mjs');
            const live = new Lifeline(url);
            const events = [];
            const stateRightAfter = live.state;
            live.addEventListener('statechange', (e) => events.push(`${e.state}/${e.transport}/${e.reason}`));
            await new Promise((r) => setTimeout(r, 500));
            live.close();
            return { stateRightAfter, events };
        }, env.rig.server.url + '/live/test');
        assert.equal(seen.stateRightAfter, 'connecting');
        assert.equal(seen.events[0], 'connecting/none/start', JSON.stringify(seen.events));
    } finally {
        await ctx.close();
    }
});

test(
    "a wrong stream URL ends the Lifeline after 3 refusals, the error naming the status, the URL and the server's words",
    { skip, timeout: 30000 },
    async () => {
        const ctx = await env.b.browser.newContext();
        try {
            const page = await ctx.newPage();
            const url = env.rig.server.url + '/live/news/eu'; // one stream name per URL: 404
            await openFixture(page, env.rig.fixture({ build: 'script', live: [{ tag: 'a', url, opts: { backoffBase: 50 } }] }));
            const log = await waitLog(page, (l) => l.a.states.at(-1)?.state === 'closed', 'closed by the refusals');
            assert.equal(log.a.states.at(-1).reason, 'refused');
            const last = log.a.errors.at(-1);
            assert.equal(last.reason, 'refused');
            assert.equal(last.code, 'http_status');
            assert.match(last.message, new RegExp(`^404 from ${url.replace(/[.?]/g, '\\$&')}: .+ \\(not_found\\)$`));
            assert.equal(log.a.errors.filter((e) => e.code === 'http_status').length, 3);
            assert.equal(await page.evaluate(() => window.__live.a.state), 'closed');
        } finally {
            await ctx.close();
        }
    },
);

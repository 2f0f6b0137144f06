// Scenario 7: the demo pages from one reference server (demo/server.mjs, memory store) in
// Chromium. index.html: loads with no console error and no uncaught exception, one Lifeline per
// stream (ticker, counter, chat) all live, the ticker's value moves, +1 raises the shared
// counter by exactly the clicks, chat lines sent from the page and published by the server
// show once each and in order, the served-by card names the one process that answered, the
// stats and timeline are drawn, and the fault buttons work (refuse + reconnect: every stream
// on long polling; healthy: back up to the WebSocket, nothing lost).
// script.html (the <script> build): loads and shows a transport. Two tabs: the page says the
// connection is shared and which tab leads.
// The same page behind nginx over four processes: tests/cluster/page.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin } from '../lib/servers.mjs';
import { skip, launchBrowser, sleep } from './helpers.mjs';
import { openDemo, streamsOpen, ticks, counterCounts, chatShows, servedBy, TRANSPORT_KINDS } from '../cluster/demo-page.mjs';

let server, b;
before(async () => {
    if (skip) return;
    server = await startServer('node', ['--tick', '500', '--name', 'demo-node']);
    b = await launchBrowser();
});
after(async () => {
    await b?.close();
    await server?.stop();
});

test(
    'demo index.html: three streams live, ticks, counter and chat exact, served by the one process, stats and timeline drawn, refuse → long polling → healthy → WebSocket, no console error',
    { skip, timeout: 180000 },
    async (t) => {
        const ctx = await b.browser.newContext();
        try {
            const page = await openDemo(ctx, server.url + '/');
            t.diagnostic(`streams: ${(await streamsOpen(page)).join(' | ')}`);
            // protocol v2: the page's three streams ride one WebSocket, and say so
            await page.waitForFunction(() => document.getElementById('streams-note').textContent == '3 streams over one WebSocket', null, { timeout: 10000 });
            assert.equal((await admin(server.url, '/admin/stats')).wsOpen, 1, 'the server holds one WebSocket for the page');
            await ticks(page);
            await counterCounts(page, 3);

            await page.fill('#chat-name', 'ada');
            await page.fill('#chat-text', 'hello from the page');
            await page.click('#chat-form button[type=submit]');
            await page.waitForFunction(() => document.getElementById('chat-status').dataset.kind === 'ok', null, { timeout: 30000 });
            for (let i = 1; i <= 3; i++)
                await admin(server.url, '/admin/publish', { stream: 'chat', data: { kind: 'chat', name: 'server', text: `line ${i}` } });
            await chatShows(page, ['ada: hello from the page', 'server: line 1', 'server: line 2', 'server: line 3']);

            assert.deepEqual(await servedBy(page), ['demo-node'], 'every answer names the one process');

            // the connection card: numbers and the timeline are drawn
            const card = await page.evaluate(() => ({
                requests: Number(document.getElementById('st-requests').textContent),
                messages: Number(document.getElementById('st-messages').textContent),
                rtt: document.getElementById('st-rtt').textContent,
                received: document.getElementById('st-in').textContent,
                bands: document.querySelectorAll('#timeline rect.band').length,
                reason: document.getElementById('reason').textContent,
            }));
            t.diagnostic(`connection card: ${JSON.stringify(card)}`);
            assert.ok(card.requests >= 1 && card.messages >= 6, 'requests (the start race poll at least) and messages counted');
            assert.match(card.rtt, /^\d+ ms$/);
            assert.match(card.received, /\d (B|kB|MB)$/);
            assert.ok(card.bands >= 1, 'the timeline has a band');
            assert.ok(card.reason.length > 10, 'the reason is said in words');

            // fault buttons: refuse + reconnect → every stream falls back to long polling; healthy → back up
            page.wsFailuresExpected = true; // Chromium logs each refused upgrade as a console error
            await page.click('button.fault[data-mode="refuse"]');
            await page.waitForFunction(() => /refuse/.test(document.getElementById('fault-status').textContent), null, { timeout: 10000 });
            await page.click('#reconnect');
            await streamsOpen(page, { transport: 'longpoll', timeoutMs: 30000 });
            await page.click('button.fault[data-mode="none"]');
            await streamsOpen(page, { transport: 'websocket', timeoutMs: 60000 }); // at the next probes (3 s, ×2, jittered)
            page.wsFailuresExpected = false;
            await counterCounts(page, 1); // nothing lost or repeated across the switches
            await sleep(1000); // a few ticks: the page keeps running without errors
            assert.deepEqual(page.problems, []);
        } finally {
            await ctx.close();
        }
    },
);

test('demo script.html: loads without console errors and shows a transport', { skip, timeout: 30000 }, async (t) => {
    const ctx = await b.browser.newContext();
    try {
        const page = await openDemo(ctx, server.url + '/script.html');
        const shown = await page.evaluate(() => [document.getElementById('badge').dataset.kind, document.getElementById('badge-text')?.textContent?.trim()]);
        t.diagnostic(`script.html: badge kind ${shown[0]}, says "${shown[1]}"`);
        assert.ok(TRANSPORT_KINDS.includes(shown[0]));
        assert.ok(shown[1] && !/^(Starting|No runtime|Not started)/.test(shown[1]), `badge text: ${shown[1]}`);
        await sleep(1500);
        assert.deepEqual(page.problems, []);
    } finally {
        await ctx.close();
    }
});

test('demo index.html in two tabs: the second follows the first, and both say the connection is shared by 2 tabs', { skip, timeout: 90000 }, async () => {
    const ctx = await b.browser.newContext();
    try {
        const first = await openDemo(ctx, server.url + '/');
        const second = await openDemo(ctx, server.url + '/');
        const says = (page, re) =>
            page.waitForFunction((src) => new RegExp(src).test(document.getElementById('sharing').textContent), re.source, { timeout: 30000 });
        const roles = await Promise.all([first, second].map((p) => p.evaluate(() => window.lifeline.role)));
        assert.deepEqual([...roles].sort(), ['follower', 'leader'], 'one tab leads the ticker stream, the other follows');
        const [leader, follower] = roles[0] === 'leader' ? [first, second] : [second, first];
        await says(leader, /^Connection shared by 2 tabs, this one leads\.$/);
        await says(follower, /^Connection shared by 2 tabs, this one follows\.$/);
        assert.deepEqual([...first.problems, ...second.problems], []);
    } finally {
        await ctx.close();
    }
});

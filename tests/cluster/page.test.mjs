// The demo page through nginx round robin over four processes (Flask under gunicorn with two
// workers, two Node processes) on one Redis, in Chromium: one page on the WebSocket and one
// polling only (`?websocket=0`, so its long polls land on every process in turn). Both show
// the three streams live (the first page on the WebSocket once every stream had a message),
// the ticks (published by node-1) moving, chat lines published on every
// process straight and through nginx exactly once each and in order, and the +1s of both
// pages counted exactly; the polling page's served-by card names processes of both languages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, clusterMissing } from '../lib/services.mjs';
import { skip as noChromium, launchBrowser } from '../browser/helpers.mjs';
import { openDemo, streamsOpen, ticks, counterCounts, chatShows, servedBy } from './demo-page.mjs';

const skip = noChromium || clusterMissing();

test('cluster demo page: one page served by Flask and Node processes through nginx, nothing lost or repeated', { skip, timeout: 180_000 }, async (t) => {
    const cluster = await startCluster({ flaskWorkers: 2, nodeProcesses: 2, tick: 500 });
    const b = await launchBrowser();
    try {
        const ctx = await b.browser.newContext();
        const wsPage = await openDemo(ctx, cluster.url + '/');
        const pollPage = await openDemo(ctx, cluster.url + '/?websocket=0');
        // live at once; on the WebSocket once each stream has had a message (a page whose race
        // poll answered first on an empty stream stays on long polling until then)
        t.diagnostic(`WebSocket page at first: ${(await streamsOpen(wsPage)).join(' | ')}`);
        t.diagnostic(`polling page: ${(await streamsOpen(pollPage, { transport: 'longpoll' })).join(' | ')}`);
        await ticks(wsPage);
        await ticks(pollPage);

        const lines = [];
        const publishers = [...cluster.members.map((m) => [m.label, m.url]), ['nginx', cluster.url]];
        for (let round = 1; round <= 2; round++) {
            for (const [label, url] of publishers) {
                const text = `round ${round}`;
                const res = await fetch(`${url}/admin/publish`, {
                    method: 'POST',
                    headers: { 'Content-Type': 'application/json' },
                    body: JSON.stringify({ stream: 'chat', data: { kind: 'chat', name: label, text } }),
                });
                assert.equal(res.status, 200, `publish on ${label}`);
                lines.push(`${label}: ${text}`);
            }
        }
        await chatShows(wsPage, lines);
        await chatShows(pollPage, lines);

        await counterCounts(wsPage, 2); // over the WebSocket
        await counterCounts(pollPage, 2); // POSTs, round robin
        await wsPage.waitForFunction((n) => Number(document.getElementById('count').textContent) === n, Number(await pollPage.textContent('#count')), {
            timeout: 30000,
        });
        t.diagnostic(`WebSocket page after: ${(await streamsOpen(wsPage, { transport: 'websocket', timeoutMs: 60000 })).join(' | ')}`);

        const names = await servedBy(pollPage);
        t.diagnostic(`polling page served by ${names.join(', ')}; WebSocket page by ${(await servedBy(wsPage)).join(', ')}`);
        assert.ok(names.includes('node-1') && names.includes('node-2'), 'both Node processes answered the polling page');
        assert.ok(
            names.some((n) => n.startsWith('flask-')),
            'a Flask worker answered the polling page',
        );
        assert.deepEqual(wsPage.problems, []);
        assert.deepEqual(pollPage.problems, []);
        await ctx.close();
    } finally {
        await b.close();
        await cluster.stop();
    }
});

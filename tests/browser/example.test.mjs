// demo/example.mjs, the README's ten-line Node app, in a real page: the list it serves grows
// with every publish, over the WebSocket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, spawnListening } from '../lib/servers.mjs';
import { skip, launchBrowser } from './helpers.mjs';

test('the ten-line Node example keeps a page live', { skip, timeout: 60000 }, async () => {
    const app = await spawnListening(process.execPath, [path.join(ROOT, 'demo', 'example.mjs')], { env: { PORT: '0' }, label: 'the example' });
    const url = app.url;
    let b;
    try {
        b = await launchBrowser();
        const page = await b.browser.newPage();
        const sockets = [];
        page.on('websocket', (ws) => sockets.push(ws.url()));
        await page.goto(url);
        await page.waitForFunction(() => document.querySelectorAll('#news li').length >= 3, null, { timeout: 15000 });
        const items = await page.$$eval('#news li', (lis) => lis.map((li) => li.textContent));
        for (const t of items) assert.match(t, /^It is \d{4}-\d\d-\d\dT/);
        assert.equal(new Set(items).size, items.length, 'each message once');
        assert.ok(
            sockets.some((u) => u.startsWith(url.replace('http', 'ws') + '/live/news')),
            `over the WebSocket: ${sockets}`,
        );
    } finally {
        await b?.close();
        await app.stop();
    }
});

// demo/example.mjs, the README's ten-line Node app, in a real page: the list it serves grows
// with every publish, over the WebSocket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../lib/servers.mjs';
import { skip, launchBrowser, within } from './helpers.mjs';

test('the ten-line Node example keeps a page live', { skip, timeout: 60000 }, async () => {
    const proc = spawn(process.execPath, [path.join(ROOT, 'demo', 'example.mjs')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let b;
    try {
        const url = await within(
            new Promise((resolve, reject) => {
                let out = '';
                proc.stdout.on('data', (d) => {
                    out += d;
                    const m = /LISTENING (\S+)/.exec(out);
                    if (m) resolve(m[1]);
                });
                proc.once('exit', (code) => reject(new Error(`example exited ${code}`)));
            }),
            15000,
            'the example listening',
        );
        b = await launchBrowser();
        const page = await b.browser.newPage();
        const sockets = [];
        page.on('websocket', (ws) => sockets.push(ws.url()));
        await page.goto(url);
        await page.waitForFunction(() => document.querySelectorAll('#news li').length >= 3, null, { timeout: 15000 });
        const items = await page.$$eval('#news li', (lis) => lis.map((li) => li.textContent));
        for (const t of items) assert.match(t, /^It is \d{4}-\d\d-\d\dT/);
        assert.equal(new Set(items).size, items.length, 'each message once');
        assert.ok(sockets.some((u) => u.startsWith(url.replace('http', 'ws') + '/live/news')), `over the WebSocket: ${sockets}`);
    } finally {
        await b?.close();
        proc.kill();
    }
});

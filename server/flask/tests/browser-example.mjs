// browser-example.mjs — the README's Flask example app (server/flask/example/app.py) keeps a
// real page live in headless Chromium: over the WebSocket under gevent, over long polling
// under Werkzeug's threaded server (`flask run`). Needs `make build` (dist/lifeline.mjs).
//
//   node --test server/flask/tests/browser-example.mjs        (make test-python runs it)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { skip, launchBrowser } from '../../../tests/browser/helpers.mjs';
import { spawnListening } from '../../../tests/lib/servers.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const startApp = (mode) => spawnListening('/usr/bin/python3', [path.join(HERE, 'browser_app.py'), mode], { label: `the Flask example (${mode})` });

async function publish(url, title) {
    const res = await fetch(`${url}/news`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ title }) });
    assert.equal(res.status, 200);
}

for (const [mode, transport] of [
    ['gevent', 'websocket'],
    ['flask-run', 'longpoll'],
]) {
    test(`the Flask example keeps a page live (${mode}: ${transport})`, { skip, timeout: 90000 }, async () => {
        const app = await startApp(mode);
        let b;
        try {
            b = await launchBrowser();
            const page = await b.browser.newPage();
            await page.goto(app.url);
            await page.waitForFunction((t) => window.live?.state === 'open' && window.live.transport === t, transport, { timeout: 30000 });
            for (const title of ['one', 'two', 'three']) await publish(app.url, title);
            await page.waitForFunction(() => document.querySelectorAll('#news li').length >= 3, null, { timeout: 15000 });
            const items = await page.$$eval('#news li', (lis) => lis.map((li) => li.textContent));
            assert.deepEqual(items, ['one', 'two', 'three'], 'each message once, in order');
            assert.equal(await page.evaluate(() => window.live.transport), transport);
        } finally {
            await b?.close();
            await app.stop();
        }
    });
}

// Scenario 7: the demo pages (demo/public/index.html, and script.html when present) load
// from the reference server with no console error and no uncaught exception, and show a
// transport in the badge. Skipped while a page does not exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startServer } from '../lib/servers.mjs';
import { skip, launchBrowser, sleep } from './helpers.mjs';

const pages = [
    { file: 'index.html', path: '/', textId: 'badge-transport' },
    { file: 'script.html', path: '/script.html', textId: 'badge-text' },
];
const TRANSPORT_KINDS = ['websocket', 'longpoll', 'poll'];

let server, b;
const anyPage = pages.some((p) => fs.existsSync(path.join(ROOT, 'demo/public', p.file)));
before(async () => {
    if (skip || !anyPage) return;
    server = await startServer('node', ['--tick', '500']);
    b = await launchBrowser();
});
after(async () => {
    await b?.close();
    await server?.stop();
});

for (const p of pages) {
    const missing = !fs.existsSync(path.join(ROOT, 'demo/public', p.file)) && `demo/public/${p.file} does not exist (yet)`;
    test(`demo ${p.file}: loads without console errors and shows a transport`, { skip: skip || missing, timeout: 30000 }, async (t) => {
        const ctx = await b.browser.newContext();
        try {
            const page = await ctx.newPage();
            const problems = [];
            page.on('pageerror', (e) => problems.push('pageerror: ' + String(e)));
            page.on('console', (m) => m.type() === 'error' && problems.push('console: ' + m.text()));
            page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()} ${r.url()}`));
            page.on('requestfailed', (r) => !/\/live\b/.test(r.url()) && problems.push(`failed ${r.url()} ${r.failure()?.errorText}`));
            await page.goto(server.url + p.path, { timeout: 15000 });
            await page.waitForFunction((kinds) => kinds.includes(document.getElementById('badge')?.dataset.kind), TRANSPORT_KINDS, { timeout: 10000 });
            const shown = await page.evaluate((id) => [document.getElementById('badge').dataset.kind, document.getElementById(id)?.textContent?.trim()], p.textId);
            t.diagnostic(`${p.file}: badge kind ${shown[0]}, says "${shown[1]}"`);
            assert.ok(TRANSPORT_KINDS.includes(shown[0]));
            assert.ok(shown[1] && !/^(Starting|No runtime|Not started)/.test(shown[1]), `badge text: ${shown[1]}`);
            await sleep(1500); // a few ticks: the page keeps running without errors
            assert.deepEqual(problems, []);
        } finally {
            await ctx.close();
        }
    });
}

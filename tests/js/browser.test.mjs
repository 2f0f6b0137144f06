// The dist files in headless Chromium: the <script> build (served without a charset, on a
// windows-1252 page: the inlined wasm is plain ASCII, so any page encoding reads it right)
// and the ES module build, each receiving a published message from the reference server.
// Skipped without Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, startServer, publish } from '../lib/servers.mjs';
import { CHROMIUM, FLAGS, skip } from '../lib/chromium.mjs';

test('dist/lifeline.js and dist/lifeline.mjs run in Chromium', { skip, timeout: 45000 }, async () => {
    const server = await startServer('node');
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: FLAGS,
    });
    try {
        const page = await browser.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.route(server.url + '/legacy.html', (r) =>
            r.fulfill({ contentType: 'text/html; charset=windows-1252', body: '<!doctype html><meta charset="windows-1252"><p>caf\xe9</p>' }),
        );
        await page.route(server.url + '/legacy.js', (r) =>
            r.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(path.join(ROOT, 'dist/lifeline.js')) }),
        );
        const receive = (kind) =>
            page.evaluate(
                async ([kind]) => {
                    const L = kind == 'esm' ? (await import('/dist/lifeline.mjs')).Lifeline : window.Lifeline;
                    const l = new L('/live/test', { websocket: kind == 'esm' });
                    const want = kind == 'esm' ? 'websocket' : 'longpoll';
                    await new Promise((r) => l.addEventListener('statechange', (e) => e.state == 'open' && e.transport == want && r()));
                    window.__ready = true;
                    for await (const m of l) {
                        const t = l.transport;
                        l.close();
                        return [m.data, t];
                    }
                },
                [kind],
            );
        for (const kind of ['esm', 'script']) {
            // the ES module on the demo's own page; the <script> build on a windows-1252 page
            // fulfilled by Playwright (which Chromium's local-network checks keep from opening
            // WebSockets to 127.0.0.1: that run polls)
            if (kind == 'script') {
                await page.goto(server.url + '/legacy.html');
                await page.addScriptTag({ url: server.url + '/legacy.js' });
            } else await page.goto(server.url + '/');
            const got = receive(kind);
            await page.waitForFunction(() => window.__ready, null, { timeout: 10000 });
            await page.evaluate(() => (window.__ready = false));
            await publish(server.url, { kind });
            const [data, transport] = await got;
            assert.deepEqual(data, { kind });
            assert.equal(transport, kind == 'esm' ? 'websocket' : 'longpoll');
        }
        assert.deepEqual(errors, []);
    } finally {
        await browser.close();
        await server.stop();
    }
});

// docs/node.md's first hour, run as written: its shell blocks by bash in a new temp
// directory, its `file=` block written there. What this machine needs instead of the
// reader's is swapped in, and only that: `npm install lifeline-live ws` installs the package
// npm pack makes of this checkout (not on the registry) and this checkout's ws, and the port
// is a free one. Then Chromium opens the page and receives every message.
/* global live -- the guide's page declares it (a top-level const: no window property) */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, freePort, spawnGroup } from '../lib/services.mjs';
import { launchBrowser, skip, within, sleep } from '../browser/helpers.mjs';

const GUIDE = fs.readFileSync(path.join(ROOT, 'docs/node.md'), 'utf8');
const firstHour = GUIDE.slice(GUIDE.indexOf('## The first hour'), GUIDE.indexOf('## Reference'));
const blocks = [...firstHour.matchAll(/^```(\w+)(?: file=(\S+))?\n([\s\S]*?)^```$/gm)].map(([, lang, file, text]) => ({ lang, file, text }));
const [install, run, publish] = blocks.filter((b) => b.lang == 'sh').map((b) => b.text.trim());

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-node-guide-'));
const cleanups = [];
after(async () => {
    for (const f of cleanups.reverse()) await f();
    fs.rmSync(dir, { recursive: true, force: true });
});

test('docs/node.md as written: npm install, the app with live.scriptTag(), node app.mjs → Chromium gets every message', { skip, timeout: 120000 }, async () => {
    const tgz = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' })
        .trim()
        .split('\n')
        .at(-1);
    const env = { npm_config_cache: path.join(dir, '.npm'), npm_config_audit: 'false', npm_config_fund: 'false' };
    const installing = install.replace('npm install lifeline-live ws', `npm install ${path.join(dir, tgz)} ${path.join(ROOT, 'node_modules/ws')}`);
    assert.notEqual(installing, install, 'the guide installs lifeline-live and ws');
    execFileSync('bash', ['-euc', installing], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
    for (const b of blocks.filter((b) => b.file)) fs.writeFileSync(path.join(dir, b.file), b.text);
    const port = await freePort();
    const server = spawnGroup('bash', ['-c', run], { cwd: dir, env: { PORT: String(port) } });
    cleanups.push(() => server.stop());
    const base = `http://127.0.0.1:${port}`;
    await within(
        (async () => {
            for (;;) {
                if (!server.alive()) throw new Error('node app.mjs exited:\n' + server.output());
                if (
                    await fetch(base + '/').then(
                        (r) => r.ok,
                        () => false,
                    )
                )
                    return;
                await sleep(100);
            }
        })(),
        20000,
        'the app serving /',
    );
    const browser = await launchBrowser();
    cleanups.push(() => browser.close());
    const page = await (await browser.browser.newContext()).newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('console', (m) => ['warning', 'error'].includes(m.type()) && problems.push(m.text()));
    await page.goto(base + '/');
    await within(
        (async () => {
            while ((await page.evaluate(() => `${live.state}/${live.transport}`)) != 'open/websocket') await sleep(50);
        })(),
        15000,
        'the page open over a WebSocket',
    );
    execFileSync('bash', ['-euc', publish.replace('127.0.0.1:8000', `127.0.0.1:${port}`)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
    const titles = ['hello'];
    for (let i = 1; i < 12; i++) {
        titles.push(`news ${i}`);
        assert.equal((await fetch(base + '/news', { method: 'POST', body: JSON.stringify({ title: `news ${i}` }) })).status, 200);
    }
    const shown = () => page.evaluate(() => [...document.querySelectorAll('#news li')].map((li) => li.textContent));
    await within(
        (async () => {
            while ((await shown()).length < titles.length) await sleep(50);
        })(),
        15000,
        'every message on the page',
    );
    assert.deepEqual(await shown(), titles);
    assert.deepEqual(problems, []);
});

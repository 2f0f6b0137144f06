// docs/node.md's first hour, run as written: its shell blocks by bash in a new temp
// directory, its `file=` block written there. What this machine needs instead of the
// reader's is swapped in, and only that: `npm install lifeline-live ws` installs the package
// npm pack makes of this checkout (not on the registry) and this checkout's ws, and the port
// is a free one. Then Chromium opens the page and receives every message.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, freePort, spawnGroup } from '../lib/services.mjs';
import { launchBrowser, skip } from '../browser/helpers.mjs';
import { until, serving, openNewsPage, shownNews, publishNews } from './guide.mjs';

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
    await serving(base + '/', server, 20000, 'node app.mjs');
    const browser = await launchBrowser();
    cleanups.push(() => browser.close());
    const { page, problems } = await openNewsPage(browser, base + '/');
    execFileSync('bash', ['-euc', publish.replace('127.0.0.1:8000', `127.0.0.1:${port}`)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
    const titles = await publishNews(base, 12);
    await until(async () => (await shownNews(page)).length >= titles.length, 15000, 'every message on the page');
    assert.deepEqual(await shownNews(page), titles);
    assert.deepEqual(problems, []);
});

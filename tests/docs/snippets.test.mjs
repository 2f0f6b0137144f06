// Every code block of docs/*.md is run by a test, or is text. A block's info string says how:
//
//   ```<lang> file=<name>        in a guide's first hour: its guide test (*-guide.test.mjs)
//                                writes it and runs the guide as written
//   ```<lang> file=<repo path>   elsewhere: that repository file, byte for byte (its own
//                                tests run it)
//   ```sh                        in a guide's first hour: run by its guide test
//   ```js page                   run here as a module in Chromium, on a page served beside a
//                                real Lifeline handler (same origin), 'lifeline-live' and
//                                'lifeline-live/csp' mapped to the client the handler serves
//   ```js node                   run here with node, in a project where lifeline-live, ws and
//                                express resolve
//   ```sh serve                  each line a command that serves the streams: run here, it
//                                must answer a poll of /live/test
//   ```text                      output or a diagram, not code
//
// What a snippet leaves to the app (render, show, reloadSnapshot; isAdmin, yourApp,
// serveTheRest) is a stub the page or `node --import` defines, and the ports 8080 and 8000
// are swapped for free ones: nothing else of a block is changed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { ROOT, freePort, spawnGroup } from '../lib/services.mjs';
import { launchBrowser, skip, sleep } from '../browser/helpers.mjs';
import { until, serving } from './guide.mjs';
import { createLifeline } from '../../server/node/index.mjs';

const PAGES = fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
const blocks = PAGES.flatMap((page) => {
    const md = fs.readFileSync(path.join(ROOT, 'docs', page), 'utf8');
    const firstHourEnd = md.search(/^## (Reference|Every option)/m);
    return [...md.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => {
        const [lang, ...rest] = m[1].trim().split(/\s+/);
        const kind = rest.join(' ');
        return { page, lang, kind, text: m[2], firstHour: firstHourEnd >= 0 && m.index < firstHourEnd && /^(flask|node)\.md$/.test(page) };
    });
});
const label = (b) => `${b.page}: \`\`\`${b.lang} ${b.kind}\n${b.text.split('\n')[0]}`;
const of = (lang, kind) => blocks.filter((b) => b.lang == lang && b.kind == kind);

test('every block of docs/ says how it is run (or is text)', () => {
    for (const b of blocks) {
        const ok =
            (b.kind.startsWith('file=') && (b.firstHour || fs.existsSync(path.join(ROOT, b.kind.slice(5))))) ||
            (b.lang == 'sh' && b.kind == '' && b.firstHour) ||
            (b.lang == 'js' && ['page', 'node'].includes(b.kind)) ||
            (b.lang == 'sh' && b.kind == 'serve') ||
            (b.lang == 'text' && b.kind == '');
        assert.ok(ok, `not run by any test: ${label(b)}`);
    }
});

test('a block showing a repository file is that file, byte for byte', () => {
    const shown = blocks.filter((b) => b.kind.startsWith('file=') && !b.firstHour);
    assert.ok(shown.length >= 1);
    for (const b of shown) assert.equal(b.text, fs.readFileSync(path.join(ROOT, b.kind.slice(5)), 'utf8'), label(b));
});

// ---- a real handler beside the pages and the Node clients ----------------------------------
const env = {};
before(async () => {
    const live = (env.live = createLifeline({ env: null, onSend: (stream, data) => live.publish(stream, data) }));
    const importMap = JSON.stringify({ imports: { 'lifeline-live': live.clientUrl('lifeline.mjs'), 'lifeline-live/csp': live.clientUrl('lifeline.csp.mjs') } });
    env.seen = [];
    env.server = http.createServer((req, res) => {
        env.seen.push(req.url);
        if (live.handle(req, res)) return;
        if (req.url == '/favicon.ico') return res.writeHead(204).end();
        if (req.url == '/api/weather.json') return res.writeHead(200, { 'Content-Type': 'application/json', ETag: '"w1"' }).end('{"sky":"clear"}');
        const snippet = env.pages?.get(req.url);
        if (snippet == null) return res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': 'text/html' }).end(`<!doctype html><title>snippet</title>
<script type="importmap">${importMap}</script>
<script>window.render = window.show = window.reloadSnapshot = () => (window.__called = (window.__called ?? 0) + 1);</script>
<script type="module">import { Lifeline } from 'lifeline-live'; window.Lifeline = Lifeline;</script>
<script type="module">${snippet}</script>`);
    });
    env.server.on('upgrade', (req, socket, head) => (env.seen.push('ws ' + req.url), live.upgrade(req, socket, head) || socket.destroy()));
    await new Promise((r) => env.server.listen(0, '127.0.0.1', r));
    env.base = `http://127.0.0.1:${env.server.address().port}`;
    env.pages = new Map();
});
after(async () => {
    await env.browser?.close();
    env.server?.close();
    await env.live?.close();
});

test('```js page blocks run in Chromium: no error, and the snippet talks to the server', { skip, timeout: 60000 }, async () => {
    const page_blocks = of('js', 'page');
    assert.ok(page_blocks.length >= 4);
    env.browser = await launchBrowser();
    for (const [i, b] of page_blocks.entries()) {
        const ctx = await env.browser.browser.newContext();
        try {
            const page = await ctx.newPage();
            const problems = [];
            page.on('pageerror', (e) => problems.push(String(e)));
            page.on('console', (m) => m.type() == 'error' && problems.push(m.text()));
            env.pages.set(`/snippet-${i}.html`, b.text);
            const before = env.seen.length;
            await page.goto(`${env.base}/snippet-${i}.html`);
            await page.waitForLoadState('load');
            await env.live.publish('news', { text: 'hello' });
            await sleep(1000);
            assert.deepEqual(problems, [], label(b));
            const asked = env.seen.slice(before).filter((u) => u != `/snippet-${i}.html`);
            assert.ok(asked.length > 0, `the snippet made no request: ${label(b)}`);
        } finally {
            await ctx.close();
        }
    }
});

test('```js node blocks run with node: a server answers a poll, a client connects', { timeout: 90000 }, async () => {
    const node_blocks = of('js', 'node');
    assert.ok(node_blocks.length >= 3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-snippets-'));
    try {
        fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module","private":true}');
        fs.mkdirSync(path.join(dir, 'node_modules'));
        fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'lifeline-live'), 'dir');
        for (const p of ['ws', 'express']) fs.symlinkSync(path.join(ROOT, 'node_modules', p), path.join(dir, 'node_modules', p), 'dir');
        fs.writeFileSync(
            path.join(dir, 'stubs.mjs'),
            'globalThis.isAdmin = () => false;\nglobalThis.yourApp = globalThis.serveTheRest = (req, res) => res.writeHead(404).end();\n',
        );
        for (const [i, b] of node_blocks.entries()) {
            const serves = b.text.includes('.listen(');
            const port = serves ? await freePort() : env.server.address().port;
            const file = path.join(dir, `snippet-${i}.mjs`);
            fs.writeFileSync(file, b.text.replaceAll('8080', String(port)));
            const before = env.seen.length;
            const run = spawnGroup(process.execPath, ['--import', './stubs.mjs', file], { cwd: dir });
            try {
                if (serves) await serving(`http://127.0.0.1:${port}/live/test`, run, 20000, label(b));
                else await until(() => env.seen.slice(before).some((u) => u.startsWith('ws /live/news')), 20000, label(b));
            } finally {
                await run.stop();
            }
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test('```sh serve blocks: each command serves the streams (a poll of /live/test answers 200)', { timeout: 240000 }, async () => {
    const serve_blocks = of('sh', 'serve');
    assert.ok(serve_blocks.length >= 2);
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-serve-'));
    fs.copyFileSync(path.join(ROOT, 'server/flask/example/app.py'), path.join(app, 'app.py'));
    try {
        for (const b of serve_blocks) {
            // the Flask guide's lines serve its example app (server/flask on PYTHONPATH, as its
            // docstring says); the deployment page's run from the checkout
            const cwd = b.page == 'flask.md' ? app : ROOT;
            for (const line of b.text.split('\n').filter((l) => l.trim())) {
                const port = await freePort();
                const run = spawnGroup('bash', ['-c', line.replaceAll('8000', String(port))], { cwd, env: { PYTHONPATH: path.join(ROOT, 'server/flask') } });
                try {
                    await serving(`http://127.0.0.1:${port}/live/test`, run, 60000, line);
                } finally {
                    await run.stop();
                }
            }
        }
    } finally {
        fs.rmSync(app, { recursive: true, force: true });
    }
});

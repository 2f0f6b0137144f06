// docs/flask.md, run as written: its shell blocks are run by bash in a new temp directory,
// its `file=` blocks written there, in order. What this machine needs instead of the
// reader's is swapped in, and only that: the checkout (`~/lifeline`), the Redis URL and
// the port (a Redis and a port of the test's own), and no package index (pip finds what it
// needs in the wheel and Debian's packages). The apt-get line is not run: the test checks
// its packages are installed. Then Chromium opens the page served by gunicorn's four
// workers and receives every message; and without LIFELINE_REDIS_URL gunicorn refuses to
// start, naming it.
/* global live -- the guide's page declares it (a top-level const: no window property) */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, startRedis, freePort, spawnGroup, redisAvailable } from '../lib/services.mjs';
import { launchBrowser, skip as noBrowser, within } from '../browser/helpers.mjs';
import { until, serving, openNewsPage, shownNews, publishNews } from './guide.mjs';

const GUIDE = fs.readFileSync(path.join(ROOT, 'docs/flask.md'), 'utf8');
const firstHour = GUIDE.slice(0, GUIDE.indexOf('## Reference'));
const WHEEL = path.join(ROOT, 'build/wheel/lifeline_flask-0.1.0-py3-none-any.whl');
const skip = noBrowser || (!redisAvailable() && 'no redis-server') || (!fs.existsSync(WHEEL) && `no ${WHEEL}: make wheel`);

/** The guide's fenced blocks, in order: {lang, file, text}. */
const blocks = [...firstHour.matchAll(/^```(\w+)(?: file=(\S+))?\n([\s\S]*?)^```$/gm)].map(([, lang, file, text]) => ({ lang, file, text }));
const shell = blocks.filter((b) => b.lang == 'sh').map((b) => b.text.trim());
const [install, run, publish, system] = shell;
const refusal = blocks.find((b) => b.lang == 'text').text.trim();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-flask-guide-'));
const cleanups = [];
after(async () => {
    for (const f of cleanups.reverse()) await f();
    fs.rmSync(dir, { recursive: true, force: true });
});

// a Debian user's PATH (this machine may put another python3 first), no package index
const ENV = { PATH: '/usr/bin:/bin', PIP_NO_INDEX: '1', PIP_FIND_LINKS: '' };
const swap = (text, redisUrl, port) =>
    text.replaceAll('~/lifeline', ROOT).replaceAll('redis://127.0.0.1:6379/0', redisUrl).replaceAll('127.0.0.1:8000', `127.0.0.1:${port}`);

test(
    'docs/flask.md as written: venv, wheel, one template tag, gunicorn -w 4 with LIFELINE_REDIS_URL → Chromium gets every message; without it gunicorn refuses to start, naming LIFELINE_REDIS_URL',
    { skip, timeout: 120000 },
    async () => {
        assert.equal(shell.length, 4, 'the guide has four shell blocks: install, run, publish, and the route without a venv');
        // 1. install: the packages of the apt-get line are there; the rest runs
        const [aptLine, ...commands] = install.split('\n');
        assert.match(aptLine, /^sudo apt-get install /);
        for (const pkg of aptLine.split(/\s+/).slice(3)) execFileSync('dpkg', ['-s', pkg], { stdio: 'ignore' });
        execFileSync('bash', ['-euc', swap(commands.join('\n'), '', 0)], { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
        // 2 and 3. the app and its template
        for (const b of blocks.filter((b) => b.file)) {
            fs.mkdirSync(path.dirname(path.join(dir, b.file)), { recursive: true });
            fs.writeFileSync(path.join(dir, b.file), b.text);
        }
        // 4. gunicorn, four workers, Redis from the environment
        const redis = await startRedis();
        cleanups.push(() => redis.stop());
        const port = await freePort();
        const server = spawnGroup('bash', ['-c', swap(run, redis.url + '/0', port)], { cwd: dir, env: ENV });
        cleanups.push(() => server.stop());
        const base = `http://127.0.0.1:${port}`;
        await serving(base + '/', server, 30000, 'gunicorn serving /');
        // gunicorn's processes in the group: the master (whose parent is not one of them) and its workers
        const gunicornWorkers = () => {
            const rows = execFileSync('ps', ['-o', 'pid=,ppid=,args=', '-g', String(server.pid)], { encoding: 'utf8' })
                .split('\n')
                .filter((l) => l.includes('gunicorn'))
                .map((l) => l.trim().split(/\s+/).map(Number));
            const pids = new Set(rows.map(([pid]) => pid));
            return rows.filter(([, ppid]) => pids.has(ppid)).length;
        };
        await until(() => gunicornWorkers() >= 4, 20000, 'four workers booted');
        assert.equal(gunicornWorkers(), 4, 'gunicorn runs four workers beside its master');

        const browser = await launchBrowser();
        cleanups.push(() => browser.close());
        const { page, problems } = await openNewsPage(browser, base + '/');
        await page.evaluate(() => {
            const events = (window.__events = []);
            for (const t of ['statechange', 'reset', 'error', 'message'])
                live.addEventListener(t, (e) => events.push([t, e.state, e.transport, e.reason, e.from, e.to, e.cursor, e.message].filter(Boolean).join(' ')));
        });
        // the guide's curl, then eleven more through the workers
        execFileSync('bash', ['-euc', swap(publish, '', port)], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
        const titles = await publishNews(base, 12);
        await until(async () => (await shownNews(page)).length >= titles.length, 15000, 'every message on the page').catch(async (e) => {
            throw new Error(
                `${e.message}: ${JSON.stringify(await shownNews(page))}\n${(await page.evaluate(() => window.__events)).join('\n')}\n${server.output()}`,
            );
        });
        assert.deepEqual(await shownNews(page), titles);
        assert.deepEqual(problems, []);
        await server.stop();

        // the same command without Redis: gunicorn does not start, and says why
        const bare = spawnGroup('bash', ['-c', swap(run, '', port).replace(/^LIFELINE_REDIS_URL=\S* /, '')], { cwd: dir, env: ENV });
        cleanups.push(() => bare.stop());
        const exit = await within(bare.exited, 30000, 'gunicorn giving up without Redis');
        assert.notEqual(exit.code, 0);
        assert.ok(bare.output().includes(refusal), bare.output());

        // without a venv: the package in a directory on PYTHONPATH, Debian's gunicorn serves it
        const [vendor, serve] = system.split('\n');
        execFileSync('bash', ['-euc', swap(vendor, '', 0)], { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
        const debian = spawnGroup('bash', ['-c', swap(serve, redis.url + '/0', port)], { cwd: dir, env: ENV });
        cleanups.push(() => debian.stop());
        await serving(base + '/', debian, 30000, "Debian's gunicorn serving /");
        assert.match(await (await fetch(base + '/')).text(), /<script src="\/live\/client\/lifeline\.[0-9a-f]{12}\.js"><\/script>/);
        const poll = await fetch(base + '/live/news?cursor=0');
        assert.deepEqual(
            (await poll.json()).messages.map((m) => m.data.title),
            titles,
            'the messages, from Redis',
        );
        await debian.stop();
    },
);

// browser-kit.mjs — what the browser benches share (bench/tabs.mjs, bench/streams.mjs): the
// page origin (a blank page, /lifeline.mjs and its share chunk from dist, /sio.mjs:
// socket.io-client bundled; on a free loopback port), a bounded wait, the results files, and
// the run itself (a watchdog, and every cleanup whatever happens).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, spawnListening } from '../tests/lib/servers.mjs';
import { browserBundle } from './bundle.mjs';
import { CHROMIUM, FLAGS } from '../tests/browser/helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(f, ms, what) {
    const end = Date.now() + ms;
    while (!(await f())) {
        if (Date.now() > end) throw new Error(`timed out (${ms} ms): ${what}`);
        await sleep(50);
    }
}

/** The page origin, the two servers (demo/server.mjs open to every origin, and
 *  bench/sio-server.mjs) and headless Chromium; `cleanups` gets what stops each. */
export async function startRig(cleanups) {
    const origin = await startStatic(cleanups);
    const lifelineServer = await startServer('node', ['--origins', '*']);
    cleanups.push(() => lifelineServer.stop());
    const sioServer = await spawnListening(process.execPath, [path.join(ROOT, 'bench/sio-server.mjs'), '--port', '0']);
    cleanups.push(() => sioServer.stop());
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    cleanups.push(() => browser.close());
    return { origin, servers: { lifeline: lifelineServer.url, sio: sioServer.url }, browser };
}

/** A figure per minute as the tables show it. */
export const perMinute = (v) => (v >= 100 ? String(Math.round(v)) : v.toFixed(1));

/** The page origin; `cleanups` gets what stops it. */
async function startStatic(cleanups) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-tabs-'));
    cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
    fs.writeFileSync(path.join(tmp, 'sio.mjs'), await browserBundle('socket.io-client'));
    const files = {
        '/lifeline.mjs': path.join(ROOT, 'dist/lifeline.mjs'),
        '/lifeline-share.mjs': path.join(ROOT, 'dist/lifeline-share.mjs'),
        '/lifeline-pool.mjs': path.join(ROOT, 'dist/lifeline-pool.mjs'),
        '/sio.mjs': path.join(tmp, 'sio.mjs'),
    };
    const srv = http.createServer((req, res) => {
        const f = files[new URL(req.url, 'http://x').pathname];
        res.writeHead(200, { 'Content-Type': f ? 'text/javascript' : 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(f ? fs.readFileSync(f) : '<!doctype html><meta charset="utf-8"><title>tab</title><p>tab</p>');
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => srv.close());
    return `http://127.0.0.1:${srv.address().port}`;
}

/** Write bench/<name>-results.{md,json} (--quick: bench/out/<name>-results-quick.*, which git
 *  ignores, so the committed results stay) and print the table. */
export function writeResults(name, quick, md, json) {
    const base = quick ? path.join(ROOT, 'bench', 'out', `${name}-results-quick`) : path.join(ROOT, 'bench', `${name}-results`);
    fs.mkdirSync(path.dirname(base), { recursive: true });
    fs.writeFileSync(base + '.md', md);
    fs.writeFileSync(base + '.json', JSON.stringify(json, null, 2) + '\n');
    console.log(md);
}

/** Run main() under a 20-minute watchdog, then every cleanup (last first), then exit. */
export async function runBench(main, cleanups, log) {
    const watchdog = setTimeout(() => {
        log('watchdog: hung, giving up');
        process.exit(1);
    }, 20 * 60000);
    try {
        await main();
    } finally {
        clearTimeout(watchdog);
        for (const c of cleanups.reverse())
            await Promise.resolve()
                .then(c)
                .catch(() => {});
    }
    process.exit(0);
}

// page-origin.mjs — the browser benches' page origin (bench/tabs.mjs, bench/streams.mjs): a
// blank page, /lifeline.mjs and its share chunk (dist), and /sio.mjs (socket.io-client
// bundled), on a free loopback port; and a bounded wait.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(f, ms, what) {
    const end = Date.now() + ms;
    while (!(await f())) {
        if (Date.now() > end) throw new Error(`timed out (${ms} ms): ${what}`);
        await sleep(50);
    }
}

/** The page origin; `cleanups` gets what stops it. */
export async function startStatic(cleanups) {
    const esbuild = await import('esbuild');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-tabs-'));
    cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const r = await esbuild.build({
        stdin: { contents: "export * from 'socket.io-client';", resolveDir: ROOT },
        bundle: true,
        minify: true,
        format: 'esm',
        platform: 'browser',
        write: false,
        logLevel: 'silent',
    });
    fs.writeFileSync(path.join(tmp, 'sio.mjs'), r.outputFiles[0].contents);
    const files = {
        '/lifeline.mjs': path.join(ROOT, 'dist/lifeline.mjs'),
        '/lifeline-share.mjs': path.join(ROOT, 'dist/lifeline-share.mjs'),
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

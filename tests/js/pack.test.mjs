// The npm package as a user gets it: npm pack, install the tarball into a temp project the
// way a user does (registry reachable, and an npm cache of its own that starts empty, so
// nothing cached by earlier work can help), import it by name, and receive a published
// message over WebSocket and over polling. A browser app installs lifeline-live alone: the
// server's `ws` and `redis` are optional peers, named in a clear error where they are needed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, startServer } from '../lib/servers.mjs';

const server = await startServer('node');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-pack-'));
after(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});

const cache = path.join(dir, 'npm-cache');
const npm = (args, cwd) =>
    execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000, env: { ...process.env, npm_config_cache: cache } });
const node = (args, cwd) =>
    new Promise((resolve) => execFile(process.execPath, args, { cwd, timeout: 20000 }, (err, stdout, stderr) => resolve({ err, out: stdout + stderr })));

// A user's script: connect, publish once open, print what arrives.
const SCRIPT = `
import { Lifeline } from 'lifeline-live';
import Default from 'lifeline-live';
import WebSocket from 'ws';
import { createLifeline, Rejected } from 'lifeline-live/server';
import { Lifeline as CspLifeline } from 'lifeline-live/csp';
if (typeof createLifeline !== 'function' || typeof Rejected !== 'function') throw new Error('lifeline-live/server exports');
const [url, websocket, entry] = process.argv.slice(2);
if (Default !== Lifeline) throw new Error('default export');
const l = new (entry == 'csp' ? CspLifeline : Lifeline)(url + '/live/test', { WebSocket, websocket: websocket == '1' });
const fail = setTimeout(() => { console.log('TIMEOUT', l.state, l.transport); process.exit(1); }, 10000);
l.addEventListener('statechange', async (e) => {
    if (e.state != 'open') return;
    await fetch(url + '/admin/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { hi: e.transport } }) });
});
for await (const m of l) {
    console.log('GOT', l.transport, JSON.stringify(m.data));
    clearTimeout(fail);
    l.close();
}
`;

// Without its optional peers, the server names the package to install.
const PEERLESS = `
import { createLifeline } from 'lifeline-live/server';
for (const options of [{}, { redis: 'redis://127.0.0.1:1' }]) {
    try { createLifeline(options); console.log('CREATED', JSON.stringify(options)); } catch (e) { console.log('ERROR', e.message); }
}
`;

test('npm pack, install with an empty npm cache: lifeline-live alone, its server names a missing ws or redis; import by name, receive over WebSocket and polling, and through lifeline-live/csp', async () => {
    const tgz = npm(['pack', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').at(-1);
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"user","private":true,"type":"module"}');
    npm(['install', '--no-audit', '--no-fund', '--ignore-scripts', path.join(dir, tgz)], dir);
    // What a browser app gets: lifeline-live and nothing else.
    assert.deepEqual(
        fs.readdirSync(path.join(dir, 'node_modules')).filter((n) => !n.startsWith('.')),
        ['lifeline-live'],
    );
    fs.writeFileSync(path.join(dir, 'peerless.mjs'), PEERLESS);
    const peerless = await node(['peerless.mjs'], dir);
    assert.match(
        peerless.out,
        /^ERROR lifeline-live\/server: the WebSocket transport needs the 'ws' package, which is not installed\. Install it beside lifeline-live: npm install ws$/m,
        peerless.out,
    );
    // The user's `npm install ws` (linked from this checkout's node_modules); redis stays missing.
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'ws'), path.join(dir, 'node_modules', 'ws'), 'dir');
    const noRedis = await node(['peerless.mjs'], dir);
    assert.match(noRedis.out, /^CREATED \{\}$/m, noRedis.out);
    assert.match(
        noRedis.out,
        /^ERROR lifeline-live\/server: the Redis store needs the 'redis' package, which is not installed\. Install it beside lifeline-live: npm install redis$/m,
        noRedis.out,
    );
    const pkg = path.join(dir, 'node_modules', 'lifeline-live');
    assert.deepEqual(fs.readdirSync(path.join(pkg, 'dist')).sort(), [
        'client',
        'lifeline-pool.mjs',
        'lifeline-share.mjs',
        'lifeline.csp.js',
        'lifeline.csp.mjs',
        'lifeline.d.ts',
        'lifeline.js',
        'lifeline.mjs',
        'lifeline.wasm',
    ]);
    assert.deepEqual(fs.readdirSync(path.join(pkg, 'dist/client')).sort(), fs.readdirSync(path.join(ROOT, 'dist/client')).sort());
    assert.match(fs.readFileSync(path.join(pkg, 'LICENSE'), 'utf8'), /^MIT License/);
    fs.writeFileSync(path.join(dir, 'user.mjs'), SCRIPT);
    const run = (ws, entry = 'main') => node(['user.mjs', server.url, ws, entry], dir);
    const a = await run('1'); // one after the other: each publishes what the other would see
    const b = await run('0');
    const c = await run('1', 'csp'); // lifeline-live/csp: the core as JavaScript
    assert.match(a.out, /GOT websocket \{"hi":"websocket"\}/, a.out);
    assert.match(b.out, /GOT (longpoll|poll) \{"hi":"(longpoll|poll)"\}/, b.out);
    assert.match(c.out, /GOT websocket \{"hi":"websocket"\}/, c.out);
});

// The npm package as a user gets it: npm pack, install the tarball into a temp project,
// import it by name, and receive a published message over WebSocket and over polling.
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

const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });

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

test('npm pack, install offline, import by name, receive over WebSocket and polling, and through lifeline-live/csp', async () => {
    const tgz = npm(['pack', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').at(-1);
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"user","private":true,"type":"module"}');
    npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(dir, tgz)], dir);
    // ws (a dependency of lifeline-live/server) comes with the package; link it when npm did not.
    if (!fs.existsSync(path.join(dir, 'node_modules', 'ws')))
        fs.symlinkSync(path.join(ROOT, 'node_modules', 'ws'), path.join(dir, 'node_modules', 'ws'), 'dir');
    const pkg = path.join(dir, 'node_modules', 'lifeline-live');
    assert.deepEqual(fs.readdirSync(path.join(pkg, 'dist')).sort(), [
        'lifeline-share.mjs',
        'lifeline.csp.js',
        'lifeline.csp.mjs',
        'lifeline.d.ts',
        'lifeline.js',
        'lifeline.mjs',
        'lifeline.wasm',
    ]);
    assert.match(fs.readFileSync(path.join(pkg, 'LICENSE'), 'utf8'), /^MIT License/);
    fs.writeFileSync(path.join(dir, 'user.mjs'), SCRIPT);
    const run = (ws, entry = 'main') =>
        new Promise((resolve) =>
            execFile(process.execPath, ['user.mjs', server.url, ws, entry], { cwd: dir, timeout: 20000 }, (err, stdout, stderr) =>
                resolve({ err, out: stdout + stderr }),
            ),
        );
    const a = await run('1'); // one after the other: each publishes what the other would see
    const b = await run('0');
    const c = await run('1', 'csp'); // lifeline-live/csp: the core as JavaScript
    assert.match(a.out, /GOT websocket \{"hi":"websocket"\}/, a.out);
    assert.match(b.out, /GOT (longpoll|poll) \{"hi":"(longpoll|poll)"\}/, b.out);
    assert.match(c.out, /GOT websocket \{"hi":"websocket"\}/, c.out);
});

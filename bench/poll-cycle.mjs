#!/usr/bin/env node
// poll-cycle.mjs — a polling client's own CPU per cycle (response read, delivery, next
// request): N clients in this process against a stub server (a child process) that answers
// every poll at once with one new message, so the server never waits and the figure is the
// client's. The library (dist/lifeline.mjs, `websocket: false`) or a hand-written loop, on
// the same fetch: node:http on one keep-alive agent (bench/cluster-fleet.mjs says why), or
// with FETCH=undici Node's own.
//
//   node bench/poll-cycle.mjs lifeline|raw [clients=200] [seconds=8]
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { keepAliveFetch, memoryStorage } from './node-io.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [kind = 'lifeline', N = '200', S = '8'] = process.argv.slice(2);
const stub = `
const http = require('node:http');
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x'); const c = Number((u.searchParams.get('cursor') ?? '0').split('-')[0]) || 0;
  const body = JSON.stringify({ cursor: String(c + 1), messages: [{ cursor: String(c + 1), data: { t: Date.now(), n: c + 1 } }] });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'lifeline-long-poll': '25000', 'lifeline-websocket': 'none', 'cache-control': 'no-store' });
  res.end(body);
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
const srv = spawn(process.execPath, ['-e', stub], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((r) => srv.stdout.once('data', (d) => r(Number(String(d)))));
const url = `http://127.0.0.1:${port}/live/bench`;
let delivered = 0;
const F = process.env.FETCH === 'undici' ? fetch : keepAliveFetch;
if (kind === 'raw') {
    for (let i = 0; i < Number(N); i++)
        (async () => {
            let cursor = '0';
            for (;;) {
                const r = await F(`${url}?cursor=${cursor}&wait=25000`);
                const b = JSON.parse(await r.text());
                for (const m of b.messages) if (m.data) delivered++;
                cursor = b.cursor;
            }
        })();
} else {
    const { Lifeline } = await import(path.join(ROOT, 'dist', 'lifeline.mjs'));
    for (let i = 0; i < Number(N); i++) {
        const l = new Lifeline(url, { fetch: F, websocket: false, storage: memoryStorage(), cursor: '0' });
        l.addEventListener('message', () => delivered++);
        l.addEventListener('error', (e) => console.error('error', e.code ?? e.detail?.code));
    }
}
await new Promise((r) => setTimeout(r, 2000)); // warm
const c0 = process.cpuUsage(),
    d0 = delivered,
    t0 = performance.now();
await new Promise((r) => setTimeout(r, Number(S) * 1000));
const c = process.cpuUsage(c0),
    d = delivered - d0,
    wall = performance.now() - t0;
console.log(
    kind,
    process.env.FETCH ?? 'keepAliveFetch',
    'clients',
    N,
    'cycles/s',
    Math.round((d / wall) * 1000),
    'client CPU µs per cycle',
    Math.round(((c.user + c.system) / d) * 10) / 10,
);
srv.kill();
process.exit(0);

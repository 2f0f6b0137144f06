#!/usr/bin/env node
// ws-delivery.mjs — a WebSocket client's own CPU per delivered message: N clients of one
// library in this process on one server (demo/server.mjs with the memory store, or
// bench/sio-server.mjs), M messages published 20 a second; this process's CPU over them
// divided by the deliveries.
//
//   node bench/ws-delivery.mjs lifeline|sio [clients=500] [messages=100]
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServer, admin } from '../tests/lib/servers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [lib = 'lifeline', N = '500', K = '100'] = process.argv.slice(2);
let srv, url;
if (lib === 'sio') {
    const p = spawn(process.execPath, [path.join(ROOT, 'bench', 'sio-server.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    url = await new Promise((r) =>
        p.stdout.on('data', (d) => {
            const m = /LISTENING (\S+)/.exec(String(d));
            if (m) r(m[1]);
        }),
    );
    srv = { url, stop: () => p.kill() };
} else {
    srv = await startServer('node', ['--name', 'n1']);
    url = srv.url;
}
let delivered = 0,
    open = 0;
if (lib === 'sio') {
    const { io } = await import('socket.io-client');
    for (let i = 0; i < Number(N); i++) {
        const s = io(url, { forceNew: true, transports: ['websocket'] });
        s.on('connect', () => open++);
        s.on('msg', (m) => {
            if (m?.data) delivered++;
        });
    }
} else {
    const { Lifeline } = await import(path.join(ROOT, 'dist', 'lifeline.mjs'));
    const m = new Map();
    const storage = { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
    for (let i = 0; i < Number(N); i++) {
        const l = new Lifeline(`${url}/live/bench`, { WebSocket, storage });
        (globalThis.ls ??= []).push(l);
        l.addEventListener('message', () => delivered++);
    }
}
if (globalThis.ls) {
    while (globalThis.ls.some((l) => l.state !== 'open')) await new Promise((r) => setTimeout(r, 100));
    open = Number(N);
}
while (open < Number(N)) await new Promise((r) => setTimeout(r, 100));
await new Promise((r) => setTimeout(r, 1000));
const c0 = process.cpuUsage(),
    d0 = delivered;
for (let k = 0; k < Number(K); k++) {
    await admin(url, '/admin/publish', lib === 'sio' ? { data: { k } } : { stream: 'bench', data: { k } });
    await new Promise((r) => setTimeout(r, 50));
}
const t = performance.now();
while (delivered - d0 < Number(N) * Number(K) && performance.now() - t < 10000) await new Promise((r) => setTimeout(r, 20));
const c = process.cpuUsage(c0),
    d = delivered - d0;
console.log(lib, 'clients', N, 'delivered', d, 'client CPU µs per delivery', Math.round(((c.user + c.system) / d) * 10) / 10);
await srv.stop();
process.exit(0);

#!/usr/bin/env node
// ws-delivery.mjs — a WebSocket client's own CPU per delivered message: N clients of one
// library in this process on one server (demo/server.mjs with the memory store, or
// bench/sio-server.mjs), M messages published 20 a second; this process's CPU over them
// divided by the deliveries.
//
//   node bench/ws-delivery.mjs lifeline|sio [clients=500] [messages=100]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServer, spawnListening, admin, until } from '../tests/lib/servers.mjs';
import { memoryStorage } from './node-io.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [lib = 'lifeline', N = '500', K = '100'] = process.argv.slice(2);
const srv =
    lib === 'sio'
        ? await spawnListening(process.execPath, [path.join(ROOT, 'bench', 'sio-server.mjs'), '--port', '0'])
        : await startServer('node', ['--name', 'n1']);
const url = srv.url;
let delivered = 0;
const opened = []; // per client: whether it is open
if (lib === 'sio') {
    const { io } = await import('socket.io-client');
    for (let i = 0; i < Number(N); i++) {
        const s = io(url, { forceNew: true, transports: ['websocket'] });
        s.on('msg', (m) => {
            if (m?.data) delivered++;
        });
        opened.push(() => s.connected);
    }
} else {
    const { Lifeline } = await import(path.join(ROOT, 'dist', 'lifeline.mjs'));
    for (let i = 0; i < Number(N); i++) {
        const l = new Lifeline(`${url}/live/bench`, { WebSocket, storage: memoryStorage() });
        l.addEventListener('message', () => delivered++);
        opened.push(() => l.state === 'open');
    }
}
await until(() => opened.every((open) => open()), { timeoutMs: 60000, what: `${N} ${lib} clients open` });
await new Promise((r) => setTimeout(r, 1000));
const c0 = process.cpuUsage(),
    d0 = delivered;
for (let k = 0; k < Number(K); k++) {
    await admin(url, '/admin/publish', lib === 'sio' ? { data: { k } } : { stream: 'bench', data: { k } });
    await new Promise((r) => setTimeout(r, 50));
}
// every delivery, or what came within 10 s (the line printed says how many)
await until(() => delivered - d0 >= Number(N) * Number(K), { timeoutMs: 10000 }).catch(() => {});
const c = process.cpuUsage(c0),
    d = delivered - d0;
console.log(lib, 'clients', N, 'delivered', d, 'client CPU µs per delivery', Math.round(((c.user + c.system) / d) * 10) / 10);
await srv.stop();
process.exit(0);

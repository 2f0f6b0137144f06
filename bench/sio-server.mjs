#!/usr/bin/env node
// sio-server.mjs — the socket.io side of the benchmark: a stock `socket.io` server (default
// options: pingInterval 25 s, pingTimeout 20 s, polling + websocket, no state recovery)
// with an admin API shaped like demo/server.mjs's, so bench/run.mjs drives both alike.
//
//   node bench/sio-server.mjs --port 0     prints `LISTENING http://127.0.0.1:<port>`
//   … --redis redis://127.0.0.1:<p>        several processes on one Redis through
//                                          @socket.io/redis-streams-adapter (bench/cluster.mjs):
//                                          a publish on one reaches the sockets of every one
//
//   on connection         the socket gets `msg` {seq: <current>, welcome: true} at once
//                         (the "first message" of time-to-first-message; Lifeline gets the
//                         retained log with cursor=0, the same one round trip of data)
//   POST /admin/publish   {data} → every socket gets `msg` {seq, data}; answers {seq};
//                         {stream, data}: the sockets of namespace /<stream> only
//                         (bench/streams.mjs: one namespace per stream)
//   POST /admin/restart   destroys every TCP connection (WebSockets and polls) except the
//                         admin request's own, like a crashed-and-restarted process that
//                         is listening again at once (demo/server.mjs's restart, too)
//   GET  /admin/stats     {ws, poll, post, connected}; POST /admin/stats/reset
import http from 'node:http';
import { Server } from 'socket.io';

let port = 0;
let redisUrl = null;
for (let i = 2; i < process.argv.length; i++) {
    if (process.argv[i] === '--port') port = Number(process.argv[++i]);
    else if (process.argv[i] === '--redis') redisUrl = process.argv[++i];
}

const sockets = new Set();
let stats = { ws: 0, poll: 0, post: 0 };
// bytes on the wire (TCP payload, both directions), sockets closed since the reset included
let closedIn = 0,
    closedOut = 0,
    baseIn = 0,
    baseOut = 0;
const bytes = () => {
    let i = closedIn,
        o = closedOut;
    for (const s of sockets) ((i += s.bytesRead), (o += s.bytesWritten));
    return [i, o];
};
let seq = 0;

const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (!u.pathname.startsWith('/admin/')) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        return res.end('not found');
    }
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
        const json = (o) => {
            res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
            res.end(JSON.stringify(o));
        };
        if (u.pathname === '/admin/publish') {
            let data = null,
                stream = null;
            try {
                ({ data = null, stream = null } = JSON.parse(body || '{}'));
            } catch {}
            seq++;
            (stream ? io.of('/' + stream) : io).emit('msg', { seq, data });
            return json({ seq });
        }
        if (u.pathname === '/admin/restart') {
            for (const s of sockets) if (s !== req.socket) s.destroy();
            return json({ seq });
        }
        if (u.pathname === '/admin/stats') {
            const [i, o] = bytes();
            return json({ ...stats, bytesIn: i - baseIn, bytesOut: o - baseOut, connected: io.engine.clientsCount });
        }
        if (u.pathname === '/admin/stats/reset') {
            stats = { ws: 0, poll: 0, post: 0 };
            [baseIn, baseOut] = bytes();
            return json(stats);
        }
        res.writeHead(404);
        res.end();
    });
});
server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => {
        sockets.delete(s);
        closedIn += s.bytesRead;
        closedOut += s.bytesWritten;
    });
});
// count requests the way the engine sees them (before socket.io handles them)
server.prependListener('request', (req) => {
    if (req.url.startsWith('/socket.io/')) req.method === 'POST' ? stats.post++ : req.method === 'GET' && stats.poll++;
});
server.prependListener('upgrade', () => stats.ws++);

let adapter;
if (redisUrl) {
    const { createClient } = await import('redis');
    const { createAdapter } = await import('@socket.io/redis-streams-adapter');
    const redisClient = createClient({ url: redisUrl });
    redisClient.on('error', (e) => process.stderr.write(`redis: ${e.message}\n`));
    await redisClient.connect();
    adapter = createAdapter(redisClient);
}
const io = new Server(server, { cors: { origin: '*' }, serveClient: false, ...(adapter ? { adapter } : {}) });
io.on('connection', (socket) => socket.emit('msg', { seq, welcome: true }));
io.of(/^\/[\w-]+$/).on('connection', (socket) => socket.emit('msg', { seq, welcome: true }));

server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`LISTENING http://127.0.0.1:${server.address().port}\n`);
});
const stop = () => {
    io.close();
    for (const s of sockets) s.destroy();
    setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

#!/usr/bin/env node
// cluster-fleet.mjs — N clients of one library in this one process, spread over several
// server URLs, half on the WebSocket and half polling; reports publish→deliver latencies.
// bench/cluster.mjs spawns a few of these and drives them over stdin/stdout (JSON lines).
//
//   node bench/cluster-fleet.mjs --lib lifeline|sio|raw --urls http://a,http://b --clients 2500
//        [--kind websocket|polling|mixed] [--seed 1]
//
// --kind: every client on the WebSocket, every client polling, or (mixed, the default) even
// clients on the WebSocket and odd ones polling. bench/cluster.mjs runs one fleet per kind,
// so that a burst of long-poll answers in one process does not delay the WebSocket clients'
// deliveries (nor the other way round).
// lifeline: the real library (dist/lifeline.mjs, the wasm core + shim) per client with the
//           `ws` package, stream `bench` from now; WebSocket clients default options, polling
//           ones `websocket: false` (long polling, the server offers it); `fetch`: the
//           fleet's keepAliveFetch (below).
// sio:      socket.io-client per client (forceNew); transports ['websocket'], or ['polling']
//           (engine.io long polling, its own requests over node:http).
// raw:      no client library: the wire protocol by hand (a `ws` socket answering pings; a
//           long-poll loop on keepAliveFetch, as a page's hand-written loop would use fetch)
//           — the floor the servers give, so that what the Lifeline fleet adds on top is the
//           client's own cost.
// keepAliveFetch: fetch over node:http with one keep-alive agent, the same for the library
// and the hand-written clients. Not Node's own fetch (undici): its one pool per origin,
// shared by thousands of clients in one process, opens a new TCP connection for about one
// poll in five (10,085 per 50,000 polls of 2,500 hand-written clients, counted on undici's
// diagnostics channel) and loses requests to sockets the server just closed; the same
// hand-written clients deliver at p50 1.0–1.3 s on it against 0.2–0.4 s on keepAliveFetch.
// A browser has its own connection per page, which this agent is closer to (docs/benchmarks.md).
// Client i talks to urls[i % urls.length] (what a round-robin balancer would give a fresh
// connection), so every server process holds the same share.
//
// stdout: {"type":"open","open":n,"clients":N} every 500 ms until all are open, then once
//         more; on stdin `measure` the latency samples start afresh; on `report`
//         {"type":"report","latencies":[ms,…],"byKind":{"websocket":[…],"polling":[…]},
//         "timeline":[[sent, read, delivered],…] (lifeline and raw polling clients: when the
//         request that carried a message was sent, when its response had been read, when it
//         was delivered, each in ms after the publish),
//         "received":n,"open":n,"byTransport":{<transport in use now>: clients}};
//         on `exit` (or stdin closed) every client is closed and the process exits.
// Latency: each message carries t = the publisher's performance.timeOrigin + now() (one
// machine, one clock); the sample is this process's same clock at delivery minus t.
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { agent, keepAliveFetch, memoryStorage } from './node-io.mjs';
import { SUBPROTOCOL } from '../server/node/protocol.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (k, d) => {
    const i = process.argv.indexOf('--' + k);
    return i > 0 ? process.argv[i + 1] : d;
};
const lib = arg('lib', 'lifeline');
const urls = String(arg('urls', '')).split(',').filter(Boolean);
const N = Number(arg('clients', 100));
const SEED = Number(arg('seed', 1));
const KIND = arg('kind', 'mixed');
/** Whether client i is a WebSocket client (else it polls). */
const onWebSocket = (i) => (KIND === 'websocket' ? true : KIND === 'polling' ? false : i % 2 === 0);
const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let latencies = [];
let byKind = { websocket: [], polling: [] }; // the same samples by the client's kind
let received = 0;
const clients = [];
let timeline = []; // polling deliveries: [request sent, response read, delivered], ms after the publish
const deliver = (data, kind, poll) => {
    if (!data || typeof data.t !== 'number') return; // sio's welcome message
    received++;
    const now = clock();
    const ms = Math.round((now - data.t) * 10) / 10;
    latencies.push(ms);
    byKind[kind].push(ms);
    if (poll?.answered) timeline.push([poll.sent - data.t, poll.answered - data.t, now - data.t]);
};

/** A client's own keepAliveFetch that notes when its latest request was sent and when its
 *  response had been read (`poll`, for the timeline of a delivery). */
const timedFetch = (poll) => (url, init) => {
    poll.sent = clock();
    poll.answered = 0;
    return keepAliveFetch(url, init).then((r) => ((poll.answered = clock()), r));
};

async function lifelineMaker() {
    const { Lifeline } = await import(path.join(ROOT, 'dist', 'lifeline.mjs'));
    return (i) => {
        const websocket = onWebSocket(i);
        const poll = { sent: 0, answered: 0 };
        const l = new Lifeline(`${urls[i % urls.length]}/live/bench`, {
            WebSocket,
            fetch: timedFetch(poll),
            websocket,
            storage: memoryStorage(),
            seed: SEED * 100003 + i,
        });
        const c = {
            transport: websocket ? 'websocket' : 'longpoll',
            get open() {
                return l.state === 'open';
            },
            get now() {
                return l.transport;
            },
            close: () => l.close(),
        };
        l.addEventListener('message', (e) => (websocket ? deliver(e.data, 'websocket') : deliver(e.data, 'polling', poll)));
        l.addEventListener('error', () => {});
        return c;
    };
}

async function sioMaker() {
    const { io } = await import('socket.io-client');
    return (i) => {
        const websocket = onWebSocket(i);
        const s = io(urls[i % urls.length], { forceNew: true, transports: websocket ? ['websocket'] : ['polling'] });
        const c = {
            transport: websocket ? 'websocket' : 'polling',
            open: false,
            get now() {
                return s.io.engine?.transport?.name ?? 'none';
            },
            close: () => s.close(),
        };
        s.on('connect', () => (c.open = true));
        s.on('disconnect', () => (c.open = false));
        s.on('msg', (m) => deliver(m?.data, websocket ? 'websocket' : 'polling'));
        return c;
    };
}

function rawMaker() {
    const get = async (url, poll) => {
        const r = await timedFetch(poll)(url);
        return { status: r.status, body: await r.text() };
    };
    return (i) => {
        const base = `${urls[i % urls.length]}/live/bench`;
        if (onWebSocket(i)) {
            const c = { transport: 'websocket', open: false, now: 'websocket', closed: false };
            const connect = () => {
                const ws = new WebSocket(base.replace(/^http/, 'ws'), [SUBPROTOCOL], { perMessageDeflate: false });
                c.ws = ws;
                ws.on('message', (d) => {
                    const f = JSON.parse(String(d));
                    if (f.type === 'hello') c.open = true;
                    else if (f.type === 'msg') deliver(f.data, 'websocket');
                    else if (f.type === 'ping') ws.send('{"type":"pong"}');
                });
                ws.on('error', () => {});
                ws.on('close', () => {
                    c.open = false;
                    if (!c.closed) setTimeout(connect, 1000);
                });
            };
            connect();
            c.close = () => ((c.closed = true), c.ws.terminate());
            return c;
        }
        const c = { transport: 'longpoll', open: false, now: 'longpoll', closed: false, poll: { sent: 0, answered: 0 } };
        (async () => {
            let cursor = null;
            while (!c.closed) {
                try {
                    const r = await get(cursor ? `${base}?cursor=${cursor}&wait=25000` : base, c.poll);
                    if (r.status === 200) {
                        const b = JSON.parse(r.body);
                        for (const m of b.messages ?? []) deliver(m.data, 'polling', c.poll);
                        cursor = b.cursor;
                        c.open = true;
                    } else if (r.status !== 204 && r.status !== 304) await sleep(1000);
                } catch {
                    if (!c.closed) await sleep(1000);
                }
            }
        })();
        c.close = () => ((c.closed = true), agent.destroy());
        return c;
    };
}

const openCount = () => clients.reduce((n, c) => n + (c.open ? 1 : 0), 0);

async function main() {
    const make = lib === 'sio' ? await sioMaker() : lib === 'raw' ? rawMaker() : await lifelineMaker();
    // connect in batches of 100 every 50 ms (not a herd of our own making)
    for (let i = 0; i < N; i++) {
        clients.push(make(i));
        if (i % 100 === 99) await sleep(50);
    }
    let reported = -1;
    const tick = setInterval(() => {
        const open = openCount();
        if (open !== reported) out({ type: 'open', open, clients: N });
        reported = open;
    }, 500);
    const rl = readline.createInterface({ input: process.stdin });
    const finish = () => {
        clearInterval(tick);
        for (const c of clients) c.close();
        setTimeout(() => process.exit(0), 300);
    };
    rl.on('line', (line) => {
        const cmd = line.trim();
        if (cmd === 'measure') {
            latencies = [];
            byKind = { websocket: [], polling: [] };
            timeline = [];
            received = 0;
        } else if (cmd === 'report') {
            const byTransport = {};
            for (const c of clients) byTransport[c.now] = (byTransport[c.now] ?? 0) + 1;
            out({ type: 'report', latencies, byKind, timeline, received, open: openCount(), byTransport });
        } else if (cmd === 'exit') finish();
    });
    rl.on('close', finish);
}

main().catch((e) => {
    out({ type: 'error', error: String(e?.stack || e) });
    process.exit(2);
});

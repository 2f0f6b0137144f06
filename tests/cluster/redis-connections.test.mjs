// Redis connections per process do not grow with clients: Flask under gunicorn (2 workers)
// and two Node processes on one Redis behind nginx, first with 10 clients, then with many
// (half WebSockets, half long polls held open, all through nginx), while messages fan out
// to every one of them. Counted three ways that must agree: each process's established TCP
// connections to the Redis port (/proc/<pid>/fd + /proc/<pid>/net/tcp), Redis's own
// `CLIENT LIST`, and the process's `/admin/stats` `redisConnections`.
//
//   CLUSTER_MANY=1000 node --test tests/cluster/redis-connections.test.mjs   (default 400)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../lib/servers.mjs';
import { startCluster, clusterMissing, groupPids, tcpConnectionsTo } from '../lib/services.mjs';
import { waitFor, sleep } from '../integration/helpers.mjs';

const MANY = Math.max(50, Number(process.env.CLUSTER_MANY ?? 400));
const STREAM = 'fanout';
// server/DESIGN.md: two per process, one for commands and one Pub/Sub subscriber, in both
// languages (a gunicorn worker is a process), whatever the number of clients.
const PER_PROCESS = 2;
const skip = clusterMissing();

/** A raw WebSocket subscriber (cheap: no Lifeline core), counting `msg` frames. */
function wsClient(url) {
    const c = { got: 0, hello: false, ws: new WebSocket(url.replace(/^http/, 'ws') + `/live/${STREAM}`, [SUBPROTOCOL], { handshakeTimeout: 20000 }) };
    c.ws.on('message', (d) => {
        const f = JSON.parse(String(d));
        if (f.type === 'hello') c.hello = true;
        if (f.type === 'msg') c.got++;
        if (f.type === 'ping') c.ws.send('{"type":"pong"}');
    });
    c.ws.on('error', () => {});
    c.close = () => c.ws.terminate();
    return c;
}

/** A raw long poller: polls from the head, holds `wait`, counts messages, until closed. */
function pollClient(url) {
    const c = { got: 0, cursor: null, polls: 0, stopped: false, ac: new AbortController() };
    (async () => {
        while (!c.stopped) {
            try {
                const q = c.cursor ? `?cursor=${c.cursor}&wait=20000` : '';
                const res = await fetch(`${url}/live/${STREAM}${q}`, { signal: c.ac.signal });
                c.polls++;
                if (res.status === 200) {
                    const body = await res.json();
                    c.got += body.messages?.length ?? 0;
                    c.cursor = body.cursor;
                } else await res.arrayBuffer();
            } catch {
                if (!c.stopped) await sleep(200);
            }
        }
    })();
    c.close = () => {
        c.stopped = true;
        c.ac.abort();
    };
    return c;
}

async function stats(url) {
    const res = await fetch(`${url}/admin/stats`, { signal: AbortSignal.timeout(10000) });
    return { servedBy: res.headers.get('lifeline-served-by'), ...(await res.json()) };
}

/** Per pid of every member (gunicorn: its workers), established connections to Redis. */
function perProcess(cluster) {
    const out = {};
    for (const m of cluster.members) {
        for (const pid of groupPids(m.pid)) {
            const n = tcpConnectionsTo(pid, cluster.redis.port);
            if (m.kind === 'flask' && pid === m.pid && n === 0) continue; // the gunicorn master serves nothing
            out[`${m.label}/${pid}`] = n;
        }
    }
    return out;
}

test(
    `never more than two Redis connections per process, from 10 to ${MANY} clients through nginx (Flask ×2 workers, Node ×2)`,
    { skip, timeout: 300_000 },
    async (t) => {
        const cluster = await startCluster({ flaskWorkers: 2, nodeProcesses: 2, serverArgs: ['--long-poll-max', '20000'] });
        const clients = [];
        try {
            const measure = async (n) => {
                while (clients.length < n) {
                    const i = clients.length;
                    clients.push(i % 2 === 0 ? wsClient(cluster.url) : pollClient(cluster.url));
                    if (i % 50 === 49) await sleep(100);
                }
                const ws = clients.filter((c) => c.ws);
                await waitFor(
                    () => ws.every((c) => c.hello),
                    60_000,
                    () => `hello at ${ws.filter((c) => c.hello).length}/${ws.length} WebSockets`,
                );
                const pollers = clients.filter((c) => !c.ws);
                await waitFor(() => pollers.every((c) => c.cursor), 60_000, 'every poller to have a cursor');
                // fan-out load: messages from a Node process and from gunicorn, every client gets them
                const before = clients.map((c) => c.got);
                for (let k = 0; k < 5; k++) {
                    for (const m of cluster.members) {
                        await fetch(`${m.url}/admin/publish`, {
                            method: 'POST',
                            headers: { 'Content-Type': 'application/json' },
                            body: JSON.stringify({ stream: STREAM, data: { k, from: m.label } }),
                        });
                    }
                }
                const expect = 5 * cluster.members.length;
                await waitFor(
                    () => clients.every((c, i) => c.got - before[i] >= expect),
                    60_000,
                    () => `every client to get ${expect} messages: ${clients.filter((c, i) => c.got - before[i] < expect).length} behind`,
                );
                await sleep(500);
                const procs = perProcess(cluster);
                const list = await cluster.redis.clients();
                const fromServers = list.filter((c) => c.cmd !== 'client|list').length; // redis-cli's own asks CLIENT LIST
                // /admin/stats of each Node process, and of the gunicorn workers that answer (a
                // worker's name ends in /<pid>)
                const admin = {};
                for (const m of cluster.members.filter((x) => x.kind === 'node')) admin[`${m.label}/${m.pid}`] = (await stats(m.url)).redisConnections;
                const gunicorn = cluster.members.find((x) => x.kind === 'flask');
                for (let k = 0; k < 6; k++) {
                    const s = await stats(gunicorn.url);
                    const pid = /\/(\d+)$/.exec(s.servedBy ?? '')?.[1];
                    if (pid) admin[`${gunicorn.label}/${pid}`] = s.redisConnections;
                }
                t.diagnostic(
                    `${n} clients: per process ${JSON.stringify(procs)}; CLIENT LIST ${fromServers} (without redis-cli's own); /admin/stats redisConnections ${JSON.stringify(admin)}`,
                );
                return { procs, fromServers, admin };
            };

            const few = await measure(10);
            const many = await measure(MANY);
            // (a process connects when it first serves; a gunicorn worker that 10 clients never
            // reached may have none yet)
            for (const [pid, n] of Object.entries(many.procs)) {
                assert.ok((few.procs[pid] ?? 0) <= PER_PROCESS, `${pid}: at most ${PER_PROCESS} Redis connections at 10 clients`);
                assert.equal(n, PER_PROCESS, `${pid}: ${PER_PROCESS} Redis connections at ${MANY} clients`);
            }
            for (const r of [few, many]) {
                const total = Object.values(r.procs).reduce((a, b) => a + b, 0);
                assert.equal(r.fromServers, total, 'CLIENT LIST counts what /proc counts');
                for (const [key, n] of Object.entries(r.admin)) assert.equal(n, r.procs[key], `${key}: /admin/stats redisConnections agrees with /proc`);
                assert.ok(
                    Object.keys(r.admin).some((k) => k.startsWith('flask')),
                    'a gunicorn worker reported its redisConnections',
                );
            }
            assert.ok(Object.keys(many.procs).length >= 4, `four serving processes: ${Object.keys(many.procs).join(', ')}`);
        } finally {
            for (const c of clients) c.close();
            await cluster.stop();
        }
    },
);

// The launchers of tests/lib/services.mjs: redis-server keeps or loses its data across a
// restart as configured; nginx round-robins plain requests, passes WebSocket upgrades and
// skips a dead upstream; and whatever happens to the process that started them (normal
// stop, uncaught exception, SIGTERM), nothing is left running and no temp dir is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { WebSocketServer, WebSocket } from 'ws';
import { SUBPROTOCOL } from '../lib/servers.mjs';
import { startRedis, startNginx, portClosed, redisCli, NGINX, REDIS_SERVER, ROOT } from '../lib/services.mjs';

const skip = !fs.existsSync(NGINX) || !fs.existsSync(REDIS_SERVER) ? 'redis-server or nginx not installed (make deps)' : false;
// running (a zombie that nobody reaped yet counts as gone: this sandbox's init reaps nothing)
const alive = (pid) => {
    try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
        return false;
    }
};

test('redis: without persistence a restart starts empty; with AOF even a crash keeps every write; stop leaves nothing', { skip, timeout: 60000 }, async () => {
    const plain = await startRedis();
    const durable = await startRedis({ aof: true });
    try {
        for (const r of [plain, durable]) {
            assert.match(await r.cli(['ping']), /PONG/);
            await r.cli(['set', 'k', 'v']);
        }
        await plain.restart();
        assert.equal((await plain.cli(['get', 'k'])).trim(), '', 'a restart without persistence keeps nothing');
        await durable.restart({ crash: true });
        assert.equal((await durable.cli(['get', 'k'])).trim(), 'v', 'AOF with fsync always keeps the write across a SIGKILL');
    } finally {
        await plain.stop();
        await durable.stop();
    }
    for (const r of [plain, durable]) {
        assert.ok(await portClosed(r.port), `port ${r.port} closed`);
        assert.ok(!fs.existsSync(r.dir), `${r.dir} removed`);
        assert.ok(!alive(r.pid), `redis ${r.pid} gone`);
    }
});

/** A tiny upstream: answers its name, echoes WebSocket frames with its name. */
async function upstream(name) {
    const server = http.createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Lifeline-Served-By': name });
        res.end(name);
    });
    const wss = new WebSocketServer({ server, handleProtocols: (p) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
    wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send(`${name}:${m}:${req.headers.host}`)));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return {
        name,
        port: server.address().port,
        close: () => {
            for (const c of wss.clients) c.terminate();
            return new Promise((r) => server.close(r));
        },
    };
}

const get = async (url) => {
    const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
    return { status: res.status, body: await res.text(), servedBy: res.headers.get('lifeline-served-by') };
};

test('nginx: plain round robin (weights), WebSocket upgrades with the subprotocol and Host, a dead upstream skipped', { skip, timeout: 60000 }, async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    let nginx;
    try {
        nginx = await startNginx({ upstreams: [{ port: a.port, weight: 2 }, { port: b.port }] });
        const seen = [];
        for (let i = 0; i < 30; i++) seen.push((await get(nginx.url + '/x')).body);
        const count = (n) => seen.filter((s) => s === n).length;
        assert.equal(count('a'), 20, `weight 2 gets two of every three requests: ${seen.join('')}`);
        assert.equal(count('b'), 10);
        // no stickiness: consecutive requests of one client (one keep-alive connection) alternate
        assert.ok(seen.slice(0, 6).includes('b') && seen.slice(0, 6).includes('a'));

        const ws = new WebSocket(nginx.url.replace('http', 'ws') + '/live', [SUBPROTOCOL], { handshakeTimeout: 10000 });
        const echoed = await new Promise((resolve, reject) => {
            ws.once('open', () => ws.send('hi'));
            ws.once('message', (m) => resolve(String(m)));
            ws.once('error', reject);
        });
        assert.equal(ws.protocol, SUBPROTOCOL);
        assert.match(echoed, new RegExp(`^[ab]:hi:127\\.0\\.0\\.1:${nginx.port}$`), 'frames pass both ways; Host is the one the client sent');
        ws.close();

        await b.close();
        const after = [];
        for (let i = 0; i < 6; i++) after.push(await get(nginx.url + '/y'));
        assert.deepEqual(
            after.map((r) => `${r.status}${r.body}`),
            Array(6).fill('200a'),
            'a refused upstream is retried on the next one',
        );
    } finally {
        await nginx?.stop();
        await a.close();
        await b.close().catch(() => {});
    }
    assert.ok(await portClosed(nginx.port), 'nginx port closed');
    assert.ok(!fs.existsSync(nginx.dir), 'nginx temp dir removed');
    assert.ok(!alive(nginx.pid), 'nginx master gone');
});

// A child process starts redis + nginx, reports their pids, ports and dirs, then ends the
// way the test says; afterwards nothing of it may be left.
const CHILD = `
import { startRedis, startNginx } from ${JSON.stringify(path.join(ROOT, 'tests/lib/services.mjs'))};
const r = await startRedis({ aof: true });
const n = await startNginx({ upstreams: [{ port: r.port }] });
console.log(JSON.stringify({ pids: [r.pid, n.pid], ports: [r.port, n.port], dirs: [r.dir, n.dir] }));
const how = process.env.HOW;
if (how === 'throw') setTimeout(() => { throw new Error('boom'); }, 1000);
else if (how === 'exit') setTimeout(() => process.exit(0), 1000);
else setInterval(() => {}, 1000); // wait for SIGTERM / SIGINT
`;

for (const how of ['throw', 'exit', 'SIGTERM', 'SIGINT']) {
    test(`cleanup: a process that starts redis and nginx and then ends by ${how} leaves no process, port or temp dir`, { skip, timeout: 60000 }, async () => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOW: how } });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const exited = new Promise((r) => child.once('exit', r));
        const info = await new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`child reported nothing:\n${out}`)), 30000);
            child.stdout.on('data', () => {
                const m = /^(\{.*\})$/m.exec(out);
                if (m) (clearTimeout(t), resolve(JSON.parse(m[1])));
            });
        });
        for (const pid of info.pids) assert.ok(alive(pid), `pid ${pid} runs while the child lives`);
        if (how.startsWith('SIG')) child.kill(how);
        await exited;
        for (const port of info.ports) assert.ok(await portClosed(port), `port ${port} closed after ${how}`);
        for (const pid of info.pids) assert.ok(!alive(pid), `pid ${pid} gone after ${how}`);
        for (const dir of info.dirs) assert.ok(!fs.existsSync(dir), `${dir} removed after ${how}`);
    });
}

test('redisCli reports a refused connection as an error (no hang)', { skip, timeout: 20000 }, async () => {
    const r = await startRedis();
    const port = r.port;
    await r.stop();
    await assert.rejects(redisCli(port, ['ping']), /redis-cli ping/);
});

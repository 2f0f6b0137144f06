// redis.mjs — a throwaway redis-server for a test file: a free port, a temp dir, no
// persistence unless asked, stopped whatever happens (also when the test process exits).
//
//   const r = await startRedis();                 // {port, url, dir, cli(...args), stop(), restart(), kill()}
//   const r = await startRedis({ aof: true });    // --appendonly yes: a restart keeps the data

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const redisAvailable = () => fs.existsSync(REDIS_SERVER);

const running = new Set();
process.on('exit', () => {
    for (const p of running) {
        try {
            p.kill('SIGKILL');
        } catch {}
    }
});

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

async function waitUp(port, timeoutMs) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const ok = await new Promise((resolve) => {
            const sock = net.connect(port, '127.0.0.1');
            let buf = '';
            sock.on('connect', () => sock.write('PING\r\n'));
            sock.on('data', (d) => {
                buf += d;
                if (buf.includes('\r\n')) {
                    sock.destroy();
                    resolve(buf.startsWith('+PONG'));
                }
            });
            sock.on('error', () => resolve(false));
        });
        if (ok) return;
        if (Date.now() > end) throw new Error(`redis-server on ${port} not up within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
    }
}

/**
 * @param {{aof?: boolean, timeoutMs?: number}} [opts]
 */
export async function startRedis(opts = {}) {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-redis-'));
    const timeoutMs = opts.timeoutMs ?? 10000;
    let proc = null;
    let exited = null;
    const args = () => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', opts.aof ? 'yes' : 'no', '--dir', dir];
    async function start() {
        proc = spawn(REDIS_SERVER, args(), { stdio: 'ignore' });
        running.add(proc);
        const p = proc;
        exited = new Promise((resolve) => p.once('exit', resolve)).then(() => running.delete(p));
        await waitUp(port, timeoutMs);
    }
    async function halt(signal) {
        if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
    }
    await start();
    const r = {
        port,
        url: `redis://127.0.0.1:${port}`,
        dir,
        /** Run redis-cli against it; resolves to its stdout. */
        cli: (...a) =>
            new Promise((resolve, reject) =>
                execFile('redis-cli', ['-p', String(port), ...a], { timeout: 10000 }, (err, out) => (err ? reject(err) : resolve(out.trim()))),
            ),
        /** Stop it (SIGTERM: with AOF the data is kept) and start it again on the same port. */
        async restart() {
            await halt('SIGTERM');
            await start();
        },
        /** Kill it (SIGKILL) and leave it down until start(). */
        kill: () => halt('SIGKILL'),
        start,
        async stop() {
            await halt('SIGTERM');
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
    return r;
}

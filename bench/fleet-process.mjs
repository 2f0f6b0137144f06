// fleet-process.mjs — a fleet of clients in a child process (bench/cluster-fleet.mjs), driven
// over its stdin and stdout: bench/cluster.mjs and bench/idle-cost.mjs start theirs here.
//
// startFleet(lib, urls, clients, kind, seed) → {proc, open (clients open now), err (its
// stderr's tail), send(cmd), report(ms) (the fleet's latency report), stop(), exited}.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function startFleet(lib, urls, clients, kind, seed) {
    const proc = spawn(
        process.execPath,
        [
            path.join(ROOT, 'bench', 'cluster-fleet.mjs'),
            '--lib',
            lib,
            '--urls',
            urls.join(','),
            '--clients',
            String(clients),
            '--kind',
            kind,
            '--seed',
            String(seed),
        ],
        {
            cwd: ROOT,
            stdio: ['pipe', 'pipe', 'pipe'],
        },
    );
    const f = { proc, open: 0, waiters: [], err: '' };
    proc.stderr.on('data', (d) => (f.err = (f.err + d).slice(-4000)));
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
        let m;
        try {
            m = JSON.parse(line);
        } catch {
            return;
        }
        if (m.type === 'open') f.open = m.open;
        if (m.type === 'report' || m.type === 'error') f.waiters.shift()?.(m);
    });
    f.exited = new Promise((r) => proc.once('exit', r));
    f.send = (cmd) => proc.stdin.write(cmd + '\n');
    f.report = (ms = 60000) =>
        new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`fleet ${lib}: no report within ${ms} ms ${f.err}`)), ms);
            f.waiters.push((m) => (clearTimeout(t), m.type === 'error' ? reject(new Error(m.error)) : resolve(m)));
            f.send('report');
        });
    f.stop = async () => {
        try {
            f.send('exit');
        } catch {}
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await f.exited;
        clearTimeout(t);
    };
    return f;
}

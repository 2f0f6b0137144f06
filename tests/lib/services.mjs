// services.mjs — start and stop the services a multi-process Lifeline needs: redis-server,
// nginx (round robin, WebSockets proxied), and a set of reference server processes (Node
// and Flask under gunicorn) on Redis. Used by tests/cluster/, bench/cluster.mjs and
// `make demo-cluster` (demo/cluster.mjs).
//
//   const redis = await startRedis({ aof: true });       // redis.url, redis.restart(), redis.stop()
//   const nginx = await startNginx({ upstreams: [{ port: 8001, weight: 2 }, { port: 8002 }] });
//   const c = await startCluster({ flaskWorkers: 2, nodeProcesses: 2 });
//   c.url                      nginx in front of every process
//   c.members                  [{kind, label, url, kill(), start(), stop()}]
//   await c.stop();
//
// Theory. Every service runs in its own temp dir (removed on stop) on a loopback port chosen
// free just before, in its own process group (detached), so that stopping it stops what it
// started too (gunicorn's workers, nginx's worker). Everything started is registered; a
// process `exit` (normal, uncaught exception) and SIGINT/SIGTERM kill every registered
// group synchronously, so a failing or interrupted test leaves nothing running. (A SIGKILL of
// this process cannot be caught: redis-server and nginx would then outlive it.)
//
// nginx: `nginx -c TMP/nginx.conf -p TMP/ -e TMP/error.log`, `daemon off`, pid, logs and
// every *_temp_path inside TMP. Started as root its worker runs as `nobody`, so TMP is 755 and
// the temp paths 1777. Plain round robin (weights count processes: a gunicorn port with two
// workers weighs 2), no sticky sessions, so consecutive polls of one client land on
// different processes. Upgrade/Connection headers are passed for WebSockets, buffering is
// off and read timeouts are an hour (long polls and quiet sockets), a refused connection is
// retried on the next process (`proxy_next_upstream error`, a dead process is skipped for
// 1 s), and `Host` is passed as the browser sent it (the servers compare `Origin` with it).

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';
export const NGINX = '/usr/sbin/nginx';
export const redisAvailable = () => fs.existsSync(REDIS_SERVER);
export const PYTHON = '/usr/bin/python3';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What is missing on this machine to run a cluster (false when nothing is). */
export function clusterMissing() {
    for (const f of [REDIS_SERVER, REDIS_CLI, NGINX, PYTHON]) if (!fs.existsSync(f)) return `${f} is not installed (make deps)`;
    for (const f of ['demo/server.mjs', 'demo/flask/server.py', 'dist/lifeline.mjs']) {
        if (!fs.existsSync(path.join(ROOT, f))) return `${f} does not exist (make build)`;
    }
    return false;
}

// ------------------------------------------------------------------ process groups

const groups = new Set(); // pids of process-group leaders we started and have not reaped
const dirs = new Set(); // temp dirs not removed yet
let hooked = false;
function killGroup(pid, signal = 'SIGKILL') {
    try {
        process.kill(-pid, signal);
    } catch {}
}
function hookExit() {
    if (hooked) return;
    hooked = true;
    const cleanUp = () => {
        for (const pid of groups) killGroup(pid);
        for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    };
    process.on('exit', cleanUp);
    for (const sig of ['SIGINT', 'SIGTERM']) {
        process.on(sig, () => {
            cleanUp();
            process.exit(sig === 'SIGINT' ? 130 : 143);
        });
    }
}

/**
 * Spawn `cmd args` as the leader of a new process group; output kept (last 64 KiB).
 * Returns {proc, pid, output(), exited: Promise<{code, signal}>, stop(graceMs), kill()}.
 */
export function spawnGroup(cmd, args, { cwd = ROOT, env = {}, onStdout } = {}) {
    hookExit();
    const proc = spawn(cmd, args, {
        cwd,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PYTHONUNBUFFERED: '1', ...env },
    });
    const pid = proc.pid;
    if (pid) groups.add(pid);
    let out = '';
    const keep = (d) => {
        out += d;
        if (out.length > 65536) out = out.slice(-32768);
    };
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => (keep(d), onStdout?.(d)));
    proc.stderr.on('data', keep);
    const exited = new Promise((resolve) => {
        proc.once('error', (e) => (keep(String(e)), resolve({ code: null, signal: null, error: e })));
        proc.once('exit', (code, signal) => resolve({ code, signal }));
    });
    // the leader is gone: its group may still hold children (gunicorn workers), kill them too
    exited.then(() => {
        killGroup(pid);
        groups.delete(pid);
    });
    const alive = () => proc.exitCode === null && proc.signalCode === null;
    let stopping = null;
    return {
        proc,
        pid,
        output: () => out,
        exited,
        alive,
        /** SIGTERM the group, SIGKILL it after graceMs; resolves when the leader exited. */
        stop(graceMs = 3000) {
            stopping ??= (async () => {
                if (!alive()) return;
                killGroup(pid, 'SIGTERM');
                const t = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
                await exited;
                clearTimeout(t);
            })();
            return stopping;
        },
        /** SIGKILL the whole group at once (a crash); resolves when the leader exited. */
        async kill() {
            if (alive()) killGroup(pid, 'SIGKILL');
            await exited;
        },
    };
}

// ------------------------------------------------------------------ ports and dirs

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.unref();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

/** Resolves true once something accepts TCP connections on the port, false after timeoutMs. */
export async function waitPort(port, { timeoutMs = 15000, while: still = () => true } = {}) {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && still()) {
        const ok = await new Promise((resolve) => {
            const s = net.connect({ host: '127.0.0.1', port });
            s.once('connect', () => (s.destroy(), resolve(true)));
            s.once('error', () => resolve(false));
        });
        if (ok) return true;
        await sleep(25);
    }
    return false;
}

/** Resolves true once nothing accepts on the port any more (false after timeoutMs). */
export async function portClosed(port, timeoutMs = 5000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const open = await new Promise((resolve) => {
            const s = net.connect({ host: '127.0.0.1', port });
            s.once('connect', () => (s.destroy(), resolve(true)));
            s.once('error', () => resolve(false));
        });
        if (!open) return true;
        if (Date.now() > end) return false;
        await sleep(25);
    }
}

function tempDir(name) {
    hookExit();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lifeline-${name}-`));
    fs.chmodSync(dir, 0o755); // nginx's worker runs as nobody when started as root
    dirs.add(dir);
    return dir;
}
const removeDir = (dir) => {
    fs.rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
};

// ------------------------------------------------------------------ /proc

/** Pids (alive, not zombies) whose process group is `pgid`: a member and what it forked. */
export function groupPids(pgid) {
    const out = [];
    for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
            const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp …
            if (f[0] !== 'Z' && Number(f[2]) === pgid) out.push(Number(d));
        } catch {}
    }
    return out;
}

/** TCP connections (IPv4 loopback) from `pid` to 127.0.0.1:`port`, counted from /proc. */
export function tcpConnectionsTo(pid, port) {
    const inodes = new Set();
    try {
        for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
            try {
                const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
                if (m) inodes.add(m[1]);
            } catch {}
        }
    } catch {
        return 0;
    }
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    let n = 0;
    for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        // f[2] remote address, f[3] state (01 = ESTABLISHED), f[9] inode
        if (f.length > 9 && f[2].endsWith(':' + hexPort) && f[3] === '01' && inodes.has(f[9])) n++;
    }
    return n;
}

// ------------------------------------------------------------------ redis

/** Run redis-cli against a port; resolves to its stdout (rejects on a non-zero exit). */
export function redisCli(port, args, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
        execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: timeoutMs }, (err, stdout, stderr) =>
            err ? reject(new Error(`redis-cli ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve(stdout),
        );
    });
}

/** `CLIENT LIST` parsed: [{id, addr, name, cmd, …}]. */
export async function redisClients(port) {
    const text = await redisCli(port, ['client', 'list']);
    return text
        .split('\n')
        .filter(Boolean)
        .map((line) => Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
}

/**
 * A throwaway redis-server on a free loopback port, in a temp dir.
 * aof: true  → `--appendonly yes --appendfsync always`: a restart (even a crash) keeps every
 *              acknowledged write;
 * aof: false → `--save '' --appendonly no`: a restart starts empty.
 * Returns {url, port, dir, aof, restart({crash}), stop(), cli(args), clients()}.
 */
/** The arguments every throwaway redis-server (or sentinel) of the tests starts with: a
 *  loopback port, its own directory, in the foreground, logging to stdout. */
const redisBase = (port, dir) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--logfile', ''];

export async function startRedis({ aof = false } = {}) {
    const dir = tempDir('redis');
    const port = await freePort();
    const args = [...redisBase(port, dir), '--save', ''];
    args.push(...(aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    let group = null;
    const start = async () => {
        group = spawnGroup(REDIS_SERVER, args, { cwd: dir });
        const g = group;
        if (!(await waitPort(port, { while: g.alive }))) {
            await g.kill();
            throw new Error(`redis-server did not listen on ${port}\n${g.output()}`);
        }
        // accepting is not loading: with AOF, PING answers LOADING until the file is read
        const end = Date.now() + 15000;
        for (;;) {
            const pong = await redisCli(port, ['ping']).catch((e) => e.message);
            if (/PONG/.test(pong)) break;
            if (Date.now() > end) throw new Error(`redis-server on ${port} not ready: ${pong}`);
            await sleep(25);
        }
    };
    await start();
    return {
        url: `redis://127.0.0.1:${port}`,
        port,
        dir,
        aof,
        get pid() {
            return group.pid;
        },
        /**
         * Stop (crash: SIGKILL; else SIGTERM, which fsyncs the AOF) and start again on the same
         * port. wipe: the data files are deleted in between — a Redis that lost everything
         * (what a restart without persistence is), whatever `aof` says.
         */
        async restart({ crash = false, downMs = 0, wipe = false } = {}) {
            if (crash) await group.kill();
            else await group.stop();
            if (wipe) for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
            if (downMs) await sleep(downMs);
            await start();
        },
        /** Take it down without restarting (start() brings it back). */
        async down({ crash = false } = {}) {
            if (crash) await group.kill();
            else await group.stop();
        },
        start,
        cli: (a) => redisCli(port, a),
        clients: () => redisClients(port),
        async stop() {
            await group.stop();
            removeDir(dir);
        },
    };
}

// ------------------------------------------------------------------ nginx

/** The nginx.conf for a round robin over `upstreams` ([{port, weight}]) listening on `port`. */
export function nginxConf({ dir, port, upstreams }) {
    const servers = upstreams
        .map((u) => `        server 127.0.0.1:${u.port}${u.weight > 1 ? ` weight=${u.weight}` : ''} max_fails=1 fail_timeout=1s;`)
        .join('\n');
    return `# generated by tests/lib/services.mjs — round robin, no sticky sessions
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 32768; }
http {
    access_log off;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    # WebSocket upgrades pass Upgrade/Connection on; plain requests get an empty
    # Connection, so the upstream keep-alive pool is used
    map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
    upstream lifeline {
${servers}
        keepalive 64;
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://lifeline;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 0;
            client_max_body_size 1m;
        }
    }
}
`;
}

/**
 * nginx from a temp prefix in front of upstreams ([{port, weight?}]).
 * Returns {url, port, dir, conf, stop(), errorLog()}.
 */
export async function startNginx({ upstreams, port } = {}) {
    if (!upstreams?.length) throw new Error('startNginx: no upstreams');
    const dir = tempDir('nginx');
    fs.mkdirSync(path.join(dir, 'tmp'), { mode: 0o1777 });
    fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
    if (!port) port = await freePort(); // 0 too: nginx has no 'any port'
    const conf = nginxConf({ dir, port, upstreams });
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
    const group = spawnGroup(NGINX, ['-c', path.join(dir, 'nginx.conf'), '-p', dir + '/', '-e', path.join(dir, 'error.log')], { cwd: dir });
    const errorLog = () => {
        try {
            return fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
        } catch {
            return '';
        }
    };
    if (!(await waitPort(port, { while: group.alive }))) {
        await group.kill();
        const why = group.output() + errorLog();
        removeDir(dir);
        throw new Error(`nginx did not listen on ${port}\n${why}`);
    }
    return {
        url: `http://127.0.0.1:${port}`,
        port,
        dir,
        conf,
        get pid() {
            return group.pid;
        },
        errorLog,
        async stop() {
            await group.stop(); // SIGTERM: fast shutdown of master and worker
            removeDir(dir);
        },
    };
}

// ------------------------------------------------------------------ reference server processes

const KINDS = {
    node: (port, args) => [process.execPath, [path.join(ROOT, 'demo', 'server.mjs'), '--host', '127.0.0.1', '--port', String(port), ...args]],
    flask: (port, args) => [PYTHON, [path.join(ROOT, 'demo', 'flask', 'server.py'), '--host', '127.0.0.1', '--port', String(port), ...args]],
};

/**
 * One reference server process (or gunicorn with its workers) on a fixed port, so that it
 * can be killed and started again behind the same nginx upstream.
 * Returns {kind, label, port, url, start(), stop(), kill(), alive(), pid, output()}.
 */
export async function startMember(kind, { port, args = [], label, timeoutMs = 20000 } = {}) {
    if (!KINDS[kind]) throw new Error(`unknown server kind ${kind}`);
    port ??= await freePort();
    let group = null;
    const member = {
        kind,
        label: label ?? kind,
        port,
        url: `http://127.0.0.1:${port}`,
        get pid() {
            return group?.pid;
        },
        alive: () => !!group?.alive(),
        output: () => group?.output() ?? '',
        async start() {
            const [cmd, argv] = KINDS[kind](port, args);
            let listening;
            const seen = new Promise((resolve) => (listening = resolve));
            let buf = '';
            group = spawnGroup(cmd, argv, {
                onStdout: (d) => {
                    buf += d;
                    if (/^LISTENING http:\/\/\S+\s*$/m.test(buf)) listening(true);
                },
            });
            const g = group;
            let timer;
            const ok = await Promise.race([seen, g.exited.then(() => false), new Promise((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
            clearTimeout(timer);
            if (!ok) {
                await g.kill();
                throw new Error(`${member.label} (${cmd} ${argv.join(' ')}) did not print LISTENING within ${timeoutMs} ms\n${g.output()}`);
            }
            // LISTENING comes from the parent; with gunicorn the workers boot after it
            if (!(await waitPort(port, { while: g.alive }))) throw new Error(`${member.label}: nothing listens on ${port}\n${g.output()}`);
            return member;
        },
        stop: () => group?.stop() ?? Promise.resolve(),
        kill: () => group?.kill() ?? Promise.resolve(),
    };
    return member.start();
}

/**
 * Redis + Flask under gunicorn (flaskWorkers workers, one port) + nodeProcesses Node
 * processes, all on that Redis, behind one nginx (on `port`, default a free one). Weights
 * make each process one share. `tick` (ms) is given to node-1 only: one source of the
 * `ticker` stream, not one random walk per process interleaved.
 * Returns {url, redis, nginx, members, stop()}; stop() stops everything it started, also
 * when called after a partial failure.
 */
export async function startCluster({ flaskWorkers = 2, nodeProcesses = 2, aof = false, tick, serverArgs = [], redis, port } = {}) {
    const started = [];
    const ownRedis = !redis;
    const cluster = {
        redis: null,
        nginx: null,
        members: [],
        url: null,
        async stop() {
            await Promise.allSettled([cluster.nginx?.stop(), ...cluster.members.map((m) => m.stop())]);
            if (ownRedis) await cluster.redis?.stop().catch(() => {});
        },
    };
    try {
        cluster.redis = redis ?? (await startRedis({ aof }));
        const common = ['--redis', cluster.redis.url, ...serverArgs];
        const jobs = [];
        if (flaskWorkers > 0) jobs.push(['flask', [...common, '--gunicorn', String(flaskWorkers)], `flask×${flaskWorkers}`, flaskWorkers]);
        for (let i = 1; i <= nodeProcesses; i++) {
            const ticks = tick && i === 1 ? ['--tick', String(tick)] : [];
            jobs.push(['node', [...common, ...ticks, '--name', `node-${i}`], `node-${i}`, 1]);
        }
        // one at a time: two cores, and a slow start must not look like a hang
        for (const [kind, args, label, weight] of jobs) {
            const m = await startMember(kind, { args, label });
            m.weight = weight;
            cluster.members.push(m);
            started.push(m);
        }
        cluster.nginx = await startNginx({ port, upstreams: cluster.members.map((m) => ({ port: m.port, weight: m.weight })) });
        cluster.url = cluster.nginx.url;
        return cluster;
    } catch (e) {
        await cluster.stop();
        throw e;
    }
}

// ------------------------------------------------------------------ Redis Cluster, Sentinel

/** A free port whose cluster bus port (+10000) is a port too, and free. */
async function freeClusterPort() {
    for (let i = 0; i < 100; i++) {
        const port = await freePort();
        if (port + 10000 > 65535) continue;
        const busFree = await new Promise((resolve) => {
            const s = net.createServer();
            s.once('error', () => resolve(false));
            s.listen(port + 10000, '127.0.0.1', () => s.close(() => resolve(true)));
        });
        if (busFree) return port;
    }
    throw new Error('no free port pair for a cluster node');
}

/**
 * A Redis Cluster of `primaries` primaries with `replicasPer` replicas each (default 3 + 3),
 * `redis-server --cluster-enabled yes` on free loopback ports, each in its own temp dir, made
 * one cluster by `redis-cli --cluster create … --cluster-replicas N --cluster-yes`; resolves
 * once every slot is served (`cluster_state:ok`). No persistence. Returns {url
 * ('redis-cluster://…'), nodes: [{port, pid, kill(), start(), cli(args)}], primaryOf(key),
 * stop()}. Everything is stopped whatever happens (the exit hooks above).
 */
export async function startRedisCluster({ primaries = 3, replicasPer = 1, nodeTimeoutMs = 1000 } = {}) {
    const nodes = [];
    const stopAll = async () => Promise.allSettled(nodes.map((n) => n.stop()));
    try {
        for (let i = 0; i < primaries * (1 + replicasPer); i++) {
            const dir = tempDir('redis-cluster');
            const port = await freeClusterPort();
            const args = [
                ...redisBase(port, dir),
                '--save',
                '',
                '--appendonly',
                'no',
                '--cluster-enabled',
                'yes',
                '--cluster-config-file',
                'nodes.conf',
                '--cluster-node-timeout',
                String(nodeTimeoutMs),
            ];
            let group = null;
            const node = {
                port,
                dir,
                get pid() {
                    return group?.pid;
                },
                alive: () => !!group?.alive(),
                async start() {
                    group = spawnGroup(REDIS_SERVER, args, { cwd: dir });
                    if (!(await waitPort(port, { while: group.alive }))) throw new Error(`redis-server (cluster) did not listen on ${port}\n${group.output()}`);
                },
                kill: () => group?.kill(),
                cli: (a) => redisCli(port, a),
                async stop() {
                    await group?.stop();
                    removeDir(dir);
                },
            };
            await node.start();
            nodes.push(node);
        }
        await new Promise((resolve, reject) =>
            execFile(
                REDIS_CLI,
                ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicasPer), '--cluster-yes'],
                { timeout: 30000 },
                (err, out, errOut) => (err ? reject(new Error(`redis-cli --cluster create: ${err.message}\n${out}${errOut}`)) : resolve()),
            ),
        );
        const end = Date.now() + 20000;
        for (;;) {
            const states = await Promise.all(nodes.map((n) => n.cli(['cluster', 'info']).catch(() => '')));
            const repl = await Promise.all(nodes.map((n) => n.cli(['info', 'replication']).catch(() => '')));
            const linked = repl.every((r) => (/role:master/.test(r) ? new RegExp(`connected_slaves:${replicasPer}`).test(r) : /master_link_status:up/.test(r)));
            if (states.every((s) => /cluster_state:ok/.test(s)) && linked) break;
            if (Date.now() > end) throw new Error(`the cluster did not become ok:\n${states.join('\n')}`);
            await sleep(100);
        }
    } catch (e) {
        await stopAll();
        throw e;
    }
    const cluster = {
        url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
        nodes,
        /** The node that is primary for `key`'s slot now (asked of a live node). */
        async primaryOf(key) {
            for (const n of nodes) {
                if (!n.alive()) continue;
                const slot = Number((await n.cli(['cluster', 'keyslot', key]).catch(() => '')).trim());
                if (!Number.isInteger(slot)) continue;
                const shards = await n.cli(['cluster', 'slots']).catch(() => '');
                // redis-cli prints CLUSTER SLOTS flat: start, end, ip, port, id, … per range
                const lines = shards.split('\n').map((l) => l.trim());
                for (let i = 0; i + 3 < lines.length; i++) {
                    if (/^\d+$/.test(lines[i]) && /^\d+$/.test(lines[i + 1]) && lines[i + 2] === '127.0.0.1') {
                        const [lo, hi, , port] = [Number(lines[i]), Number(lines[i + 1]), lines[i + 2], Number(lines[i + 3])];
                        if (slot >= lo && slot <= hi) return nodes.find((x) => x.port === port);
                    }
                }
            }
            return null;
        },
        stop: stopAll,
    };
    return cluster;
}

/**
 * A Sentinel-managed Redis: a primary, `replicas` replicas (`replicaof` the primary) and
 * `sentinels` sentinels (`redis-server <conf> --sentinel`, quorum 2, down-after
 * `downAfterMs`, failover-timeout 3 s), each on a free loopback port in its own temp dir, no
 * persistence; `minReplicasToWrite` > 0 sets `min-replicas-to-write` on every node (a primary
 * cut off from its replicas refuses writes: NOREPLICAS).
 * Returns {url ('redis-sentinel://…/<name>'), name, primary, replicas: [...], sentinels:
 * [...], master() → {port} as the sentinels see it now, stop()}; every node has {port, kill(),
 * start(), cli(args), alive()}.
 */
export async function startRedisSentinel({
    replicas = 1,
    sentinels = 3,
    name = 'lifeline',
    downAfterMs = 1000,
    failoverTimeoutMs = 10000,
    minReplicasToWrite = 0,
} = {}) {
    const all = [];
    const stopAll = async () => Promise.allSettled(all.map((n) => n.stop()));
    const launch = async (kind, argsFor) => {
        const dir = tempDir(`redis-${kind}`);
        const port = await freePort();
        let group = null;
        const node = {
            kind,
            port,
            dir,
            alive: () => !!group?.alive(),
            async start() {
                const [cmdArgs, conf] = argsFor(port, dir);
                if (conf) fs.writeFileSync(path.join(dir, 'sentinel.conf'), conf);
                group = spawnGroup(REDIS_SERVER, cmdArgs, { cwd: dir });
                if (!(await waitPort(port, { while: group.alive }))) throw new Error(`redis ${kind} did not listen on ${port}\n${group.output()}`);
            },
            kill: () => group?.kill(),
            pause: () => group && process.kill(group.pid, 'SIGSTOP'),
            resume: () => group && process.kill(group.pid, 'SIGCONT'),
            cli: (a) => redisCli(port, a),
            output: () => group?.output() ?? '',
            async stop() {
                try {
                    node.resume();
                } catch {}
                await group?.stop();
                removeDir(dir);
            },
        };
        all.push(node);
        await node.start();
        return node;
    };
    try {
        const safety = minReplicasToWrite ? ['--min-replicas-to-write', String(minReplicasToWrite), '--min-replicas-max-lag', '10'] : [];
        const server = (extra) => (port, dir) => [
            [...redisBase(port, dir), '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', ...safety, ...extra(port)],
        ];
        const primary = await launch(
            'primary',
            server(() => []),
        );
        const reps = [];
        for (let i = 0; i < replicas; i++)
            reps.push(
                await launch(
                    'replica',
                    server(() => ['--replicaof', '127.0.0.1', String(primary.port)]),
                ),
            );
        const sents = [];
        for (let i = 0; i < sentinels; i++) {
            sents.push(
                await launch('sentinel', (port, dir) => [
                    [path.join(dir, 'sentinel.conf'), '--sentinel', ...redisBase(port, dir)],
                    `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2\nsentinel down-after-milliseconds ${name} ${downAfterMs}\nsentinel failover-timeout ${name} ${failoverTimeoutMs}\nsentinel parallel-syncs ${name} 1\nsentinel resolve-hostnames no\n`,
                ]),
            );
        }
        // ready: the replicas are linked and every sentinel knows the replicas and the other sentinels
        const end = Date.now() + 20000;
        for (;;) {
            const linked = (await Promise.all(reps.map((r) => r.cli(['info', 'replication']).catch(() => '')))).every((t) => /master_link_status:up/.test(t));
            const known = (await Promise.all(sents.map((s) => s.cli(['sentinel', 'master', name]).catch(() => '')))).every((t) => {
                const lines = t.split('\n');
                const get = (k) => Number(lines[lines.indexOf(k) + 1]);
                return get('num-slaves') >= replicas && get('num-other-sentinels') >= sentinels - 1;
            });
            if (linked && known) break;
            if (Date.now() > end) throw new Error('the sentinels did not learn the replicas and each other');
            await sleep(100);
        }
        return {
            url: `redis-sentinel://${sents.map((s) => `127.0.0.1:${s.port}`).join(',')}/${name}`,
            name,
            primary,
            replicas: reps,
            sentinels: sents,
            nodes: [primary, ...reps],
            /** The primary as the sentinels name it now: the node with that port. */
            async master() {
                for (const s of sents) {
                    const out = await s.cli(['sentinel', 'get-master-addr-by-name', name]).catch(() => '');
                    const port = Number(out.split('\n')[1]);
                    if (port) return [primary, ...reps].find((n) => n.port === port) ?? null;
                }
                return null;
            },
            stop: stopAll,
        };
    } catch (e) {
        await stopAll();
        throw e;
    }
}

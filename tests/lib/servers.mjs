// servers.mjs — start the reference servers as child processes, and small protocol helpers
// for tests.
//
//   const s = await startServer('node', ['--heartbeat', '500']);   // or 'flask'
//   await publish(s.url, {n: 1});
//   const ws = await connectWs(s.url, {cursor: '0'});
//   const hello = await ws.next();                                  // bounded wait
//   await s.stop();
//
// Both servers share one CLI contract (server/DESIGN.md "The demo/test layer"): `--host H
// --port 0 …`, one stdout line `LISTENING http://127.0.0.1:<port>`, streams on
// /live/<stream> and the admin API on /admin/*. `liveUrl` is the admin API's default stream,
// /live/test; helpers given a server's base URL use that stream too.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../../server/node/protocol.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export { SUBPROTOCOL };

const SERVERS = {
    node: { cmd: process.execPath, script: path.join(ROOT, 'demo', 'server.mjs') },
    flask: { cmd: '/usr/bin/python3', script: path.join(ROOT, 'demo', 'flask', 'server.py') },
};

/** Whether a server kind can be started here (its entry file exists). */
export function serverAvailable(kind) {
    const s = SERVERS[kind];
    return !!s && fs.existsSync(s.script);
}

const children = new Set();
let exitHooked = false;
function hookExit() {
    if (exitHooked) return;
    exitHooked = true;
    const killAll = () => {
        for (const c of children) {
            try {
                c.kill('SIGKILL');
            } catch {}
        }
    };
    process.on('exit', killAll);
    for (const sig of ['SIGINT', 'SIGTERM']) {
        process.once(sig, () => {
            killAll();
            process.exit(130);
        });
    }
}

/**
 * Spawn a reference server and wait for its LISTENING line.
 * @param {'node'|'flask'} kind
 * @param {string[]} [args] extra CLI arguments
 * @param {{timeoutMs?: number, env?: object}} [opts]
 * @returns {Promise<{url: string, liveUrl: string, kind: string, proc: import('node:child_process').ChildProcess, output: () => string, stop: () => Promise<void>}>}
 */
export async function startServer(kind, args = [], opts = {}) {
    const s = SERVERS[kind];
    if (!s) throw new Error(`unknown server kind ${kind}`);
    if (!fs.existsSync(s.script)) throw new Error(`${kind} server not found at ${path.relative(ROOT, s.script)}`);
    const server = await spawnListening(s.cmd, [s.script, '--host', '127.0.0.1', '--port', '0', ...args], { ...opts, label: `${kind} server` });
    return { ...server, liveUrl: liveUrlOf(server.url), kind };
}

/**
 * Spawn any process that prints one line `LISTENING http://…` once it accepts connections
 * (the reference servers, the README's examples, bench/sio-server.mjs), and wait for it.
 * The process is killed if this one exits first.
 * @param {string} cmd
 * @param {string[]} argv
 * @param {{label?: string, timeoutMs?: number, env?: object}} [opts]
 * @returns {Promise<{url: string, proc: import('node:child_process').ChildProcess, output: () => string, stop: () => Promise<void>}>}
 */
export async function spawnListening(cmd, argv, opts = {}) {
    const label = opts.label ?? path.basename(argv[0] ?? cmd);
    hookExit();
    const timeoutMs = opts.timeoutMs ?? 15000;
    const proc = spawn(cmd, argv, {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PYTHONUNBUFFERED: '1', ...(opts.env ?? {}) },
    });
    children.add(proc);
    let out = '';
    let err = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
        err += d;
        if (err.length > 65536) err = err.slice(-32768);
    });
    proc.stdout.setEncoding('utf8');
    const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    exited.then(() => children.delete(proc));

    let url;
    try {
        url = await new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${label}: no LISTENING line within ${timeoutMs} ms\n${out}${err}`)), timeoutMs);
            proc.stdout.on('data', (d) => {
                out += d;
                const m = /^LISTENING (http:\/\/\S+)\s*$/m.exec(out);
                if (m) {
                    clearTimeout(timer);
                    resolve(m[1].replace(/\/+$/, ''));
                }
            });
            proc.once('error', (e) => {
                clearTimeout(timer);
                reject(e);
            });
            exited.then(({ code, signal }) => {
                clearTimeout(timer);
                reject(new Error(`${label} exited (${code ?? signal}) before listening\n${out}${err}`));
            });
        });
    } catch (e) {
        proc.kill('SIGKILL');
        throw e;
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    proc.stdout.on('data', (d) => {
        out += d;
        if (out.length > 65536) out = out.slice(-32768);
    });

    let stopping = null;
    const stop = () => {
        stopping ??= (async () => {
            if (proc.exitCode !== null || proc.signalCode !== null) return;
            proc.kill('SIGTERM');
            const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
            await exited;
            clearTimeout(t);
        })();
        return stopping;
    };
    return { url, proc, output: () => out + err, stop };
}

/** fetch with a bounded time (default 10 s). */
export async function fetchT(url, init = {}, timeoutMs = 10000) {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(new Error(`fetch ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
    if (init.signal) init.signal.addEventListener('abort', () => ac.abort(init.signal.reason), { once: true });
    try {
        return await fetch(url, { ...init, signal: ac.signal });
    } finally {
        clearTimeout(t);
    }
}

/** Call the admin API: POST with a JSON body (or GET when body is undefined and method not given). */
export async function admin(url, apiPath, body, { method } = {}) {
    const m = method ?? (body === undefined ? 'GET' : 'POST');
    const res = await fetchT(`${url}${apiPath}`, {
        method: m,
        headers: m === 'POST' ? { 'Content-Type': 'application/json' } : {},
        body: m === 'POST' ? JSON.stringify(body ?? {}) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${apiPath}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
}

/** POST `body` as JSON to `url`; resolves to the JSON answer, throws on a non-2xx or after `timeoutMs`. */
export async function postJson(url, body, timeoutMs = 10000) {
    const res = await fetchT(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }, timeoutMs);
    const text = await res.text();
    if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 200)}`);
    return JSON.parse(text);
}

/** Publish one message through the admin API (to `stream`, default `test`); resolves to its cursor. */
export async function publish(url, data, stream) {
    return (await admin(url, '/admin/publish', stream === undefined ? { data } : { stream, data })).cursor;
}

export const DEFAULT_STREAM = 'test';

/** A stream's URL: a server's base URL (no path) gets /live/<stream>; a URL with a path stays. */
export function liveUrlOf(url, stream = DEFAULT_STREAM) {
    const u = new URL(url);
    if (u.pathname === '/') u.pathname = `/live/${stream}`;
    return u.href;
}

/** Wait for `fn()` to be truthy, polling every `everyMs`, at most `timeoutMs`. */
export async function until(fn, { timeoutMs = 5000, everyMs = 20, what = 'condition' } = {}) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, everyMs));
    }
}

export function wsUrl(url, params = {}) {
    const u = new URL(liveUrlOf(url));
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) u.searchParams.set(k, v);
    return u.href;
}

/**
 * A minimal WebSocket test client over `ws`. Frames are queued; next() takes the next one
 * with a bounded wait. Does NOT answer pings by itself unless autoPong is set. An empty text
 * frame (a server's beat) is the frame `{beat: true}`; `arrivals[i]` is when `frames[i]`
 * came (Date.now()), `pings` counts the control pings received.
 *
 * @param {string} url server base URL (stream `test`) or a stream's URL
 * @param {{cursor?: string, query?: object, protocols?: string[]|string, timeoutMs?: number, autoPong?: boolean, headers?: object}} [opts]
 * @returns {Promise<{ws, protocol, frames, next, nextOfType, send, sendRaw, close, closed}>}
 *   Rejects when the upgrade fails: err.status carries the HTTP status when there is one.
 */
export function connectWs(url, opts = {}) {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const protocols = opts.protocols ?? [SUBPROTOCOL];
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl(url, { cursor: opts.cursor, ...opts.query }), protocols, {
            handshakeTimeout: timeoutMs,
            headers: opts.headers,
            perMessageDeflate: false,
        });
        const queue = [];
        const waiters = [];
        let closeInfo = null;
        let closeResolve;
        const closed = new Promise((r) => (closeResolve = r));
        const pushFrame = (f) => {
            const w = waiters.shift();
            if (w) w.resolve(f);
            else queue.push(f);
        };
        ws.on('message', (data, isBinary) => {
            let f;
            try {
                f = isBinary ? { binary: data } : data.length === 0 ? { beat: true } : JSON.parse(data.toString('utf8'));
            } catch {
                f = { unparsable: data.toString('utf8') };
            }
            client.frames.push(f);
            client.arrivals.push(Date.now());
            if (opts.autoPong && f && f.type === 'ping') ws.send('{"type":"pong"}');
            pushFrame(f);
        });
        ws.on('close', (code, reason) => {
            closeInfo = { code, reason: reason.toString() };
            closeResolve(closeInfo);
            for (const w of waiters.splice(0)) w.reject(Object.assign(new Error(`socket closed ${code}`), closeInfo));
        });
        ws.on('error', () => {});
        ws.on('ping', () => client.pings++);
        ws.once('unexpected-response', (req, res) => {
            const e = new Error(`upgrade refused: ${res.statusCode}`);
            e.status = res.statusCode;
            e.headers = res.headers;
            res.resume();
            ws.terminate();
            reject(e);
        });
        ws.once('error', (e) => reject(e));
        ws.once('open', () => resolve(client));

        const client = {
            ws,
            get protocol() {
                return ws.protocol;
            },
            frames: [],
            arrivals: [],
            pings: 0,
            get closeInfo() {
                return closeInfo;
            },
            closed,
            /** Next frame (bounded wait); rejects on timeout or when the socket closes. */
            next(ms = timeoutMs) {
                if (queue.length) return Promise.resolve(queue.shift());
                if (closeInfo) return Promise.reject(Object.assign(new Error(`socket closed ${closeInfo.code}`), closeInfo));
                return new Promise((res, rej) => {
                    const w = {
                        resolve: (f) => {
                            clearTimeout(t);
                            res(f);
                        },
                        reject: (e) => {
                            clearTimeout(t);
                            rej(e);
                        },
                    };
                    const t = setTimeout(() => {
                        const i = waiters.indexOf(w);
                        if (i >= 0) waiters.splice(i, 1);
                        rej(Object.assign(new Error(`no frame within ${ms} ms`), { timeout: true }));
                    }, ms);
                    waiters.push(w);
                });
            },
            /** Skip frames until one of `type` (others are returned in `skipped`). */
            async nextOfType(type, ms = timeoutMs) {
                const end = Date.now() + ms;
                for (;;) {
                    const f = await client.next(Math.max(1, end - Date.now()));
                    if (f && f.type === type) return f;
                }
            },
            /** Resolves true if no frame arrives within ms (the frame, if any, stays consumed). */
            async silentFor(ms) {
                try {
                    const f = await client.next(ms);
                    return { silent: false, frame: f };
                } catch (e) {
                    if (e.timeout) return { silent: true };
                    throw e;
                }
            },
            send(obj) {
                ws.send(JSON.stringify(obj));
            },
            sendRaw(data, options) {
                ws.send(data, options);
            },
            /** Close (or terminate after ms) and wait for the close event. */
            async close(ms = 1000) {
                if (closeInfo) return closeInfo;
                try {
                    ws.close();
                } catch {}
                const t = setTimeout(() => ws.terminate(), ms);
                const info = await closed;
                clearTimeout(t);
                return info;
            },
            /** Wait for the server to close; rejects after ms. */
            async waitClose(ms = timeoutMs) {
                let t;
                const timeout = new Promise((_, rej) => {
                    t = setTimeout(() => rej(new Error(`socket not closed within ${ms} ms`)), ms);
                });
                try {
                    return await Promise.race([closed, timeout]);
                } finally {
                    clearTimeout(t);
                }
            },
        };
    });
}

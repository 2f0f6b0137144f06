#!/usr/bin/env node
// server.mjs — the Node demo/test server: an app of lifeline-live/server (server/node/) plus
// what the demo page and the tests need around it (server/DESIGN.md "The demo/test layer"):
// fault switches (faults.mjs), the loopback-only admin API (admin.mjs), counters
// (stats.mjs), static files from demo/public and dist (static.mjs), the tick, a process name.
//
//   node demo/server.mjs --host 127.0.0.1 --port 0 [--origins a,b|*] [--heartbeat ms]
//        [--retention n] [--long-poll-max ms] [--interval ms] [--batch n] [--tick ms]
//        [--redis URL] [--name NAME] [--auth-test] [--no-sends] [--v1] [--log]
//        [--request-header-timeout ms] [--request-body-timeout ms] [--max-pending-bytes-per-socket n]
//   prints exactly one line `LISTENING http://127.0.0.1:<port>` once it accepts connections.
//
//   import { createServer } from './demo/server.mjs';   // the same, in-process
//
// What the layer adds to the library:
//  - Streams live at /live/<stream>. The layer's onSend publishes a send's data unchanged to
//    the same stream (the demo's counter and chat work that way); `--no-sends` registers no
//    onSend at all, config `sends: false` rejects every send with `sends_disabled` (405).
//  - `--auth-test` installs the fixed rule the conformance suite expects of every server
//    (server/DESIGN.md "The test rule"): streams named `private-*` need the cookie `user=ok`
//    or the header `X-User: ok` to subscribe or send, `members-*` only to send; sends to
//    `readonly-*` are rejected with `read_only` (403); on `throw-*` the authorize hook throws.
//  - Every response (polls, POSTs, the 101, refusals, static files, admin) carries
//    `Lifeline-Served-By: <name>` and every hello frame `"server":"<name>"`.
//  - Tick (`--tick <ms>`, off by default, `make demo` passes 2000): the server publishes
//    `{"kind":"tick","t":<epoch ms>,"value":<random walk>}` to stream `ticker`; the walk
//    starts at 50, moves by up to ±5 per tick within [0, 100], and goes on across restarts.
//  - Restart (POST /admin/restart) drops every socket, held poll and black-holed upgrade, and
//    loses the history: the memory store starts a new epoch, the Redis store deletes its keys
//    (what a restart of the process / of a Redis without persistence does).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLifeline, Rejected, refuseUpgrade } from '../server/node/index.mjs';
import { SUBPROTOCOL_V2 } from '../server/node/protocol.mjs';
import { createFaults } from './faults.mjs';
import { adminApi, DEFAULT_STREAM } from './admin.mjs';
import { createStats } from './stats.mjs';
import { staticFiles } from './static.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PREFIX = '/live';

/** The `--auth-test` rule (server/DESIGN.md "The test rule"). */
export const authTest = {
    authorize(stream, action, req) {
        if (stream.startsWith('throw-')) throw new Error('auth-test: authorize throws on throw-* streams');
        const member = () =>
            String(req.headers.cookie ?? '')
                .split(';')
                .map((s) => s.trim())
                .includes('user=ok') || req.headers['x-user'] === 'ok';
        if (stream.startsWith('private-')) return member();
        if (stream.startsWith('members-') && action === 'send') return member();
        return true;
    },
    check(stream) {
        if (stream.startsWith('readonly-')) throw new Rejected('read_only', 'this stream is read-only', 403);
    },
};

/** A request as a v1 server sees it: no lifeline.v2 among the offered subprotocols, and
 *  <prefix>/ (v2's poll of many streams) is a path under the prefix that names no stream. */
function v1Only(req) {
    const offered = req.headers['sec-websocket-protocol'];
    if (offered)
        req.headers['sec-websocket-protocol'] = offered
            .split(',')
            .map((p) => p.trim())
            .filter((p) => p != 'lifeline.v2')
            .join(', ');
    if (req.url.split('?')[0] === PREFIX + '/') req.url = PREFIX + '/-not-a-stream-/';
    return req;
}

function parseShed(v) {
    if (v === null || v === undefined || v === false) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw new RangeError('shed must be an object or null');
    const status = v.status === undefined ? 503 : Number(v.status);
    if (status !== 429 && status !== 503) throw new RangeError('shed.status must be 429 or 503');
    const retryAfter = v.retryAfter === undefined || v.retryAfter === null ? '1' : String(v.retryAfter);
    if (!retryAfter || /[\r\n]/.test(retryAfter)) throw new RangeError('bad shed.retryAfter');
    return { status, retryAfter };
}

/**
 * Create and start a server; resolves once it listens.
 * @param {object} [options] host, port, origins ('*' | string[] | 'a,b'), heartbeat, retention,
 *   longPollMax, interval, batch, maxBody, redis, name, authTest, sends (false: no onSend),
 *   tick (ms, 0 = off), publicDir, distDir, log, requestHeaderTimeoutMs, requestBodyTimeoutMs,
 *   maxPendingBytesPerSocket
 */
export async function createServer(options = {}) {
    const name = options.name ?? `node-${process.pid}`;
    const served = { 'Lifeline-Served-By': name };
    const stats = createStats();
    let sendsOn = true;
    const origins =
        typeof options.origins === 'string'
            ? options.origins === '*'
                ? '*'
                : options.origins
                      .split(',')
                      .map((s) => s.trim())
                      .filter(Boolean)
            : options.origins;

    let live;
    const faults = createFaults({
        isLive: (req) => isLive(req.url),
        // what a stalled socket says before it goes silent: the hello of its protocol (v2's
        // has no cursor: its streams' come with their subd, which a stalled socket never sends)
        helloOf: async (stream, subprotocol) =>
            subprotocol === SUBPROTOCOL_V2
                ? { type: 'hello', v: 2, heartbeat: live.config.heartbeat, server: name }
                : { type: 'hello', cursor: await live.store.head(stream), heartbeat: live.config.heartbeat, server: name },
        refuse: (socket, status, code, message, headers) => {
            stats.status(status);
            refuseUpgrade(socket, status, code, message, headers);
        },
        headers: () => served,
        cors: (req) =>
            origins === '*'
                ? { 'Access-Control-Allow-Origin': '*' }
                : origins?.includes(req.headers.origin)
                  ? { 'Access-Control-Allow-Origin': req.headers.origin }
                  : {},
    });
    live = createLifeline({
        prefix: PREFIX,
        origins,
        heartbeat: options.heartbeat,
        longPollMax: options.longPollMax,
        interval: options.interval,
        batch: options.batch,
        retention: options.retention,
        maxBody: options.maxBody,
        requestBodyTimeoutMs: options.requestBodyTimeoutMs,
        requestHeaderTimeoutMs: options.requestHeaderTimeoutMs,
        maxPendingBytesPerSocket: options.maxPendingBytesPerSocket,
        redis: options.redis,
        store: options.store,
        log: options.log,
        authorize: options.authTest ? authTest.authorize : undefined,
        onSend:
            options.sends === false
                ? undefined
                : async (stream, data) => {
                      if (!sendsOn) throw new Rejected('sends_disabled', 'sends are disabled on this server', 405);
                      if (options.authTest) authTest.check(stream);
                      await live.publish(stream, data);
                  },
        intercept: {
            ...faults.intercept,
            socket(ws, req, stream) {
                stats.socket(ws);
                return faults.intercept.socket(ws, req, stream);
            },
            hello: { server: name },
            upgradeHeaders: () => served,
        },
    });
    // `--v1`: a server of protocol v1 as far as a client can tell (tests of a v2 client
    // against one): lifeline.v2 is never offered to the library, and <prefix>/ is no stream
    const v1 = (f) => (options.v1 ? (req, ...rest) => f(v1Only(req), ...rest) : f);
    const handle = v1(faults.wrapHandle(live.handle));
    const upgrade = v1(faults.wrapUpgrade(live.upgrade));

    function isLive(url = '/') {
        const p = url.split('?')[0];
        return p === PREFIX || p.startsWith(PREFIX + '/');
    }
    const publish = (stream, data) => live.publish(stream, data);

    async function restart() {
        faults.dropAll();
        // The memory store starts a new epoch; the Redis store deletes its keys (as if Redis
        // lost its data), so a restart looks the same to clients on either store.
        if (typeof live.store.clear === 'function') await live.store.clear();
        return live.store.head(DEFAULT_STREAM);
    }
    function publicConfig() {
        return {
            ...live.config,
            shed: faults.state.shed && { ...faults.state.shed },
            sends: sendsOn,
            origins: origins ?? [],
            fault: { mode: faults.state.mode, ms: faults.state.ms },
        };
    }
    function configure(body) {
        const known = ['heartbeat', 'longPollMax', 'interval', 'batch', 'retention', 'shed', 'sends'];
        const unknown = Object.keys(body).filter((k) => !known.includes(k));
        if (unknown.length) throw new RangeError(`unknown config key(s): ${unknown.join(', ')}`);
        const { shed, sends, ...numbers } = body;
        const nextShed = shed === undefined ? faults.state.shed : parseShed(shed);
        if (sends !== undefined && typeof sends !== 'boolean') throw new RangeError('sends must be true or false');
        live.configure(numbers);
        faults.state.shed = nextShed;
        if (sends !== undefined) sendsOn = sends;
        return publicConfig();
    }

    const serveAdmin = adminApi({
        publish,
        fault: (mode, ms) => faults.set(mode, ms),
        restart,
        config: publicConfig,
        configure,
        stats: () => ({ ...stats.snapshot(), wsOpen: faults.wsOpen, held: faults.held, redisConnections: live.store.connections ?? 0 }),
        resetStats: stats.reset,
        disconnect: (stream, options) => live.disconnect(stream, options),
        maxBody: 65536,
    });
    const serveStatic = staticFiles({
        publicDir: options.publicDir ?? path.join(HERE, 'public'),
        distDir: options.distDir ?? path.join(HERE, '..', 'dist'),
    });

    // The request head's timeout is the node:http server's (the library never sees a request
    // before its head arrived): docs/node.md "Timeouts". Node checks it every
    // connectionsCheckingInterval, so that is a fraction of it.
    const headersTimeout = live.config.requestHeaderTimeoutMs;
    const serverOptions = {
        headersTimeout,
        requestTimeout: headersTimeout + live.config.requestBodyTimeoutMs,
        connectionsCheckingInterval: Math.min(30000, Math.max(50, Math.floor(headersTimeout / 4))),
    };
    const server = http.createServer(serverOptions, (req, res) => {
        res.setHeader('Lifeline-Served-By', name);
        const raw = req.url || '/';
        const pathname = raw.split('?')[0];
        if (isLive(raw)) stats.request(req, res, new URLSearchParams(raw.slice(pathname.length + 1)), live.config.longPollMax);
        if (handle(req, res)) return;
        const done = pathname === '/admin' || pathname.startsWith('/admin/') ? serveAdmin(req, res, pathname) : serveStatic(req, res, pathname);
        done.catch(() => res.destroy());
    });
    server.on('upgrade', (req, socket, head) => {
        if (isLive(req.url)) stats.upgrade();
        if (!upgrade(req, socket, head)) refuseUpgrade(socket, 404, 'not_found', `WebSocket endpoints are ${PREFIX}/<stream>`, served);
    });
    server.on('clientError', (err, socket) => {
        if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        else socket.destroy();
    });

    await live.store.ready; // the Redis store's first connection (bounded), so LISTENING means ready
    const host = options.host ?? '127.0.0.1';
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, host, () => (server.off('error', reject), resolve()));
    });
    const url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${server.address().port}`;

    let ticker = null;
    const tickMs = options.tick ?? 0;
    if (!Number.isSafeInteger(tickMs) || tickMs < 0) throw new RangeError('tick must be an integer >= 0 (ms)');
    if (tickMs > 0) {
        let value = 50;
        ticker = setInterval(() => {
            value = Math.round(Math.min(100, Math.max(0, value + (Math.random() * 2 - 1) * 5)) * 100) / 100;
            publish('ticker', { kind: 'tick', t: Date.now(), value }).catch(() => {});
        }, tickMs);
    }

    let closing = null;
    const close = () =>
        (closing ??= (async () => {
            clearInterval(ticker);
            faults.dropAll();
            await live.close();
            await new Promise((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections?.();
            });
        })());

    return {
        server,
        url,
        liveUrl: `${url}${PREFIX}/${DEFAULT_STREAM}`,
        name,
        live,
        get store() {
            return live.store;
        },
        publish,
        setFault: (mode, ms) => faults.set(mode, ms),
        configure,
        restart,
        get stats() {
            return { ...stats.snapshot(), wsOpen: faults.wsOpen, held: faults.held };
        },
        close,
    };
}

// ---------------------------------------------------------------- CLI

const FLAGS = {
    '--host': ['host', 'string'],
    '--port': ['port', 'int'],
    '--origins': ['origins', 'string'],
    '--heartbeat': ['heartbeat', 'int'],
    '--retention': ['retention', 'int'],
    '--long-poll-max': ['longPollMax', 'int'],
    '--interval': ['interval', 'int'],
    '--batch': ['batch', 'int'],
    '--tick': ['tick', 'int'],
    '--redis': ['redis', 'string'],
    '--name': ['name', 'string'],
    '--auth-test': ['authTest', true],
    '--v1': ['v1', true],
    '--no-sends': ['sends', false],
    '--log': ['log', true],
    '--request-header-timeout': ['requestHeaderTimeoutMs', 'int'],
    '--request-body-timeout': ['requestBodyTimeoutMs', 'int'],
    '--max-pending-bytes-per-socket': ['maxPendingBytesPerSocket', 'int'],
};

function parseArgs(argv) {
    const opts = {};
    for (let i = 0; i < argv.length; i++) {
        let a = argv[i];
        let v;
        const eq = a.indexOf('=');
        if (a.startsWith('--') && eq > 0) [a, v] = [a.slice(0, eq), a.slice(eq + 1)];
        if (a === '--help' || a === '-h') {
            process.stdout.write(
                `usage: node demo/server.mjs ${Object.entries(FLAGS)
                    .map(([f, [, t]]) => (typeof t === 'boolean' ? `[${f}]` : `[${f} ${t === 'int' ? 'n' : 'x'}]`))
                    .join(' ')}\n`,
            );
            process.exit(0);
        }
        const flag = FLAGS[a];
        if (!flag) throw new Error(`unknown option ${a}`);
        const [key, type] = flag;
        if (typeof type === 'boolean') {
            opts[key] = type;
            continue;
        }
        if (v === undefined) v = argv[++i];
        if (v === undefined) throw new Error(`${a} needs a value`);
        opts[key] = type === 'int' ? Number(v) : v;
        if (type === 'int' && !Number.isSafeInteger(opts[key])) throw new Error(`${a} needs an integer`);
    }
    return opts;
}

const isMain = (() => {
    try {
        return process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
    } catch {
        return false;
    }
})();

if (isMain) {
    let s;
    try {
        s = await createServer(parseArgs(process.argv.slice(2)));
    } catch (err) {
        process.stderr.write(`lifeline server: ${err.message}\n`);
        process.exit(2);
    }
    process.stdout.write(`LISTENING ${s.url}\n`);
    const stop = () => {
        s.close().finally(() => process.exit(0));
        setTimeout(() => process.exit(0), 2000).unref();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
}

// lifeline-live/server — serve Lifeline's wire protocol v1 (docs/protocol.md) for any
// number of named streams from a Node app.
//
//   import http from 'node:http';
//   import { createLifeline } from 'lifeline-live/server';
//   const live = createLifeline({ onSend: (stream, data) => live.publish(stream, data) });
//   const server = http.createServer((req, res) => live.handle(req, res) || serveTheRest(req, res));
//   server.on('upgrade', (req, socket, head) => live.upgrade(req, socket, head) || socket.destroy());
//   await live.publish('news', { title: 'hello' });      // every client of /live/news gets it
//
// `handle` and `upgrade` answer `<prefix>/<stream>` and return true; anything else they leave
// alone and return false (so Express/Connect mount it as
// `app.use((req, res, next) => live.handle(req, res) || next())`). The contract — URLs,
// hooks, origins, options, the store interface — is server/DESIGN.md; the protocol decisions
// are listed at the top of transports/http.mjs and transports/websocket.mjs.
//
// The files mirror the Flask package's (server/DESIGN.md "One design, files mirrored"): this
// one reads the options, makes the store (stores/), routes a request or an upgrade to its
// transport (transports/), and holds the registry of open sessions (session.mjs), which
// `disconnect` ends; a send's pipeline is sends.mjs, the spec's check order checks.mjs.
//
// Test seam (not for applications): `intercept` lets the demo/test layer (demo/faults.mjs)
// break things on purpose without fault code in here:
//   intercept.socket(ws, req, stream) -> true    the seam took this accepted socket over
//                                               (the library sends and reads nothing on it)
//   intercept.muted(ws) -> true                  the library stops sending and reading on ws
//   intercept.delay(req, res) -> ms              hold a poll's answer this long
//   intercept.hello                              extra fields for every hello frame
//   intercept.upgradeHeaders(req) -> object      extra headers on the 101 and refused upgrades
// and `refuseUpgrade(socket, status, code, message, headers)` (exported) writes a refusal on a
// raw upgrade socket, as the handler does, for the layer's own refusals.

import { Rejected, StoreUnavailable, TooManyStreams, httpError } from './errors.mjs';
import { isStreamName } from './cursor.mjs';
import { originPolicy, parseOrigins } from './origin.mjs';
import { Store } from './stores/base.mjs';
import { MemoryStore } from './stores/memory.mjs';
import { RedisStore } from './stores/redis.mjs';
import { serveHttp, sendResponse, errorAnswer, pollHeaders } from './transports/http.mjs';
import { refuseUpgrade, runConnection } from './transports/websocket.mjs';
import { serveStreamsPoll } from './transports/multipoll.mjs';
import { SUBPROTOCOL, SUBPROTOCOL_V2, DEFAULTS, INT_OPTIONS, RUNTIME_OPTIONS, BEAT_QUERY_VALUE } from './protocol.mjs';
import { runChecks } from './checks.mjs';
import { peer } from './peers.mjs';
import { clientFiles } from './client.mjs';
import { optionsFromEnvironment } from './environment.mjs';
import { Sessions } from './session.mjs';

export { Rejected, StoreUnavailable, TooManyStreams, Store, MemoryStore, RedisStore, SUBPROTOCOL, isStreamName, refuseUpgrade };

/** Option defaults and ranges: the spec's (protocol.mjs; server/DESIGN.md "Options"). */
export { DEFAULTS };

function checkInt(name, v) {
    const [min, max, nullable] = INT_OPTIONS[name];
    if (v === null && nullable) return null;
    if (!Number.isSafeInteger(v) || v < min || v > max) {
        throw new TypeError(`${name} must be an integer in [${min}, ${max}]${nullable ? ' or null' : ''}`);
    }
    return v;
}

/**
 * @param {import('./index.d.ts').LifelineOptions} [options]
 * @returns {import('./index.d.ts').Lifeline}
 */
export function createLifeline(options = {}) {
    const known = new Set([...Object.keys(DEFAULTS), 'authorize', 'onSend', 'origins', 'store', 'redis', 'redisKeyPrefix', 'intercept', 'log', 'env']);
    for (const k of Object.keys(options)) if (!known.has(k)) throw new TypeError(`unknown option ${k}`);
    // given options, then the environment's LIFELINE_* (env: null reads none), then the defaults
    const given = Object.fromEntries(Object.entries(options).filter(([k, v]) => v !== undefined && k !== 'env'));
    const fromEnv = optionsFromEnvironment(options.env === undefined ? process.env : options.env);
    if (given.store) delete fromEnv.redis; // a store given: the environment's Redis does not apply
    /** @type {import('./index.d.ts').LifelineOptions} */
    const o = { ...DEFAULTS, ...fromEnv, ...given };
    if (typeof o.prefix !== 'string' || !/^\/[^?#]*[^/?#]$/.test(o.prefix)) throw new TypeError("prefix must be a path like '/live' (no trailing slash)");
    for (const f of ['authorize', 'onSend']) if (o[f] !== undefined && typeof o[f] !== 'function') throw new TypeError(`${f} must be a function`);
    /** @type {import('./index.d.ts').Lifeline['config']} */
    const config = /** @type {any} */ ({});
    for (const k of Object.keys(INT_OPTIONS)) config[k] = checkInt(k, o[k]);
    if (o.store && o.redis) throw new TypeError('give store or redis, not both');

    const log = typeof o.log === 'function' ? o.log : o.log ? (...a) => console.error('[lifeline]', ...a) : () => {};
    let store = o.store;
    let ownStore = false;
    if (!store && o.redis) {
        if (typeof o.redis !== 'string' || !/^redis(s|-sentinel|-cluster)?:\/\//.test(o.redis)) {
            throw new TypeError("redis must be a URL like 'redis://127.0.0.1:6379', 'redis-sentinel://h:p,h:p/name' or 'redis-cluster://h:p,h:p'");
        }
        store = new RedisStore({
            url: o.redis,
            retention: config.retention,
            retentionMs: config.retentionMs,
            streamTtl: config.streamTtl,
            keyPrefix: o.redisKeyPrefix,
            log,
        });
        ownStore = true;
    } else if (!store) {
        store = new MemoryStore({ retention: config.retention, retentionMs: config.retentionMs, streamTtl: config.streamTtl, maxStreams: config.maxStreams });
        ownStore = true;
    }
    const ctx = {
        config,
        store,
        origin: originPolicy(parseOrigins(o.origins), !!o.trustProxy),
        authorize: o.authorize,
        onSend: o.onSend,
        intercept: o.intercept ?? {},
        log,
        sessions: new Sessions(), // the open WebSockets and held long polls (session.mjs)
        delayed: new Set(), // poll answers the test seam delays (intercept.delay): each a function that drops one
    };
    const sockets = new Set();
    let closed = false;
    const { WebSocketServer } = peer('ws', 'the WebSocket transport');
    const wss = new WebSocketServer({
        noServer: true,
        maxPayload: config.maxBody,
        perMessageDeflate: false,
        // v2 when offered (protocol/v2.json), else v1; a client offering neither is refused
        handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_V2) ? SUBPROTOCOL_V2 : protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    wss.on('headers', (headers, req) => {
        for (const [k, v] of Object.entries(ctx.intercept.upgradeHeaders?.(req) ?? {})) headers.push(`${k}: ${v}`);
    });

    /** The stream a URL names: a name, null (under the prefix but no valid stream), or undefined (not ours). */
    function route(req) {
        const raw = req.originalUrl ?? req.url ?? '/';
        const q = raw.indexOf('?');
        const pathname = q < 0 ? raw : raw.slice(0, q);
        if (pathname !== o.prefix && !pathname.startsWith(o.prefix + '/')) return undefined;
        const name = pathname.slice(o.prefix.length + 1);
        // `<prefix>/` itself: the v2 poll of many streams (multipoll.mjs)
        return {
            pathname,
            stream: isStreamName(name) ? name : null,
            streams: pathname === o.prefix + '/',
            query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
        };
    }

    /** A request target over maxRequestTargetBytes (1,000 short query parameters are fine). */
    function targetTooLong(req) {
        return Buffer.byteLength(req.url ?? '') > config.maxRequestTargetBytes;
    }

    async function serve(req, res, r) {
        res.on('error', () => {});
        req.on('error', () => {});
        try {
            if (r.streams) await serveStreamsPoll(ctx, req, res, r.query);
            else if (r.stream === null) throw httpError('not_found');
            else await serveHttp(ctx, req, res, r.stream, r.query);
        } catch (e) {
            const err = errorAnswer(e);
            if (err.status === 500) log('internal error', e);
            if (res.headersSent || res.destroyed) return void (res.writableEnded || res.destroy());
            const base = res.lifelineErrorHeaders ?? {
                ...ctx.origin.corsHeaders(req),
                ...(req.method === 'GET' || req.method === 'HEAD' ? pollHeaders(config) : {}),
            };
            sendResponse(res, err.status, { error: err.code, message: err.message }, { ...base, ...err.headers });
            if (err.headers.Connection === 'close') res.on('finish', () => req.socket.destroySoon?.());
        }
    }

    const client = clientFiles(o.prefix);

    function handle(req, res) {
        const r = route(req);
        if (!r) return false;
        const file = client.match(r.pathname);
        if (file && (req.method === 'GET' || req.method === 'HEAD')) return (client.send(req, res, file), true);
        if (closed) {
            const e = httpError('unavailable', 'shutting down');
            sendResponse(res, e.status, { error: e.code, message: e.message }, e.headers);
            return true;
        }
        if (targetTooLong(req)) {
            const e = httpError('uri_too_long', `request target over ${config.maxRequestTargetBytes} bytes`);
            sendResponse(res, e.status, { error: e.code, message: e.message }, { ...ctx.origin.corsHeaders(req), ...e.headers, Connection: 'close' });
            return true;
        }
        serve(req, res, r);
        return true;
    }

    function upgrade(req, socket, head) {
        const r = route(req);
        if (!r) return false;
        socket.on('error', () => {});
        const extra = ctx.intercept.upgradeHeaders?.(req) ?? {};
        upgradeChecked(req, socket, head, r, extra).catch((err) => (log('upgrade error', err), socket.destroy()));
        return true;
    }

    /** The spec's "upgrade" checks (refused with a status, no 101), then the WebSocket. */
    async function upgradeChecked(req, socket, head, r, extra) {
        const refused = await runChecks('upgrade', {
            shutting_down: () => closed && 'shutting down',
            request_target: () => targetTooLong(req) && `request target over ${config.maxRequestTargetBytes} bytes`,
            stream_name: () => r.stream === null,
            origin: () => !ctx.origin.allowed(req) && 'this origin may not connect to this server',
        });
        if (refused) {
            const e = httpError(refused.error, refused.message);
            return refuseUpgrade(socket, e.status, e.code, e.message, { ...e.headers, ...extra });
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
            sockets.add(ws);
            ws.on('close', () => sockets.delete(ws));
            if (ctx.intercept.socket?.(ws, req, r.stream) === true) return;
            runConnection(ctx, ws, req, r.stream, r.query.get('cursor'), r.query.get('beat') === BEAT_QUERY_VALUE).catch((err) => {
                log('websocket error', err);
                ws.terminate();
            });
        });
    }

    async function publish(stream, data) {
        if (!isStreamName(stream)) throw new TypeError(`not a stream name: ${JSON.stringify(stream)}`);
        const json = JSON.stringify(data === undefined ? null : data);
        if (json === undefined) throw new TypeError('data must be JSON-serializable');
        return store.append(stream, json);
    }

    /**
     * Revocation: end the WebSockets and held long polls of `stream` (every stream when null)
     * whose request `where(req)` accepts (all when omitted). A socket gets an error frame
     * `revoked` and close 1008, a long poll `403 {"error":"revoked"}`. `authorize` runs once
     * per socket and long poll, so this is how taking a right away reaches the connections
     * already open (a reconnect meets `authorize` again). Returns how many were ended.
     * @param {string | null} stream
     * @param {{ where?: (req: import('node:http').IncomingMessage) => boolean, message?: string }} [options]
     */
    function disconnect(stream, { where, message = 'access to this stream was revoked' } = {}) {
        if (stream !== null && stream !== undefined && !isStreamName(stream)) throw new TypeError(`not a stream name: ${JSON.stringify(stream)}`);
        if (where !== undefined && typeof where !== 'function') throw new TypeError('where must be a function (req) => boolean');
        return ctx.sessions.disconnect(stream, where, message);
    }

    /** Change numeric options at run time (new requests and sockets see them). */
    function configure(changes) {
        const next = { ...config };
        for (const [k, v] of Object.entries(changes)) {
            if (!RUNTIME_OPTIONS.includes(k)) throw new TypeError(`not a run-time option: ${k}`);
            next[k] = checkInt(k, v);
        }
        if (next.retention !== config.retention && 'retention' in store) store.retention = next.retention;
        if (next.retentionMs !== config.retentionMs && 'retentionMs' in store) store.retentionMs = next.retentionMs;
        Object.assign(config, next);
        return { ...config };
    }

    async function close() {
        if (closed) return;
        closed = true;
        for (const ws of sockets) ws.terminate();
        ctx.sessions.close();
        for (const drop of [...ctx.delayed]) drop();
        wss.close();
        if (ownStore) await store.close?.();
    }

    /** The store's state (server/DESIGN.md "Health"): {ok, store, …}; a store without a health hook is ok. */
    async function health() {
        return (await store.health?.()) ?? { ok: true, store: 'custom' };
    }

    return { handle, upgrade, publish, disconnect, configure, close, health, store, config, clientUrl: client.url, scriptTag: client.scriptTag };
}

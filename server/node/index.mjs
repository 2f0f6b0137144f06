// lifeline-live/server — serve Lifeline's wire protocol v1 (README "Wire protocol v1") for any
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
// are listed at the top of http.mjs and websocket.mjs.
//
// Test seam (not for applications): `intercept` lets the demo/test layer (demo/faults.mjs)
// break things on purpose without fault code in here:
//   intercept.socket(ws, req, stream) -> true    the seam took this accepted socket over
//                                               (the library sends and reads nothing on it)
//   intercept.muted(ws) -> true                  the library stops sending and reading on ws
//   intercept.delay(req, res) -> ms              hold a poll's answer this long
//   intercept.hello                              extra fields for every hello frame
//   intercept.upgradeHeaders(req) -> object      extra headers on the 101 and refused upgrades

import { HttpError, Rejected, StoreUnavailable, TooManyStreams } from './errors.mjs';
import { isStreamName } from './cursor.mjs';
import { originPolicy, parseOrigins } from './origin.mjs';
import { MemoryStore } from './memory-store.mjs';
import { RedisStore } from './redis-store.mjs';
import { serveHttp, sendResponse, errorAnswer, pollHeaders } from './http.mjs';
import { SUBPROTOCOL, refuseUpgrade, runConnection } from './websocket.mjs';
import { peer } from './peers.mjs';

export { Rejected, StoreUnavailable, TooManyStreams, MemoryStore, RedisStore, SUBPROTOCOL, isStreamName };

/** Option defaults (server/DESIGN.md "Options"). */
export const DEFAULTS = Object.freeze({
    prefix: '/live',
    heartbeat: 25000,
    longPollMax: 25000,
    interval: null,
    batch: 500,
    retention: 1000,
    retentionMs: null,
    maxBody: 65536,
    streamTtl: 24 * 3600e3,
    maxStreams: 100_000,
    trustProxy: false,
});

const INT_OPTIONS = {
    heartbeat: [1, 24 * 3600e3],
    longPollMax: [0, 24 * 3600e3],
    interval: [0, 24 * 3600e3, true],
    batch: [1, 1e6],
    retention: [1, Number.MAX_SAFE_INTEGER],
    retentionMs: [1, Number.MAX_SAFE_INTEGER, true],
    maxBody: [1, 1 << 30],
    streamTtl: [1, Number.MAX_SAFE_INTEGER, true],
    maxStreams: [1, Number.MAX_SAFE_INTEGER],
};

/** Options `configure()` may change; maxBody is fixed at construction (it sizes the WebSocket server). */
const RUNTIME_OPTIONS = ['heartbeat', 'longPollMax', 'interval', 'batch', 'retention', 'retentionMs'];

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
    const known = new Set([...Object.keys(DEFAULTS), 'authorize', 'onSend', 'origins', 'store', 'redis', 'redisKeyPrefix', 'intercept', 'log']);
    for (const k of Object.keys(options)) if (!known.has(k)) throw new TypeError(`unknown option ${k}`);
    const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    if (typeof o.prefix !== 'string' || !/^\/[^?#]*[^/?#]$/.test(o.prefix)) throw new TypeError("prefix must be a path like '/live' (no trailing slash)");
    for (const f of ['authorize', 'onSend']) if (o[f] !== undefined && typeof o[f] !== 'function') throw new TypeError(`${f} must be a function`);
    const config = {};
    for (const k of ['heartbeat', 'longPollMax', 'interval', 'batch', 'retention', 'retentionMs', 'maxBody', 'streamTtl', 'maxStreams']) config[k] = checkInt(k, o[k]);
    if (o.store && o.redis) throw new TypeError('give store or redis, not both');

    const log = typeof o.log === 'function' ? o.log : o.log ? (...a) => console.error('[lifeline]', ...a) : () => {};
    let store = o.store;
    let ownStore = false;
    if (!store && o.redis) {
        if (typeof o.redis !== 'string' || !/^redis(s|-sentinel|-cluster)?:\/\//.test(o.redis)) {
            throw new TypeError("redis must be a URL like 'redis://127.0.0.1:6379', 'redis-sentinel://h:p,h:p/name' or 'redis-cluster://h:p,h:p'");
        }
        store = new RedisStore({ url: o.redis, retention: config.retention, retentionMs: config.retentionMs, streamTtl: config.streamTtl, keyPrefix: o.redisKeyPrefix, log });
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
        held: new Set(), // held and delayed polls: {destroy()}
    };
    const sockets = new Set();
    let closed = false;
    const { WebSocketServer } = peer('ws', 'the WebSocket transport');
    const wss = new WebSocketServer({
        noServer: true,
        maxPayload: config.maxBody,
        perMessageDeflate: false,
        handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
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
        return { stream: isStreamName(name) ? name : null, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
    }

    async function serve(req, res, r) {
        res.on('error', () => {});
        req.on('error', () => {});
        try {
            if (r.stream === null) throw new HttpError(404, 'not_found', `not a stream URL: ${o.prefix}/<stream>, a name of [A-Za-z0-9_.:-]{1,200}`);
            await serveHttp(ctx, req, res, r.stream, r.query);
        } catch (e) {
            const err = errorAnswer(e);
            if (err.status === 500) log('internal error', e);
            if (res.headersSent || res.destroyed) return void (res.writableEnded || res.destroy());
            const base = res.lifelineErrorHeaders ?? { ...ctx.origin.corsHeaders(req), ...(req.method === 'GET' ? pollHeaders(config) : {}) };
            sendResponse(res, err.status, { error: err.code, message: err.message }, { ...base, ...err.headers });
            if (err.headers.Connection === 'close') res.on('finish', () => req.socket.destroySoon?.());
        }
    }

    function handle(req, res) {
        const r = route(req);
        if (!r) return false;
        if (closed) {
            sendResponse(res, 503, { error: 'unavailable', message: 'shutting down' }, { 'Retry-After': '1' });
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
        if (closed) return refuseUpgrade(socket, 503, 'unavailable', 'shutting down', { 'Retry-After': '1', ...extra }), true;
        if (r.stream === null) return refuseUpgrade(socket, 404, 'not_found', `not a stream URL`, extra), true;
        if (!ctx.origin.allowed(req)) return refuseUpgrade(socket, 403, 'forbidden_origin', 'this origin may not connect to this server', extra), true;
        wss.handleUpgrade(req, socket, head, (ws) => {
            sockets.add(ws);
            ws.on('close', () => sockets.delete(ws));
            if (ctx.intercept.socket?.(ws, req, r.stream) === true) return;
            runConnection(ctx, ws, req, r.stream, r.query.get('cursor')).catch((err) => {
                log('websocket error', err);
                ws.terminate();
            });
        });
        return true;
    }

    async function publish(stream, data) {
        if (!isStreamName(stream)) throw new TypeError(`not a stream name: ${JSON.stringify(stream)}`);
        const json = JSON.stringify(data === undefined ? null : data);
        if (json === undefined) throw new TypeError('data must be JSON-serializable');
        return store.append(stream, json);
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
        for (const h of [...ctx.held]) h.destroy();
        wss.close();
        if (ownStore) await store.close?.();
    }

    /** The store's state (server/DESIGN.md "Health"): {ok, store, …}; a store without a health hook is ok. */
    async function health() {
        return (await store.health?.()) ?? { ok: true, store: 'custom' };
    }

    return { handle, upgrade, publish, configure, close, health, store, config };
}

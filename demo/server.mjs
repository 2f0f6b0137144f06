#!/usr/bin/env node
// server.mjs — the Lifeline reference server: wire protocol v1 (README "Wire protocol v1")
// over node:http + ws, an in-memory log (store.mjs), the demo's static files, and fault
// switches for tests.
//
//   import { createServer } from './demo/server.mjs';
//   const s = await createServer({ port: 0 });   // -> {server, url, close(), store, config, fault, stats, restart(), publish()}
//
//   node demo/server.mjs --host 127.0.0.1 --port 0 [--origins a,b|*] [--heartbeat ms]
//        [--retention n] [--long-poll-max ms] [--interval ms] [--batch n] [--tick ms]
//   prints exactly one line `LISTENING http://127.0.0.1:<port>` once it accepts connections.
//
// Endpoints: /live (WebSocket upgrade with subprotocol lifeline.v1, GET poll, POST send,
// OPTIONS preflight), /admin/* (loopback only), /dist/* (from dist/), everything else from
// demo/public/.
//
// Decisions where the protocol text leaves room (the conformance suite in
// tests/conformance/ checks the ones a client can observe):
//  - Cursor validity: a cursor c is served when oldest-retained−1 <= c <= head in the current
//    boot; `0` (and `0-0`) means everything retained and never resets; everything else
//    (fell out of retention, ahead of head, another boot) is a reset to the current head:
//    WebSocket `reset` frame then `hello` and only live messages; poll `410 {"type":"reset"}`.
//  - An empty `cursor=` value, a cursor that is not digits[-digits], or a part above
//    2^64−1 is a bad request: poll 400 `bad_request`; WebSocket: the upgrade is accepted,
//    then `{"type":"error","code":"bad_request"}` and close 1008 (a browser cannot see an
//    HTTP status of a refused upgrade, an error frame it can).
//  - A repeated query parameter: the first one counts. `/live` only (no trailing slash).
//  - `wait` must be digits (ms); 0 means no hold; it is clamped to longPollMax. A poll with
//    no cursor answers at once (200 with the head) even with `wait`: the client needs a
//    cursor before it can wait for anything. longPollMax 0 disables long polling and the
//    `Lifeline-Long-Poll` header.
//  - `If-None-Match` is used as the cursor only when the query has none; a query cursor
//    wins. "Nothing new" is 304 when the request's If-None-Match names the head, else 204.
//    An If-None-Match that is not a cursor is ignored. 200/204/304 all carry `ETag: "<c>"`.
//  - Poll headers (Cache-Control: no-store, Lifeline-Long-Poll, Lifeline-Interval when
//    configured) are on every response to GET /live, errors included.
//  - Send ids (WebSocket and POST) must be non-negative safe integers; a missing `data` is
//    null. A WebSocket `send` with a bad id, a non-object, non-JSON or binary frame is
//    `bad_frame` + close 1008. Unknown frame types are ignored. Frames over 64 KiB are
//    closed by ws with 1009.
//  - Shedding (`shed` config) applies to every /live request: polls, POSTs and upgrades
//    (answered with the status and Retry-After instead of 101); not to OPTIONS, static
//    files or /admin.
//  - CORS: with origins `*` the answer is `Access-Control-Allow-Origin: *`; with a list,
//    an allowed Origin is echoed and a disallowed one gets no ACAO (the browser blocks it);
//    a WebSocket upgrade from a disallowed Origin is refused 403 (browsers do not apply
//    CORS to WebSockets, so the server must). CORS headers are on static files too, so a
//    page on another origin can import /dist/lifeline.mjs.
//  - Fault modes: refuse/blackhole/flap/close apply to upgrades made while the mode is set.
//    `stall` also freezes the WebSockets already open (so a test can stall a working
//    socket); a frozen socket stays frozen until it closes, even after mode none. `close`
//    (not in the brief; the Flask server has it, DESIGN §3.2 names the case) accepts the
//    upgrade and closes it (1011) before hello. `slow` delays every GET /live response
//    (long polls included, after they resolve).
//  - Restart drops WebSockets (terminate: the client sees 1006), held and delayed polls,
//    and black-holed sockets; idle keep-alive HTTP connections are left alone.
//  - Heartbeat changes apply to new WebSockets (hello announces the value). Besides the
//    protocol `ping`, the server sends WebSocket control pings every heartbeat and
//    terminates a socket that answered nothing (no pong, no frame) for 3 heartbeats, so
//    vanished clients do not leak.
//  - /admin/* is refused 403 unless the peer is loopback, and also when a browser sends an
//    Origin that is not this server's own (a cross-site page must not restart the server).
//  - Tick (`--tick <ms>`, option `tick`; off by default, `make demo` passes 2000): the server
//    itself publishes `{"kind":"tick","t":<epoch ms>,"value":<random walk>}` every tick, so
//    the demo page always has something live. The walk starts at 50, moves by up to ±5 per
//    tick and stays within [0, 100]; it goes on across /admin/restart.
//  - Stats (GET /admin/stats) is a flat object: request counts by kind (ws, poll — GETs
//    without wait —, longpoll, post, options) and by status ("200", "204", …) for /live,
//    plus bytesIn, bytesOut (bytes = bytesOut), wsOpen and held (current gauges).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocketServer, WebSocket } from 'ws';
import { MemoryStore, parseCursor, compareCursors } from './store.mjs';

export const SUBPROTOCOL = 'lifeline.v1';
export const MAX_BODY = 64 * 1024;
const EXPOSE = 'ETag, Retry-After, Date, Lifeline-Interval, Lifeline-Long-Poll';
const FAULT_MODES = new Set(['none', 'refuse', 'blackhole', 'stall', 'flap', 'slow', 'close']);
const HERE = path.dirname(fileURLToPath(import.meta.url));

const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.htm': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.mjs': 'text/javascript; charset=utf-8',
    '.cjs': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.json': 'application/json; charset=utf-8',
    '.map': 'application/json; charset=utf-8',
    '.wasm': 'application/wasm',
    '.ts': 'text/plain; charset=utf-8',
    '.txt': 'text/plain; charset=utf-8',
    '.md': 'text/markdown; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.jpeg': 'image/jpeg',
    '.gif': 'image/gif',
    '.ico': 'image/x-icon',
    '.webp': 'image/webp',
    '.woff2': 'font/woff2',
};

class HttpError extends Error {
    constructor(status, code, message, headers = {}) {
        super(message);
        this.status = status;
        this.code = code;
        this.headers = headers;
    }
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(addr) {
    if (typeof addr !== 'string') return false;
    let a = addr.toLowerCase();
    if (a.startsWith('::ffff:')) a = a.slice(7);
    return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

function intOption(v, name, min, max = Number.MAX_SAFE_INTEGER) {
    const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
        throw new HttpError(400, 'bad_request', `${name} must be an integer in [${min}, ${max}]`);
    }
    return n;
}

function parseShed(v) {
    if (v === null || v === undefined || v === false) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'bad_request', 'shed must be an object or null');
    const status = v.status === undefined ? 503 : Number(v.status);
    if (status !== 429 && status !== 503) throw new HttpError(400, 'bad_request', 'shed.status must be 429 or 503');
    const retryAfter = v.retryAfter === undefined || v.retryAfter === null ? '1' : String(v.retryAfter);
    if (!retryAfter || /[\r\n]/.test(retryAfter)) throw new HttpError(400, 'bad_request', 'bad shed.retryAfter');
    return { status, retryAfter };
}

function parseOrigins(v) {
    if (v === undefined || v === null || v === '*') return '*';
    const list = Array.isArray(v) ? v : String(v).split(',');
    const out = list.map((s) => String(s).trim()).filter(Boolean);
    return out.includes('*') || out.length === 0 ? '*' : out;
}

/** Entity tags of an If-None-Match header, unquoted, weak prefix dropped. */
function parseIfNoneMatch(h) {
    if (typeof h !== 'string' || !h.trim()) return [];
    return h
        .split(',')
        .map((t) => t.trim().replace(/^W\//i, ''))
        .map((t) => (t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t))
        .filter(Boolean);
}

/**
 * Create and start a server. Resolves once it listens.
 * @param {object} [options]
 *   host ('127.0.0.1'), port (0), origins ('*' | string[] | 'a,b'), heartbeat (25000 ms),
 *   retention (1000), longPollMax (25000 ms, 0 = no long poll), interval (null ms),
 *   batch (500), shed (null | {status, retryAfter}), store (a store; default in-memory),
 *   publicDir (demo/public), distDir (dist), maxBody (65536), log (false),
 *   tick (0 = off; ms between server-published tick messages)
 */
export async function createServer(options = {}) {
    const store = options.store ?? new MemoryStore({ retention: options.retention ?? 1000 });
    const config = {
        retention: options.retention ?? store.retention ?? 1000,
        heartbeat: options.heartbeat ?? 25000,
        longPollMax: options.longPollMax ?? 25000,
        interval: options.interval ?? null,
        batch: options.batch ?? 500,
        shed: parseShed(options.shed),
    };
    const origins = parseOrigins(options.origins);
    const maxBody = options.maxBody ?? MAX_BODY;
    const publicDir = path.resolve(options.publicDir ?? path.join(HERE, 'public'));
    const distDir = path.resolve(options.distDir ?? path.join(HERE, '..', 'dist'));
    const log = options.log ? (...a) => console.error('[lifeline]', ...a) : () => {};

    const fault = { mode: 'none', ms: 500 };
    applyConfig({}, true); // validate the options
    const tickMs = options.tick ?? 0;
    if (!Number.isSafeInteger(tickMs) || tickMs < 0) throw new Error('tick must be an integer >= 0 (ms)');
    const conns = new Set(); // live WebSocket connections
    const held = new Set(); // poll requests being held or delayed: {destroy()}
    const blackholes = new Set(); // upgrade sockets never answered
    const timers = new Set(); // misc timers to clear on close
    let stats = freshStats();
    let closed = false;

    function freshStats() {
        return { ws: 0, poll: 0, longpoll: 0, post: 0, options: 0, bytesIn: 0, bytesOut: 0, bytes: 0 };
    }
    function count(key, n = 1) {
        stats[key] = (stats[key] ?? 0) + n;
    }
    function countOut(n) {
        stats.bytesOut += n;
        stats.bytes = stats.bytesOut;
    }

    function applyConfig(body, initial = false) {
        const next = { ...config };
        const unknown = Object.keys(body).filter((k) => !(k in config));
        if (unknown.length) throw new HttpError(400, 'bad_request', `unknown config key(s): ${unknown.join(', ')}`);
        if (body.retention !== undefined) next.retention = intOption(body.retention, 'retention', 1);
        if (body.heartbeat !== undefined) next.heartbeat = intOption(body.heartbeat, 'heartbeat', 1);
        if (body.longPollMax !== undefined) next.longPollMax = intOption(body.longPollMax, 'longPollMax', 0, 24 * 3600e3);
        if (body.interval !== undefined) next.interval = body.interval === null ? null : intOption(body.interval, 'interval', 0);
        if (body.batch !== undefined) next.batch = intOption(body.batch, 'batch', 1);
        if (body.shed !== undefined) next.shed = parseShed(body.shed);
        if (initial) {
            intOption(next.retention, 'retention', 1);
            intOption(next.heartbeat, 'heartbeat', 1);
            intOption(next.longPollMax, 'longPollMax', 0, 24 * 3600e3);
            if (next.interval !== null) intOption(next.interval, 'interval', 0);
            intOption(next.batch, 'batch', 1);
        }
        Object.assign(config, next);
        if ('retention' in store) store.retention = config.retention;
        return publicConfig();
    }
    function publicConfig() {
        return { ...config, shed: config.shed && { ...config.shed }, origins, fault: { ...fault } };
    }

    // ---------------------------------------------------------------- HTTP plumbing

    function corsHeaders(req) {
        const h = { Vary: 'Origin', 'Access-Control-Expose-Headers': EXPOSE };
        const origin = req.headers.origin;
        if (origins === '*') h['Access-Control-Allow-Origin'] = '*';
        else if (origin && origins.includes(origin)) h['Access-Control-Allow-Origin'] = origin;
        return h;
    }

    function pollHeaders() {
        const h = { 'Cache-Control': 'no-store' };
        if (config.longPollMax > 0) h['Lifeline-Long-Poll'] = String(config.longPollMax);
        if (config.interval !== null) h['Lifeline-Interval'] = String(config.interval);
        return h;
    }

    /** Write a whole response; body is an object (JSON), a string/Buffer, or null. */
    function send(res, status, body, headers = {}, live = false) {
        if (res.headersSent || res.destroyed) return;
        let buf = null;
        const h = { ...headers };
        if (body !== null && body !== undefined && status !== 204 && status !== 304) {
            if (Buffer.isBuffer(body) || typeof body === 'string') buf = Buffer.from(body);
            else {
                buf = Buffer.from(JSON.stringify(body));
                h['Content-Type'] ??= 'application/json; charset=utf-8';
            }
            h['Content-Length'] = buf.length;
        } else if (status !== 204 && status !== 304) {
            h['Content-Length'] = 0;
        }
        res.writeHead(status, h);
        res.end(res.req?.method === 'HEAD' ? undefined : buf ?? undefined);
        if (live) {
            count(String(status));
            if (buf && res.req?.method !== 'HEAD') countOut(buf.length);
        }
    }

    function sendError(res, err, baseHeaders = {}, live = false) {
        const status = err instanceof HttpError ? err.status : 500;
        const code = err instanceof HttpError ? err.code : 'internal';
        const message = err instanceof HttpError ? err.message : 'internal server error';
        if (!(err instanceof HttpError)) log('internal error', err);
        send(res, status, { error: code, message }, { ...baseHeaders, ...(err.headers ?? {}) }, live);
    }

    function readBody(req, limit) {
        return new Promise((resolve, reject) => {
            const len = Number(req.headers['content-length']);
            if (Number.isFinite(len) && len > limit) {
                reject(new HttpError(413, 'payload_too_large', `body over ${limit} bytes`, { Connection: 'close' }));
                return;
            }
            const chunks = [];
            let size = 0;
            let done = false;
            req.on('data', (c) => {
                if (done) return;
                size += c.length;
                if (size > limit) {
                    done = true;
                    reject(new HttpError(413, 'payload_too_large', `body over ${limit} bytes`, { Connection: 'close' }));
                    return;
                }
                chunks.push(c);
            });
            req.on('end', () => {
                if (done) return;
                done = true;
                resolve(Buffer.concat(chunks));
            });
            req.on('error', (e) => {
                if (done) return;
                done = true;
                reject(e);
            });
            req.on('aborted', () => {
                if (done) return;
                done = true;
                reject(new HttpError(400, 'bad_request', 'request aborted'));
            });
        });
    }

    function parseJson(buf, what) {
        let v;
        try {
            v = JSON.parse(buf.toString('utf8'));
        } catch {
            throw new HttpError(400, 'bad_request', `${what} is not valid JSON`);
        }
        return v;
    }

    // ---------------------------------------------------------------- routing

    async function onRequest(req, res) {
        res.on('error', () => {});
        req.on('error', () => {});
        const raw = req.url || '/';
        const q = raw.indexOf('?');
        const pathname = q < 0 ? raw : raw.slice(0, q);
        const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
        try {
            if (pathname === '/live') return await onLive(req, res, query);
            if (pathname === '/admin' || pathname.startsWith('/admin/')) return await onAdmin(req, res, pathname, query);
            return await onStatic(req, res, pathname);
        } catch (err) {
            if (!res.headersSent && !res.destroyed) {
                const live = pathname === '/live';
                sendError(res, err, { ...corsHeaders(req), ...(live && req.method === 'GET' ? pollHeaders() : {}) }, live);
                if (err?.headers?.Connection === 'close') {
                    res.on('finish', () => req.socket.destroySoon?.());
                }
            } else if (!res.writableEnded) {
                res.destroy();
            }
        }
    }

    async function onLive(req, res, query) {
        const method = req.method;
        if (method === 'OPTIONS') {
            count('options');
            const h = corsHeaders(req);
            if (h['Access-Control-Allow-Origin']) {
                h['Access-Control-Allow-Methods'] = 'GET, POST, OPTIONS';
                h['Access-Control-Allow-Headers'] =
                    req.headers['access-control-request-headers'] || 'Content-Type, If-None-Match';
                h['Access-Control-Max-Age'] = '600';
            }
            h.Allow = 'GET, HEAD, POST, OPTIONS';
            return send(res, 204, null, h, true);
        }
        if (method === 'GET' || method === 'HEAD') return onPoll(req, res, query);
        if (method === 'POST') return onPost(req, res);
        throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on /live`, {
            Allow: 'GET, HEAD, POST, OPTIONS',
        });
    }

    function shedError() {
        const s = config.shed;
        return new HttpError(
            s.status,
            s.status === 429 ? 'too_many_requests' : 'unavailable',
            'server is shedding load; retry later',
            { 'Retry-After': s.retryAfter },
        );
    }

    async function onPoll(req, res, query) {
        let waitMs = 0;
        const waitRaw = query.get('wait');
        if (waitRaw !== null) {
            if (!/^\d{1,100}$/.test(waitRaw)) {
                count('poll');
                throw new HttpError(400, 'bad_request', 'wait must be a non-negative integer (ms)');
            }
            waitMs = Math.min(Number(waitRaw), config.longPollMax);
        }
        if (req.method === 'HEAD') waitMs = 0;
        count(waitMs > 0 ? 'longpoll' : 'poll');
        if (config.shed) throw shedError();

        let cursor;
        const cursorRaw = query.get('cursor');
        if (cursorRaw !== null) {
            if (!parseCursor(cursorRaw)) throw new HttpError(400, 'bad_request', 'cursor must be <u64> or <u64>-<u64>');
            cursor = cursorRaw;
        }
        const inm = parseIfNoneMatch(req.headers['if-none-match']).filter((t) => parseCursor(t));
        if (cursor === undefined && inm.length) cursor = inm[0];

        const base = { ...corsHeaders(req), ...pollHeaders() };
        const reply = (status, body, extra = {}) => {
            const go = () => send(res, status, body, { ...base, ...extra }, true);
            if (fault.mode === 'slow' && fault.ms > 0) delayed(res, go, fault.ms);
            else go();
        };
        const nothingNew = async () => {
            const head = await store.head();
            const hp = parseCursor(head);
            const match = inm.some((t) => compareCursors(parseCursor(t), hp) === 0);
            reply(match ? 304 : 204, null, { ETag: `"${head}"` });
        };
        const answer = (r) => {
            if (r.reset) return reply(410, { type: 'reset', cursor: r.cursor }), true;
            if (r.messages.length) {
                reply(200, { cursor: r.cursor, messages: r.messages }, { ETag: `"${r.cursor}"` });
                return true;
            }
            return false;
        };

        if (cursor === undefined) {
            const head = await store.head();
            return reply(200, { cursor: head, messages: [] }, { ETag: `"${head}"` });
        }
        if (waitMs <= 0) {
            const r = await store.since(cursor, config.batch);
            if (!answer(r)) await nothingNew();
            return;
        }

        // Long poll: subscribe before looking, so nothing appended in between is missed.
        await new Promise((resolve) => {
            let finished = false;
            let checking = false;
            let again = false;
            const rec = {
                destroy() {
                    finish();
                    res.destroy();
                },
            };
            const finish = () => {
                if (finished) return false;
                finished = true;
                unsub();
                clearTimeout(timer);
                held.delete(rec);
                resolve();
                return true;
            };
            const check = async () => {
                if (finished) return;
                if (checking) {
                    again = true;
                    return;
                }
                checking = true;
                try {
                    do {
                        again = false;
                        const r = await store.since(cursor, config.batch);
                        if (finished) return;
                        if (r.reset || r.messages.length) {
                            finish();
                            answer(r);
                            return;
                        }
                    } while (again);
                } catch (err) {
                    if (finish()) sendError(res, err, base, true);
                } finally {
                    checking = false;
                }
            };
            const unsub = store.subscribe(() => check());
            const timer = setTimeout(async () => {
                if (!finish()) return;
                try {
                    await nothingNew();
                } catch (err) {
                    sendError(res, err, base, true);
                }
            }, waitMs);
            held.add(rec);
            res.on('close', () => finish()); // client gave up: release everything
            check();
        });
    }

    /** Run `go` after `ms` unless the response is closed or the server restarts first. */
    function delayed(res, go, ms) {
        const rec = {
            destroy() {
                clearTimeout(t);
                held.delete(rec);
                res.destroy();
            },
        };
        const t = setTimeout(() => {
            held.delete(rec);
            go();
        }, ms);
        held.add(rec);
        res.on('close', () => {
            clearTimeout(t);
            held.delete(rec);
        });
    }

    async function onPost(req, res) {
        count('post');
        if (config.shed) throw shedError();
        const buf = await readBody(req, maxBody);
        count('bytesIn', buf.length);
        const body = parseJson(buf, 'body');
        if (!body || typeof body !== 'object' || Array.isArray(body)) {
            throw new HttpError(400, 'bad_request', 'body must be a JSON object {"id":n,"data":…}');
        }
        if (!Number.isSafeInteger(body.id) || body.id < 0) {
            throw new HttpError(400, 'bad_request', 'id must be a non-negative integer');
        }
        await store.append(body.data === undefined ? null : body.data);
        send(res, 200, { ack: body.id }, corsHeaders(req), true);
    }

    // ---------------------------------------------------------------- admin

    async function onAdmin(req, res, pathname) {
        if (!isLoopback(req.socket.remoteAddress)) {
            throw new HttpError(403, 'forbidden', 'the admin API answers loopback clients only');
        }
        const origin = req.headers.origin;
        if (origin && origin !== 'null') {
            let host = null;
            try {
                host = new URL(origin).host;
            } catch {}
            if (host !== req.headers.host) throw new HttpError(403, 'forbidden', 'cross-origin admin request');
        } else if (origin === 'null') {
            throw new HttpError(403, 'forbidden', 'cross-origin admin request');
        }
        const routes = {
            '/admin/fault': 'POST',
            '/admin/restart': 'POST',
            '/admin/publish': 'POST',
            '/admin/config': 'GET, POST',
            '/admin/stats': 'GET',
            '/admin/stats/reset': 'POST',
        };
        const allow = routes[pathname];
        if (!allow) throw new HttpError(404, 'not_found', `no admin route ${pathname}`);
        const method = req.method === 'HEAD' ? 'GET' : req.method;
        if (!allow.split(', ').includes(method)) {
            throw new HttpError(405, 'method_not_allowed', `${req.method} not allowed`, { Allow: allow });
        }
        let body = {};
        if (method === 'POST') {
            const buf = await readBody(req, maxBody);
            if (buf.length && buf.toString('utf8').trim()) body = parseJson(buf, 'body');
            if (!body || typeof body !== 'object' || Array.isArray(body)) {
                throw new HttpError(400, 'bad_request', 'body must be a JSON object');
            }
        }
        const h = { 'Cache-Control': 'no-store' };
        switch (pathname) {
            case '/admin/fault': {
                const mode = body.mode ?? 'none';
                if (!FAULT_MODES.has(mode)) throw new HttpError(400, 'bad_request', `unknown fault mode ${JSON.stringify(mode)}`);
                const ms = body.ms === undefined ? (mode === 'flap' ? 500 : fault.ms) : intOption(body.ms, 'ms', 0);
                setFault(mode, ms);
                log('fault', fault);
                return send(res, 200, { ...fault }, h);
            }
            case '/admin/restart': {
                await restart();
                return send(res, 200, { cursor: await store.head() }, h);
            }
            case '/admin/publish': {
                const r = await store.append(body.data === undefined ? null : body.data);
                return send(res, 200, { cursor: r.cursor }, h);
            }
            case '/admin/config':
                return send(res, 200, method === 'POST' ? applyConfig(body) : publicConfig(), h);
            case '/admin/stats':
                return send(res, 200, { ...stats, wsOpen: conns.size, held: held.size }, h);
            case '/admin/stats/reset':
                stats = freshStats();
                return send(res, 200, { ...stats, wsOpen: conns.size, held: held.size }, h);
        }
    }

    // ---------------------------------------------------------------- static files

    async function onStatic(req, res, pathname) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
            if (req.method === 'OPTIONS') return send(res, 204, null, { ...corsHeaders(req), Allow: 'GET, HEAD, OPTIONS' });
            throw new HttpError(405, 'method_not_allowed', `${req.method} not allowed`, { Allow: 'GET, HEAD, OPTIONS' });
        }
        let rel;
        try {
            rel = decodeURIComponent(pathname);
        } catch {
            throw new HttpError(400, 'bad_request', 'bad path encoding');
        }
        if (rel.includes('\0') || rel.includes('\\')) throw new HttpError(404, 'not_found', 'not found');
        let root = publicDir;
        if (rel === '/dist' || rel.startsWith('/dist/')) {
            root = distDir;
            rel = rel.slice(5);
        }
        if (rel === '' || rel.endsWith('/')) rel += 'index.html';
        const file = path.resolve(root, '.' + path.posix.normalize('/' + rel));
        if (file !== root && !file.startsWith(root + path.sep)) throw new HttpError(404, 'not_found', 'not found');
        let st;
        try {
            st = await fs.promises.stat(file);
        } catch {
            throw new HttpError(404, 'not_found', 'not found');
        }
        if (!st.isFile()) throw new HttpError(404, 'not_found', 'not found');
        const ext = file.endsWith('.d.ts') ? '.ts' : path.extname(file).toLowerCase();
        res.writeHead(200, {
            ...corsHeaders(req),
            'Content-Type': TYPES[ext] ?? 'application/octet-stream',
            'Content-Length': st.size,
            'Cache-Control': 'no-cache',
            'Last-Modified': st.mtime.toUTCString(),
            'X-Content-Type-Options': 'nosniff',
        });
        if (req.method === 'HEAD') return res.end();
        await new Promise((resolve) => {
            const s = fs.createReadStream(file);
            s.on('error', () => {
                res.destroy();
                resolve();
            });
            s.on('end', resolve);
            res.on('close', () => {
                s.destroy();
                resolve();
            });
            s.pipe(res);
        });
    }

    // ---------------------------------------------------------------- WebSocket

    const wss = new WebSocketServer({
        noServer: true,
        maxPayload: maxBody,
        perMessageDeflate: false,
        handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });

    function refuseUpgrade(socket, status, code, message, headers = {}) {
        if (!socket.writable) return socket.destroy();
        const body = JSON.stringify({ error: code, message });
        const lines = [
            `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`,
            'Connection: close',
            'Content-Type: application/json; charset=utf-8',
            `Content-Length: ${Buffer.byteLength(body)}`,
            ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        ];
        socket.end(lines.join('\r\n') + '\r\n\r\n' + body);
        const t = setTimeout(() => socket.destroy(), 1000);
        t.unref();
        count(String(status));
    }

    function onUpgrade(req, socket, head) {
        socket.on('error', () => {});
        try {
            const raw = req.url || '/';
            const q = raw.indexOf('?');
            const pathname = q < 0 ? raw : raw.slice(0, q);
            const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
            if (pathname !== '/live') return refuseUpgrade(socket, 404, 'not_found', 'WebSocket endpoint is /live');
            count('ws');
            const origin = req.headers.origin;
            if (origins !== '*' && origin && !origins.includes(origin)) {
                return refuseUpgrade(socket, 403, 'forbidden', 'origin not allowed');
            }
            if (config.shed) {
                const e = shedError();
                return refuseUpgrade(socket, e.status, e.code, e.message, e.headers);
            }
            if (fault.mode === 'refuse') return refuseUpgrade(socket, 403, 'refused', 'fault: refuse');
            if (fault.mode === 'blackhole') {
                blackholes.add(socket);
                socket.on('close', () => blackholes.delete(socket));
                return; // never answered
            }
            const cursorRaw = query.get('cursor');
            const connFault = { mode: fault.mode, ms: fault.ms };
            wss.handleUpgrade(req, socket, head, (ws) => {
                count('101');
                onConnection(ws, cursorRaw, connFault).catch((err) => {
                    log('ws error', err);
                    ws.terminate();
                });
            });
        } catch (err) {
            log('upgrade error', err);
            socket.destroy();
        }
    }

    async function onConnection(ws, cursorRaw, connFault) {
        const heartbeat = config.heartbeat;
        const conn = { ws, frozen: false, timers: new Set(), unsub: () => {}, lastSent: Date.now(), lastRecv: Date.now() };
        conns.add(conn);
        ws.on('error', () => {});
        ws.on('close', () => {
            conns.delete(conn);
            conn.unsub();
            for (const t of conn.timers) clearTimeout(t), clearInterval(t);
        });
        const out = (obj) => {
            if (ws.readyState !== WebSocket.OPEN || conn.frozen) return;
            const s = JSON.stringify(obj);
            ws.send(s);
            countOut(Buffer.byteLength(s));
            conn.lastSent = Date.now();
        };
        const fail = (code, message) => {
            if (conn.frozen) return;
            out({ type: 'error', code, message });
            ws.close(1008, code);
        };

        if (cursorRaw !== null && !parseCursor(cursorRaw)) {
            return fail('bad_request', 'cursor must be <u64> or <u64>-<u64>');
        }
        const cursor = cursorRaw ?? undefined;

        if (connFault.mode === 'stall') {
            // Open, say hello, then silence: no frames out, everything in ignored, no close.
            out({ type: 'hello', cursor: await store.head(), heartbeat });
            conn.frozen = true;
            return;
        }
        if (connFault.mode === 'close') return ws.close(1011, 'fault: close');

        // Subscribe first and buffer, so nothing appended while the backlog is read is lost;
        // `last` drops anything already sent (the buffer may overlap the backlog).
        let last = null;
        let live = [];
        const sendMsg = (m) => {
            const c = parseCursor(m.cursor);
            if (last && compareCursors(c, last) <= 0) return;
            last = c;
            out({ type: 'msg', cursor: m.cursor, data: m.data });
        };
        conn.unsub = store.subscribe((m) => (live ? live.push(m) : sendMsg(m)));

        // Incoming frames are handled in order, after the connection has started.
        let chain = Promise.resolve();
        let started;
        const ready = new Promise((r) => (started = r));
        ws.on('message', (data, isBinary) => {
            if (conn.frozen) return;
            conn.lastRecv = Date.now();
            count('bytesIn', data.length);
            chain = chain.then(() => ready).then(() => onFrame(data, isBinary)).catch((err) => {
                log('frame error', err);
                fail('internal', 'internal server error');
            });
        });
        ws.on('pong', () => (conn.lastRecv = Date.now()));

        async function onFrame(data, isBinary) {
            if (ws.readyState !== WebSocket.OPEN || conn.frozen) return;
            if (isBinary) return fail('bad_frame', 'binary frames are not supported');
            let f;
            try {
                f = JSON.parse(data.toString('utf8'));
            } catch {
                return fail('bad_frame', 'frame is not valid JSON');
            }
            if (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.type !== 'string') {
                return fail('bad_frame', 'frame must be a JSON object with a string "type"');
            }
            switch (f.type) {
                case 'ping':
                    return out({ type: 'pong' });
                case 'send': {
                    if (!Number.isSafeInteger(f.id) || f.id < 0) return fail('bad_frame', 'send needs a non-negative integer id');
                    await store.append(f.data === undefined ? null : f.data);
                    return out({ type: 'ack', id: f.id });
                }
                default:
                    return; // pong and unknown types are ignored
            }
        }

        const r = await store.since(cursor, Infinity);
        if (ws.readyState !== WebSocket.OPEN) return;
        if (r.reset) out({ type: 'reset', cursor: r.cursor });
        out({ type: 'hello', cursor: await store.head(), heartbeat });
        if (!r.reset) for (const m of r.messages) sendMsg(m);
        if (!last) last = parseCursor(r.cursor);
        const buffered = live;
        live = null;
        for (const m of buffered) sendMsg(m);
        started();

        // Protocol ping when idle for `heartbeat`; control-frame liveness check alongside.
        const beat = () => {
            if (ws.readyState !== WebSocket.OPEN || conn.frozen) return;
            const now = Date.now();
            if (now - conn.lastRecv > 3 * heartbeat) return ws.terminate();
            ws.ping();
            const idle = now - conn.lastSent;
            if (idle >= heartbeat) out({ type: 'ping' });
            schedule(heartbeat - (idle >= heartbeat ? 0 : idle));
        };
        const schedule = (ms) => {
            const t = setTimeout(() => {
                conn.timers.delete(t);
                beat();
            }, Math.max(1, ms));
            conn.timers.add(t);
        };
        schedule(heartbeat);

        if (connFault.mode === 'flap') {
            const t = setTimeout(() => ws.close(1001, 'fault: flap'), connFault.ms);
            conn.timers.add(t);
        }
    }

    // ---------------------------------------------------------------- lifecycle

    /** Demo ticker: a random walk the server publishes itself (header comment, "Tick"). */
    function startTicker() {
        let value = 50;
        const t = setInterval(() => {
            value = Math.round(Math.min(100, Math.max(0, value + (Math.random() * 2 - 1) * 5)) * 100) / 100;
            Promise.resolve(store.append({ kind: 'tick', t: Date.now(), value })).catch((err) => log('tick error', err));
        }, tickMs);
        timers.add(t);
    }

    function setFault(mode, ms) {
        fault.mode = mode;
        if (ms !== undefined) fault.ms = ms;
        if (mode === 'stall') for (const c of conns) c.frozen = true;
    }

    async function restart() {
        for (const c of [...conns]) c.ws.terminate();
        for (const h of [...held]) h.destroy();
        for (const s of [...blackholes]) s.destroy();
        await store.reset();
        log('restart, head', await store.head());
    }

    const server = http.createServer((req, res) => {
        onRequest(req, res).catch(() => res.destroy());
    });
    server.on('upgrade', onUpgrade);
    server.on('clientError', (err, socket) => {
        if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        else socket.destroy();
    });

    const host = options.host ?? '127.0.0.1';
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const port = server.address().port;
    if (tickMs > 0) startTicker();
    const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const url = `http://${urlHost}:${port}`;

    async function close() {
        if (closed) return;
        closed = true;
        for (const c of [...conns]) c.ws.terminate();
        for (const h of [...held]) h.destroy();
        for (const s of [...blackholes]) s.destroy();
        for (const t of timers) clearTimeout(t), clearInterval(t);
        wss.close();
        await new Promise((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections?.();
        });
    }

    return {
        server,
        url,
        liveUrl: `${url}/live`,
        port,
        store,
        config,
        fault,
        get stats() {
            return { ...stats, wsOpen: conns.size, held: held.size };
        },
        setFault(mode, ms) {
            if (!FAULT_MODES.has(mode)) throw new Error(`unknown fault mode ${mode}`);
            setFault(mode, ms);
        },
        configure: (c) => applyConfig(c),
        publish: (data) => store.append(data),
        restart,
        close,
    };
}

// ---------------------------------------------------------------- CLI

function parseArgs(argv) {
    const opts = {};
    const names = {
        '--host': 'host',
        '--port': 'port',
        '--origins': 'origins',
        '--heartbeat': 'heartbeat',
        '--retention': 'retention',
        '--long-poll-max': 'longPollMax',
        '--interval': 'interval',
        '--batch': 'batch',
        '--tick': 'tick',
    };
    for (let i = 0; i < argv.length; i++) {
        let a = argv[i];
        let v;
        const eq = a.indexOf('=');
        if (a.startsWith('--') && eq > 0) {
            v = a.slice(eq + 1);
            a = a.slice(0, eq);
        }
        if (a === '--log') {
            opts.log = true;
            continue;
        }
        if (a === '--help' || a === '-h') {
            process.stdout.write(
                'usage: node demo/server.mjs [--host 127.0.0.1] [--port 0] [--origins a,b|*] [--heartbeat ms]\n' +
                    '       [--retention n] [--long-poll-max ms] [--interval ms] [--batch n] [--tick ms] [--log]\n',
            );
            process.exit(0);
        }
        const key = names[a];
        if (!key) throw new Error(`unknown option ${a}`);
        if (v === undefined) {
            v = argv[++i];
            if (v === undefined) throw new Error(`${a} needs a value`);
        }
        opts[key] = key === 'host' || key === 'origins' ? v : Number(v);
        if (key !== 'host' && key !== 'origins' && !Number.isSafeInteger(opts[key])) throw new Error(`${a} needs an integer`);
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

// http.mjs — the HTTP side of one stream URL: polls, long polls, POST sends, preflights.
//
// Protocol decisions (README "Wire protocol v1" leaves room; tests/conformance/ checks every
// one a client can observe):
//  - Cursor validity (memory-store.mjs): a cursor in [oldest retained − 1, head] of the
//    current epoch is served; `0`/`0-0` is everything retained and never resets; anything
//    else is `410 {"type":"reset","cursor":<head>}`.
//  - An empty `cursor=`, a cursor that is not digits[-digits], or a part above 2^64−1 is
//    `400 bad_request`. A repeated query parameter: the first one counts.
//  - `wait` must be digits (ms); 0 means no hold; it is clamped to `longPollMax`. A poll
//    without a cursor answers at once (200 with the head) even with `wait`: the client needs
//    a cursor before it can wait for anything. `longPollMax` 0 disables long polling and the
//    `Lifeline-Long-Poll` header.
//  - `If-None-Match` is the cursor only when the query has none; a query cursor wins.
//    "Nothing new" is 304 when the request's If-None-Match names the head, else 204. An
//    If-None-Match that is not a cursor is ignored. 200/204/304 all carry `ETag: "<c>"`.
//  - Poll headers (Cache-Control: no-store, Lifeline-Long-Poll, Lifeline-Interval when set)
//    are on every answer to a GET, errors included.
//  - Order of checks: origin (POST), authorize, then the request's own fields; so a refused
//    client learns nothing about the stream.
//  - POST: send ids must be non-negative safe integers; a missing `data` is null; a body
//    over `maxBody` is 413 and the connection is closed (the rest is not read).
//  - A long poll whose client goes away releases its subscription at once.

import { HttpError, Rejected, StoreUnavailable } from './errors.mjs';
import { parseCursor, compareCursors } from './cursor.mjs';

/** Serve one request on `<prefix>/<stream>`. Throws HttpError (or anything) for the caller to answer. */
export async function serveHttp(ctx, req, res, stream, query) {
    const method = req.method;
    if (method === 'OPTIONS') return preflight(ctx, req, res);
    if (method === 'GET' || method === 'HEAD') return poll(ctx, req, res, stream, query);
    if (method === 'POST') return post(ctx, req, res, stream);
    throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on a stream URL`, { Allow: ALLOW });
}

const ALLOW = 'GET, HEAD, POST, OPTIONS';

/** Write a whole response: body is a JSON string, an object (JSON) or null. */
export function sendResponse(res, status, body, headers = {}) {
    if (res.headersSent || res.destroyed) return;
    const h = { ...headers };
    let buf = null;
    if (status !== 204 && status !== 304) {
        if (body !== null && body !== undefined) {
            buf = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
            h['Content-Type'] ??= 'application/json; charset=utf-8';
        }
        h['Content-Length'] = buf ? buf.length : 0;
    }
    res.writeHead(status, h);
    res.end(res.req?.method === 'HEAD' ? undefined : (buf ?? undefined));
}

/** The answer for an error thrown while serving: HttpError as is, StoreUnavailable 503, else 500. */
export function errorAnswer(err) {
    if (err instanceof HttpError) return err;
    if (err instanceof StoreUnavailable) {
        const why = err.code === 'too_many_streams' ? err.message : 'the message store is unavailable; retry later';
        return new HttpError(503, err.code ?? 'unavailable', why, { 'Retry-After': '1' });
    }
    return new HttpError(500, 'internal', 'internal server error');
}

export function pollHeaders(config) {
    const h = { 'Cache-Control': 'no-store' };
    if (config.longPollMax > 0) h['Lifeline-Long-Poll'] = String(config.longPollMax);
    if (config.interval !== null) h['Lifeline-Interval'] = String(config.interval);
    return h;
}

function preflight(ctx, req, res) {
    const h = ctx.origin.corsHeaders(req);
    if (h['Access-Control-Allow-Origin']) {
        h['Access-Control-Allow-Methods'] = 'GET, POST, OPTIONS';
        h['Access-Control-Allow-Headers'] = req.headers['access-control-request-headers'] || 'Content-Type, If-None-Match';
        h['Access-Control-Max-Age'] = '600';
    }
    h.Allow = ALLOW;
    sendResponse(res, 204, null, h);
}

/** Call `authorize(stream, action, req)`; false → 403 forbidden. */
export async function authorized(ctx, stream, action, req) {
    if (!ctx.authorize) return true;
    return (await ctx.authorize(stream, action, req)) !== false;
}

function forbidden(action) {
    return new HttpError(403, 'forbidden', action === 'send' ? 'not allowed to send to this stream' : 'not allowed to read this stream');
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

/** A poll body around the messages' JSON text (no second stringify). */
function pollBody(r) {
    return `{"cursor":"${r.cursor}","messages":[${r.messages.map((m) => `{"cursor":"${m.cursor}","data":${m.json}}`).join(',')}]}`;
}

async function poll(ctx, req, res, stream, query) {
    const { config, store } = ctx;
    const base = { ...ctx.origin.corsHeaders(req), ...pollHeaders(config) };
    res.lifelineErrorHeaders = base;
    if (!(await authorized(ctx, stream, 'subscribe', req))) throw forbidden('subscribe');
    let waitMs = 0;
    const waitRaw = query.get('wait');
    if (waitRaw !== null) {
        if (!/^\d{1,100}$/.test(waitRaw)) throw new HttpError(400, 'bad_request', 'wait must be a non-negative integer (ms)');
        waitMs = Math.min(Number(waitRaw), config.longPollMax);
    }
    if (req.method === 'HEAD') waitMs = 0;

    let cursor;
    const cursorRaw = query.get('cursor');
    if (cursorRaw !== null) {
        if (!parseCursor(cursorRaw)) throw new HttpError(400, 'bad_request', 'cursor must be <u64> or <u64>-<u64>');
        cursor = cursorRaw;
    }
    const inm = parseIfNoneMatch(req.headers['if-none-match']).filter((t) => parseCursor(t));
    if (cursor === undefined && inm.length) cursor = inm[0];

    const reply = (status, body, extra = {}) => {
        const go = () => sendResponse(res, status, body, { ...base, ...extra });
        const delay = ctx.intercept.delay?.(req, res) ?? 0;
        if (delay > 0) later(ctx, res, go, delay);
        else go();
    };
    const answer = (r) => {
        if (r.reset) reply(410, { type: 'reset', cursor: r.cursor });
        else if (r.messages.length) reply(200, pollBody(r), { ETag: `"${r.cursor}"` });
        else return false;
        return true;
    };
    const nothingNew = async () => {
        const head = await store.head(stream);
        const hp = parseCursor(head);
        const match = inm.some((t) => compareCursors(parseCursor(t), hp) === 0);
        reply(match ? 304 : 204, null, { ETag: `"${head}"` });
    };

    if (cursor === undefined) {
        const head = await store.head(stream);
        return reply(200, { cursor: head, messages: [] }, { ETag: `"${head}"` });
    }
    if (waitMs <= 0) {
        if (!answer(await store.read(stream, cursor, config.batch))) await nothingNew();
        return;
    }
    await longPoll(ctx, res, stream, cursor, waitMs, answer, nothingNew);
}

/** Hold until a message after `cursor` exists (or `waitMs`); subscribe before the first look. */
function longPoll(ctx, res, stream, cursor, waitMs, answer, nothingNew) {
    return new Promise((resolve, reject) => {
        let finished = false;
        let checking = false;
        let again = false;
        const hold = { destroy: () => (finish(), res.destroy()) };
        const finish = () => {
            if (finished) return false;
            finished = true;
            unsub();
            clearTimeout(timer);
            ctx.held.delete(hold);
            return true;
        };
        const check = async () => {
            if (finished) return;
            if (checking) return void (again = true);
            checking = true;
            try {
                do {
                    again = false;
                    const r = await ctx.store.read(stream, cursor, ctx.config.batch);
                    if (finished) return;
                    if (r.reset || r.messages.length) {
                        finish();
                        answer(r);
                        return resolve();
                    }
                } while (again);
            } catch (err) {
                if (finish()) reject(err);
            } finally {
                checking = false;
            }
        };
        const unsub = ctx.store.subscribe(stream, check);
        const timer = setTimeout(() => {
            if (finish()) nothingNew().then(resolve, reject);
        }, waitMs);
        ctx.held.add(hold);
        res.on('close', () => finish() && resolve()); // the client gave up: release everything
        check();
    });
}

/** Run `go` after `ms` unless the response closes or the handler closes first. */
function later(ctx, res, go, ms) {
    const hold = { destroy: () => (clearTimeout(t), ctx.held.delete(hold), res.destroy()) };
    const t = setTimeout(() => (ctx.held.delete(hold), go()), ms);
    ctx.held.add(hold);
    res.on('close', () => (clearTimeout(t), ctx.held.delete(hold)));
}

function readBody(req, limit) {
    return new Promise((resolve, reject) => {
        const tooLarge = () => new HttpError(413, 'payload_too_large', `body over ${limit} bytes`, { Connection: 'close' });
        const len = Number(req.headers['content-length']);
        if (Number.isFinite(len) && len > limit) return reject(tooLarge());
        const chunks = [];
        let size = 0;
        let done = false;
        const end = (fn, v) => {
            if (done) return;
            done = true;
            fn(v);
        };
        req.on('data', (c) => {
            if (done) return;
            size += c.length;
            if (size > limit) end(reject, tooLarge());
            else chunks.push(c);
        });
        req.on('end', () => end(resolve, Buffer.concat(chunks)));
        req.on('error', (e) => end(reject, e));
        req.on('aborted', () => end(reject, new HttpError(400, 'bad_request', 'request aborted')));
    });
}

/** Validate a send `{"id", "data"}` (POST body or WebSocket frame); returns {id, json} or a message. */
export function parseSend(f) {
    if (!f || typeof f !== 'object' || Array.isArray(f)) return 'a send must be a JSON object {"id":n,"data":…}';
    if (!Number.isSafeInteger(f.id) || f.id < 0) return 'a send needs a non-negative integer id';
    return { id: f.id, data: f.data === undefined ? null : f.data };
}

/** Hand a send to the app's onSend; resolves to null (acked) or a Rejected. Other errors propagate. */
export async function deliverSend(ctx, stream, data, req) {
    if (!ctx.onSend) return new Rejected('sends_disabled', 'this stream takes no sends', 405);
    if (!(await authorized(ctx, stream, 'send', req))) return new Rejected('forbidden', 'not allowed to send to this stream', 403);
    try {
        await ctx.onSend(stream, data, req);
        return null;
    } catch (err) {
        if (err instanceof Rejected) return err;
        throw err;
    }
}

async function post(ctx, req, res, stream) {
    const cors = ctx.origin.corsHeaders(req);
    res.lifelineErrorHeaders = cors;
    if (!ctx.origin.allowed(req)) {
        throw new HttpError(403, 'forbidden_origin', 'this origin may not send to this server', { Connection: 'close' });
    }
    if (!ctx.onSend) throw new HttpError(405, 'sends_disabled', 'this stream takes no sends', { Allow: 'GET, HEAD, OPTIONS', Connection: 'close' });
    if (!(await authorized(ctx, stream, 'send', req))) throw new HttpError(403, 'forbidden', 'not allowed to send to this stream', { Connection: 'close' });
    const buf = await readBody(req, ctx.config.maxBody);
    let body;
    try {
        body = JSON.parse(buf.toString('utf8'));
    } catch {
        throw new HttpError(400, 'bad_request', 'body is not valid JSON');
    }
    const send = parseSend(body);
    if (typeof send === 'string') throw new HttpError(400, 'bad_request', send);
    try {
        await ctx.onSend(stream, send.data, req);
    } catch (err) {
        if (err instanceof Rejected) throw new HttpError(err.status, err.code, err.reason);
        throw err;
    }
    sendResponse(res, 200, { ack: send.id }, cors);
}

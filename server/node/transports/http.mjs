// transports/http.mjs — the HTTP side of one stream URL: polls, long polls, POST sends, preflights.
//
// The error table, the headers, the grammars and the order of checks come from the spec
// (protocol/v1.json via protocol.mjs; server/DESIGN.md lists them); tests/conformance/
// checks every one a client can observe. What the spec leaves to prose:
//  - Cursor validity (stores/memory.mjs): a cursor in [oldest retained − 1, head] of the
//    current epoch is served; `0`/`0-0` is everything retained and never resets; anything
//    else is `410 {"type":"reset","cursor":<head>}`. A repeated query parameter: the first
//    one counts.
//  - `wait` (ms) is clamped to `longPollMax`; 0 means no hold. A poll without a cursor
//    answers at once (200 with the head) even with `wait`: the client needs a cursor before
//    it can wait for anything. `longPollMax` 0 disables long polling and the
//    `Lifeline-Long-Poll` header. HEAD never holds.
//  - `If-None-Match` is the cursor only when the query has none; a query cursor wins.
//    "Nothing new" is 304 when the request's If-None-Match names the head, else 204. An
//    If-None-Match that is not a cursor is ignored. 200/204/304 all carry `ETag: "<c>"`.
//  - Poll headers (Cache-Control: no-store, Lifeline-Long-Poll, Lifeline-Interval when set)
//    are on every answer to a GET, errors included.
//  - POST: the body is a send, checked and answered by sends.mjs (the pipeline a WebSocket
//    `send` frame shares); this file reads the body and writes `{"ack": id}` or the error.
//  - A body over `maxBody` is 413 with `Connection: close`, answered once the rest of the
//    body was read and dropped (at most DRAIN_MAX_BYTES, within `requestBodyTimeoutMs`),
//    so the sender reads the 413 instead of a reset. A body that does not arrive within
//    `requestBodyTimeoutMs` is 408 request_timeout, and the connection is closed.
//  - A lone surrogate (`"\ud800"`) in a send's data is stored escaped, as JSON.stringify
//    writes it, and served back as it came.
//  - A held long poll is a session (session.mjs, kind `long_poll`): it reads after its
//    cursor on every wake-up and answers the first messages or reset it reads; a long poll
//    whose client goes away releases its subscription at once.

import { HttpError, StoreUnavailable, httpError } from '../errors.mjs';
import { parseCursor, compareCursors } from '../cursor.mjs';
import { runChecks, subscribeCheck } from '../checks.mjs';
import { jsonChecks, parseSend, sendChecks } from '../sends.mjs';
import { HEADERS, LIMITS, WAIT_RE } from '../protocol.mjs';
import { MemoryStore } from '../stores/memory.mjs';

/**
 * The why of a reset whose cursor a sibling process gave out: a memory-store cursor of a later
 * epoch than this process's own comes from a process that started after this one and still
 * serves (a restart only makes epochs older). Several processes each keep their own streams
 * then, and messages are lost between them: logged once, and said in the answer.
 */
export function issuedElsewhere(ctx, cursor) {
    const pair = parseCursor(cursor);
    if (!(ctx.store instanceof MemoryStore) || !pair || pair[0] <= ctx.store.epoch) return {};
    const message =
        'this cursor was given out by another process that serves these streams from its own memory: several processes need a shared store (set LIFELINE_REDIS_URL)';
    if (!ctx.warnedElsewhere) {
        ctx.warnedElsewhere = true;
        console.error(`lifeline: ${message} (cursor ${cursor}, this process's epoch ${ctx.store.epoch})`);
    }
    return { message };
}

/** Serve one request on `<prefix>/<stream>`. Throws HttpError (or anything) for the caller to answer. */
export async function serveHttp(ctx, req, res, stream, query) {
    const method = req.method;
    if (method === 'OPTIONS') return preflight(ctx, req, res);
    if (method === 'GET' || method === 'HEAD') return poll(ctx, req, res, stream, query);
    if (method === 'POST') return post(ctx, req, res, stream);
    throw httpError('method_not_allowed', `${method} is not allowed on a stream URL`);
}

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
    if (err instanceof StoreUnavailable)
        return httpError(err.code === 'too_many_streams' ? 'too_many_streams' : 'unavailable', err.code === 'too_many_streams' ? err.message : undefined);
    return httpError('internal');
}

export function pollHeaders(config) {
    const h = { 'Cache-Control': HEADERS.pollCacheControl };
    if (config.longPollMax > 0) h[HEADERS.longPoll] = String(config.longPollMax);
    if (config.interval !== null) h[HEADERS.interval] = String(config.interval);
    return h;
}

export function preflight(ctx, req, res) {
    const h = ctx.origin.corsHeaders(req);
    if (h['Access-Control-Allow-Origin']) {
        h['Access-Control-Allow-Methods'] = HEADERS.corsAllowMethods;
        h['Access-Control-Allow-Headers'] = req.headers['access-control-request-headers'] || HEADERS.corsAllowHeaders;
        h['Access-Control-Max-Age'] = String(LIMITS.preflightMaxAge);
    }
    h.Allow = HEADERS.allow;
    sendResponse(res, 204, null, h);
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

/** A poll body around the messages' JSON text (no second stringify); a v2 poll's stream entry too. */
export function pollBody(r) {
    return `{"cursor":"${r.cursor}","messages":[${r.messages.map((m) => `{"cursor":"${m.cursor}","data":${m.json}}`).join(',')}]}`;
}

async function poll(ctx, req, res, stream, query) {
    const { config, store } = ctx;
    const base = { ...ctx.origin.corsHeaders(req), ...pollHeaders(config) };
    res.lifelineErrorHeaders = base;
    let cursor;
    let waitMs = 0;
    const refused = await runChecks('poll', {
        request_target: true, // the handler's
        stream_name: true, // the router's
        method: true, // serveHttp's
        authorize_subscribe: subscribeCheck(ctx, stream, req),
        cursor: () => {
            const raw = query.get('cursor');
            if (raw === null) return;
            if (!parseCursor(raw)) return 'cursor must be <u64> or <u64>-<u64>';
            cursor = raw;
        },
        wait: () => {
            const raw = query.get('wait');
            if (raw === null) return;
            if (!WAIT_RE.test(raw)) return `wait must be ${WAIT_RE.source.replace(/[\^$]/g, '')} (ms)`;
            waitMs = Math.min(Number(raw), config.longPollMax);
        },
    });
    if (refused) throw httpError(refused.error, refused.message);
    if (req.method === 'HEAD') waitMs = 0;
    const inm = parseIfNoneMatch(req.headers['if-none-match']).filter((t) => parseCursor(t));
    if (cursor === undefined && inm.length) cursor = inm[0];

    const reply = (status, body, extra = {}) => {
        const go = () => sendResponse(res, status, body, { ...base, ...extra });
        const delay = ctx.intercept.delay?.(req, res) ?? 0;
        if (delay > 0) later(ctx, res, go, delay);
        else go();
    };
    const answer = (r) => {
        if (r.reset) reply(410, { type: 'reset', cursor: r.cursor, ...issuedElsewhere(ctx, cursor) });
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
    await longPoll(ctx, req, res, stream, cursor, waitMs, answer, nothingNew);
}

/**
 * Hold until a message after `cursor` exists (or `waitMs`): a session of kind `long_poll`,
 * subscribed before its first read, ended by the answer, the timeout, the client going away,
 * `live.disconnect` (403 revoked) or the handler closing.
 * @returns {Promise<void>}
 */
function longPoll(ctx, req, res, stream, cursor, waitMs, answer, nothingNew) {
    return new Promise((resolve, reject) => {
        /** @type {NodeJS.Timeout | undefined} */
        let timer;
        const session = ctx.sessions.open({
            store: ctx.store,
            stream,
            req,
            kind: 'long_poll',
            cursor,
            revoke: (message) => finish() && reject(httpError('revoked', message)), // live.disconnect
            close: () => (finish(), res.destroy()),
        });
        const finish = () => {
            if (!session.end()) return false;
            clearTimeout(timer);
            return true;
        };
        const reader = session.follow(
            async () => {
                const r = await session.read(ctx.config.batch);
                if (session.ended) return false;
                if (r.reset || r.messages.length) {
                    finish();
                    answer(r);
                    resolve();
                }
            },
            { failed: (err) => finish() && reject(err) },
        );
        timer = setTimeout(() => {
            if (finish()) nothingNew().then(resolve, reject);
        }, waitMs);
        res.on('close', () => finish() && resolve()); // the client gave up: release everything
        reader.wake();
    });
}

/** Run `go` after `ms` unless the response closes or the handler closes first (the test seam's delay). */
export function later(ctx, res, go, ms) {
    const drop = () => (clearTimeout(t), ctx.delayed.delete(drop), res.destroy());
    const t = setTimeout(() => (ctx.delayed.delete(drop), go()), ms);
    ctx.delayed.add(drop);
    res.on('close', () => (clearTimeout(t), ctx.delayed.delete(drop)));
}

/** The answer when a body parser mounted before the handler read the body into something else than its text. */
const BODY_CONSUMED =
    "the request body was read before Lifeline's handler (a body parser such as express.json() mounted first): mount live.handle before body parsers, or let them pass Lifeline's URLs";

let warnedConsumed = false; // the process warning is given once

/** How much of an oversized body is read and dropped before its 413 (then the connection is cut). */
const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Read a request body of at most `limit` bytes within `timeoutMs`. Over the limit: 413 once
 * the rest was drained (see the top of this file); too slow: 408. Both close the connection.
 */
function readBody(req, limit, timeoutMs) {
    return new Promise((resolve, reject) => {
        const tooLarge = () => httpError('too_large', `body over ${limit} bytes`, { Connection: 'close' });
        // Express's express.text() / express.raw() before the handler: their text or bytes
        // serve; any other reading of the stream (express.json()) left nothing to read
        if (req.readableEnded || req._body) {
            const body = typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.isBuffer(req.body) ? req.body : null;
            if (!body) {
                if (!warnedConsumed) process.emitWarning(BODY_CONSUMED, { code: 'LIFELINE_BODY_CONSUMED' });
                warnedConsumed = true;
                return reject(httpError('internal', BODY_CONSUMED));
            }
            return body.length > limit ? reject(tooLarge()) : resolve(body);
        }
        const len = Number(req.headers['content-length']);
        const chunks = [];
        let size = 0;
        let done = false;
        let draining = false;
        const end = (fn, v) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            fn(v);
        };
        const timer = setTimeout(() => {
            if (draining) return end(reject, tooLarge());
            end(reject, httpError('request_timeout', `the body did not arrive within ${timeoutMs} ms`, { Connection: 'close' }));
        }, timeoutMs);
        const drain = () => {
            draining = true;
            chunks.length = 0;
            if (size > DRAIN_MAX_BYTES || (Number.isFinite(len) && len > DRAIN_MAX_BYTES)) end(reject, tooLarge());
        };
        if (Number.isFinite(len) && len > limit) drain();
        req.on('data', (c) => {
            if (done) return;
            size += c.length;
            if (draining || size > limit) drain();
            else chunks.push(c);
        });
        req.on('end', () => end(draining ? reject : resolve, draining ? tooLarge() : Buffer.concat(chunks)));
        req.on('error', (e) => end(reject, e));
        req.on('aborted', () => end(reject, httpError('bad_request', 'request aborted')));
    });
}

async function post(ctx, req, res, stream) {
    const cors = ctx.origin.corsHeaders(req);
    res.lifelineErrorHeaders = cors;
    let buf, body, send;
    const refused = await runChecks('post', {
        request_target: true, // the handler's
        stream_name: true, // the router's
        origin: () => !ctx.origin.allowed(req) && 'this origin may not send to this server',
        ...sendChecks(ctx, stream, req, () => send.data),
        size: async () => {
            buf = await readBody(req, ctx.config.maxBody, ctx.config.requestBodyTimeoutMs);
        },
        ...jsonChecks(
            ctx,
            'body',
            () => buf.toString('utf8'),
            (v) => (body = v),
        ),
        send_shape: () => {
            send = parseSend(body);
            if (typeof send === 'string') return send;
        },
    });
    if (refused) {
        // A refusal before the body was read closes the connection (the rest is not read).
        const extra = buf === undefined ? { Connection: 'close' } : {};
        if (refused.status) throw new HttpError(refused.status, refused.error, refused.message, extra);
        throw httpError(refused.error, refused.message, extra);
    }
    sendResponse(res, 200, { ack: send.id }, cors);
}

// transports/multipoll.mjs — v2 polling: one GET for many streams (protocol/v2.json
// "poll", docs/protocol.md "Polling many streams"; Flask's transports/multipoll.py).
//
// Theory: `GET <prefix>/?s=<name>[~<cursor>]&s=…[&wait=<ms>]` is v1's poll of each stream at
// once, its answers gathered in one body, so a page that follows many streams holds one long
// poll instead of one per stream. The request's own checks (check_order "poll_v2") answer
// with a status; each stream's (check_order "poll_stream": its name, `authorize`, its cursor)
// with an entry in the body, so one refused stream does not fail the others. An entry is
// what v1's poll of that stream would say: messages (200), a reset (410), an error; a stream
// with nothing new is left out, and a poll where every stream has nothing new is 204 — held
// first, when it asks with `wait`, until any stream has news. Once one has, every stream is
// read again (no hold) so the answer carries all the news there is.
//
// A held poll is one session per stream (session.mjs, kind `long_poll`), each subscribed
// before its first read; the first that reads news ends them all. A stream answered at once
// (no cursor: its head; or an error) answers the whole poll at once.

import { httpError } from '../errors.mjs';
import { runChecks, streamChecks } from '../checks.mjs';
import { ERRORS, LIMITS, POLL_PARAM, POLL_SEPARATOR, WAIT_RE } from '../protocol.mjs';
import { issuedElsewhere, later, pollBody, pollHeaders, preflight, sendResponse } from './http.mjs';

/** Serve `<prefix>/` (the v2 poll of many streams). Throws HttpError for the caller to answer. */
export async function serveStreamsPoll(ctx, req, res, query) {
    if (req.method === 'OPTIONS') return preflight(ctx, req, res);
    const base = { ...ctx.origin.corsHeaders(req), ...pollHeaders(ctx.config) };
    if (req.method === 'GET' || req.method === 'HEAD') res.lifelineErrorHeaders = base; // as v1: another method's error has no poll headers
    /** @type {{name: string, cursor: string | undefined | null}[]} cursor null: malformed */
    let streams = [];
    let waitMs = 0;
    const refused = await runChecks('pollV2', {
        request_target: true, // the handler's
        method: () => req.method !== 'GET' && req.method !== 'HEAD' && `${req.method} is not allowed here: GET polls many streams`,
        streams: () => {
            const raw = query.getAll(POLL_PARAM);
            if (!raw.length) return `name the streams to poll: ${POLL_PARAM}=<name> or ${POLL_PARAM}=<name>${POLL_SEPARATOR}<cursor>, one each`;
            streams = raw.map(parseStreamParam);
            const names = new Set(streams.map((s) => s.name));
            if (streams.some((s) => s.name === '')) return `a ${POLL_PARAM} without a stream name`;
            if (names.size !== streams.length) return 'a stream named twice';
        },
        subscriptions: () => streams.length > LIMITS.maxSubscriptions && `over ${LIMITS.maxSubscriptions} streams in one poll`,
        wait: () => {
            const raw = query.get('wait');
            if (raw === null) return;
            if (!WAIT_RE.test(raw)) return `wait must be ${WAIT_RE.source.replace(/[\^$]/g, '')} (ms)`;
            waitMs = Math.min(Number(raw), ctx.config.longPollMax);
        },
    });
    if (refused) throw httpError(refused.error, refused.message);
    if (req.method === 'HEAD') waitMs = 0;

    // Each stream's own checks: an entry now (an error, or the head of one without a cursor),
    // or a stream to read.
    /** @type {Map<string, string>} name -> its entry's JSON */
    const entries = new Map();
    const toRead = [];
    for (const s of streams) {
        const failed = await checkStream(ctx, req, s);
        if (failed) entries.set(s.name, errorEntry(failed.error, failed.message));
        else if (s.cursor === undefined) entries.set(s.name, `{"cursor":"${await ctx.store.head(s.name)}","messages":[]}`);
        else toRead.push(s);
    }

    const reply = (status, body) => {
        const go = () => sendResponse(res, status, body, base);
        const delay = ctx.intercept.delay?.(req, res) ?? 0;
        if (delay > 0) later(ctx, res, go, delay);
        else go();
    };
    /** Answer with every entry so far, in the query's order (204 when none). */
    const answer = () => {
        if (!entries.size) return reply(204, null);
        const parts = streams.filter((s) => entries.has(s.name)).map((s) => `${JSON.stringify(s.name)}:${entries.get(s.name)}`);
        reply(200, `{"streams":{${parts.join(',')}}}`);
    };
    /** Read every stream of `list` once (no hold) and note the news as entries. */
    const readAll = async (list) => {
        const reads = await Promise.all(list.map((s) => ctx.store.read(s.name, s.cursor, ctx.config.batch)));
        list.forEach((s, i) => noteRead(ctx, entries, s, reads[i]));
    };

    if (entries.size || waitMs <= 0 || !toRead.length) {
        await readAll(toRead);
        return answer();
    }
    await hold(ctx, req, res, toRead, waitMs, entries, readAll);
    answer();
}

/** `<name>` or `<name>~<cursor>`: {name, cursor} (undefined: from now). */
function parseStreamParam(raw) {
    const at = raw.indexOf(POLL_SEPARATOR);
    return at < 0 ? { name: raw, cursor: undefined } : { name: raw.slice(0, at), cursor: raw.slice(at + 1) };
}

/** The spec's poll_stream checks of one stream: null, or {error, message}. */
async function checkStream(ctx, req, s) {
    try {
        return await runChecks('pollStream', streamChecks(ctx, req, s.name, s.cursor));
    } catch (err) {
        ctx.log('authorize error', err);
        return { error: 'internal' };
    }
}

function errorEntry(code, message) {
    return JSON.stringify({ error: code, message: message ?? ERRORS[code].message });
}

/** A read's news as the stream's entry: messages, or a reset; nothing new notes nothing. */
function noteRead(ctx, entries, s, r) {
    if (r.reset) entries.set(s.name, JSON.stringify({ reset: r.cursor, ...issuedElsewhere(ctx, s.cursor) }));
    else if (r.messages?.length) entries.set(s.name, pollBody(r));
}

/**
 * Hold until any stream of `list` has news (or `waitMs`): a session per stream, subscribed
 * before its first read. The first news ends them all and reads every stream once more, so
 * the answer carries all there is. Resolves once the answer's entries are noted (none: 204).
 * @returns {Promise<void>}
 */
function hold(ctx, req, res, list, waitMs, entries, readAll) {
    return new Promise((resolve, reject) => {
        let over = false;
        /** @type {NodeJS.Timeout | undefined} */
        let timer;
        const finish = () => {
            if (over) return false;
            over = true;
            clearTimeout(timer);
            for (const session of sessions) session.end();
            return true;
        };
        const sessions = list.map((s) =>
            ctx.sessions.open({
                store: ctx.store,
                stream: s.name,
                req,
                kind: 'long_poll',
                cursor: s.cursor,
                revoke: (message) => {
                    if (!finish()) return;
                    entries.set(s.name, errorEntry('revoked', message));
                    readAll(list.filter((x) => x !== s)).then(resolve, reject);
                },
                close: () => (finish(), res.destroy()),
            }),
        );
        const readers = sessions.map((session) =>
            session.follow(
                async () => {
                    const r = await session.read(ctx.config.batch);
                    if (over) return false;
                    if (r.reset || r.messages.length) {
                        finish();
                        readAll(list).then(resolve, reject);
                    }
                },
                { failed: (err) => finish() && reject(err) },
            ),
        );
        timer = setTimeout(() => finish() && resolve(), waitMs);
        res.on('close', () => finish() && resolve()); // the client gave up: release everything
        for (const reader of readers) reader.wake();
    });
}

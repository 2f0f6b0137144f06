// checks.mjs — a request kind's checks, run in the spec's order (protocol/v1.json
// "check_order", protocol.mjs CHECK_ORDER). Each kind's handler names its checks; this
// runs them in the order the spec gives, so the order is written in one place.
//
//   const refused = await runChecks('post', { origin: () => …, size: async () => … });
//
// A check returns nothing when the request passes it, or when it fails: a message (or
// `true`: the table's message), or {error, message, status} (a Rejected from on_send: the
// app's code). The first failure is returned as {error: <the spec's code for that check>,
// message, status?}. A check given as `true` was done before the handler ran (the router's
// stream name, the method).

import { CHECK_ORDER } from './protocol.mjs';
import { isStreamName, parseCursor } from './cursor.mjs';

export async function runChecks(kind, checks) {
    const order = CHECK_ORDER[kind];
    if (!order) throw new Error(`lifeline: no check order for ${kind}`);
    for (const [name, error] of order) {
        const check = checks[name];
        if (check === undefined) throw new Error(`lifeline: ${kind} has no check ${name}`);
        if (check === true) continue;
        const failed = await check();
        if (failed) return typeof failed === 'object' ? { error, ...failed } : { error, message: typeof failed === 'string' ? failed : undefined };
    }
    return null;
}

/** The app's `authorize(stream, action, req)` (may be async; none: allowed): false refuses. */
export async function authorized(ctx, stream, action, req) {
    if (!ctx.authorize) return true;
    return (await ctx.authorize(stream, action, req)) !== false;
}

/** The spec's `authorize_subscribe` check of a poll or a socket's opening. */
export function subscribeCheck(ctx, stream, req) {
    return async () => !(await authorized(ctx, stream, 'subscribe', req)) && 'not allowed to read this stream';
}

/**
 * A v2 subscription's checks of one stream it names (the `stream_name`,
 * `authorize_subscribe` and `cursor` of ws_sub and poll_stream); `cursor` null or undefined
 * is "from now". `req`: the socket's upgrade, or the poll.
 */
export function streamChecks(ctx, req, stream, cursor) {
    return {
        stream_name: () => !isStreamName(stream) && `not a stream name: ${JSON.stringify(stream)}`,
        authorize_subscribe: subscribeCheck(ctx, stream, req),
        cursor: () => cursor != null && !parseCursor(cursor) && 'cursor must be <u64> or <u64>-<u64>',
    };
}

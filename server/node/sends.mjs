// sends.mjs — a client's send, one pipeline for a POST body and a WebSocket `send` frame
// (server/DESIGN.md "Hooks", "One design, files mirrored"; Flask's sends.py).
//
// Theory: a send is `{"id": n, "data": …}` from a client to the app. The library never
// appends it by itself: the app's `onSend(stream, data, req)` decides (it may publish), and
// the ack goes out once the hook returned, so an ack means the app has the data. A transport
// reads its wire (the POST body, the frame) and runs the spec's checks for it; what a send
// is checked for is the same whatever carried it, so those checks are made here:
//  - the text: nesting deeper than `maxJsonDepth` is refused on the text, before JSON.parse
//    builds a deep value; then it must parse;
//  - the shape: a JSON object with an id that is a non-negative safe integer (`1.0` is the
//    integer 1: JSON has one number type); a missing `data` is null;
//  - sends enabled (an `onSend` hook), `authorize(stream, 'send', req)`, then `onSend`:
//    returning acks the send, throwing `Rejected` refuses it with the app's code, message and
//    (POST) status; anything else thrown is the transport's `internal` error.
// A POST answers `{"ack": id}` or the error; a WebSocket `{"type":"ack","id"}` or a rejecting
// ack `{"type":"ack","id","error","message"}` (the socket stays open).

import { Rejected } from './errors.mjs';
import { authorized, runChecks } from './checks.mjs';
import { ERRORS, LIMITS } from './protocol.mjs';

/** Whether JSON text nests deeper than `max` (`{`/`[` outside strings; the outermost is depth 1). */
export function nestsDeeperThan(text, max) {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (inString) {
            if (c === 0x5c)
                i++; // a backslash escapes the next character
            else if (c === 0x22) inString = false;
        } else if (c === 0x22) inString = true;
        else if (c === 0x5b || c === 0x7b) {
            if (++depth > max) return true;
        } else if (c === 0x5d || c === 0x7d) depth--;
    }
    return false;
}

/**
 * The spec's `depth` and `json` checks of a body or frame (`what`): `text()` is its UTF-8
 * text, `take(value)` receives the parsed value.
 */
export function jsonChecks(ctx, what, text, take) {
    return {
        depth: () => nestsDeeperThan(text(), ctx.config.maxJsonDepth) && `${what} nests deeper than ${ctx.config.maxJsonDepth}`,
        json: () => {
            try {
                take(JSON.parse(text()));
            } catch {
                return `${what} is not valid JSON`;
            }
        },
    };
}

/** Validate a send `{"id", "data"}` (POST body or WebSocket frame); returns {id, data} or a message. */
export function parseSend(f) {
    if (!f || typeof f !== 'object' || Array.isArray(f)) return 'a send must be a JSON object {"id":n,"data":…}';
    if (!Number.isInteger(f.id) || f.id < LIMITS.sendIdMin || f.id > LIMITS.sendIdMax)
        return `a send needs an integer id in [${LIMITS.sendIdMin}, ${LIMITS.sendIdMax}]`;
    return { id: f.id, data: f.data === undefined ? null : f.data };
}

/**
 * The checks of a send once its body or frame is read (the spec names them alike for POST
 * and ws_send): sends enabled, authorize, the hook. `data()` is the send's data when the
 * hook runs.
 */
export function sendChecks(ctx, stream, req, data) {
    return {
        sends_enabled: () => !ctx.onSend && 'this stream takes no sends',
        authorize_send: async () => !(await authorized(ctx, stream, 'send', req)) && 'not allowed to send to this stream',
        on_send: async () => {
            try {
                await ctx.onSend(stream, data(), req);
            } catch (err) {
                if (err instanceof Rejected) return { error: err.code, message: err.reason, status: err.status };
                throw err;
            }
        },
    };
}

/**
 * A WebSocket send, in the spec's order (ws_send): resolves to its ack frame, acking or
 * rejecting (on a v2 socket `s`, the send's subscription, is part of the ack). Other errors
 * propagate (the socket's `internal`).
 */
export async function deliverSend(ctx, stream, send, req, s) {
    const rejected = await runChecks(
        'wsSend',
        sendChecks(ctx, stream, req, () => send.data),
    );
    return ackFrame(send.id, rejected, s);
}

/** A WebSocket ack: `{"type":"ack"[,"s"],"id"}`, or rejecting with `refused` {error, message}. */
export function ackFrame(id, refused, s) {
    return JSON.stringify({
        type: 'ack',
        ...(s !== undefined && { s }),
        id,
        ...(refused && { error: refused.error, message: refused.message ?? ERRORS[refused.error]?.message ?? '' }),
    });
}

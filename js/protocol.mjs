// protocol.mjs — the server's JSON, parsed once (JSON.parse) into what the core reads
// (wasm/lifeline.h: ll_ws_frame, ll_http_response); the data stays here, and a DELIVER
// names which message of the input to hand over. tests/native/decode.c applies the same
// rules for the native tests.
import { FRAMES, FRAME_ACK, FRAME_BAD, FRAME_MSG, FRAME_OTHER, OUT_FRAMES, OUT_SEND } from './constants.js';
import { bytes } from './loader.mjs';

const dec = new TextDecoder();
const parse = (t) => {
    try {
        return JSON.parse(t);
    } catch {}
};
const str = (v) => v === undefined || typeof v == 'string';
/** v when it is an object whose known fields have their JSON types, else undefined. */
const object = (v) =>
    v && typeof v == 'object' && !Array.isArray(v) && str(v.type) && str(v.cursor) && str(v.message) && str(v.code) && str(v.error) &&
    (v.id === undefined || (Number.isSafeInteger(v.id) && v.id >= 0)) && (v.messages === undefined || Array.isArray(v.messages))
        ? v : undefined;
/** Nesting depth (an object or array counts 1); counting stops past 255. */
const depth = (v, n = 0) => {
    if (n > 255 || !v || typeof v != 'object') return n;
    let m = ++n;
    for (const k in v) m = Math.max(m, depth(v[k], n));
    return m;
};
// a cursor goes in as one line: one with a line break is no cursor
const line = (c) => (typeof c == 'string' && !c.includes('\n') ? c : '');

/** Whether c is a cursor's text: `<u64>` or `<u64>-<u64>` (the core checks the range). */
export const isCursor = (c) => /^\d+(-\d+)?$/.test(c);

/** The query of a WebSocket upgrade or a poll (WS_OPEN, FETCH GET): the cursor to resume
 *  from and the wait of a long poll, each only when set. */
export const query = (cursor, wait) => [cursor && 'cursor=' + cursor, wait && 'wait=' + wait].filter(Boolean).join('&');

/** A frame the client sends (WS_SEND): LL_OUT_SEND carries send id `send` with `data` (the
 *  app's JSON text); the others are {"type":"ping"} / {"type":"pong"}. */
export const clientFrame = (frame, send, data) =>
    frame == OUT_SEND ? `{"type":"send","id":${send},"data":${data}}` : `{"type":"${OUT_FRAMES[frame]}"}`;

/** The body of a POST (a send by HTTP). */
export const postBody = (send, data) => `{"id":${send},"data":${data}}`;

/** A text frame: the args of ll_ws_frame after the socket id, and its messages (itself). */
export function frame(data) {
    const v = typeof data == 'string' ? parse(data) : undefined, o = object(v);
    let type = FRAMES.indexOf(o?.type);
    if (type < 0 || type >= FRAME_OTHER) type = typeof o?.type == 'string' ? FRAME_OTHER : FRAME_BAD;
    if (type == FRAME_MSG && !('data' in o)) type = FRAME_BAD;
    // an ack's "error" (a rejection; "" counts as "rejected"), an error frame's "code"
    const code = type == FRAME_ACK ? (o.error === '' ? 'rejected' : o.error) : o?.code;
    return [[type, data.length == null ? data.byteLength : bytes(data), depth(v), o?.cursor ?? '', o?.id < 2 ** 32 ? o.id : 0, o?.message ?? '', code ?? ''], [o]];
}

/** A protocol poll body of `size` bytes: the args of ll_http_response after the validator
 *  (size, depth, the cursor lines), and its messages. */
export function body(b, size) {
    const v = parse(typeof b == 'string' ? b : dec.decode(b)), o = object(v), m = o?.messages || [];
    const el = (e) => ((e = object(e)) && 'data' in e ? line(e.cursor) : '');
    return [[size, depth(v), o ? [line(o.cursor), ...m.map(el)].join('\n') : ''], m];
}

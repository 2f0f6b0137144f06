// protocol.mjs — the server's JSON, parsed once (JSON.parse) into what the core reads
// (wasm/lifeline.h: ll_ws_frame, ll_http_response); the data stays here, and a DELIVER
// names which message of the input to hand over. tests/native/decode.c applies the same
// rules for the native tests.
import { FRAMES, FRAME_ACK, FRAME_BAD, FRAME_BEAT, FRAME_HELLO, FRAME_MSG, FRAME_OTHER, OUT_BEAT, OUT_FRAMES, OUT_SEND } from './constants.js';
import { bytes } from './loader.mjs';

const decoder = new TextDecoder();

/** Whether c is a cursor's text: `<u64>` or `<u64>-<u64>` (the core checks the range). */
export const isCursor = (c) => /^\d+(-\d+)?$/.test(c);

/** The JSON value of `text`, or undefined when it is not JSON. */
function parse(text) {
    try {
        return JSON.parse(text);
    } catch {}
}

const absentOrString = (value) => value === undefined || typeof value == 'string';

/** `value` when it is an object whose known fields have their JSON types, else undefined:
 *  type, cursor, message, code and error strings, id an integer in [0, 2^53), messages
 *  an array. */
function protocolObject(value) {
    const valid =
        value &&
        typeof value == 'object' &&
        !Array.isArray(value) &&
        absentOrString(value.type) &&
        absentOrString(value.cursor) &&
        absentOrString(value.message) &&
        absentOrString(value.code) &&
        absentOrString(value.error) &&
        (value.id === undefined || (Number.isSafeInteger(value.id) && value.id >= 0)) &&
        (value.messages === undefined || Array.isArray(value.messages));
    return valid ? value : undefined;
}

/** Nesting depth (an object or array counts 1); counting stops past 255. */
function depth(value, outer = 0) {
    if (outer > 255 || !value || typeof value != 'object') return outer;
    const inner = outer + 1;
    let deepest = inner;
    for (const key in value) deepest = Math.max(deepest, depth(value[key], inner));
    return deepest;
}

/** A cursor as one line of a cursor list: one with a line break is no cursor. */
const cursorLine = (cursor) => (typeof cursor == 'string' && !cursor.includes('\n') ? cursor : '');

/** The URL of a WebSocket upgrade or a poll (WS_OPEN, POLL): `url` with the cursor to
 *  resume from and the wait of a long poll in its query, each only when set, and `extra`
 *  (a WebSocket's BEAT_QUERY). */
export function withQuery(url, cursor, wait, extra) {
    const query = [cursor && 'cursor=' + cursor, wait && 'wait=' + wait, extra].filter(Boolean).join('&');
    return query ? url + (url.includes('?') ? '&' : '?') + query : url;
}

/** A frame the client sends (WS_SEND): LL_OUT_SEND carries send id `send` with `data` (the
 *  app's JSON text); a beat is an empty frame; the others are {"type":"ping"} / {"type":"pong"}. */
export const clientFrame = (frame, send, data) =>
    frame == OUT_SEND ? `{"type":"send","id":${send},"data":${data}}` : frame == OUT_BEAT ? '' : `{"type":"${OUT_FRAMES[frame]}"}`;

/** The body of a POST (a send by HTTP). */
export const postBody = (send, data) => `{"id":${send},"data":${data}}`;

/** A text frame: the args of ll_ws_frame after the socket id, and its messages (itself). */
export function frame(data) {
    const value = typeof data == 'string' ? parse(data) : undefined,
        frame = protocolObject(value);
    let type = FRAMES.indexOf(frame?.type);
    if (type < 0 || type >= FRAME_BEAT) type = data === '' ? FRAME_BEAT : typeof frame?.type == 'string' ? FRAME_OTHER : FRAME_BAD;
    if (type == FRAME_MSG && !('data' in frame)) type = FRAME_BAD;
    // an ack's "error" (a rejection; "" counts as "rejected"), an error frame's "code"
    let code = frame?.code;
    if (type == FRAME_ACK) code = frame.error === '' ? 'rejected' : frame.error;
    const size = typeof data == 'string' ? bytes(data) : data.byteLength; // binary frames are malformed
    // an ack's id (above 2^32: no send has it); a hello's beat
    const n = type == FRAME_HELLO ? frame.beat : frame?.id;
    const id = Number.isInteger(n) && n >= 0 && n < 2 ** 32 ? n : 0;
    return [[type, size, depth(value), frame?.cursor ?? '', id, frame?.message ?? '', code ?? ''], [frame]];
}

/** A protocol poll body of `size` bytes: the args of ll_http_response after the validator
 *  (size, depth, the cursor lines), and its messages. The messages also carry the body's
 *  `error` and `message` (a server's error answer: {"error": code, "message": text}) as
 *  `server`, for the error event and a refused send. */
export function body(bodyBytes, size) {
    const value = parse(typeof bodyBytes == 'string' ? bodyBytes : decoder.decode(bodyBytes)),
        object = protocolObject(value);
    const messages = object?.messages || [];
    messages.server = { code: object?.error ?? '', message: object?.message ?? '' };
    // the body's cursor, then each message's (an element that is no message: an empty line)
    const elementLine = (element) => {
        const message = protocolObject(element);
        return message && 'data' in message ? cursorLine(message.cursor) : '';
    };
    const lines = object ? [cursorLine(object.cursor), ...messages.map(elementLine)].join('\n') : '';
    return [[size, depth(value), lines], messages];
}

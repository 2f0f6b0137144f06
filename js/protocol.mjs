// protocol.mjs — the server's JSON, parsed once (JSON.parse) into what the core reads
// (wasm/lifeline.h: ll_ws_frame, ll_http_response); the data stays here, and a DELIVER
// names which message of the input to hand over. tests/native/decode.c applies the same
// rules for the native tests.
import { FRAMES, FRAME_ACK, FRAME_BAD, FRAME_BEAT, FRAME_HELLO, FRAME_MSG, FRAME_OTHER, OUT_BEAT, OUT_FRAMES, OUT_SEND, SUBS_MAX } from './constants.js';
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
 *  app's JSON text; on a v2 socket, `s` its subscription); a beat is an empty frame; the
 *  others are {"type":"ping"} / {"type":"pong"}. */
export const clientFrame = (frame, send, data, s) =>
    frame == OUT_SEND ? `{"type":"send",${s ? `"s":${s},` : ''}"id":${send},"data":${data}}` : frame == OUT_BEAT ? '' : `{"type":"${OUT_FRAMES[frame]}"}`;

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
    // v2: the frame's subscription (1 to SUBS_MAX, else 0); a hello's version
    const s = type == FRAME_HELLO ? frame.v : frame?.s;
    const sub = Number.isInteger(s) && s > 0 && s <= SUBS_MAX ? s : 0;
    return [[type, size, depth(value), frame?.cursor ?? '', id, frame?.message ?? '', code ?? '', sub], [frame]];
}

/** The cursor lines of one stream's answer (a v1 poll body, or an entry of a v2 one), its
 *  messages appended to `messages`. */
function streamLines(object, messages) {
    const own = object?.messages || [];
    // the body's cursor, then each message's (an element that is no message: an empty line)
    const elementLine = (element) => {
        const message = protocolObject(element);
        return message && 'data' in message ? cursorLine(message.cursor) : '';
    };
    messages.push(...own);
    return object ? [cursorLine(object.cursor), ...own.map(elementLine)].join('\n') : '';
}

/** v2: the answer to a poll of many streams (`index`: stream name -> subscription), as
 *  sections for the core: "#<i>" then the stream's lines, or "~<cursor>" (a reset), or
 *  "!<code> <message>" (an error); the messages numbered across the body. */
export function bodyAll(bodyBytes, size, index) {
    const value = parse(decoder.decode(bodyBytes)),
        streams = value?.streams,
        messages = /** @type {any} */ ([]), // the messages, and the server's words as .server
        lines = [];
    messages.server = { code: value?.error ?? '', message: value?.message ?? '' };
    if (streams && typeof streams == 'object')
        for (const name in streams) {
            const i = index.get(name),
                entry = protocolObject(streams[name]);
            if (i == null) continue;
            lines.push('#' + i);
            if (typeof entry?.reset == 'string') lines.push('~' + cursorLine(entry.reset));
            else if (entry?.error) lines.push(`!${entry.error} ${String(entry.message ?? '').replace(/\n/g, ' ')}`);
            else lines.push(streamLines(entry, messages));
        }
    return [[size, depth(value), lines.join('\n')], messages];
}

/** A protocol poll body of `size` bytes: the args of ll_http_response after the validator
 *  (size, depth, the cursor lines), and its messages. The messages also carry the body's
 *  `error` and `message` (a server's error answer: {"error": code, "message": text}) as
 *  `server`, for the error event and a refused send. */
export function body(bodyBytes, size) {
    const value = parse(typeof bodyBytes == 'string' ? bodyBytes : decoder.decode(bodyBytes)),
        object = protocolObject(value),
        messages = /** @type {any} */ ([]); // the messages, and the server's words as .server
    const lines = streamLines(object, messages);
    messages.server = { code: object?.error ?? '', message: object?.message ?? '' };
    return [[size, depth(value), lines], messages];
}

// cursor.mjs — cursors and stream names, the two strings every request carries.
//
// A cursor is `<u64>` or `<u64>-<u64>` (docs/protocol.md "Cursors"), compared numerically as a pair
// (`7` is `7-0`). The stores write `<epoch>-<offset>`: the offset counts a stream's messages
// from 1, the epoch changes whenever the stream's history is lost, so a cursor from before
// the loss is never taken for one after it. The grammars are the spec's (protocol.mjs).

import { CURSOR_RE, CURSOR_PART_MAX, STREAM_NAME_RE } from './protocol.mjs';

export function isStreamName(s) {
    return typeof s === 'string' && STREAM_NAME_RE.test(s);
}

/** Parse a cursor string into [hi, lo] BigInts, or null when it is not a valid cursor. */
export function parseCursor(s) {
    if (typeof s !== 'string') return null;
    const m = CURSOR_RE.exec(s);
    if (!m) return null;
    const hi = BigInt(m[1]);
    const lo = m[2] === undefined ? 0n : BigInt(m[2]);
    if (hi > CURSOR_PART_MAX || lo > CURSOR_PART_MAX) return null;
    return [hi, lo];
}

/** Compare two parsed cursors: -1, 0 or 1. */
export function compareCursors(a, b) {
    if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
    if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
    return 0;
}

export function formatCursor(hi, lo) {
    return `${hi}-${lo}`;
}

/** True for `0` and `0-0`: "everything retained". */
export function isZero(c) {
    return c[0] === 0n && c[1] === 0n;
}

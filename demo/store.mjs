// store.mjs — the message log behind the reference server.
//
// Interface (every store implements it; the server awaits each result, so an async store —
// Redis Streams, say — fits the same shape):
//
//   append(data)          -> {cursor}                       adds one message, notifies subscribers
//   since(cursor, limit)  -> {messages, cursor}              messages strictly after `cursor`
//                          | {reset: true, cursor}           cursor too old / unknown: go on from `cursor`
//   head()                -> cursor                          the newest cursor (`<boot>-0` when empty)
//   subscribe(fn)         -> unsubscribe()                   fn({cursor, data}) after every append
//   reset()                                                  a restart: empty log, new boot epoch
//
// Cursors are strings `<u64>` or `<u64>-<u64>` compared numerically as pairs (`7` is `7-0`).
// This in-memory log writes `<bootEpochMs>-<seq>` with seq from 1, so a cursor from before a
// restart (another boot) is never mistaken for one after it.
//
// Cursor rules of since():
//   undefined / null  -> "from now": no messages, cursor = head
//   "0" (or "0-0")    -> everything still retained
//   c in [oldest retained − 1, head]  -> the messages after c (at most `limit`)
//   anything else (fell out of retention, ahead of head, another boot) -> {reset, cursor: head}

const U64_MAX = (1n << 64n) - 1n;
const CURSOR_RE = /^(\d{1,20})(?:-(\d{1,20}))?$/;

/** Parse a cursor string into [hi, lo] BigInts, or null when it is not a valid cursor. */
export function parseCursor(s) {
    if (typeof s !== 'string') return null;
    const m = CURSOR_RE.exec(s);
    if (!m) return null;
    const hi = BigInt(m[1]);
    const lo = m[2] === undefined ? 0n : BigInt(m[2]);
    if (hi > U64_MAX || lo > U64_MAX) return null;
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

export class MemoryStore {
    /**
     * @param {{retention?: number, now?: () => number}} [options]
     *   retention: how many messages are kept (oldest dropped first), default 1000.
     *   now: clock for boot epochs (injectable for tests).
     */
    constructor(options = {}) {
        this._now = options.now ?? Date.now;
        this._retention = normRetention(options.retention ?? 1000);
        this._subs = new Set();
        this._boot = 0n;
        this._start();
    }

    _start() {
        // A restart within the same millisecond must still get a newer epoch.
        let boot = BigInt(Math.floor(this._now()));
        if (boot <= this._boot) boot = this._boot + 1n;
        this._boot = boot;
        this._seq = 0n;        // seq of the newest message
        this._floor = 0n;      // seq of the newest message dropped by retention (0: none)
        this._log = [];        // [{seq, cursor, data}] oldest first, seqs floor+1 .. seq
    }

    get bootEpoch() {
        return this._boot;
    }

    get retention() {
        return this._retention;
    }

    set retention(n) {
        this._retention = normRetention(n);
        this._trim();
    }

    get size() {
        return this._log.length;
    }

    head() {
        return formatCursor(this._boot, this._seq);
    }

    append(data) {
        this._seq += 1n;
        const msg = { cursor: formatCursor(this._boot, this._seq), data };
        this._log.push({ seq: this._seq, cursor: msg.cursor, data });
        this._trim();
        for (const fn of [...this._subs]) {
            try {
                fn(msg);
            } catch {
                // A failing subscriber must not break the append nor the other subscribers.
            }
        }
        return { cursor: msg.cursor };
    }

    since(cursor, limit = Infinity) {
        const head = this.head();
        if (cursor === undefined || cursor === null) return { messages: [], cursor: head };
        const c = typeof cursor === 'string' ? parseCursor(cursor) : cursor;
        if (!c) throw new TypeError(`invalid cursor ${JSON.stringify(cursor)}`);
        let afterSeq;
        if (c[0] === 0n && c[1] === 0n) {
            afterSeq = this._floor; // "0": everything retained
        } else if (
            compareCursors(c, [this._boot, this._floor]) < 0 ||
            compareCursors(c, [this._boot, this._seq]) > 0
        ) {
            return { reset: true, cursor: head };
        } else {
            afterSeq = c[1]; // same boot, floor <= seq <= head
        }
        const start = Number(afterSeq - this._floor); // index of the first message after c
        const n = Math.max(0, Math.min(this._log.length - start, limit));
        const messages = this._log.slice(start, start + n).map(({ cursor, data }) => ({ cursor, data }));
        return {
            messages,
            cursor: messages.length ? messages[messages.length - 1].cursor : formatCursor(this._boot, afterSeq),
        };
    }

    subscribe(fn) {
        this._subs.add(fn);
        return () => this._subs.delete(fn);
    }

    reset() {
        this._start();
    }

    _trim() {
        const drop = this._log.length - this._retention;
        if (drop > 0) {
            this._log.splice(0, drop);
            this._floor += BigInt(drop);
        }
    }
}

function normRetention(n) {
    const v = Number(n);
    if (!Number.isFinite(v) || v < 1) throw new RangeError('retention must be >= 1');
    return Math.floor(v);
}

export function createMemoryStore(options) {
    return new MemoryStore(options);
}

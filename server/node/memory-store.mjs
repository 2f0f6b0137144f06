// memory-store.mjs — the default store: one in-memory log per stream, lost with the process.
//
// Store interface (server/DESIGN.md "Store interface"; every method may return a Promise,
// the handler awaits each):
//
//   append(stream, json)          -> cursor                 json: the message's JSON text
//   read(stream, cursor, limit)   -> {messages: [{cursor, json}], cursor} | {reset: true, cursor}
//   head(stream)                  -> cursor
//   wait(stream, cursor, timeout) -> resolves when a message after cursor may exist (or timeout)
//   subscribe(stream, fn)         -> unsubscribe            fn() on news: a wake-up, not data
//   close()
//
// Messages are kept as JSON text: what was published cannot change afterwards, and frames
// and poll bodies are built around it without a second stringify.
//
// Cursors are `<epoch>-<offset>`: the epoch is this store's start time in ms (shared by all
// its streams; `reset()` — a simulated restart — takes a new, larger one), the offset counts
// a stream's messages from 1. read() follows docs/protocol.md "Cursors":
//   undefined / null                      -> from now: no messages, cursor = head
//   0 / 0-0                               -> everything retained
//   [oldest retained − 1, head], same epoch -> the messages after it (at most `limit`)
//   anything else (fell out of retention, ahead of head, another epoch) -> {reset, cursor: head}
// Retention: at most `retention` messages per stream, and with `retentionMs` none older
// than that (checked on every append and read, so "too old" is exact when asked).

import { parseCursor, compareCursors, formatCursor, isZero } from './cursor.mjs';
import { Subscribers } from './subscribers.mjs';

export class MemoryStore {
    /**
     * @param {{retention?: number, retentionMs?: number|null, now?: () => number}} [options]
     */
    constructor(options = {}) {
        this._now = options.now ?? Date.now;
        this.retention = options.retention ?? 1000;
        this.retentionMs = options.retentionMs ?? null;
        this._epoch = 0n;
        this._subs = new Subscribers();
        this.reset();
    }

    get retention() {
        return this._retention;
    }

    set retention(n) {
        if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('retention must be an integer >= 1');
        this._retention = n;
        for (const s of this._streams?.values() ?? []) this._trim(s);
    }

    get retentionMs() {
        return this._retentionMs;
    }

    set retentionMs(ms) {
        if (ms !== null && (!Number.isSafeInteger(ms) || ms < 1)) throw new RangeError('retentionMs must be null or an integer >= 1');
        this._retentionMs = ms;
    }

    /** Forget every stream and start a new epoch (what a process restart does). */
    reset() {
        let epoch = BigInt(Math.floor(this._now()));
        if (epoch <= this._epoch) epoch = this._epoch + 1n; // a reset within one ms still moves on
        this._epoch = epoch;
        this._streams = new Map(); // stream -> {offset, floor, log: [{offset, cursor, json, t}]}
        this._subs.wakeAll();
    }

    get epoch() {
        return this._epoch;
    }

    head(stream) {
        return formatCursor(this._epoch, this._streams.get(stream)?.offset ?? 0n);
    }

    append(stream, json) {
        let s = this._streams.get(stream);
        if (!s) this._streams.set(stream, (s = { offset: 0n, floor: 0n, log: [] }));
        s.offset += 1n;
        const cursor = formatCursor(this._epoch, s.offset);
        s.log.push({ offset: s.offset, cursor, json, t: this._now() });
        this._trim(s);
        this._subs.wake(stream);
        return cursor;
    }

    /** @returns {import('./index.d.ts').ReadResult} */
    read(stream, cursor, limit = Infinity) {
        const s = this._streams.get(stream) ?? { offset: 0n, floor: 0n, log: [] };
        this._trim(s);
        const head = formatCursor(this._epoch, s.offset);
        if (cursor === undefined || cursor === null) return { messages: [], cursor: head };
        const c = typeof cursor === 'string' ? parseCursor(cursor) : cursor;
        if (!c) throw new TypeError(`invalid cursor ${JSON.stringify(cursor)}`);
        let after;
        if (isZero(c)) after = s.floor;
        else if (compareCursors(c, [this._epoch, s.floor]) < 0 || compareCursors(c, [this._epoch, s.offset]) > 0) {
            return { reset: true, cursor: head };
        } else after = c[1];
        const start = Number(after - s.floor);
        const n = Math.max(0, Math.min(s.log.length - start, limit));
        const messages = s.log.slice(start, start + n).map(({ cursor, json }) => ({ cursor, json }));
        return { messages, cursor: n ? messages[n - 1].cursor : formatCursor(this._epoch, after) };
    }

    subscribe(stream, fn) {
        return this._subs.add(stream, fn);
    }

    wait(stream, cursor, timeout) {
        return waitWith(this, stream, cursor, timeout);
    }

    close() {
        this._subs.clear();
    }

    _trim(s) {
        let drop = Math.max(0, s.log.length - this._retention);
        if (this._retentionMs !== null) {
            const oldest = this._now() - this._retentionMs;
            while (drop < s.log.length && s.log[drop].t < oldest) drop++;
        }
        if (drop > 0) {
            s.log.splice(0, drop);
            s.floor += BigInt(drop);
        }
    }
}

/** wait() for any store from subscribe() and read(): resolves true when news may exist, false on timeout. */
export async function waitWith(store, stream, cursor, timeout) {
    let unsub = () => {};
    let timer;
    try {
        const woken = new Promise((resolve) => {
            unsub = store.subscribe(stream, () => resolve(true));
            timer = setTimeout(() => resolve(false), timeout);
        });
        const r = await store.read(stream, cursor, 1);
        if (r.reset || r.messages.length) return true;
        return await woken;
    } finally {
        unsub();
        clearTimeout(timer);
    }
}

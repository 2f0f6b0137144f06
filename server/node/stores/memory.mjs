// stores/memory.mjs — the default store: one in-memory log per stream, lost with the process.
//
// The store interface is stores/base.mjs (server/DESIGN.md "Store interface"); this store
// answers synchronously.
//
// Messages are kept as JSON text: what was published cannot change afterwards, and frames
// and poll bodies are built around it without a second stringify.
//
// Cursors are `<epoch>-<offset>`: the offset counts a stream's messages from 1; the epoch is
// the stream's, given when its history began: the store's current epoch (its start time in
// ms; `clear()` — a simulated restart — takes a new, larger one). A stream not in the store
// has the head `<store epoch>-0`. read() follows docs/protocol.md "Cursors":
//   undefined / null                      -> from now: no messages, cursor = head
//   0 / 0-0                               -> everything retained
//   [oldest retained − 1, head], same epoch -> the messages after it (at most `limit`)
//   anything else (fell out of retention, ahead of head, another epoch) -> reset to the head
// Retention: at most `retention` messages per stream, and with `retentionMs` none older
// than that (checked on every append and read, so "too old" is exact when asked).
//
// Bounded state (server/DESIGN.md "Bounded state"): a stream idle (no append) for `streamTtl`
// ms loses its log but keeps its epoch and offset (a tombstone: a caught-up reader stays
// caught up, an older cursor resets exactly); after 2 × `streamTtl` idle the tombstone goes
// too. Forgetting a tombstone moves the store's epoch on (so a stream begun again can never
// take an old cursor for a new one); tombstones are forgotten in batches, at most once per
// `streamTtl`, so the store's epoch moves at most that often. Streams are kept in the order
// of their last append, so a sweep visits only what expires. At most `maxStreams` streams
// (live + tombstones): a new stream beyond that first pushes out the oldest tombstones, and
// when every slot is a live stream its append throws TooManyStreams (503 `too_many_streams`).

import { parseCursor, compareCursors, formatCursor, isZero } from '../cursor.mjs';
import { Subscribers } from './subscribers.mjs';
import { Store } from './base.mjs';
import { TooManyStreams } from '../errors.mjs';

/** The stream cap. */
export const DEFAULT_MAX_STREAMS = 100_000;
const SWEEP_EVERY_MS = 1000; // the lazy sweep runs at most this often (and on a timer when idle)

export class MemoryStore extends Store {
    /**
     * @param {{retention?: number, retentionMs?: number|null, streamTtl?: number|null, maxStreams?: number, now?: () => number}} [options]
     */
    constructor(options = {}) {
        super(options);
        this._now = options.now ?? Date.now;
        this.maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
        this._epoch = 0n;
        this._subs = new Subscribers();
        this.clear();
        if (!options.now) {
            // an idle process frees expired streams too (the lazy sweep needs a call)
            this._timer = setInterval(() => this._sweep(true), Math.min(60_000, Math.max(SWEEP_EVERY_MS, this._streamTtl ?? 60_000)));
            this._timer.unref?.();
        }
    }

    get retention() {
        return super.retention;
    }

    /** A smaller retention trims every stream at once. */
    set retention(n) {
        super.retention = n;
        for (const s of this._streams?.values() ?? []) this._trim(s);
    }

    get maxStreams() {
        return this._maxStreams;
    }

    set maxStreams(n) {
        if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('maxStreams must be an integer >= 1');
        this._maxStreams = n;
    }

    /** Forget every stream and start a new epoch (what a process restart does). */
    clear() {
        this._newEpoch();
        this._streams = new Map(); // live: stream -> {epoch, offset, floor, last, log: [{offset, cursor, json, t}]}, oldest append first
        this._tombstones = new Map(); // idle: stream -> {epoch, offset, last}, oldest first
        this._lastSweep = this._now();
        this._lastForget = this._now();
        this._subs.wakeAll();
    }

    get epoch() {
        return this._epoch;
    }

    /** Streams held now: live ones (with a log) and tombstones (epoch and offset only). */
    get streamCount() {
        this._sweep();
        return this._streams.size + this._tombstones.size;
    }

    head(stream) {
        this._sweep();
        const s = this._streams.get(stream) ?? this._tombstones.get(stream);
        return s ? formatCursor(s.epoch, s.offset) : formatCursor(this._epoch, 0n);
    }

    append(stream, json) {
        this._sweep();
        const now = this._now();
        let s = this._streams.get(stream);
        if (s)
            this._streams.delete(stream); // re-inserted last: the map stays in append order
        else {
            const t = this._tombstones.get(stream);
            if (t) this._tombstones.delete(stream);
            else this._makeRoom();
            s = t ? { epoch: t.epoch, offset: t.offset, floor: t.offset, log: [] } : { epoch: this._epoch, offset: 0n, floor: 0n, log: [] };
        }
        s.last = now;
        this._streams.set(stream, s);
        s.offset += 1n;
        const cursor = formatCursor(s.epoch, s.offset);
        s.log.push({ offset: s.offset, cursor, json, t: now });
        this._trim(s);
        this._subs.wake(stream);
        return cursor;
    }

    /** @returns {import('../index.d.ts').ReadResult} */
    read(stream, cursor, limit = Infinity) {
        this._sweep();
        const s = this._streams.get(stream) ?? this._tombstones.get(stream) ?? { epoch: this._epoch, offset: 0n, floor: 0n, log: [] };
        if (s.log) this._trim(s);
        const floor = s.log ? s.floor : s.offset;
        const head = formatCursor(s.epoch, s.offset);
        if (cursor === undefined || cursor === null) return { messages: [], cursor: head, reset: false };
        const c = typeof cursor === 'string' ? parseCursor(cursor) : cursor;
        if (!c) throw new TypeError(`invalid cursor ${JSON.stringify(cursor)}`);
        let after;
        if (isZero(c)) after = floor;
        else if (compareCursors(c, [s.epoch, floor]) < 0 || compareCursors(c, [s.epoch, s.offset]) > 0) {
            return { messages: [], cursor: head, reset: true };
        } else after = c[1];
        const log = s.log ?? [];
        const start = Number(after - floor);
        const n = Math.max(0, Math.min(log.length - start, limit));
        const messages = log.slice(start, start + n).map(({ cursor, json }) => ({ cursor, json }));
        return { messages, cursor: n ? messages[n - 1].cursor : formatCursor(s.epoch, after), reset: false };
    }

    subscribe(stream, fn) {
        return this._subs.add(stream, fn);
    }

    /** What the store holds (the health hook of the memory store). */
    health() {
        return { ok: true, store: 'memory', streams: this._streams.size, tombstones: this._tombstones.size, maxStreams: this._maxStreams };
    }

    close() {
        clearInterval(this._timer);
        this._subs.clear();
    }

    _newEpoch() {
        let epoch = BigInt(Math.floor(this._now()));
        if (epoch <= this._epoch) epoch = this._epoch + 1n; // a new epoch within one ms still moves on
        this._epoch = epoch;
    }

    /** Expire idle streams: logs after streamTtl, tombstones after 2 × streamTtl (in batches). */
    _sweep(force = false) {
        const now = this._now();
        if (this._streamTtl === null || (!force && now - this._lastSweep < SWEEP_EVERY_MS)) return;
        this._lastSweep = now;
        const ttl = this._streamTtl;
        for (const [name, s] of this._streams) {
            if (s.last > now - ttl) break;
            this._streams.delete(name);
            this._tombstones.set(name, { epoch: s.epoch, offset: s.offset, last: s.last });
        }
        if (now - this._lastForget >= ttl) {
            this._lastForget = now;
            let forgot = false;
            for (const [name, t] of this._tombstones) {
                if (t.last > now - 2 * ttl) break;
                this._tombstones.delete(name);
                forgot = true;
            }
            if (forgot) this._newEpoch();
        }
    }

    /** A new stream needs a slot: forget the oldest tombstones if full, else TooManyStreams. */
    _makeRoom() {
        if (this.streamCount < this._maxStreams) return;
        this._sweep(true);
        let forgot = false;
        for (const name of this._tombstones.keys()) {
            if (this.streamCount < this._maxStreams) break;
            this._tombstones.delete(name);
            forgot = true;
        }
        if (forgot) this._newEpoch();
        if (this.streamCount >= this._maxStreams) {
            throw new TooManyStreams(
                `the store holds ${this._maxStreams} streams (maxStreams); a stream goes after ${this._streamTtl ?? '∞'} ms without a message`,
            );
        }
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

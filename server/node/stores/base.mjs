// stores/base.mjs — the store interface, and what every store shares (server/DESIGN.md
// "Store interface"; Flask's stores/base.py has the same calls, shapes and units):
//
//   append(stream, json)          -> cursor                 json: the message's JSON text
//   read(stream, cursor, limit)   -> {messages: [{cursor, json}], cursor, reset}
//   head(stream)                  -> cursor
//   wait(stream, cursor, timeout) -> true when a message after cursor may exist, false at the
//                                    timeout (ms)
//   subscribe(stream, fn)         -> unsubscribe            fn() on news: a wake-up, not data
//   health()                      -> {ok, store, …}
//   clear()                       -> forget every stream (what a restart without persistence does)
//   close()
//
// Every method may return a Promise; the handler awaits each. `reset` is a boolean: true
// when the cursor could not be served (fell out of retention, ahead of the head, another
// epoch), and then `messages` is empty and `cursor` the head. Messages are JSON text from the
// moment they are published: stored, read and written into frames as they are.
//
// Theory: a store is an ordered log per stream plus a wake-up. `wait` needs nothing else:
// subscribe first, then look (a read of one message), so news that arrives between the look
// and the wait is not lost; the wake-up is a hint, the read is the truth. A custom store
// extends Store and gives append, read, head and subscribe (and clear, health, close when it
// has something to say); a store given to createLifeline that does not extend Store works as
// long as it has those four.

/** Default idle time after which a stream's keys / memory go (24 h). */
export const DEFAULT_STREAM_TTL = 24 * 3600e3;

/** The options every store shares: validated on every change. */
const positive = (name, nullable) => (v) => {
    if (nullable && v === null) return v;
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be ${nullable ? 'null or ' : ''}an integer >= 1`);
    return v;
};
const checkRetention = positive('retention', false);
const checkRetentionMs = positive('retentionMs', true);
const checkStreamTtl = positive('streamTtl', true);

export class Store {
    /** @param {{retention?: number, retentionMs?: number|null, streamTtl?: number|null}} [options] */
    constructor(options = {}) {
        this._retention = checkRetention(options.retention ?? 1000);
        this._retentionMs = checkRetentionMs(options.retentionMs ?? null);
        this._streamTtl = checkStreamTtl(options.streamTtl === undefined ? DEFAULT_STREAM_TTL : options.streamTtl);
    }

    /** Messages kept per stream (oldest dropped first). */
    get retention() {
        return this._retention;
    }
    set retention(n) {
        this._retention = checkRetention(n);
    }
    /** Also drop messages older than this (ms), or null. */
    get retentionMs() {
        return this._retentionMs;
    }
    set retentionMs(ms) {
        this._retentionMs = checkRetentionMs(ms);
    }
    /** A stream idle this long (ms) loses its log, its epoch and offset twice as late; null: never. */
    get streamTtl() {
        return this._streamTtl;
    }
    set streamTtl(ms) {
        this._streamTtl = checkStreamTtl(ms);
    }

    /**
     * @param {string} stream
     * @param {string} json
     * @returns {string | Promise<string>}
     */
    // eslint-disable-next-line no-unused-vars
    append(stream, json) {
        throw new Error(`${this.constructor.name} has no append`);
    }

    /**
     * @param {string} stream
     * @param {string | null | undefined} cursor
     * @param {number} [limit]
     * @returns {import('../index.d.ts').ReadResult | Promise<import('../index.d.ts').ReadResult>}
     */
    // eslint-disable-next-line no-unused-vars
    read(stream, cursor, limit) {
        throw new Error(`${this.constructor.name} has no read`);
    }

    /**
     * @param {string} stream
     * @returns {string | Promise<string>}
     */
    // eslint-disable-next-line no-unused-vars
    head(stream) {
        throw new Error(`${this.constructor.name} has no head`);
    }

    /**
     * @param {string} stream
     * @param {() => void} fn
     * @returns {() => void}
     */
    // eslint-disable-next-line no-unused-vars
    subscribe(stream, fn) {
        throw new Error(`${this.constructor.name} has no subscribe`);
    }

    /**
     * Resolves true when a message after `cursor` may exist (or the cursor resets), false
     * after `timeout` ms: subscribed before the look, so no news is lost between the two.
     * @param {string} stream
     * @param {string} cursor
     * @param {number} timeout
     * @returns {Promise<boolean>}
     */
    async wait(stream, cursor, timeout) {
        let unsub = () => {};
        let timer;
        try {
            const woken = new Promise((resolve) => {
                unsub = this.subscribe(stream, () => resolve(true));
                timer = setTimeout(() => resolve(false), timeout);
            });
            const r = await this.read(stream, cursor, 1);
            if (r.reset || r.messages.length) return true;
            return await woken;
        } finally {
            unsub();
            clearTimeout(timer);
        }
    }

    /** @returns {{ok: boolean, store: string, [k: string]: unknown} | Promise<{ok: boolean, store: string, [k: string]: unknown}>} */
    health() {
        return { ok: true, store: 'custom' };
    }

    /** Forget every stream (a simulated restart). @returns {void | Promise<void>} */
    clear() {}

    /** @returns {void | Promise<void>} */
    close() {}
}

// session.mjs — a connected client, whatever carries it, and the registry of them
// (server/DESIGN.md "One design, files mirrored"; Flask's session.py).
//
// Theory: a session is a client that stays connected to one stream: a WebSocket, or a long
// poll while it is held. It has
//  - its stream and the request that authorised it (`authorize` runs once per session, so
//    `live.disconnect(stream, {where})` tests that request to take a right away);
//  - its kind, `'websocket'` or `'long_poll'`;
//  - its cursor: where the client is in the stream. `read(limit)` reads the stream after it:
//    messages (the cursor moves to the last one), or a reset (the cursor moves to the head),
//    or nothing new (the cursor stays — a cursor `0` stays "everything retained"); a session
//    opened without a cursor reads from now and takes the head. A transport that moved only
//    part of a read (a socket's backpressure) sets `cursor` back to the last one it moved;
//  - news: `follow(step)` subscribes to the stream first and runs `step` (a read and its
//    writing) whenever news may exist, one at a time, once more when woken meanwhile — so
//    nothing appended between a read and the next wake-up is missed, and a burst of news
//    costs one read, not one each;
//  - how to end it: `revoke(message)` (error `revoked`: the socket's error frame and close
//    1008, the long poll's 403) and `close()` (drop the connection: the handler closes),
//    both the transport's; the transport calls `end()` once its connection is over, which
//    releases the subscription and leaves the registry.
// The transports only move what the session read: frames and poll bodies.
//
// Sessions is the registry: it counts the open sessions by kind and ends them on
// `disconnect(stream, where, message)` (null stream: every stream) and on `close()`.

/** @typedef {'websocket' | 'long_poll'} SessionKind */

export class Session {
    #sessions;
    #store;
    #revoke;
    #close;
    #unsubscribe = () => {};
    #ended = false;

    /**
     * Open a session and join the registry (Sessions.open makes one).
     * @param {Sessions} sessions
     * @param {{store: any, stream: string, req: import('node:http').IncomingMessage, kind: SessionKind,
     *          cursor?: string, revoke: (message: string) => void, close: () => void}} options
     */
    constructor(sessions, { store, stream, req, kind, cursor, revoke, close }) {
        this.#sessions = sessions;
        this.#store = store;
        this.#revoke = revoke;
        this.#close = close;
        this.stream = stream;
        this.req = req;
        this.kind = kind;
        /** @type {string | undefined} */
        this.cursor = cursor ?? undefined;
    }

    /** True once the transport's connection is over (end() was called). */
    get ended() {
        return this.#ended;
    }

    /**
     * Read the stream after the cursor: {messages, cursor, reset}; the cursor moves on with
     * messages or a reset (and from "now" to the head), not on nothing new.
     * @param {number} limit
     * @returns {Promise<{messages: {cursor: string, json: string}[], cursor: string, reset: boolean}>}
     */
    async read(limit) {
        const from = this.cursor;
        const r = await this.#store.read(this.stream, from, limit);
        const read = { messages: r.messages ?? [], cursor: r.cursor, reset: r.reset === true };
        if (read.reset || read.messages.length || from === undefined) this.cursor = read.cursor;
        return read;
    }

    /** The stream's head (the cursor after its last message). */
    head() {
        return this.#store.head(this.stream);
    }

    /**
     * Subscribe to the stream's news and run `step()` on each, one at a time: woken while a
     * step runs or while `paused()`, it runs once more afterwards (`wake()` then, for a pause).
     * `step` returns true to run again at once (a full batch), false to stop though woken.
     * A step that throws is `failed(err)`. Released by end().
     * @param {() => Promise<boolean | void>} step
     * @param {{failed: (err: unknown) => void, paused?: () => boolean}} options
     */
    follow(step, { failed, paused = () => false }) {
        let running = false;
        const reader = {
            /** Woken while running or paused: a step is owed. */
            pending: false,
            wake: async () => {
                if (this.#ended) return;
                if (running || paused()) return void (reader.pending = true);
                running = true;
                try {
                    let more;
                    do {
                        reader.pending = false;
                        more = await step();
                    } while ((more === true || (more !== false && reader.pending)) && !this.#ended && !paused());
                } catch (err) {
                    failed(err);
                } finally {
                    running = false;
                }
            },
        };
        this.#unsubscribe();
        this.#unsubscribe = this.#store.subscribe(this.stream, () => reader.wake());
        return reader;
    }

    /** End it as revoked (`live.disconnect`): the transport's error `revoked`. */
    revoke(message) {
        this.#revoke(message);
    }

    /** Drop its connection (the handler closes). */
    close() {
        this.#close();
    }

    /** The connection is over: release the subscription, leave the registry. True the first time. */
    end() {
        if (this.#ended) return false;
        this.#ended = true;
        this.#unsubscribe();
        this.#sessions.remove(this);
        return true;
    }
}

export class Sessions {
    /** @type {Set<Session>} */
    #open = new Set();

    /**
     * Open a session of `kind` on `stream` and register it.
     * @param {ConstructorParameters<typeof Session>[1]} options
     */
    open(options) {
        const session = new Session(this, options);
        this.add(session);
        return session;
    }

    /** @param {Session} session */
    add(session) {
        this.#open.add(session);
    }

    /** @param {Session} session */
    remove(session) {
        this.#open.delete(session);
    }

    /**
     * Open sessions, of one kind or all.
     * @param {SessionKind} [kind]
     */
    count(kind) {
        if (kind === undefined) return this.#open.size;
        let n = 0;
        for (const s of this.#open) if (s.kind === kind) n++;
        return n;
    }

    /**
     * Revoke the sessions of `stream` (every stream when null) whose request `where(req)`
     * accepts (all when no `where`); returns how many were ended.
     * @param {string | null | undefined} stream
     * @param {((req: import('node:http').IncomingMessage) => boolean) | undefined} where
     * @param {string} message
     */
    disconnect(stream, where, message) {
        let n = 0;
        for (const s of [...this.#open]) {
            if ((stream == null || s.stream === stream) && (!where || where(s.req) === true)) {
                s.revoke(message);
                n++;
            }
        }
        return n;
    }

    /** Drop every open session (the handler closes). */
    close() {
        for (const s of [...this.#open]) s.close();
    }
}

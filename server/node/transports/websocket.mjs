// transports/websocket.mjs — the WebSocket side of one stream URL: v1 (one stream per
// socket), or v2 when the client offers it (many streams over one socket: protocol/v2.json,
// docs/protocol.md "WebSocket v2"; below, what v1 does holds for v2 unless said).
//
// v2: `hello` (no cursor) first, then the URL's stream is subscription 1, and `sub` frames
// add more; each subscription is a `Subscription` (the same one v1's socket has, with its id
// in every frame it writes): reset?, subd, backlog, live messages; a later reset where v1
// closes with `overflow`. Per-subscription refusals (check_order "ws_sub") are a `refused`
// frame and leave the socket open; `live.disconnect` refuses the matching subscriptions with
// `revoked`. Sends name their subscription (`s`) and are acked with it.
//
// The error table (codes, close codes, messages), the order of checks and the limits come
// from the spec (protocol/v1.json via protocol.mjs; server/DESIGN.md lists them).
//  - The upgrade is refused with an HTTP status only where no page can be told otherwise
//    (index.mjs: shutting down, not a stream, a foreign Origin). Everything a client should
//    learn after that — a refused `authorize`, a bad cursor (spec "ws_open") — is an
//    accepted upgrade, then `{"type":"error",…}` and the error's close code (a browser cannot
//    read the status of a refused upgrade; it can read an error frame). A hook that throws:
//    error `internal`, close 1011. Every close the spec gives a code is preceded by its error
//    frame, except the store being down (1012, no frame: nothing the client should show).
//  - The socket is a session (session.mjs, kind `websocket`): the session reads the stream
//    after its cursor and follows its news; this file moves what it read into frames.
//  - Frames out: `reset` (only when the cursor is too old) and `hello` first, then the
//    retained messages after the cursor, then live ones, each exactly once in order. The
//    session subscribes before its first read, so nothing appended meanwhile is lost;
//    every wake-up reads on from the last cursor sent, in batches of `batch`.
//  - A read that answers reset after hello (the stream's history vanished, or the socket
//    fell behind retention) is error `overflow` + close 1013: the client reconnects with its
//    cursor and is told `reset` properly.
//  - Frames in (spec "ws_frame", then "ws_send" for a send): `ping` → `pong`; `send` → the
//    app's onSend, then `ack` (or a rejecting ack `{"type":"ack","id","error","message"}`,
//    the socket stays open). A message over `maxBody` is `too_large` + 1009 (ws closes it;
//    the error frame goes first), a binary frame `bad_frame` + 1003, a non-JSON or
//    non-object frame or a send without a valid id `bad_frame` + 1008. Unknown types and
//    `pong` are ignored. An empty text frame (a beat, from any socket) passes size and text
//    and is a sign of life, nothing more: it is not parsed. Frames are handled in order,
//    after the connection started.
//  - Backpressure: messages are read from the store only as fast as the socket drains. Once
//    more than half of `maxPendingBytesPerSocket` waits in user space (ws.bufferedAmount,
//    beyond the kernel's buffers), the rest of a batch is dropped and read again from the
//    last cursor sent when the socket drained; so a client that stops reading costs its
//    socket about that much, and falls behind retention like any late client. Should the
//    small frames (acks, pongs, pings) push the queue past the whole limit anyway, the
//    socket gets `slow_consumer` (best effort) and close 1013: the client reconnects and
//    resumes from its cursor.
//  - Revocation (`live.disconnect`): error frame `revoked`, close 1008.
//  - Heartbeat (transports/heartbeat.mjs: one timer per process for every socket): a socket
//    whose URL asked with beat=<BEAT_QUERY_VALUE> is told `"beat": <heartbeat>` in hello and
//    gets an empty text frame whenever this file wrote it nothing for the beat schedule
//    (beatFirstMs after any other frame, doubling up to the heartbeat), and no pings; any
//    other socket gets a protocol `ping` after `heartbeat` ms of silence out (announced in
//    hello), plus WebSocket control pings. A socket from which nothing (no pong, no frame)
//    came for `silentPeerHeartbeats` heartbeats is terminated, so vanished clients do not
//    leak. This file tells the heartbeat each frame it writes and hears. A changed heartbeat
//    applies to sockets opened after the change (hello announced the old one to the others).

import { StoreUnavailable } from '../errors.mjs';
import { parseCursor } from '../cursor.mjs';
import { ackFrame, deliverSend, jsonChecks, parseSend } from '../sends.mjs';
import { runChecks, streamChecks, subscribeCheck } from '../checks.mjs';
import { ERRORS, FIRST_SUBSCRIPTION, LIMITS, SUBPROTOCOL_V2, VERSION_V2 } from '../protocol.mjs';
import { heartbeat as processHeartbeat } from './heartbeat.mjs';

/** Write a refusal on a raw upgrade socket. */
export function refuseUpgrade(socket, status, code, message, headers = {}) {
    if (!socket.writable) return socket.destroy();
    const body = JSON.stringify({ error: code, message });
    const lines = [
        `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
        'Connection: close',
        'Content-Type: application/json; charset=utf-8',
        `Content-Length: ${Buffer.byteLength(body)}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.end(lines.join('\r\n') + '\r\n\r\n' + body);
    setTimeout(() => socket.destroy(), 1000).unref();
}

/** ws.send's options for every frame: text (a pre-encoded Buffer too). */
const TEXT = { binary: false };

const STATUS_TEXT = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 414: 'URI Too Long', 429: 'Too Many Requests', 503: 'Service Unavailable' };

/** Run one accepted connection on `stream` until it closes. */
export async function runConnection(ctx, ws, req, stream, cursorRaw, beats) {
    const { intercept, log } = ctx;
    const heartbeat = ctx.config.heartbeat;
    const batch = () => ctx.config.batch;
    const muted = () => intercept.muted?.(ws) === true;
    const open = () => ws.readyState === ws.OPEN;
    const v2 = ws.protocol === SUBPROTOCOL_V2;
    let alive = null; // this socket's handle in the process's heartbeat, from hello on
    let closed = false;
    ws.on('error', () => {});
    ws.on('close', () => {
        closed = true;
        for (const sub of all()) sub.end();
        alive?.stop();
    });
    /** Every subscription of the socket (v1: the one, once it opened). */
    const all = () => (v2 ? [...subscriptions.values()] : v1Subscription ? [v1Subscription] : []);
    let v1Subscription = null;

    const pendingLimit = ctx.config.maxPendingBytesPerSocket;
    let slow = false;
    let flushed = Promise.resolve(); // settles once the latest frame reached the kernel
    /** Write a text frame (a string, or a pre-encoded Buffer); false when none went out. */
    const write = (data) => {
        if (!open() || muted() || slow) return false;
        let written;
        flushed = new Promise((resolve) => (written = resolve));
        ws.send(data, TEXT, () => written());
        if (ws.bufferedAmount > pendingLimit) {
            slow = true;
            ws.send(JSON.stringify({ type: 'error', code: 'slow_consumer', message: `over ${pendingLimit} bytes wait for this client` }));
            ws.close(ERRORS.slow_consumer.close, 'slow_consumer');
        }
        return true;
    };
    /** Write a frame that is not a beat: the beat schedule starts again. */
    const out = (text) => {
        if (write(text)) alive?.sent();
    };
    /** The error frame of `code` (the table's message unless given), then its close code. */
    const fail = (code, message, closeCode = ERRORS[code].close) => {
        out(JSON.stringify({ type: 'error', code, message: message ?? ERRORS[code].message }));
        if (open()) ws.close(closeCode, code);
    };
    const broken = (err) => {
        if (err instanceof StoreUnavailable) {
            if (open()) ws.close(ERRORS.unavailable.close, 'store unavailable');
            return;
        }
        log('websocket error', err);
        fail('internal');
    };
    // ws closes a socket whose message is over maxPayload (1009) before it emits 'error';
    // the spec's too_large error frame goes out first.
    const closeByWs = ws.close.bind(ws);
    ws.close = (code, reason) => {
        if (code === ERRORS.too_large.close && open())
            out(JSON.stringify({ type: 'error', code: 'too_large', message: `message over ${ctx.config.maxBody} bytes` }));
        return closeByWs(code, reason);
    };

    // Frames in, in order, once the connection has started (they may arrive before).
    let started;
    let chain = new Promise((resolve) => (started = resolve));
    ws.on('message', (data, isBinary) => {
        if (muted()) return;
        alive?.heard();
        chain = chain.then(() => onFrame(data, isBinary)).catch(broken);
    });
    ws.on('pong', () => alive?.heard());

    const startHeartbeat = () => {
        alive = processHeartbeat.add({ open, muted, write, ping: () => ws.ping(), terminate: () => ws.terminate() }, { heartbeat, beats });
    };
    /** @type {Map<number, Subscription>} a v2 socket's live subscriptions by id */
    const subscriptions = new Map();

    /**
     * One stream the socket delivers: a session (session.mjs) that reads it after its cursor
     * and follows its news, its frames written here. `s`: its v2 id (undefined on a v1 socket,
     * whose frames carry none).
     */
    class Subscription {
        constructor(s, name, cursor, kind, revoke) {
            this.s = s;
            this.tag = s === undefined ? '' : `"s":${s},`;
            this.reading = false; // the first read was written: the reader may read on
            this.waitingForDrain = false; // a batch stopped early: the reader waits for the socket to drain
            this.session = ctx.sessions.open({ store: ctx.store, stream: name, req, kind, cursor: cursor ?? undefined, revoke, close: () => ws.terminate() });
            this.reader = null;
        }
        get live() {
            return !closed && !this.session.ended;
        }
        /**
         * Follow the stream, then the first read: reset?, `opened(head, caughtUp)`, the backlog.
         * caughtUp (v2's subd): where the client has all there is — the head, or the asked
         * cursor when nothing follows it (an empty stream's head names no message).
         */
        async start(opened) {
            const session = this.session;
            this.reader = session.follow(() => this.readOn(), { failed: broken, paused: () => !this.reading || this.waitingForDrain });
            const from = session.cursor;
            const r = await session.read(batch());
            const head = await session.head();
            if (!open() || !this.live) return;
            if (r.reset) out(`{"type":"reset",${this.tag}"cursor":"${r.cursor}"}`);
            opened(head, r.reset || from === undefined || r.messages.length ? head : from);
            if (!r.reset) session.cursor = this.sendBatch(r, from ?? r.cursor);
            this.reading = true;
            if (r.reset || r.messages.length >= batch() || this.reader.pending) this.reader.wake(); // pending: woken during the first read
        }
        // Read on from the session's cursor whenever news may exist (the session runs one
        // read at a time, again if woken meanwhile); a full batch reads on at once.
        async readOn() {
            const session = this.session;
            const from = session.cursor;
            const r = await session.read(batch());
            if (!this.live) return false;
            if (r.reset) {
                // the log moved past this cursor: v1 closes (the client reconnects and is told
                // reset properly); a v2 subscription is told so and reads on from the head
                if (this.s === undefined) return (fail('overflow'), false);
                out(`{"type":"reset",${this.tag}"cursor":"${r.cursor}"}`);
                return true;
            }
            session.cursor = this.sendBatch(r, from);
            // a full batch reads on at once; else again only when woken meanwhile (never
            // `false` here: that would drop news that came during this read)
            return r.messages.length >= batch() || undefined;
        }
        // Send a read's messages until the queue passes half the pending limit; returns the
        // cursor to read on from (`from` when none was sent). When it stopped early, the
        // reader runs again once the socket drained.
        sendBatch(r, from) {
            let cursor = from;
            for (const m of r.messages) {
                if (ws.bufferedAmount > pendingLimit / 2) {
                    if (!this.waitingForDrain) {
                        this.waitingForDrain = true;
                        flushed.then(() => {
                            this.waitingForDrain = false;
                            this.reader.wake();
                        });
                    }
                    return cursor;
                }
                out(`{"type":"msg",${this.tag}"cursor":"${m.cursor}","data":${m.json}}`);
                cursor = m.cursor;
            }
            return r.cursor;
        }
        end() {
            this.session.end();
            if (this.s !== undefined) subscriptions.delete(this.s);
        }
    }

    // Start. v1: checks, then the URL's stream is the socket's one subscription (reset?,
    // hello, backlog). v2: hello, then the URL's stream is subscription FIRST_SUBSCRIPTION.
    try {
        if (v2) {
            startHeartbeat();
            out(JSON.stringify({ ...intercept.hello, type: 'hello', v: VERSION_V2, heartbeat, ...(beats && { beat: heartbeat }) }));
            await subscribe(FIRST_SUBSCRIPTION, stream, cursorRaw);
        } else {
            v1Subscription = new Subscription(undefined, stream, cursorRaw, 'websocket', (message) => fail('revoked', message));
            const refused = await runChecks('wsOpen', {
                authorize_subscribe: subscribeCheck(ctx, stream, req),
                cursor: () => cursorRaw !== null && !parseCursor(cursorRaw) && 'cursor must be <u64> or <u64>-<u64>',
            });
            if (refused) return fail(refused.error, refused.message);
            if (closed) return;
            await v1Subscription.start((head) => {
                startHeartbeat();
                out(JSON.stringify({ ...intercept.hello, type: 'hello', cursor: head, heartbeat, ...(beats && { beat: heartbeat }) }));
            });
        }
        started();
    } catch (err) {
        return broken(err);
    }

    /**
     * A v2 subscription `s` to `name` from `cursor` (null: from now), checked in the spec's
     * order (ws_sub, after the frame's shape and the id's check): refused, or started.
     */
    async function subscribe(s, name, cursor) {
        let refused;
        try {
            refused = await runChecks('wsSub', {
                sub_shape: true,
                id_free: true,
                subscriptions: () => subscriptions.size >= LIMITS.maxSubscriptions && `over ${LIMITS.maxSubscriptions} subscriptions on one connection`,
                ...streamChecks(ctx, req, name, cursor),
            });
        } catch (err) {
            log('authorize error', err);
            refused = { error: 'internal' };
        }
        if (closed) return;
        if (refused) return refuse(s, refused.error, refused.message);
        const sub = new Subscription(s, name, cursor, 'subscription', (message) => {
            sub.end();
            refuse(s, 'revoked', message);
        });
        subscriptions.set(s, sub);
        await sub.start((head, caughtUp) => out(`{"type":"subd","s":${s},"cursor":"${caughtUp}"}`));
    }
    function refuse(s, code, message) {
        out(JSON.stringify({ type: 'refused', s, code, message: message ?? ERRORS[code].message }));
    }

    async function onFrame(data, isBinary) {
        if (!open() || muted()) return;
        if (!isBinary && data.length === 0) return; // a beat: a sign of life (heard on arrival)
        let f, send;
        const refused = await runChecks('wsFrame', {
            size: true, // ws: maxPayload
            text: () => isBinary && 'binary frames are not part of the protocol',
            ...jsonChecks(
                ctx,
                'frame',
                () => data.toString('utf8'),
                (v) => (f = v),
            ),
            frame_shape: () =>
                (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.type !== 'string') && 'frame must be a JSON object with a string "type"',
            send_shape: () => {
                if (f.type !== 'send') return;
                send = parseSend(f);
                if (typeof send === 'string') return send;
                if (v2 && !isSubscriptionId(f.s)) return SUBSCRIPTION_ID_MESSAGE;
            },
        });
        if (refused) return fail(refused.error, refused.message, isBinary ? ERRORS.bad_frame.binaryClose : undefined);
        if (f.type === 'ping') return out('{"type":"pong"}');
        if (v2) return onV2Frame(f, send);
        if (f.type !== 'send') return; // pong and unknown types are ignored
        out(await deliverSend(ctx, stream, send, req));
    }

    /** A v2 socket's own frames: sub, unsub, and a send naming its subscription. */
    async function onV2Frame(f, send) {
        if (f.type === 'send') {
            const sub = subscriptions.get(f.s);
            if (!sub) return out(ackFrame(send.id, { error: 'not_subscribed' }, f.s));
            return out(await deliverSend(ctx, sub.session.stream, send, req, f.s));
        }
        if (f.type === 'unsub') return subscriptions.get(f.s)?.end();
        if (f.type !== 'sub') return; // pong and unknown types are ignored
        if (!Array.isArray(f.subs)) return fail('bad_frame', 'a sub frame needs a list "subs" of [id, stream, cursor]');
        for (const entry of f.subs) {
            const bad = subShape(entry) ?? (subscriptions.has(entry[0]) && `subscription ${entry[0]} is live on this connection`);
            if (bad) return fail('bad_frame', bad);
            await subscribe(...entry);
            if (closed) return;
        }
    }
}

const SUBSCRIPTION_ID_MESSAGE = `a subscription id is an integer in [${LIMITS.subscriptionIdMin}, ${LIMITS.subscriptionIdMax}]`;
const isSubscriptionId = (s) => Number.isInteger(s) && s >= LIMITS.subscriptionIdMin && s <= LIMITS.subscriptionIdMax;

/** The spec's sub_shape check of a sub entry `[id, stream, cursor|null]`: a message when it fails. */
function subShape(entry) {
    if (!Array.isArray(entry) || entry.length !== 3 || typeof entry[1] !== 'string' || (entry[2] !== null && typeof entry[2] !== 'string'))
        return 'a sub entry is [id, stream, cursor or null]';
    if (!isSubscriptionId(entry[0])) return SUBSCRIPTION_ID_MESSAGE;
}

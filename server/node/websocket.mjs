// websocket.mjs — the WebSocket side of one stream URL.
//
// Protocol decisions (checked by tests/conformance/):
//  - The upgrade is refused with an HTTP status only where no page can be told otherwise:
//    a foreign Origin (403, browsers do not apply CORS to WebSockets, so the server must).
//    Everything a client should learn — a bad cursor (`bad_request`), a refused `authorize`
//    (`forbidden`) — is an accepted upgrade, then `{"type":"error",…}` and close 1008 (a
//    browser cannot read the status of a refused upgrade; it can read an error frame). A
//    hook that throws: error `internal`, close 1011.
//  - Frames out: `reset` (only when the cursor is too old) and `hello` first, then the
//    retained messages after the cursor, then live ones, each exactly once in order. The
//    connection subscribes before its first read, so nothing appended meanwhile is lost;
//    every wake-up reads on from the last cursor sent, in batches of `batch`.
//  - A read that answers reset after hello (the stream's history vanished, or the socket
//    fell behind retention) closes with 1012: the client reconnects with its cursor and is
//    told `reset` properly. The store down (StoreUnavailable) also closes with 1012.
//  - Frames in: `ping` → `pong`; `send` → the app's onSend, then `ack` (or a rejecting ack
//    `{"type":"ack","id","error","message"}`, the socket stays open); ids must be
//    non-negative safe integers, a missing `data` is null. A binary, non-JSON or non-object
//    frame, or a send without a valid id, is `bad_frame` + close 1008. Unknown types and
//    `pong` are ignored. Frames over `maxBody` are closed by ws with 1009. Frames are
//    handled in order, after the connection started.
//  - Heartbeat: a protocol `ping` after `heartbeat` ms of silence out (announced in hello),
//    plus WebSocket control pings; a socket from which nothing (no pong, no frame) came for
//    3 heartbeats is terminated, so vanished clients do not leak. A changed heartbeat applies
//    to sockets opened after the change (hello announced the old one to the others).

import { Rejected, StoreUnavailable } from './errors.mjs';
import { parseCursor } from './cursor.mjs';
import { authorized, deliverSend, parseSend } from './http.mjs';

export const SUBPROTOCOL = 'lifeline.v1';

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

const STATUS_TEXT = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' };

/** Run one accepted connection on `stream` until it closes. */
export async function runConnection(ctx, ws, req, stream, cursorRaw) {
    const { store, intercept, log } = ctx;
    const heartbeat = ctx.config.heartbeat;
    const batch = () => ctx.config.batch;
    const muted = () => intercept.muted?.(ws) === true;
    const open = () => ws.readyState === ws.OPEN;
    let lastSent = Date.now();
    let lastRecv = Date.now();
    const timers = new Set();
    let unsub = () => {};
    let closed = false;
    let pumping = false; // one read at a time ...
    let again = false; // ... and another after it when woken meanwhile
    ws.on('error', () => {});
    ws.on('close', () => {
        closed = true;
        unsub();
        for (const t of timers) clearTimeout(t);
    });

    const out = (text) => {
        if (!open() || muted()) return;
        ws.send(text);
        lastSent = Date.now();
    };
    const fail = (code, message, closeCode = 1008) => {
        out(JSON.stringify({ type: 'error', code, message }));
        if (open()) ws.close(closeCode, code);
    };
    const broken = (err) => {
        if (err instanceof StoreUnavailable) {
            if (open()) ws.close(1012, 'store unavailable');
            return;
        }
        log('websocket error', err);
        fail('internal', 'internal server error', 1011);
    };

    // Frames in, in order, once the connection has started (they may arrive before).
    let started;
    let chain = new Promise((resolve) => (started = resolve));
    ws.on('message', (data, isBinary) => {
        if (muted()) return;
        lastRecv = Date.now();
        chain = chain.then(() => onFrame(data, isBinary)).catch(broken);
    });
    ws.on('pong', () => (lastRecv = Date.now()));

    // Start: checks, subscribe, first read, reset/hello, backlog.
    let last;
    try {
        if (!(await authorized(ctx, stream, 'subscribe', req))) return fail('forbidden', 'not allowed to read this stream');
        if (cursorRaw !== null && !parseCursor(cursorRaw)) return fail('bad_request', 'cursor must be <u64> or <u64>-<u64>');
        if (closed) return;
        unsub = store.subscribe(stream, () => pump());
        const r = await store.read(stream, cursorRaw ?? undefined, batch());
        const head = await store.head(stream);
        if (!open()) return;
        if (r.reset) out(JSON.stringify({ type: 'reset', cursor: r.cursor }));
        out(JSON.stringify({ ...intercept.hello, type: 'hello', cursor: head, heartbeat }));
        last = r.cursor;
        if (!r.reset) sendMessages(r.messages);
        if (r.reset || r.messages.length >= batch() || again) pump(); // `again`: woken during the first read
        started();
    } catch (err) {
        return broken(err);
    }

    // Read on from `last` whenever news may exist; one read at a time, again if woken meanwhile.
    async function pump() {
        if (closed) return;
        if (pumping || last === undefined) return void (again = true);
        pumping = true;
        try {
            do {
                again = false;
                const r = await store.read(stream, last, batch());
                if (closed) return;
                if (r.reset) {
                    if (open()) ws.close(1012, 'history lost');
                    return;
                }
                sendMessages(r.messages);
                last = r.cursor;
                if (r.messages.length >= batch()) again = true;
            } while (again && !closed);
        } catch (err) {
            broken(err);
        } finally {
            pumping = false;
        }
    }
    function sendMessages(messages) {
        for (const m of messages) out(`{"type":"msg","cursor":"${m.cursor}","data":${m.json}}`);
    }

    async function onFrame(data, isBinary) {
        if (!open() || muted()) return;
        if (isBinary) return fail('bad_frame', 'binary frames are not supported');
        let f;
        try {
            f = JSON.parse(data.toString('utf8'));
        } catch {
            return fail('bad_frame', 'frame is not valid JSON');
        }
        if (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.type !== 'string') {
            return fail('bad_frame', 'frame must be a JSON object with a string "type"');
        }
        if (f.type === 'ping') return out('{"type":"pong"}');
        if (f.type !== 'send') return; // pong and unknown types are ignored
        const send = parseSend(f);
        if (typeof send === 'string') return fail('bad_frame', send);
        const rejected = await deliverSend(ctx, stream, send.data, req);
        out(
            JSON.stringify(
                rejected instanceof Rejected ? { type: 'ack', id: send.id, error: rejected.code, message: rejected.reason } : { type: 'ack', id: send.id },
            ),
        );
    }

    // Heartbeat.
    const beat = () => {
        if (!open() || muted()) return;
        const now = Date.now();
        if (now - lastRecv > 3 * heartbeat) return ws.terminate();
        ws.ping();
        const idle = now - lastSent;
        if (idle >= heartbeat) out('{"type":"ping"}');
        schedule(idle >= heartbeat ? heartbeat : heartbeat - idle);
    };
    const schedule = (ms) => {
        const t = setTimeout(() => (timers.delete(t), beat()), Math.max(1, ms));
        timers.add(t);
    };
    schedule(heartbeat);
}

// raw.mjs — talk to a server below fetch and `ws`: raw HTTP bytes and raw WebSocket frames,
// for the hostile-input tests (hostile.test.mjs) that must send what no client library
// would (smuggling shapes, trickled headers, unmasked or reserved frames).
//
//   const c = rawConnect(url);               // node:net to the row's host:port
//   c.write('GET /live/test HTTP/1.1\r\n…'); // any bytes, any time
//   const r = await c.response(2000);         // {status, headers, body} of the first answer
//   const how = await c.ended(2000);          // 'closed' when the server closed, else 'open'
//
//   const ws = await rawWebSocket(url);       // a handshake done by hand, then frames
//   ws.write(frame({ opcode: 1, payload: '{"type":"ping"}', mask: false }));
//   const close = await ws.closeFrame(3000);  // {code} of the server's close frame, or null

import net from 'node:net';
import crypto from 'node:crypto';
import { liveUrlOf, SUBPROTOCOL } from '../lib/servers.mjs';

/** A raw TCP connection to the server of `url`, collecting everything it answers. */
export function rawConnect(url) {
    const u = new URL(url);
    const sock = net.connect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    let closedAt = null;
    const listeners = new Set();
    const notify = () => listeners.forEach((fn) => fn());
    sock.on('data', (d) => ((buf = Buffer.concat([buf, d])), notify()));
    sock.on('close', () => ((closedAt = Date.now()), notify()));
    sock.on('error', () => {});
    const waitFor = (test, ms) =>
        new Promise((resolve) => {
            const check = () => {
                const v = test();
                if (v === undefined) return false;
                listeners.delete(check);
                clearTimeout(timer);
                resolve(v);
                return true;
            };
            const timer = setTimeout(() => (listeners.delete(check), resolve(test(true))), ms);
            listeners.add(check);
            check();
        });
    const c = {
        sock,
        get bytes() {
            return buf;
        },
        write(data) {
            if (!sock.destroyed) sock.write(data);
        },
        /** The first HTTP response (head and a Content-Length body), or null within ms. */
        response(ms = 5000) {
            return waitFor((timedOut) => {
                const r = parseResponse(buf);
                if (r) return r;
                return timedOut || closedAt ? null : undefined;
            }, ms);
        },
        /** 'closed' once the server closed the connection, 'open' if it did not within ms. */
        ended(ms = 5000) {
            return waitFor((timedOut) => (closedAt ? 'closed' : timedOut ? 'open' : undefined), ms);
        },
        destroy() {
            sock.destroy();
        },
    };
    return c;
}

function parseResponse(buf) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) return null;
    const headers = {};
    for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] ?? 0);
    if (buf.length < end + 4 + len) return null;
    const text = buf.subarray(end + 4, end + 4 + len).toString('utf8');
    let body;
    try {
        body = text ? JSON.parse(text) : null;
    } catch {
        body = { unparsable: text };
    }
    return { status: Number(m[1]), headers, body, text, rest: buf.subarray(end + 4 + len) };
}

/** One WebSocket frame as a client (masked by default) or a broken client would send it. */
export function frame({ fin = true, rsv = 0, opcode = 1, payload = '', mask = true, length }) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    const n = length ?? data.length;
    const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
    const m = mask ? 0x80 : 0;
    if (n < 126) head.push(m | n);
    else if (n < 65536) head.push(m | 126, n >> 8, n & 0xff);
    else throw new RangeError('frame(): payloads over 64 KiB are not needed here');
    if (!mask) return Buffer.concat([Buffer.from(head), data]);
    const key = crypto.randomBytes(4);
    const masked = Buffer.from(data.map((b, i) => b ^ key[i % 4]));
    return Buffer.concat([Buffer.from(head), key, masked]);
}

/** Parse the server's (unmasked) frames from a buffer: [{opcode, payload}], and the rest. */
function parseFrames(buf) {
    const frames = [];
    let i = 0;
    for (;;) {
        if (buf.length < i + 2) break;
        const opcode = buf[i] & 0x0f;
        let len = buf[i + 1] & 0x7f;
        let p = i + 2;
        if (len === 126) {
            if (buf.length < p + 2) break;
            len = buf.readUInt16BE(p);
            p += 2;
        } else if (len === 127) {
            if (buf.length < p + 8) break;
            len = Number(buf.readBigUInt64BE(p));
            p += 8;
        }
        if (buf.length < p + len) break;
        frames.push({ opcode, payload: buf.subarray(p, p + len) });
        i = p + len;
    }
    return frames;
}

/**
 * A WebSocket on stream `test` opened by hand (subprotocol lifeline.v1), past its hello.
 * frames() are the server's frames so far; closeFrame(ms) resolves to {code} of the server's
 * close frame, or null when the connection ended (or ms passed) without one.
 */
export async function rawWebSocket(url, { stream, query = '' } = {}) {
    const u = new URL(liveUrlOf(url, stream));
    const c = rawConnect(url);
    const key = crypto.randomBytes(16).toString('base64');
    c.write(
        `GET ${u.pathname}${query} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`,
    );
    const head = await c.response(5000);
    if (!head || head.status !== 101) throw new Error(`raw upgrade: ${head ? head.status : 'no answer'}`);
    const start = c.bytes.indexOf('\r\n\r\n') + 4;
    const frames = () => parseFrames(c.bytes.subarray(start));
    const ws = {
        write: (b) => c.write(b),
        frames,
        texts: () =>
            frames()
                .filter((f) => f.opcode === 1)
                .map((f) => JSON.parse(f.payload.toString('utf8'))),
        async closeFrame(ms = 5000) {
            const end = Date.now() + ms;
            while (Date.now() < end) {
                const f = frames().find((x) => x.opcode === 8);
                if (f) return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null };
                if ((await c.ended(20)) === 'closed') {
                    const g = frames().find((x) => x.opcode === 8);
                    return g ? { code: g.payload.length >= 2 ? g.payload.readUInt16BE(0) : null } : null;
                }
            }
            return null;
        },
        destroy: () => c.destroy(),
        conn: c,
    };
    const t0 = Date.now();
    while (!ws.texts().some((f) => f.type === 'hello')) {
        if (Date.now() - t0 > 5000) throw new Error('raw upgrade: no hello');
        await c.ended(20);
    }
    return ws;
}

// proxy.mjs — a loopback TCP proxy that breaks connections on purpose (node built-ins only).
//
//   const proxy = await createProxy({ target: 'http://127.0.0.1:8080', listenPort: 0 });
//   proxy.url            'http://127.0.0.1:<port>' — point the client here
//   proxy.setMode(mode, opts)
//   proxy.stats() / proxy.resetStats()
//   await proxy.close()  closes the listener and destroys every connection
//
// Theory of operation. Each client connection is read up to the end of its request head,
// which says what it is: a WebSocket upgrade (`Upgrade: websocket` + `Connection: upgrade`)
// or a plain HTTP request. A plain request is forwarded with `Connection: close` forced, so
// every plain connection carries exactly one request and one response — keep-alive clients
// simply open a new connection for the next one, and the proxy never has to find request
// boundaries inside a stream. The server's answer is read up to the end of its head too,
// which tells when a WebSocket became open (101).
//
// The mode is taken when a connection arrives and stays with it, except that `drop`
// destroys every open connection and `stall` freezes every WebSocket already open.
//
//   pass       forward everything.
//   refuse     an upgrade is answered `403 Forbidden` and closed; plain HTTP passes.
//   blackhole  an upgrade is accepted and never answered nor closed (until the client gives
//              up or the proxy closes); plain HTTP passes.
//   stall      the upgrade and the server's 101 head are forwarded, then nothing more in
//              either direction, and nothing is closed towards the client (bytes that arrive
//              are counted and thrown away). WebSockets open when the mode is set freeze too.
//   flap       upgrades pass; each WebSocket is cut `opts.ms` (default 300) after its 101.
//   reset      a plain HTTP connection is reset (TCP RST) once its request head arrived;
//              upgrades pass.
//   latency    every chunk, both directions, is delayed `opts.ms` (default 200), in order.
//   drop       the server is gone: new connections are reset at once, open ones are reset.
//   corrupt    server→client payloads are damaged, framing kept intact:
//              - WebSocket: in every unmasked text frame (opcode 1) from the server, the
//                first `{` byte of the payload becomes `x` (so JSON no longer parses; the
//                frame length is unchanged);
//              - plain HTTP: in a 200 response, the first byte of the body becomes `x`
//                (for `Transfer-Encoding: chunked`, the first data byte of the first chunk),
//                so `Content-Length` and chunking still match.
//
// stats(): { connections, ws_upgrades, ws_open, http_requests: {GET: n, …}, http_total,
//   bytes: { http: {up, down}, ws: {up, down} }, reads: {same shape}, refused, blackholed,
//   reset, dropped, flapped, stalled, corrupted } — up is client→proxy, down is
//   server→proxy, counted as received (so a stalled connection still shows what arrived).
//   `reads` counts the chunks read after the head: for small, sparse writes (an idle
//   connection's pings or beats) one read is one TCP segment, which estimates the TCP/IP
//   bytes on the wire.

import net from 'node:net';

const MAX_HEAD = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
export const MODES = ['pass', 'refuse', 'blackhole', 'stall', 'flap', 'reset', 'latency', 'drop', 'corrupt'];

function emptyStats() {
    return {
        connections: 0,
        ws_upgrades: 0,
        ws_open: 0,
        http_requests: {},
        http_total: 0,
        bytes: { http: { up: 0, down: 0 }, ws: { up: 0, down: 0 } },
        reads: { http: { up: 0, down: 0 }, ws: { up: 0, down: 0 } },
        refused: 0,
        blackholed: 0,
        reset: 0,
        dropped: 0,
        flapped: 0,
        stalled: 0,
        corrupted: 0,
    };
}

/** Parse a request or response head (bytes up to, not including, the blank line). */
function parseHead(buf) {
    const lines = buf.toString('latin1').split('\r\n');
    const first = lines.shift() ?? '';
    const headers = [];
    for (const line of lines) {
        const i = line.indexOf(':');
        if (i > 0) headers.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
    }
    const get = (name) => {
        const h = headers.find(([k]) => k.toLowerCase() === name);
        return h ? h[1] : undefined;
    };
    return { first, headers, get };
}

function isUpgrade(head) {
    return (head.get('upgrade') ?? '').toLowerCase() === 'websocket' && (head.get('connection') ?? '').toLowerCase().includes('upgrade');
}

/** A plain request head with `Connection: close` forced (Keep-Alive dropped). */
function forceClose(head) {
    const kept = head.headers.filter(([k]) => !['connection', 'keep-alive', 'proxy-connection'].includes(k.toLowerCase()));
    const lines = [head.first, ...kept.map(([k, v]) => `${k}: ${v}`), 'Connection: close', '', ''];
    return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** Reset (TCP RST) a socket; one whose graceful close already began is just destroyed:
 *  on Node 20, end() then resetAndDestroy() leaves a handle that spins at teardown. */
function rst(sock) {
    if (!sock || sock.destroyed) return;
    try {
        if (typeof sock.resetAndDestroy === 'function' && sock._handle && !sock.writableEnded) sock.resetAndDestroy();
        else sock.destroy();
    } catch {
        sock.destroy();
    }
}

/**
 * Damages server→client WebSocket frames: the first `{` of each unmasked text frame's
 * payload becomes `x`. Fed chunks in order, returns the bytes to forward (complete frames
 * only; a partial frame waits for the rest).
 */
class FrameCorrupter {
    constructor(onCorrupt) {
        this.buf = Buffer.alloc(0);
        this.onCorrupt = onCorrupt;
    }

    push(chunk) {
        this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
        const out = [];
        for (;;) {
            const b = this.buf;
            if (b.length < 2) break;
            const opcode = b[0] & 0x0f;
            const masked = (b[1] & 0x80) !== 0;
            let len = b[1] & 0x7f;
            let off = 2;
            if (len === 126) {
                if (b.length < 4) break;
                len = b.readUInt16BE(2);
                off = 4;
            } else if (len === 127) {
                if (b.length < 10) break;
                len = Number(b.readBigUInt64BE(2));
                off = 10;
            }
            if (masked) off += 4;
            if (b.length < off + len) break;
            const frame = Buffer.from(b.subarray(0, off + len)); // a copy we may modify
            if (opcode === 1 && !masked) {
                const i = frame.indexOf(0x7b /* { */, off);
                if (i !== -1 && i < off + len) {
                    frame[i] = 0x78; /* x */
                    this.onCorrupt();
                }
            }
            out.push(frame);
            this.buf = b.subarray(off + len);
        }
        return out.length ? Buffer.concat(out) : null;
    }
}

/** Damages the first body byte of a 200 response (see the header comment). */
class BodyCorrupter {
    constructor(status, chunked, onCorrupt) {
        this.active = status === 200;
        this.chunked = chunked;
        this.sizeLine = Buffer.alloc(0); // chunked: bytes of the first size line seen so far
        this.onCorrupt = onCorrupt;
    }

    push(chunk) {
        if (!this.active || chunk.length === 0) return chunk;
        let at = 0;
        if (this.chunked) {
            // skip the first chunk-size line (may span chunks)
            const seen = this.sizeLine.length;
            const joined = Buffer.concat([this.sizeLine, chunk]);
            const nl = joined.indexOf('\r\n');
            if (nl === -1) {
                this.sizeLine = joined;
                return chunk;
            }
            if (parseInt(joined.subarray(0, nl).toString('latin1'), 16) === 0) {
                this.active = false; // empty body
                return chunk;
            }
            at = nl + 2 - seen;
            this.sizeLine = Buffer.alloc(0);
            if (at >= chunk.length) {
                this.chunked = false; // the data starts with the next chunk
                return chunk;
            }
        }
        const out = Buffer.from(chunk);
        out[at] = 0x78; /* x */
        this.active = false;
        this.onCorrupt();
        return out;
    }
}

/**
 * Start a fault proxy in front of `target`.
 * @param {{target: string, listenPort?: number, host?: string}} options
 * @returns {Promise<{url: string, port: number, setMode: Function, mode: Function,
 *   stats: Function, resetStats: Function, close: Function}>}
 */
export async function createProxy({ target, listenPort = 0, host = '127.0.0.1' }) {
    const t = new URL(target);
    const targetHost = t.hostname.replace(/^\[|\]$/g, '');
    const targetPort = Number(t.port || 80);

    let mode = 'pass';
    let modeOpts = {};
    let stats = emptyStats();
    const conns = new Set();

    const server = net.createServer({ allowHalfOpen: true });
    server.on('connection', (client) => onConnection(client));
    server.on('error', () => {});

    function onConnection(client) {
        stats.connections += 1;
        client.setNoDelay(true);
        client.on('error', () => {});
        if (mode === 'drop') {
            stats.dropped += 1;
            rst(client);
            return;
        }
        const conn = {
            client,
            upstream: null,
            kind: null, // 'http' | 'ws', once the request head arrived
            mode,
            opts: { ...modeOpts },
            wsOpen: false,
            frozen: false,
            clientEnded: false,
            timers: new Set(),
            destroy(reset = false) {
                for (const tm of this.timers) clearTimeout(tm);
                this.timers.clear();
                if (reset) {
                    rst(this.client);
                    rst(this.upstream);
                } else {
                    this.client.destroy();
                    this.upstream?.destroy();
                }
            },
        };
        conns.add(conn);
        client.on('close', () => {
            // the client gave up: nothing to keep for it (also ends a black hole or a stall)
            conns.delete(conn);
            if (conn.wsOpen) stats.ws_open -= 1;
            conn.wsOpen = false;
            conn.destroy();
        });

        let head = Buffer.alloc(0);
        const onHeadData = (chunk) => {
            head = head.length ? Buffer.concat([head, chunk]) : chunk;
            const end = head.indexOf(HEAD_END);
            if (end === -1) {
                if (head.length > MAX_HEAD) conn.destroy(true);
                return;
            }
            client.off('data', onHeadData);
            const req = parseHead(head.subarray(0, end));
            const rest = head.subarray(end + 4);
            conn.kind = isUpgrade(req) ? 'ws' : 'http';
            stats.bytes[conn.kind].up += head.length;
            onRequest(conn, req, head.subarray(0, end + 4), rest);
        };
        client.on('data', onHeadData);
    }

    function onRequest(conn, req, rawHead, rest) {
        const { client } = conn;
        const kind = conn.kind;
        const m = conn.mode;
        if (kind === 'ws') {
            stats.ws_upgrades += 1;
            if (m === 'refuse') {
                stats.refused += 1;
                client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
                return;
            }
            if (m === 'blackhole') {
                stats.blackholed += 1;
                client.on('data', (c) => {
                    stats.bytes.ws.up += c.length;
                });
                client.on('end', () => conn.destroy()); // the client gave up
                return;
            }
        } else {
            const method = req.first.split(' ')[0] || '?';
            stats.http_requests[method] = (stats.http_requests[method] ?? 0) + 1;
            stats.http_total += 1;
            if (m === 'reset') {
                stats.reset += 1;
                conn.destroy(true);
                return;
            }
        }

        const upstream = net.connect({ host: targetHost, port: targetPort });
        conn.upstream = upstream;
        upstream.setNoDelay(true);
        upstream.on('error', () => {});
        upstream.on('close', (hadError) => {
            // a stalled connection closes nothing towards the client
            if (conn.frozen) return;
            const tm = setTimeout(() => (hadError ? rst(client) : client.end()), delayOf(conn));
            conn.timers.add(tm);
        });

        const firstUp = kind === 'http' ? Buffer.concat([forceClose(req), rest]) : Buffer.concat([rawHead, rest]);
        send(conn, upstream, firstUp);
        client.on('data', (c) => {
            stats.bytes[kind].up += c.length;
            stats.reads[kind].up += 1;
            send(conn, upstream, c);
        });
        client.on('end', () => {
            conn.clientEnded = true;
            if (conn.frozen) {
                conn.destroy(); // the client gave up on a stalled connection
                return;
            }
            const tm = setTimeout(() => upstream.end(), delayOf(conn));
            conn.timers.add(tm);
        });

        // server → client: read the response head first
        let rhead = Buffer.alloc(0);
        let afterHead = null; // transforms body bytes once the head is through
        upstream.on('data', (c) => {
            stats.bytes[kind].down += c.length;
            stats.reads[kind].down += 1;
            if (afterHead) {
                const out = afterHead(c);
                if (out) send(conn, client, out);
                return;
            }
            rhead = rhead.length ? Buffer.concat([rhead, c]) : c;
            const end = rhead.indexOf(HEAD_END);
            if (end === -1) {
                if (rhead.length > MAX_HEAD) conn.destroy(true);
                return;
            }
            const res = parseHead(rhead.subarray(0, end));
            const status = Number(res.first.split(' ')[1]);
            const headBytes = rhead.subarray(0, end + 4);
            const body = rhead.subarray(end + 4);
            rhead = null;
            afterHead = makeDownTransform(conn, kind, status, res);
            send(conn, client, headBytes);
            if (kind === 'ws' && status === 101) onWsOpen(conn);
            if (body.length) {
                const out = afterHead(body);
                if (out) send(conn, client, out);
            }
        });
    }

    function makeDownTransform(conn, kind, status, res) {
        if (conn.mode !== 'corrupt') return (c) => c;
        const onCorrupt = () => {
            stats.corrupted += 1;
        };
        if (kind === 'ws') {
            if (status !== 101) return (c) => c;
            const fc = new FrameCorrupter(onCorrupt);
            return (c) => fc.push(c);
        }
        const chunked = (res.get('transfer-encoding') ?? '').toLowerCase().includes('chunked');
        const bc = new BodyCorrupter(status, chunked, onCorrupt);
        return (c) => bc.push(c);
    }

    function onWsOpen(conn) {
        conn.wsOpen = true;
        stats.ws_open += 1;
        if (conn.mode === 'stall') freeze(conn);
        if (conn.mode === 'flap') {
            const ms = conn.opts.ms ?? 300;
            const tm = setTimeout(() => {
                stats.flapped += 1;
                conn.destroy(true);
            }, ms);
            conn.timers.add(tm);
        }
    }

    function freeze(conn) {
        if (conn.frozen || conn.clientEnded) return; // a closing connection just closes
        conn.frozen = true;
        stats.stalled += 1;
    }

    function delayOf(conn) {
        return conn.mode === 'latency' ? Math.max(0, conn.opts.ms ?? 200) : 0;
    }

    /** Forward bytes unless frozen; with latency, later and in order. */
    function send(conn, dst, bytes) {
        if (conn.frozen || dst.destroyed) return;
        const d = delayOf(conn);
        if (d === 0) {
            dst.write(bytes);
            return;
        }
        const tm = setTimeout(() => {
            conn.timers.delete(tm);
            if (!conn.frozen && !dst.destroyed) dst.write(bytes);
        }, d);
        conn.timers.add(tm);
    }

    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(listenPort, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const port = server.address().port;
    const shownHost = host.includes(':') ? `[${host}]` : host;

    return {
        url: `http://${shownHost}:${port}`,
        port,
        /** Switch the fault mode (see the header comment); opts.ms for flap and latency. */
        setMode(next, opts = {}) {
            if (!MODES.includes(next)) throw new RangeError(`unknown proxy mode ${next}`);
            mode = next;
            modeOpts = { ...opts };
            if (next === 'drop') {
                for (const conn of [...conns]) {
                    stats.dropped += 1;
                    conn.destroy(true);
                }
            } else if (next === 'stall') {
                for (const conn of conns) if (conn.wsOpen) freeze(conn);
            }
        },
        mode() {
            return mode;
        },
        stats() {
            return structuredClone(stats);
        },
        resetStats() {
            const open = stats.ws_open;
            stats = emptyStats();
            stats.ws_open = open;
        },
        /** Close the listener and destroy every connection; resolves when closed. */
        close() {
            for (const conn of [...conns]) conn.destroy();
            conns.clear();
            return new Promise((resolve) => server.close(() => resolve()));
        },
    };
}

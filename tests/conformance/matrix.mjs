// matrix.mjs — the servers the conformance suite runs against, one row per server kind and
// run mode, and the request helpers every conformance file shares.
//
//   forEachServer('wire protocol v1', (t) => { it('…', async () => poll(t.url, …)) });
//
// A row is {label, kind, args, ws, setup?, needs?}: `args` go to startServer, `ws` says
// whether the mode can serve WebSockets at all (Werkzeug's dev server cannot), `setup` starts
// what the row needs beside the server (a Redis) and returns {args, stop}. Every row's
// /admin/restart loses the history (memory: a new epoch; Redis: its keys deleted).
// LIFELINE_SERVERS=node,flask (labels or kinds) restricts the run; LIFELINE_ROWS=node,flask
// (exact labels) picks rows (`make check`: the two memory-store rows). A multi-worker row cannot
// pass the suite: faults, config and stats are per process (tests/cluster/ covers several).

import { describe, it, before, after, beforeEach } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { startServer, serverAvailable, admin, connectWs, fetchT, liveUrlOf, SUBPROTOCOL } from '../lib/servers.mjs';
import { startRedis, redisAvailable } from '../lib/services.mjs';
import { DEFAULTS as SPEC_DEFAULTS, HEADERS } from '../../server/node/protocol.mjs';

/** Each describe of a Redis row starts its own redis-server (so: one per test file). */
async function withRedis() {
    const r = await startRedis();
    return { args: ['--redis', r.url], stop: () => r.stop(), redis: r };
}

export const ROWS = [
    { label: 'node', kind: 'node', args: [], ws: true },
    { label: 'node --redis', kind: 'node', args: [], ws: true, setup: withRedis, needs: redisAvailable },
    { label: 'flask', kind: 'flask', args: [], ws: true },
    { label: 'flask --gunicorn 1', kind: 'flask', args: ['--gunicorn', '1'], ws: true },
    { label: 'flask --flask-run', kind: 'flask', args: ['--flask-run'], ws: false },
    { label: 'flask --redis', kind: 'flask', args: [], ws: true, setup: withRedis, needs: redisAvailable },
    { label: 'flask --gunicorn 1 --redis', kind: 'flask', args: ['--gunicorn', '1'], ws: true, setup: withRedis, needs: redisAvailable },
];

/** The admin config every test begins with: the spec's option defaults, no shedding, sends on. */
export const DEFAULTS = {
    retention: SPEC_DEFAULTS.retention,
    heartbeat: SPEC_DEFAULTS.heartbeat,
    longPollMax: SPEC_DEFAULTS.longPollMax,
    interval: SPEC_DEFAULTS.interval,
    batch: SPEC_DEFAULTS.batch,
    shed: null,
    sends: true,
};
export const EXPOSED = HEADERS.expose.toLowerCase().split(', ');
export const CURSOR_RE = /^\d+(-\d+)?$/;

const listOf = (value) =>
    (value ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean);
const SELECTED = listOf(process.env.LIFELINE_SERVERS);
const ROW_LABELS = listOf(process.env.LIFELINE_ROWS);

function skipReason(row) {
    if (SELECTED.length && !SELECTED.includes(row.label) && !SELECTED.includes(row.kind))
        return `not selected (LIFELINE_SERVERS=${process.env.LIFELINE_SERVERS})`;
    if (ROW_LABELS.length && !ROW_LABELS.includes(row.label)) return `not selected (LIFELINE_ROWS=${process.env.LIFELINE_ROWS})`;
    if (!serverAvailable(row.kind)) return `${row.kind} server not present`;
    if (row.needs && !row.needs()) return `${row.label}: redis-server not installed`;
    return false;
}

/**
 * One describe per row: the server is started once (with `extraArgs`), each test begins
 * with no fault, the default config and a restarted server. `body(t)` gets
 * {row, url, srv, check, wsTest, head} — `check` is `it`, `wsTest` skips where the row
 * has no WebSocket.
 */
export function forEachServer(title, body, { extraArgs = [], rows = ROWS } = {}) {
    for (const row of rows) {
        describe(`${title}: ${row.label}`, { skip: skipReason(row) }, () => {
            const t = { row, url: null, srv: null, sideArgs: [] };
            let side = null;
            before(async () => {
                side = row.setup ? await row.setup() : null;
                t.sideArgs = side?.args ?? [];
                t.side = side;
                t.srv = await startServer(row.kind, [...row.args, ...t.sideArgs, ...extraArgs]);
                t.url = t.srv.url;
                if (row.ws) {
                    const c = await connectWs(t.url, { timeoutMs: 5000 });
                    assert.equal((await c.next(5000)).type, 'hello', `${row.label} serves WebSockets`);
                    await c.close();
                }
            });
            after(async () => {
                await t.srv?.stop();
                await side?.stop();
            });
            beforeEach(async () => {
                await admin(t.url, '/admin/fault', { mode: 'none' });
                await admin(t.url, '/admin/config', DEFAULTS);
                await admin(t.url, '/admin/restart', {});
            });
            t.check = (name, fn) => it(name, fn);
            t.wsTest = (name, fn) => it(name, { skip: row.ws ? false : `${row.label} has no WebSocket` }, fn);
            t.head = async (stream) => (await poll(t.url, {}, {}, 10000, stream)).body.cursor;
            body(t);
        });
    }
}

/** GET a stream (default `test`) with query params; the body parsed when JSON. */
export async function poll(url, params = {}, init = {}, timeoutMs = 10000, stream) {
    const u = new URL(liveUrlOf(url, stream));
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const t0 = Date.now();
    const res = await fetchT(u.href, init, timeoutMs);
    return { ...(await bodyOf(res)), ms: Date.now() - t0 };
}

/** POST a send (an object is stringified) to a stream (default `test`). */
export function post(url, body, { contentType = 'text/plain;charset=UTF-8', method = 'POST', headers = {}, stream } = {}) {
    return fetchT(liveUrlOf(url, stream), {
        method,
        headers: { ...(contentType ? { 'Content-Type': contentType } : {}), ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
    });
}

export async function bodyOf(res) {
    const text = await res.text();
    let body = null;
    if (text) {
        try {
            body = JSON.parse(text);
        } catch {
            body = { unparsable: text };
        }
    }
    return { status: res.status, headers: res.headers, body, text };
}

export const jsonOf = bodyOf;

export function assertJsonError(r, status, code) {
    assert.equal(r.status, status, r.text);
    assert.ok(r.body && typeof r.body.error === 'string' && r.body.error.length, `JSON error body: ${r.text}`);
    assert.equal(typeof r.body.message, 'string');
    if (code !== undefined) assert.equal(r.body.error, code, r.text);
}

/**
 * A raw upgrade request (subprotocol lifeline.v1) on `path`; resolves to {status, text,
 * headers (lower-case names), body (parsed JSON or null)} once the head and a
 * Content-Length body came back (status 0 after 5 s of nothing).
 */
export function rawUpgrade(url, path, headers = {}) {
    return new Promise((resolve, reject) => {
        const u = new URL(url);
        const sock = net.connect(u.port, u.hostname);
        let buf = '';
        const done = (status) => {
            clearTimeout(t);
            sock.destroy();
            const [head, rest = ''] = buf.split('\r\n\r\n');
            const h = Object.fromEntries(
                head
                    .split('\r\n')
                    .slice(1)
                    .map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
            );
            let body = null;
            try {
                body = rest ? JSON.parse(rest) : null;
            } catch {}
            resolve({ status, text: buf, headers: h, body });
        };
        const t = setTimeout(() => done(0), 5000);
        sock.on('data', (d) => {
            buf += d;
            const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
            const end = buf.indexOf('\r\n\r\n');
            if (!m || end < 0) return;
            const len = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
            if (m[1] === '101' || !len || Buffer.byteLength(buf.slice(end + 4)) >= Number(len[1])) done(Number(m[1]));
        });
        sock.on('error', reject);
        const extra = Object.entries(headers)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join('');
        sock.write(
            `GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n${extra}\r\n`,
        );
    });
}

// helpers.mjs — shared plumbing for the integration suites (not a test file itself).
//
// A Lifeline in Node (the dist build + the `ws` package) wired to a recorder, fake
// document/window objects for visibility and online/offline, bounded waits, and a few
// server/proxy conveniences. Every wait here is bounded; every thing started is closed by
// the caller (use `cleanup` to collect closers).
import WebSocket from 'ws';
import { Lifeline } from '../../dist/lifeline.mjs';
import { createProxy } from '../proxy.mjs';
import { admin, fetchT } from '../lib/servers.mjs';

export { Lifeline, WebSocket, createProxy };

/** Small timings so every fault is found, and recovered from, in a second or two. */
export const FAST = {
    wsTimeout: 1000,
    probeMin: 300,
    probeMax: 1000,
    pingIdle: 500,
    pongTimeoutMin: 300,
    pongTimeoutMax: 1000,
    flapWindow: 5000,
    backoffBase: 100,
    backoffMax: 1000,
    raceDelay: 100,
    minInterval: 100,
    maxInterval: 1000,
    requestTimeout: 2000,
    longPollWait: 2000,
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A fresh in-memory Storage, so no test inherits another's remembered fallback. */
export function memoryStorage() {
    const m = new Map();
    return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, String(v)), removeItem: (k) => void m.delete(k) };
}

/** A fake page: document (visibilityState + visibilitychange) and window (navigator.onLine + online/offline). */
export function fakePage({ hidden = false, online = true } = {}) {
    const document = new EventTarget();
    let vis = hidden ? 'hidden' : 'visible';
    Object.defineProperty(document, 'visibilityState', { get: () => vis });
    Object.defineProperty(document, 'hidden', { get: () => vis === 'hidden' });
    const window = new EventTarget();
    window.navigator = { onLine: online };
    return {
        document,
        window,
        get hidden() {
            return vis === 'hidden';
        },
        get online() {
            return window.navigator.onLine;
        },
        hide() {
            if (vis === 'hidden') return;
            vis = 'hidden';
            document.dispatchEvent(new Event('visibilitychange'));
        },
        show() {
            if (vis === 'visible') return;
            vis = 'visible';
            document.dispatchEvent(new Event('visibilitychange'));
        },
        goOffline() {
            if (!window.navigator.onLine) return;
            window.navigator.onLine = false;
            window.dispatchEvent(new Event('offline'));
        },
        goOnline() {
            if (window.navigator.onLine) return;
            window.navigator.onLine = true;
            window.dispatchEvent(new Event('online'));
        },
    };
}

/**
 * A Lifeline with a recorder attached.
 *   rec.messages [{data, cursor}], rec.states [{state, transport, reason, t}],
 *   rec.errors [{code, reason, message, t}], rec.resets [{from, to, at: messages.length}]
 */
export function client(url, options = {}) {
    const t0 = Date.now();
    const l = new Lifeline(url, { WebSocket, storage: memoryStorage(), seed: 12345, ...options });
    const rec = { messages: [], states: [], errors: [], resets: [], log: [], t0, lastStateAt: t0 };
    l.addEventListener('message', (e) => rec.messages.push({ data: e.data, cursor: e.cursor, transport: l.transport, state: l.state, t: Date.now() - t0 }));
    l.addEventListener('statechange', (e) => {
        const s = { state: e.state, transport: e.transport, reason: e.reason, t: Date.now() - t0 };
        rec.states.push(s);
        rec.lastStateAt = Date.now();
        rec.log.push(`${s.t} state ${s.state}/${s.transport} ${s.reason}`);
    });
    l.addEventListener('error', (e) => {
        const x = { code: e.code, reason: e.reason, message: e.message, t: Date.now() - t0 };
        rec.errors.push(x);
        rec.log.push(`${x.t} error ${x.code} ${x.reason} ${x.message}`);
    });
    l.addEventListener('reset', (e) => {
        rec.resets.push({ from: e.from, to: e.to, at: rec.messages.length });
        rec.log.push(`${Date.now() - t0} reset ${e.from} -> ${e.to}`);
    });
    rec.reasons = () => rec.states.map((s) => s.reason);
    rec.dump = () => rec.log.join('\n');
    return { l, rec };
}

/** Wait for fn() (or what it resolves to) truthy, bounded. `what` may be a function for a late-built message. */
export async function waitFor(fn, ms, what = 'condition') {
    const end = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
        await sleep(20);
    }
}

/** Bounded promise. */
export function within(p, ms, what = 'promise') {
    let t;
    return Promise.race([
        p,
        new Promise((_, no) => {
            t = setTimeout(() => no(new Error(`${what}: not settled within ${ms} ms`)), ms);
        }),
    ]).finally(() => clearTimeout(t));
}

/** Parse a cursor into [hi, lo] BigInts. */
export function parseCursor(c) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(String(c));
    if (!m) throw new Error(`not a cursor: ${c}`);
    return [BigInt(m[1]), BigInt(m[2] ?? 0)];
}
export function cmpCursor(a, b) {
    const x = parseCursor(a),
        y = parseCursor(b);
    return x[0] !== y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] !== y[1] ? (x[1] < y[1] ? -1 : 1) : 0;
}

/** Every delivered cursor strictly greater than the one before (no repeat, no going back),
 *  except across a reset. Returns a description of the first violation, or null. */
export function orderViolation(rec) {
    let prev = null,
        r = 0;
    for (let i = 0; i < rec.messages.length; i++) {
        while (r < rec.resets.length && rec.resets[r].at <= i) ((prev = null), r++);
        const c = rec.messages[i].cursor;
        if (prev !== null && cmpCursor(c, prev) <= 0) return `message #${i} cursor ${c} after ${prev}`;
        prev = c;
    }
    return null;
}

/** The server's current cursor (a poll without a cursor). */
export async function head(serverUrl) {
    const r = await fetchT(`${serverUrl}/live/test`);
    const j = await r.json();
    if (r.status !== 200 || typeof j.cursor !== 'string') throw new Error(`head: ${r.status} ${JSON.stringify(j)}`);
    return j.cursor;
}

/** Count of Timeout handles the process holds now. */
export function timeouts() {
    return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

export async function serverStats(url) {
    return admin(url, '/admin/stats');
}

export { admin, fetchT };

// lifeline.mjs — the public API (DESIGN §4): options in, events out. Every decision is
// the core's; this file wires the adapters to one driver and turns actions into events.
import {
    ACT_ACK, ACT_DELIVER, ACT_ERROR, ACT_FETCH, ACT_FETCH_CANCEL, ACT_FORGET_FALLBACK, ACT_REMEMBER_FALLBACK,
    ACT_RESET, ACT_SEND_FAILED, ACT_STATE, ACT_WS_CLOSE, ACT_WS_OPEN, ACT_WS_SEND,
    CFG_max_message_bytes, CFG_resource_mode, CFG_start_on_polling, CFG_websocket, CONFIG,
    DEF_max_message_bytes, ERRORS, REASONS, STATES, STATE_RECONNECTING, TRANSPORTS,
} from './constants.js';
import { runtime, bytes } from './loader.mjs';
import { query } from './protocol.mjs';
import { driver, later } from './driver.mjs';
import { websocket } from './websocket.mjs';
import { http } from './http.mjs';
import { page } from './page.mjs';
import { storage } from './storage.mjs';

const OPTIONS = 'cursor WebSocket fetch now setTimeout clearTimeout document window storage seed wasm json conditionalHeaders'.split(' ');
const NAMES = CONFIG.map((n) => n.replace(/_./g, (m) => m[1].toUpperCase())); // race_delay -> raceDelay
const fail = (m) => {
    throw new TypeError('Lifeline: ' + m);
};
/** A send's rejection: code is the core's error name; a server's refusal also carries the
 *  HTTP status (a POST) or the server's own code and message (a rejecting ack). */
const error = (code, status = 0, serverCode = '', serverMessage = '') =>
    Object.assign(new Error('Lifeline: send failed: ' + code + (serverCode ? ` (${serverCode}${serverMessage ? ': ' + serverMessage : ''})` : '')), {
        code,
        status,
        serverCode,
        serverMessage,
    });

export class Lifeline extends EventTarget {
    #rt;
    #core;
    #feed;
    #ws;
    #http;
    #page;
    #store;
    #closed;
    #json;
    #resource;
    #q = [];
    #held = [];
    #pending;
    #sends = new Map(); // send id -> [JSON text, resolve, reject]
    #v = { state: 'idle', transport: 'none', cursor: null };
    #stats = { requests: 0, wsOpened: 0, bytesIn: 0, bytesOut: 0, messages: 0, reconnects: 0 };

    /** Plain resource mode: polls any URL that sends ETag or Last-Modified. */
    static watch(url, options) {
        return new Lifeline(url, { ...options, resourceMode: 1 });
    }

    constructor(url, o = {}) {
        super();
        const g = globalThis, cfg = [], cursor = o.cursor, seed = o.seed ?? Math.random() * 2 ** 32;
        const opt = (i) => cfg.findLast((c) => c[0] == i)?.[1];
        const feed = (...a) => this.#feed(...a);
        for (const k in o) OPTIONS.includes(k) || NAMES.includes(k) || fail(`unknown option ${k}`);
        NAMES.forEach((n, i) => {
            let v = o[n];
            if (v == null) return;
            if (v === !!v) v = +v;
            Number.isInteger(v) || fail(`option ${n} must be an integer: ${v}`); // the core checks the range
            cfg.push([i, v]);
        });
        try {
            url = new URL(url, g.location?.href);
        } catch {
            fail('bad URL ' + url);
        }
        /^(http|ws)s?:$/.test(url.protocol) || fail('URL not http(s) or ws(s): ' + url);
        url.hash = '';
        url = url.href.replace(/^ws/, 'http');
        const resource = opt(CFG_resource_mode), WS = o.WebSocket || g.WebSocket;
        resource || opt(CFG_websocket) == 0 || WS || fail('no WebSocket: pass options.WebSocket (the ws package in Node) or websocket: false');
        cursor == null || /^\d+(-\d+)?$/.test(cursor) || fail('bad cursor ' + cursor);
        // resource mode revalidates: the browser's HTTP cache (cache: 'no-cache') or, where
        // fetch has none (Node), If-None-Match/If-Modified-Since sent here; the core
        // compares validators either way
        const conditional = resource && (o.conditionalHeaders ?? !!g.process?.versions?.node);
        this.#store = storage(o.storage, new URL(url));
        if (this.#store.live()) cfg.push([CFG_start_on_polling, 1]);
        this.#resource = resource;
        this.#json = resource && o.json;
        this.#ws = websocket(WS, url.replace(/^http/, 'ws'), feed, this.#stats);
        this.#http = http(
            {
                fetch: o.fetch || ((...a) => fetch(...a)),
                url,
                max: opt(CFG_max_message_bytes) ?? DEF_max_message_bytes,
                cache: resource && !conditional,
                conditional,
                body: (id) => this.#sends.get(id)?.[0],
                stats: this.#stats,
            },
            feed,
        );
        let sync = 1;
        const start = (rt) =>
            later(() => {
                if (this.#closed) return;
                const x = rt.x, core = rt.alloc(), pg = page(o.document || g.document, o.window || g.window, feed);
                const d = (this.#feed = driver(rt, core, o.now || (() => performance.now()), o.setTimeout || setTimeout, o.clearTimeout || clearTimeout, (a, m) => this.#act(a, m)));
                const stop = (m) => {
                    pg.stop();
                    d.stop();
                    rt.free(core);
                    if (sync) fail(m);
                    this.#closed = 1;
                    this.#emit('error', { code: 'bad_config', reason: 'none', status: 0, message: m });
                };
                x.ll_init(core, seed >>> 0, (seed / 2 ** 32) >>> 0);
                for (const [i, v] of cfg)
                    if (x.ll_set(core, i, v >>> 0 === v ? v : -1)) return stop(`option ${NAMES[i]} must be an integer in [${x.ll_config_min(i)}, ${x.ll_config_max(i)}]: ${v}`);
                if (cursor != null && x.ll_set_cursor(core, ...rt.args([cursor]))) return stop('bad cursor ' + cursor); // past 2^64
                d('start', [+pg.visible(), +pg.online()], (rc) =>
                    // a relation between fields (a minimum above its maximum): the core says which
                    rc ? stop(`option ${NAMES[x.ll_bad_field(core)]} is out of order with its pair`) : ((this.#rt = rt), (this.#core = core), (this.#page = pg)),
                );
                this.#q.splice(0).forEach((f) => f());
            });
        const rt = runtime(o.wasm, o.fetch);
        rt.then ? rt.then(start) : start(rt);
        sync = 0;
        // events from the start (the first statechange) reach listeners added right after
        // construction: held until this task's code has run, or until the next event
        this.#pending = this.#held;
        this.#held = null;
        queueMicrotask(() => this.#flush());
    }

    get state() {
        return this.#v.state;
    }
    get transport() {
        return this.#v.transport;
    }
    /** The last delivered (or adopted) cursor; null before any. */
    get cursor() {
        // read between drains only: inside one it would move the core's text under an action
        later(() => this.#core && (this.#v.cursor = this.#rt.cursor(this.#core) || null));
        return this.#v.cursor;
    }
    get stats() {
        const x = this.#rt?.x, c = this.#core;
        return { ...this.#stats, interval: c ? x.ll_interval(c) : 0, rtt: c ? x.ll_rtt(c) : 0 };
    }

    /** Resolves when the server acknowledged `data` (any JSON value). */
    send(data) {
        const text = JSON.stringify(data) ?? 'null';
        return new Promise((res, rej) => {
            const go = () =>
                this.#closed ? rej(error('closed'))
                    : this.#feed('send', [bytes(text)], (id) => (id > 0 ? this.#sends.set(id, [text, res, rej]) : rej(error(ERRORS[-id]))));
            this.#feed ? go() : this.#q.push(go);
        });
    }

    /** Stops everything for good: timers, sockets, requests, listeners, iteration. */
    close() {
        const f = this.#feed, rt = this.#rt, core = this.#core;
        if (this.#closed) return;
        this.#closed = 1;
        this.#page?.stop();
        if (core)
            f('close', [], () =>
                later(() => {
                    f.stop();
                    this.#core = 0;
                    rt.free(core);
                }),
            );
        else {
            this.#q.splice(0).forEach((g) => g());
            this.#act({ type: ACT_STATE, a: STATES.indexOf('closed'), b: 0, c: REASONS.indexOf('closed_by_app') });
        }
    }

    async *[Symbol.asyncIterator]() {
        const buf = [], on = (e) => (e.type[0] == 'm' && buf.push({ data: e.data, cursor: e.cursor }), wake?.());
        let wake;
        this.addEventListener('message', on);
        this.addEventListener('statechange', on);
        try {
            for (;;) {
                while (buf.length) yield buf.shift();
                if (this.#closed) return;
                await new Promise((r) => (wake = r));
            }
        } finally {
            this.removeEventListener('message', on);
            this.removeEventListener('statechange', on);
        }
    }

    #emit(type, props) {
        if (this.#held) return this.#held.push([type, props]);
        this.#flush();
        this.dispatchEvent(Object.assign(new Event(type), props));
    }

    /** Dispatch what the constructor held back (before anything newer). */
    #flush() {
        const p = this.#pending;
        this.#pending = null;
        for (const [type, props] of p || []) this.dispatchEvent(Object.assign(new Event(type), props));
    }

    /** Settle the sends from..to (ids wrap): resolve them, or reject with `failure`. */
    #settle(from, to, failure) {
        for (const [id, [, res, rej]] of this.#sends)
            if (from <= to ? id >= from && id <= to : id >= from || id <= to) {
                this.#sends.delete(id);
                failure ? rej(failure) : res();
            }
    }

    /** One action; msgs: the messages of the input being drained (a DELIVER's a indexes them). */
    #act(a, msgs) {
        const v = this.#v, ws = this.#ws, s = a.s, t = a.t;
        switch (a.type) {
            case ACT_WS_OPEN:
                return ws.open(a.id, query(t, 0));
            case ACT_WS_SEND:
                return ws.send(a.id, s || `{"type":"send","id":${a.a},"data":${this.#sends.get(a.a)?.[0]}}`);
            case ACT_WS_CLOSE:
                return ws.close(a.id, a.a);
            case ACT_FETCH: // a POST: c names the send; a GET: t the cursor, c the wait
                return this.#http.fetch(a.id, a.a, a.a ? a.c : 0, a.a ? '' : query(t, a.c));
            case ACT_FETCH_CANCEL:
                return this.#http.cancel(a.id);
            case ACT_DELIVER: {
                // protocol: the data decoded with the input; resource mode: the body
                let data = this.#resource ? s : msgs[a.a].data;
                v.cursor = t || v.cursor;
                this.#stats.messages++;
                try {
                    if (this.#json) data = JSON.parse(s);
                } catch {
                    return this.#emit('error', { code: 'bad_response', reason: 'none', status: 0, message: 'not JSON' });
                }
                return this.#emit('message', { data, cursor: t });
            }
            case ACT_STATE:
                if (a.a == STATE_RECONNECTING) this.#stats.reconnects++;
                return this.#emit('statechange', { state: (v.state = STATES[a.a]), transport: (v.transport = TRANSPORTS[a.b]), reason: REASONS[a.c] });
            case ACT_ERROR:
                return this.#emit('error', { code: ERRORS[a.a], reason: REASONS[a.c], status: a.b, message: s || ERRORS[a.a], serverCode: t });
            case ACT_RESET:
                return this.#emit('reset', { from: s, to: (v.cursor = t) });
            case ACT_ACK:
                return this.#settle(a.id, a.id);
            case ACT_SEND_FAILED:
                return this.#settle(a.id, a.a, error(ERRORS[a.b], a.c, t, s));
            case ACT_REMEMBER_FALLBACK:
                return this.#store.remember(a.a);
            case ACT_FORGET_FALLBACK:
                return this.#store.forget();
        }
    }
}

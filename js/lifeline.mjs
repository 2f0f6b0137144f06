// lifeline.mjs — the public API (DESIGN §4): options in, events out. Every decision is
// the core's; this file wires the adapters to one driver and turns actions into events.
//
// Ordering. One gate orders what happens around construction: until it opens, events
// (the first statechange) and API calls made before the core exists (options.wasm loads
// asynchronously) wait in it, in order. It opens once the core has started and the
// constructor has returned — at the first API call or socket/HTTP event after it, or a
// microtask later — so listeners added right after `new Lifeline()` see every event.
// (Inputs never nest: the driver's `later` queues an input that arrives during a drain.)
//
// Sharing (share.mjs). A core runs only while this tab leads its group (or is alone): each
// time it leads, a fresh core with its own adapters starts from the tab's cursor; when it
// stops leading the core is closed silently (its sockets and requests closed, nothing
// emitted) and this tab's unacknowledged sends wait in #mine for the next leader. Events
// go through #apply whichever tab's core emitted them.
import {
    ACT_ACK,
    ACT_DELIVER,
    ACT_ERROR,
    ACT_FETCH_CANCEL,
    ACT_FORGET_FALLBACK,
    ACT_POLL,
    ACT_POST,
    ACT_REMEMBER_FALLBACK,
    ACT_RESET,
    ACT_SEND_FAILED,
    ACT_STATE,
    ACT_WS_CLOSE,
    ACT_WS_OPEN,
    ACT_WS_SEND,
    CFG_max_message_bytes,
    CFG_resource_mode,
    CFG_websocket,
    DEF_max_message_bytes,
    ERRORS,
    OPTION_NAMES,
    REASONS,
    REASON_CLOSED_BY_APP,
    STATES,
    STATE_CLOSED,
    STATE_RECONNECTING,
    TRANSPORTS,
    TRANSPORT_NONE,
} from './constants.js';
import { runtime, bytes } from './loader.mjs';
import { driver, later } from './driver.mjs';
import { clientFrame, isCursor, withQuery } from './protocol.mjs';
import { websocket } from './websocket.mjs';
import { http } from './http.mjs';
import { listen, page } from './page.mjs';
import { storage } from './storage.mjs';

/** A tab that took its group's lock at construction loads share.mjs this much later:
 *  fetched and run at once, the module took the main thread just as the socket opened
 *  (bench/start.mjs: the first message 5 ms later, near a server). Meanwhile a tab that
 *  joins waits for its leader. */
const SHARE_AFTER_LEADING_MS = 100;

function optionError(message) {
    throw new TypeError('Lifeline: ' + message);
}

/** A value as an option error shows it: what it is and its type. */
const shown = (value) => (typeof value == 'string' ? JSON.stringify(value) : typeof value == 'function' ? 'a function' : String(value)) + ` (${typeof value})`;

const FUNCTION = ['a function', (v) => typeof v == 'function'];
const OBJECT = ['an object', (v) => typeof v == 'object'];
const BOOLEAN = ['true or false (or 1/0)', (v) => v === !!v || v === 0 || v === 1];
/** The shim's own options: what each accepts, and the test (null and undefined are the
 *  default). The core's fields are OPTION_NAMES. */
const SHIM_OPTIONS = {
    cursor: ["a cursor string ('12' or '12-3')", (v) => typeof v == 'string' && isCursor(v)],
    WebSocket: ['a WebSocket class', (v) => typeof v == 'function'],
    fetch: FUNCTION,
    now: FUNCTION,
    setTimeout: FUNCTION,
    clearTimeout: FUNCTION,
    document: OBJECT,
    window: OBJECT,
    storage: ['a Storage (like localStorage)', (v) => typeof v?.getItem == 'function'],
    seed: ['a number', (v) => typeof v == 'number'],
    wasm: ['a URL, bytes or a module', (v) => typeof v == 'string' || typeof v == 'object'],
    json: BOOLEAN,
    conditionalHeaders: BOOLEAN,
    share: BOOLEAN,
};

/** A send's rejection: code is the core's error name; a server's refusal also carries the
 *  HTTP status (a POST) or the server's own code and message (a rejecting ack). */
function sendError(code, status = 0, serverCode = '', serverMessage = '') {
    return Object.assign(new Error('Lifeline: send failed: ' + code), { code, status, serverCode, serverMessage });
}

/** The options checked: the shim's own, then the core's fields as [field, integer] pairs
 *  (booleans become 0/1; the core checks the ranges). */
function coreOptions(options) {
    const fields = [];
    for (const name in options) {
        const value = options[name],
            [accepted, valid] = SHIM_OPTIONS[name] || [];
        if (!valid && !OPTION_NAMES.includes(name)) optionError('unknown option ' + name);
        if (valid && value != null && !valid(value)) optionError(`option ${name} must be ${accepted}, not ${shown(value)}`);
    }
    OPTION_NAMES.forEach((name, field) => {
        let value = options[name];
        if (value == null) return;
        if (typeof value == 'boolean') value = +value;
        if (!Number.isInteger(value)) optionError(`option ${name} must be an integer or true/false, not ${shown(options[name])}`);
        fields.push([field, value]);
    });
    return fields;
}

/** An HTTP error's message: the status, the URL, and the server's own words when its answer
 *  was a JSON error ({"error": code, "message": text}). */
const httpMessage = (status, url, server) =>
    `${status} from ${url}` + (server?.message ? ': ' + server.message : '') + (server?.code ? ` (${server.code})` : '');

/** The URL as http(s), without a fragment. */
function httpUrl(url) {
    try {
        url = new URL(url, globalThis.location?.href);
    } catch {
        optionError('bad URL ' + url);
    }
    if (!/^(http|ws)s?:$/.test(url.protocol)) optionError('URL not http(s) or ws(s): ' + url);
    url.hash = '';
    return url.href.replace(/^ws/, 'http');
}

export class Lifeline extends EventTarget {
    #runtime;
    #core;
    #feed;
    #io; // the core's adapters; io.on: its events are the tab's (else only closes pass)
    #store;
    #group; // share.mjs: the tabs sharing one connection (none: solo, or share.mjs still loading)
    #shared; // this tab shares (its group once share.mjs has loaded)
    #early; // the lock asked for at construction: {done, release once held}
    #start; // start(on): a fresh core from the tab's cursor
    #closed = false;
    #json;
    #resource;
    #gate = []; // what waits for the gate to open (null once open)
    #sends = new Map(); // core send id -> [JSON text, settle(failure)]
    #mine = new Map(); // this tab's sends until settled: n -> [JSON text, settle(failure)]
    #n = 0;
    #view = { state: 'idle', transport: 'none', reason: 'none', cursor: null };
    #stats = { requests: 0, wsOpened: 0, bytesIn: 0, bytesOut: 0, messages: 0, reconnects: 0 };

    /** Plain resource mode: polls any URL that sends ETag or Last-Modified. */
    static watch(url, options) {
        return new Lifeline(url, { ...options, resourceMode: 1 });
    }

    constructor(url, options = {}) {
        super();
        const fields = coreOptions(options);
        const option = (field) => fields.findLast(([f]) => f == field)?.[1];
        const cursor = options.cursor;
        const seed = options.seed ?? Math.random() * 2 ** 32;
        const WebSocket = options.WebSocket || globalThis.WebSocket;
        const resource = option(CFG_resource_mode);
        url = httpUrl(url);
        if (!resource && option(CFG_websocket) != 0 && !WebSocket)
            optionError('no WebSocket: pass options.WebSocket (the ws package in Node) or websocket: false');
        // resource mode revalidates: the browser's HTTP cache (cache: 'no-cache') or, where
        // fetch has none (Node), If-None-Match/If-Modified-Since sent here; the core
        // compares validators either way
        const conditional = resource && (options.conditionalHeaders ?? !!globalThis.process?.versions?.node);
        const doc = options.document || globalThis.document,
            win = options.window || globalThis.window;
        const fetcher = options.fetch || ((/** @type {Parameters<typeof fetch>} */ ...args) => fetch(...args));
        // tabs share when their URL and core options are the same (not in resource mode), where
        // the browser has Web Locks and BroadcastChannel
        const group =
            !resource && options.share !== false && globalThis.navigator?.locks && globalThis.BroadcastChannel && 'lifeline ' + url + ' ' + fields.join(' ');
        // The first tab of a group leads at once: the lock is asked for before anything slow
        // (the wasm), and a tab that gets it starts its transport without waiting for
        // share.mjs to load, which then adopts the lock (the healthy start, issue #12).
        let constructed;
        const early = (this.#early = group && {});
        if (group)
            early.decided = new Promise(
                (/** @type {(value?: unknown) => void} */ decided) =>
                    (early.done = navigator.locks.request(group, { ifAvailable: true }, (lock) => {
                        if (!lock || !constructed || this.#closed) return decided(); // (a lock granted is released at once)
                        setTimeout(decided, SHARE_AFTER_LEADING_MS);
                        return new Promise((release) => ((early.release = release), this.#start(1)));
                    })),
            );
        this.#store = storage(options.storage, new URL(url));
        this.#resource = resource;
        this.#json = resource && options.json;
        this.#view.cursor = cursor ?? null;
        let synchronous = true;
        // A core with its own adapters, from the tab's cursor; `on`: it runs for the tab (a
        // tab waiting to lead starts one hidden and silent, which checks the options).
        const start = (rt, on) =>
            later(() => {
                if (this.#closed) return;
                this.#halt();
                const x = rt.x,
                    core = rt.alloc(),
                    at = this.#view.cursor ?? cursor;
                // send ids on the wire: the core's, plus a base unique to this leader's term in
                // the group (0 alone), so that no two sends of a group share one
                const base = (this.#group?.term << 20) >>> 0,
                    io = { on: 0, id: (send) => (send + base) >>> 0, url };
                // adapter events are inputs; each one opens the gate first
                const feed = (...input) => {
                    this.#open();
                    drive(...input);
                };
                const pg = (io.pg = page(doc, win, feed));
                // (an ack's id is the frame's fifth field)
                io.ws = websocket(
                    WebSocket,
                    url.replace(/^http/, 'ws'),
                    (name, args, k, msgs) => (name == 'll_ws_frame' && (args[5] = (args[5] - base) >>> 0), feed(name, args, k, msgs)),
                    this.#stats,
                );
                io.http = http(
                    {
                        fetch: fetcher,
                        url,
                        max: option(CFG_max_message_bytes) ?? DEF_max_message_bytes,
                        cache: resource && !conditional,
                        conditional,
                        body: (id) => this.#sends.get((id - base) >>> 0)?.[0],
                        stats: this.#stats,
                    },
                    feed,
                );
                const now = options.now || (() => performance.now());
                const drive = driver(rt, core, now, options.setTimeout || setTimeout, options.clearTimeout || clearTimeout, (action, msgs) =>
                    this.#act(action, msgs, io),
                );
                const refuse = (message) => {
                    pg.stop();
                    drive.stop();
                    rt.free(core);
                    if (synchronous) optionError(message);
                    this.#closed = true;
                    this.#apply('error', { code: 'bad_config', reason: 'none', status: 0, message });
                    this.#open();
                };
                x.ll_init(core, seed >>> 0, (seed / 2 ** 32) >>> 0);
                for (const [field, value] of fields)
                    if (x.ll_set(core, field, value >>> 0 === value ? value : -1))
                        return refuse(
                            `option ${OPTION_NAMES[field]} must be an integer in [${x.ll_config_min(field)}, ${x.ll_config_max(field)}], not ${value}`,
                        );
                if (at != null && x.ll_set_cursor(core, ...rt.args([at])))
                    return refuse(`option cursor must be a cursor whose parts fit in 64 bits, not ${shown(at)}`);
                drive('ll_start', [on && +pg.visible(), +pg.online()], (rc) => {
                    // a relation between fields (a minimum above its maximum): the core says which
                    if (rc) return refuse(`option ${OPTION_NAMES[x.ll_bad_field(core)]} is out of order with its pair`);
                    this.#runtime = rt;
                    this.#core = core;
                    this.#feed = drive;
                    this.#io = io;
                    io.on = on;
                });
                // a fallback remembered for this URL, read once the start's socket exists (the
                // storage's first read takes milliseconds): polls serve, a probe comes later
                if (on) later(() => this.#store.live() && drive('ll_fallback_remembered'));
                if (on) for (const n of this.#mine.keys()) this.#submit(n);
                if (!synchronous) this.#open(); // the constructor returned long ago
            });
        const rt = runtime(options.wasm, options.fetch);
        this.#start = (on) => (rt.then ? rt.then((r) => start(r, on)) : start(rt, on));
        // share.mjs loads on demand (in dist/, its own file: lifeline-share.mjs), once the lock
        // asked for above is decided: at once in a tab that follows, a little later in one that
        // leads (its socket opens first); until then the tab is a follower that has heard no
        // leader, or the leader that took the lock. Where it cannot load, the tab runs alone.
        this.#shared = !!group;
        if (group)
            early.decided
                .then(() => import('./share.mjs'))
                .then(
                    ({ share }) =>
                        this.#closed ||
                        (this.#group = share(
                            group,
                            {
                                doc,
                                win,
                                lead: () => this.#start(1),
                                follow: () => this.#halt(),
                                apply: (type, o) => this.#apply(type, o),
                                view: () => (this.cursor, this.#view), // (the getter reads the core's cursor)
                                // a follower's send; one closed with this core goes again to the next leader
                                take: (f, n, text) =>
                                    this.#toCore(
                                        text,
                                        (e) => e?.code == 'closed' || this.#group.ack(f, n, e && [e.code, e.status, e.serverCode, e.serverMessage]),
                                    ),
                                settle: (n, e) => this.#mine.get(n)?.[1](e && sendError(...e)),
                                resend: () => this.#mine.forEach(([text], n) => this.#group.send(n, text)),
                                role: (role) => this.#emit('rolechange', { role }),
                                poll: (cursor, signal) => (this.#stats.requests++, fetcher(withQuery(url, cursor, 0), { cache: 'no-store', signal })),
                            },
                            early,
                        )),
                    () => {
                        const running = early.release;
                        this.#letGo();
                        this.#shared = false;
                        this.#emit('rolechange', { role: 'solo' });
                        if (!running) this.#start(1);
                    },
                );
        // a shared tab is connecting (through its group) until it leads or hears the leader
        if (group) this.#view.state = 'connecting';
        this.#start(!group);
        synchronous = false;
        constructed = 1;
        queueMicrotask(() => this.#open());
    }

    get state() {
        return this.#view.state;
    }
    get transport() {
        return this.#view.transport;
    }
    /** The last delivered (or adopted) cursor; null before any. */
    get cursor() {
        // read between drains only: inside one it would move the core's text under an action
        later(() => {
            if (this.#io?.on && this.#core) this.#view.cursor = this.#runtime.cursor(this.#core) || null;
        });
        return this.#view.cursor;
    }
    get stats() {
        const x = this.#runtime?.x,
            core = this.#core;
        return { ...this.#stats, interval: core ? x.ll_interval(core) : 0, rtt: core ? x.ll_rtt(core) : 0, tabs: this.#group?.tabs ?? 1 };
    }
    /** 'leader' (runs the connection for the tabs sharing it), 'follower' or 'solo'. */
    get role() {
        return this.#group?.role ?? (this.#early?.release ? 'leader' : this.#shared ? 'follower' : 'solo');
    }

    /**
     * Resolves when the server acknowledged `data` (any JSON value).
     * @returns {Promise<void>}
     */
    send(data) {
        const text = JSON.stringify(data) ?? 'null',
            n = ++this.#n;
        return new Promise((resolve, reject) => {
            this.#mine.set(n, [text, (failure) => (this.#mine.delete(n), failure ? reject(failure) : resolve())]);
            this.#open();
            this.#whenOpen(() => this.#submit(n));
        });
    }

    /** This tab's send n: into the core, or to the leader when another tab leads. */
    #submit(n) {
        const [text, settle] = this.#mine.get(n) || [];
        if (!settle) return;
        if (this.#closed) return settle(sendError('closed'));
        if (this.#group?.role == 'follower') return this.#group.send(n, text);
        this.#toCore(text, settle);
    }

    /** Queue a send in the running core; settle(failure) when it is acked or fails. */
    #toCore(text, settle) {
        later(() => this.#feed('ll_send', [bytes(text)], (id) => (id > 0 ? this.#sends.set(id, [text, settle]) : settle(sendError(ERRORS[-id])))));
    }

    /** Stop the core: it closes its socket and requests. `on`: the app sees it close (else,
     *  silently: this tab no longer leads, and its sends wait in #mine for the next leader). */
    #halt(on) {
        const feed = this.#feed,
            rt = this.#runtime,
            core = this.#core,
            io = this.#io;
        if (!on) this.#sends.clear();
        if (!core) return;
        this.#core = 0;
        io.on = on;
        io.pg.stop();
        feed('ll_close', [], () => later(() => (feed.stop(), rt.free(core))));
    }

    /** Release the lock taken at construction, if this tab still holds it itself. */
    #letGo() {
        this.#early?.release?.();
        this.#early = 0;
    }

    /** Stops everything for good: timers, sockets, requests, listeners, iteration. */
    close() {
        if (this.#closed) return;
        this.#open();
        this.#group?.close(); // a leader leaves: the others' sends go to the next one
        this.#letGo(); // (or leads still without share.mjs)
        this.#closed = true;
        if (this.#core) this.#halt(1);
        else if (this.#view.state != 'closed') {
            // closed before the core started (options.wasm still loading): it never will
            // (a core that closed by itself, refused, said so already)
            this.#act({ type: ACT_STATE, state: STATE_CLOSED, transport: TRANSPORT_NONE, reason: REASON_CLOSED_BY_APP }, 0, { on: 1 });
            this.#open();
        }
        for (const [, settle] of this.#mine.values()) settle(sendError('closed'));
    }

    async *[Symbol.asyncIterator]() {
        const buffer = [];
        let wake;
        const listener = (event) => {
            if (event.type == 'message') buffer.push({ data: event.data, cursor: event.cursor });
            wake?.();
        };
        const on = [
            [this, 'message', listener],
            [this, 'statechange', listener],
        ];
        listen(on, 'add');
        try {
            for (;;) {
                while (buffer.length) yield buffer.shift();
                if (this.#closed) return;
                await new Promise((resolve) => (wake = resolve));
            }
        } finally {
            listen(on, 'remove');
        }
    }

    /** Run f now if the gate is open, else when it opens. */
    #whenOpen(f) {
        if (this.#gate) this.#gate.push(f);
        else f();
    }

    /** Open the gate once the core started (or never will). Called only after the
     *  constructor returned: at a microtask, an API call or an adapter event. */
    #open() {
        if (!this.#gate || !(this.#core || this.#closed)) return;
        const waiting = this.#gate;
        this.#gate = null;
        for (const f of waiting) f();
    }

    #emit(type, props) {
        this.#whenOpen(() => this.dispatchEvent(Object.assign(new Event(type), props)));
    }

    /** An event of the connection, from this tab's core or the leader's: the view follows
     *  it, a leader passes it on to the group, the app gets it. */
    #apply(type, o) {
        const view = this.#view,
            after = view.cursor;
        if (type == 'message') ((view.cursor = o.cursor || after), this.#stats.messages++);
        if (type == 'reset') view.cursor = o.to;
        if (type == 'statechange') Object.assign(view, o);
        this.#group?.out(type, o, after);
        this.#emit(type, o);
        // the server refused the URL again and again: the core closed for good, and so does
        // this Lifeline (iteration ends, sends reject), in every tab of its group
        if (o.reason == 'refused' && type == 'statechange') this.close();
    }

    /** Settle the sends from..to (ids wrap): resolve them, or reject with `failure`. */
    #settle(from, to, failure) {
        for (const [id, [, settle]] of this.#sends)
            if (from <= to ? id >= from && id <= to : id >= from || id <= to) {
                this.#sends.delete(id);
                settle(failure);
            }
    }

    /** One action (wasm/lifeline.h LL_ACTIONS names its fields); msgs: the messages of the
     *  input being drained (a DELIVER's index names one). */
    #act(action, msgs, io) {
        // a core that no longer runs for the tab only closes what it had open
        if (!io.on && action.type != ACT_WS_CLOSE && action.type != ACT_FETCH_CANCEL) return;
        switch (action.type) {
            case ACT_WS_OPEN:
                return io.ws.open(action.socket, action.cursor);
            case ACT_WS_SEND:
                return io.ws.send(action.socket, clientFrame(action.frame, io.id(action.send), this.#sends.get(action.send)?.[0]));
            case ACT_WS_CLOSE:
                return io.ws.close(action.socket, action.code);
            case ACT_POLL:
                return io.http.poll(action.request, action.cursor, action.wait);
            case ACT_POST:
                return io.http.post(action.request, io.id(action.send));
            case ACT_FETCH_CANCEL:
                return io.http.cancel(action.request);
            case ACT_DELIVER: {
                // protocol: the data decoded with the input; resource mode: the body
                let data = this.#resource ? action.body : msgs[action.index].data;
                if (this.#json) {
                    try {
                        data = JSON.parse(data);
                    } catch {
                        return this.#apply('error', { code: 'bad_response', reason: 'none', status: 0, message: 'not JSON' });
                    }
                }
                return this.#apply('message', { data, cursor: action.cursor });
            }
            case ACT_STATE:
                if (action.state == STATE_RECONNECTING) this.#stats.reconnects++;
                return this.#apply('statechange', { state: STATES[action.state], transport: TRANSPORTS[action.transport], reason: REASONS[action.reason] });
            case ACT_ERROR: {
                // an HTTP answer's own words come with the input (protocol.mjs: body)
                const server = action.status && msgs?.server;
                return this.#apply('error', {
                    code: ERRORS[action.code],
                    reason: REASONS[action.reason],
                    status: action.status,
                    message: action.message || (action.status ? httpMessage(action.status, io.url, server) : ERRORS[action.code]),
                    serverCode: action.serverCode || server?.code || '',
                });
            }
            case ACT_RESET:
                return this.#apply('reset', { from: action.from, to: action.to });
            case ACT_ACK:
                return this.#settle(action.send, action.send);
            case ACT_SEND_FAILED: {
                const server = action.status && msgs?.server; // a refused POST: the server's answer
                return this.#settle(
                    action.first,
                    action.last,
                    sendError(ERRORS[action.code], action.status, action.serverCode || server?.code || '', action.message || server?.message || ''),
                );
            }
            case ACT_REMEMBER_FALLBACK:
                return this.#store.remember(action.ttl);
            case ACT_FORGET_FALLBACK:
                return this.#store.forget();
        }
    }
}

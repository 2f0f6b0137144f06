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
//
// Members. Private (#) unless pool.mjs needs them: that chunk (loaded when a second stream
// of an endpoint joins) installs methods on this class and cannot reach # fields, so what it
// shares is named _x (an internal property: the build shortens every _ name, js/build.mjs).
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
    ACT_WS_SUB,
    ACT_WS_UNSUB,
    ACT_REFUSED,
    ACT_SPLIT,
    SUBS_MAX,
    POLL_PARAM,
    POLL_SEPARATOR,
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

/** share.mjs, loaded on demand (dist/lifeline-share.mjs: one import of it, which the
 *  server libraries' client files rewrite to its hashed name). */
const sharing = () => import('./share.mjs');
/** pool.mjs, loaded on demand too (dist/lifeline-pool.mjs): the host's side of pooling,
 *  installed on Lifeline once a second stream of an endpoint joins; rejects where the
 *  chunk cannot load. */
let poolLoaded;
const pool = () =>
    (poolLoaded ||= import('./pool.mjs').then(({ pooling }) =>
        pooling(Lifeline, [pools, later, withQuery, SUBS_MAX, POLL_PARAM, POLL_SEPARATOR, ACT_WS_SUB, ACT_WS_UNSUB, ACT_POLL, ACT_REFUSED, ACT_SPLIT]),
    ));
/** An instance with the methods pool.mjs installs (_adopt, _release, _restartRiders,
 *  _subscribe, _pooled: called only once it has loaded, or as `?.()`).
 *  @type {(l: Lifeline) => any} */
const pooled = (l) => l;
const NOTHING = () => {};

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
    multiplex: BOOLEAN,
};

/** Connections by endpoint (protocol v2, server/DESIGN.md): key -> the instance whose core
 *  carries its riders' streams too. A key whose server speaks v1 stays, as null: it pools
 *  no more. */
const pools = new Map();
/** The keys of the instances of this page until they close (a key seen again loads pool.mjs
 *  at once). */
const keys = new Set();
const ids = new WeakMap();
let lastId = 0;
/** An object's identity as a number (0: none), for the pool's key. */
const idOf = (v) => (v && (typeof v == 'object' || typeof v == 'function') ? (ids.get(v) ?? (ids.set(v, ++lastId), lastId)) : 0);

/** A stream URL's endpoint (<scheme>://<host><prefix>/, its query kept) and stream name. */
function endpointOf(url) {
    const u = new URL(url),
        at = u.pathname.lastIndexOf('/'),
        stream = u.pathname.slice(at + 1);
    u.pathname = u.pathname.slice(0, at + 1);
    return stream && { endpoint: u.href, stream };
}

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
    _runtime;
    _core;
    _feed;
    #io; // the core's adapters; io.on: its events are the tab's (else only closes pass)
    #store;
    #group; // share.mjs: the tabs sharing one connection (none: solo, or share.mjs still loading)
    #shared; // this tab shares (its group once share.mjs has loaded)
    #early; // the lock asked for at construction: {done, release once held}
    _start; // start(on): a fresh core from the tab's cursor
    _closed = false;
    #json;
    #resource;
    #gate = []; // what waits for the gate to open (null once open)
    #sends = new Map(); // core send id -> [JSON text, settle(failure)]
    #mine = new Map(); // this tab's sends until settled: n -> [JSON text, settle(failure)]
    #n = 0;
    #view = { state: 'idle', transport: 'none', reason: 'none', cursor: null };
    // Multiplexing (protocol v2): a host runs the core; riders are its other streams, each a
    // subscription of the core's table (the host's own is 0)
    _host; // a rider's host
    _sub = 0; // this instance's subscription in its core
    _riders = []; // a host's riders: subscription -> {l: instance, stream, url, cursor}
    _key; // its endpoint's key in pools (none: it never multiplexes)
    _endpoint; // its <prefix>/ URL
    _stream; // its stream's name
    _gone; // a host the app closed while riders ride on its core
    #waiting; // a start waiting for pool.mjs to load
    // Across tabs (share.mjs serve/ride): the host lock's name; its claim (asked for, held,
    // or waited for); whether this instance hosts (it holds the lock), and its serving; its
    // ride on another tab's host
    #hostName;
    #claim;
    #hosting;
    #serving;
    #ride;
    #url;
    #spawn; // a ghost for another tab's ride: this instance's options, another stream
    #hostEvents; // pagehide and pageshow: a page in the back/forward cache holds no lock
    #rode; // it rode when the page was hidden
    #doc; // the page's document (a visible tab does not ride on a hidden host)
    #alone; // it runs without the host lock (its host was hidden or silent)
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
        url = this.#url = httpUrl(url);
        if (!resource && option(CFG_websocket) != 0 && !WebSocket)
            optionError('no WebSocket: pass options.WebSocket (the ws package in Node) or websocket: false');
        // resource mode revalidates: the browser's HTTP cache (cache: 'no-cache') or, where
        // fetch has none (Node), If-None-Match/If-Modified-Since sent here; the core
        // compares validators either way
        const conditional = resource && (options.conditionalHeaders ?? !!globalThis.process?.versions?.node);
        const doc = options.document || globalThis.document,
            win = options.window || globalThis.window;
        this.#doc = doc;
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
                        if (!lock) this.#unhost(); // it follows: the host lock is not this instance's to hold
                        if (!lock || !constructed || this._closed) return decided(); // (a lock granted is released at once)
                        setTimeout(decided, SHARE_AFTER_LEADING_MS);
                        return new Promise((release) => ((early.release = release), this._start(1)));
                    })),
            );
        // Instances of one page on one endpoint share one connection (protocol v2), unless
        // `multiplex: false` or in resource mode: the first that runs a core hosts it, the
        // others that run (alone, or leading their tab group) ride on it
        const ep = !resource && options.multiplex !== false && endpointOf(url);
        const key =
            ep &&
            [
                ep.endpoint,
                fields.join(' '),
                ...[options.fetch, WebSocket, options.storage, options.now, options.setTimeout, doc, win, options.wasm].map(idOf),
            ].join(' ');
        this._key = key;
        // a second instance of an endpoint in this page: the pooling's code starts loading now,
        // before this instance's locks are granted and its start asks for it
        if (key) keys.has(key) ? pool().catch(NOTHING) : keys.add(key);
        // across tabs, the endpoint's host is elected by a lock of the endpoint and core
        // options; a ghost is an instance of this one's options for another tab's stream,
        // riding on this tab's connection, its events carried by `out`
        this.#hostName = group && key && 'lifeline host ' + ep.endpoint + ' ' + fields.join(' ');
        if (this.#hostName) {
            // asked for now, beside the group's lock, so that a tab that leads at once has its
            // answer when it starts (its start waits for no second lock)
            this.#claim = this.#lock('now');
            this.#spawn = (u, c, out) => {
                const ghost = new Lifeline(u, { ...options, share: false, cursor: c ?? undefined });
                const { state, transport, reason } = ghost.#view;
                ghost.#group = { role: 'leader', out, close() {} };
                // (it may have joined the connection within its constructor: its state so far)
                if (state != 'idle') out('statechange', { state, transport, reason });
                return ghost;
            };
            // a held or requested lock keeps a page out of the back/forward cache: pagehide lets
            // go of the host lock (a host's core pauses, a ride stops), pageshow takes it again
            listen(
                (this.#hostEvents = [
                    [win, 'pagehide', () => ((this.#rode = !!this.#ride), this.#unhost())],
                    [win, 'pageshow', (e) => e.persisted && this.#show()],
                ]),
                'add',
            );
        }
        this._endpoint = ep?.endpoint;
        this._stream = ep?.stream;
        this.#store = storage(options.storage, new URL(url));
        this.#resource = resource;
        this.#json = resource && options.json;
        this.#view.cursor = cursor ?? null;
        let synchronous = true;
        // A core with its own adapters, from the tab's cursor; `on`: it runs for the tab (a
        // tab waiting to lead starts one hidden and silent, which checks the options).
        const start = (rt, on) =>
            later(() => {
                if (this._closed) return;
                this.#halt(0, 1);
                // a host runs the endpoint's core already: ride on it (in its state)
                const host = on && key && pools.get(key);
                if (host && host != this) {
                    // pooling's code loads first (where it cannot, the endpoint pools no more),
                    // then this start goes on unless something else started or stopped meanwhile
                    if (!host._adopt) {
                        const waiting = (this.#waiting = {});
                        return pool()
                            .catch(() => pools.set(key, null))
                            .then(() => this.#waiting == waiting && start(rt, on));
                    }
                    if (host._adopt(this, this._stream, this.#view.cursor ?? cursor, url)) {
                        const { state, transport, reason } = host.#view;
                        if (state != 'idle') this.#apply('statechange', { state, transport, reason });
                        if (!synchronous) this.#open();
                        return;
                    }
                }
                // this tab hosts the endpoint's connection if it holds the host lock, else rides on
                // the tab that does; meanwhile the tab's other instances of it wait on this one
                if (on && this.#hostName && !this.#hosting && !this.#alone && !pools.has(key)) {
                    const claim = (this.#claim ||= this.#lock('now'));
                    pools.set(key, this);
                    return this.#whenHost(
                        claim,
                        () => this._start(1),
                        () => this.#rideOn(),
                    );
                }
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
                    this.#unhost();
                    this.#unpool();
                    pooled(this)._restartRiders?.();
                    pg.stop();
                    drive.stop();
                    rt.free(core);
                    if (synchronous) optionError(message);
                    this._closed = true;
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
                    this._runtime = rt;
                    this._core = core;
                    this._feed = drive;
                    this.#io = io;
                    io.on = on;
                    // the first core of an endpoint hosts it (once its options passed); the
                    // riders that came while it was not running yet
                    if (on && key && !pools.has(key)) pools.set(key, this);
                    if (this.#hosting && pools.get(key) == this) this.#serve();
                    this._riders.forEach((r, i) => r && (pooled(this)._subscribe(i, r.cursor), r.l.#open()));
                });
                // a fallback remembered for this URL, read once the start's socket exists (the
                // storage's first read takes milliseconds): polls serve, a probe comes later
                if (on) later(() => this.#store.live() && drive('ll_fallback_remembered'));
                if (on) for (const n of this.#mine.keys()) this.#submit(n);
                if (!synchronous) this.#open(); // the constructor returned long ago
            });
        const rt = runtime(options.wasm, options.fetch);
        this._start = (on) => (rt.then ? rt.then((r) => start(r, on)) : start(rt, on));
        // share.mjs loads on demand (in dist/, its own file: lifeline-share.mjs), once the lock
        // asked for above is decided: at once in a tab that follows, a little later in one that
        // leads (its socket opens first); until then the tab is a follower that has heard no
        // leader, or the leader that took the lock. Where it cannot load, the tab runs alone.
        this.#shared = !!group;
        if (group)
            early.decided.then(sharing).then(
                ({ share }) =>
                    this._closed ||
                    (this.#group = share(
                        group,
                        {
                            doc,
                            win,
                            lead: () => this._start(1),
                            follow: () => this.#halt(),
                            apply: (type, o) => this.#apply(type, o),
                            view: () => (this.cursor, this.#view), // (the getter reads the core's cursor)
                            // a follower's send; one closed with this core goes again to the next leader
                            take: (f, n, text) =>
                                this.#toCore(text, (e) => e?.code == 'closed' || this.#group.ack(f, n, e && [e.code, e.status, e.serverCode, e.serverMessage])),
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
                    this.#unhost();
                    this.#hostName = 0; // alone: no tab hosts for it
                    this.#shared = false;
                    this.#emit('rolechange', { role: 'solo' });
                    if (!running) this._start(1);
                },
            );
        // a shared tab is connecting (through its group) until it leads or hears the leader
        if (group) this.#view.state = 'connecting';
        this._start(!group);
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
            const host = this._host || this;
            if (host.#io?.on && host._core && !this._gone && !this._closed) this.#view.cursor = host._runtime.cursor(host._core, this._sub) || null;
        });
        return this.#view.cursor;
    }
    get stats() {
        // a rider: the connection's counts are its host's, the messages its own
        const host = this._host || this,
            x = host._runtime?.x,
            core = host._core;
        return {
            ...host.#stats,
            messages: this.#stats.messages,
            interval: core ? x.ll_interval(core) : 0,
            rtt: core ? x.ll_rtt(core) : 0,
            tabs: this.#group?.tabs ?? 1,
            streams: host._riders.filter(Boolean).length + !host._gone,
        };
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
        if (this._closed) return settle(sendError('closed'));
        if (this.#group?.role == 'follower') return this.#group.send(n, text);
        if (this._host) return this._host.#toCore(text, settle, this._sub);
        this.#toCore(text, settle);
    }

    /** Queue a send (of subscription `sub`) in the running core; settle(failure) when it is
     *  acked or fails. */
    #toCore(text, settle, sub = 0) {
        if (this.#ride) return this.#ride.send(text, (r) => settle(r && sendError(...r)));
        later(() => this._feed('ll_send', [sub, bytes(text)], (id) => (id > 0 ? this.#sends.set(id, [text, settle]) : settle(sendError(ERRORS[-id])))));
    }

    /** A claim of the endpoint's host lock: asked for `now` (if free) or with a `wait`;
     *  {granted: Promise<boolean>, stop()}. Held until stopped. */
    #lock(how) {
        const ac = new AbortController(),
            claim = { stop: () => (ac.abort(), release()) };
        let release = /** @type {(value?: unknown) => void} */ (NOTHING);
        claim.granted = new Promise((answer) =>
            navigator.locks
                .request(this.#hostName, how == 'now' ? { ifAvailable: true } : { signal: ac.signal }, (lock) =>
                    lock && this.#claim == claim ? new Promise((r) => ((release = r), answer(true))) : answer(false),
                )
                .then(NOTHING, () => answer(false)),
        ).catch(() => false); // (no Web Locks after all: the share module's fallback runs it alone)
        return claim;
    }

    /** Another tab hosts: ride on it, and wait for the lock meanwhile (granted, this instance
     *  hosts). The tab's instances that waited on this one start again. */
    #rideOn() {
        const wait = (this.#claim = this.#lock('wait'));
        this.#unpool();
        pooled(this)._restartRiders?.();
        sharing().then(({ ride }) => {
            if (this.#claim != wait || this._closed) return;
            this.#ride = ride(this.#hostName, this.#url, this.#view.cursor, {
                doc: this.#doc,
                apply: (type, o) => this.#apply(type, o),
                // the host gone: host or ride again; the host silent (frozen) or hidden (its
                // connection paused) while this tab is visible: run a connection of its own
                // (as it did before it rode: `alone`, until it stops running)
                lost: (alone) => this.#claim == wait && (this.#unhost(), (this.#alone = alone), this._start(1)),
            });
            this.#open();
            for (const n of this.#mine.keys()) this.#submit(n);
        }, NOTHING); // (where share.mjs cannot load, the instance runs alone: see the constructor)
        this.#whenHost(wait, () => (this.#unride(), this._start(1)), NOTHING);
    }

    /** Once `claim` is answered (and still this instance's): granted, it hosts and runs
     *  `hosted`; else `refused`. */
    #whenHost(claim, hosted, refused) {
        claim.granted.then((granted) => this.#claim == claim && !this._closed && (granted ? ((this.#hosting = 1), hosted()) : refused()));
    }

    /** Serve rides of other tabs on this host's connection. */
    #serve() {
        sharing().then(({ serve }) => this.#hosting && !this.#serving && (this.#serving = serve(this.#hostName, this.#spawn, this.#doc)), NOTHING);
    }

    /** Back from the back/forward cache: a rider rides again; a host that still runs the
     *  endpoint's connection hosts again if no other tab took over meanwhile. */
    #show() {
        if (this._closed || this.#hosting) return;
        if (this.#rode) return this._start(1);
        if (!this._core || pools.get(this._key) != this) return;
        const claim = (this.#claim = this.#lock('now'));
        this.#whenHost(
            claim,
            () => this.#serve(),
            () => (this.#claim = null),
        );
    }

    /** Stop riding on another tab's host. */
    #unride() {
        this.#ride?.stop();
        this.#ride = null;
    }

    /** Stop hosting (and riding): the lock's release, the serving and its ghosts, the wait. */
    #unhost() {
        const claim = this.#claim;
        this.#alone = 0;
        this.#claim = null;
        this.#hosting = 0;
        this.#unride();
        this.#serving?.close();
        this.#serving = null;
        claim?.stop();
    }

    /** The pool forgets this instance if it hosts its endpoint. */
    #unpool() {
        if (pools.get(this._key) == this) pools.delete(this._key);
    }

    /** This host's connection ends: the core closes, the pool forgets it. */
    _end() {
        this.#unpool();
        listen(this.#hostEvents || [], 'remove');
        this._closed = true;
        if (this._core) this.#halt(1);
    }

    /** Stop the core: it closes its socket and requests. `on`: the app sees it close (else,
     *  silently: this tab no longer leads, and its sends wait in #mine for the next leader).
     *  Unless `fresh` (a core is about to start), it also hosts and rides no more. */
    #halt(on, fresh) {
        this.#waiting = 0;
        if (!fresh) this.#unhost();
        const feed = this._feed,
            rt = this._runtime,
            core = this._core,
            io = this.#io,
            host = this._host;
        if (host) {
            // a rider gets off (it no longer leads its group, or starts again)
            this._host = 0;
            host._release(this._sub);
            this._sub = 0;
            return;
        }
        // about to start with nothing running (its host lock just granted): the tab's
        // instances that wait on it stay
        if (fresh && !core) return;
        if (!on) this.#sends.clear();
        this.#unpool();
        if (core) {
            this._core = 0;
            io.on = on;
            io.pg.stop();
            feed('ll_close', [], () => later(() => (feed.stop(), rt.free(core))));
        }
        pooled(this)._restartRiders?.(); // a host that stops
    }

    /** Release the lock taken at construction, if this tab still holds it itself. */
    #letGo() {
        this.#early?.release?.();
        this.#early = 0;
    }

    /** Stops everything for good: timers, sockets, requests, listeners, iteration. */
    close() {
        if (this._closed || this._gone) return;
        keys.delete(this._key); // (what a page keeps of its keys lives as long as their instances)
        this.#open();
        this.#group?.close(); // a leader leaves: the others' sends go to the next one
        this.#letGo(); // (or leads still without share.mjs)
        const host = this._host;
        if (host || this._riders.some(Boolean)) {
            // a rider leaves its host's core; a host with riders keeps the core for them
            if (host) ((this._closed = true), (this._host = 0), host._release(this._sub));
            else ((this._gone = true), pooled(this)._release(0));
            this.#act({ type: ACT_STATE, state: STATE_CLOSED, transport: TRANSPORT_NONE, reason: REASON_CLOSED_BY_APP }, 0, { on: 1 }, this);
            for (const [, settle] of this.#mine.values()) settle(sendError('closed'));
            return;
        }
        this.#unpool();
        this._closed = true;
        this.#unhost();
        listen(this.#hostEvents || [], 'remove');
        if (this._core) this.#halt(1);
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
                if (this._closed) return;
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
        if (!this.#gate || !((this._host || this)._core || this.#ride || this._closed)) return;
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

    /** The instance of subscription i of this host's core (none for a host the app closed). */
    _target(i) {
        return i ? this._riders[i]?.l : this._gone ? null : this;
    }

    /** An event of subscription i, to its instance. */
    _to(i, type, o) {
        const l = this._target(i);
        if (l) l.#apply(type, o);
    }

    /** Every instance on this host's core. */
    #everyone() {
        return [this._target(0), ...this._riders.map((r) => r?.l)].filter(Boolean);
    }

    /** The stream URL of subscription `sub` of this host's core (0: its own, io.url). */
    #urlOf(sub, io) {
        return sub ? this._riders[sub]?.url : io.url;
    }

    /** One action (wasm/lifeline.h LL_ACTIONS names its fields); msgs: the messages of the
     *  input being drained (a DELIVER's index names one). A host routes what concerns one
     *  subscription to its instance, and what concerns the connection to every instance
     *  (`only`: to that one). */
    #act(action, msgs, io, only) {
        // a core that no longer runs for the tab only closes what it had open
        if (!io.on && action.type != ACT_WS_CLOSE && action.type != ACT_FETCH_CANCEL) return;
        const sub = action.sub;
        switch (action.type) {
            case ACT_WS_OPEN:
                return io.ws.open(action.socket, this.#urlOf(sub, io), action.cursor);
            case ACT_WS_SEND:
                return io.ws.send(action.socket, clientFrame(action.frame, io.id(action.send), this.#sends.get(action.send)?.[0], sub));
            case ACT_WS_CLOSE:
                return io.ws.close(action.socket, action.code);
            case ACT_POLL:
                // (every subscription at once: the pooling's, see pool.mjs)
                if (sub != SUBS_MAX) return io.http.poll(action.request, action.cursor, action.wait, this.#urlOf(sub, io));
                break;
            case ACT_POST:
                return io.http.post(action.request, io.id(action.send), this.#urlOf(sub, io));
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
                return this._to(sub, 'message', { data, cursor: action.cursor });
            }
            case ACT_STATE:
                if (action.state == STATE_RECONNECTING) this.#stats.reconnects++;
                for (const l of only ? [only] : this.#everyone())
                    l.#apply('statechange', { state: STATES[action.state], transport: TRANSPORTS[action.transport], reason: REASONS[action.reason] });
                return;
            case ACT_ERROR: {
                // an HTTP answer's own words come with the input (protocol.mjs: body)
                const server = action.status && msgs?.server;
                for (const l of this.#everyone())
                    l.#apply('error', {
                        code: ERRORS[action.code],
                        reason: REASONS[action.reason],
                        status: action.status,
                        message: action.message || (action.status ? httpMessage(action.status, io.url, server) : ERRORS[action.code]),
                        serverCode: action.serverCode || server?.code || '',
                    });
                return;
            }
            case ACT_RESET:
                return this._to(sub, 'reset', { from: action.from, to: action.to });
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
        // what only a connection carrying several streams asks (WS_SUB, WS_UNSUB, REFUSED,
        // SPLIT, the poll of all): pool.mjs, loaded before a second stream joined
        pooled(this)._pooled?.(action, io);
    }
}

// Types for lifeline-live: the unions and CoreOptions are generated from the core's tables
// (wasm/lifeline.h); the rest follows js/lifeline.mjs.

// ---- generated from wasm/lifeline.h by js/gen-constants.mjs: do not edit ----
export type State =
    | 'idle'
    | 'connecting'
    | 'open'
    | 'reconnecting'
    | 'paused'
    | 'offline'
    | 'closed';
export type Transport =
    | 'none'
    | 'websocket'
    | 'longpoll'
    | 'poll'
    | 'resource';
export type Reason =
    | 'none'
    | 'start'
    | 'ws_hello'
    | 'ws_refused'
    | 'ws_blackhole'
    | 'ws_no_hello'
    | 'ws_stalled'
    | 'ws_flapping'
    | 'ws_closed'
    | 'ws_server_error'
    | 'ws_bad_frame'
    | 'poll_ok'
    | 'fallback_remembered'
    | 'upgrade'
    | 'ws_unavailable'
    | 'http_error'
    | 'network_error'
    | 'retry_after'
    | 'hidden'
    | 'visible'
    | 'offline'
    | 'online'
    | 'pagehide'
    | 'pageshow'
    | 'freeze'
    | 'resume'
    | 'closed_by_app'
    | 'refused';
export type ErrorCode =
    | 'bad_frame'
    | 'bad_response'
    | 'too_large'
    | 'too_deep'
    | 'cursor_backwards'
    | 'http_status'
    | 'network'
    | 'timeout'
    | 'server_error'
    | 'ws_failed'
    | 'send_rejected'
    | 'send_overflow'
    | 'send_too_large'
    | 'closed'
    | 'bad_config'
    | 'bad_state'
    | 'bad_cursor';

/** The core's config fields, each an option (integers; booleans as true/false or 1/0). */
export interface CoreOptions {
    /** plain resource mode (what Lifeline.watch sets): conditional GETs of any URL, no protocol, no WebSocket. Default false. */
    resourceMode?: boolean | 0 | 1;
    /** try a WebSocket at all. Default true. */
    websocket?: boolean | 0 | 1;
    /** start on polling and probe the WebSocket later (a fallback remembered by the browser shim does the same, learned just after the start). Default false. */
    startOnPolling?: boolean | 0 | 1;
    /** start a poll beside the first WebSocket (at the start, or back visible or online) not working by then: a black-holed socket costs this much more than one round trip, a healthy one opens without a poll competing with it. Default 10 ms (0 to 60,000 ms). */
    startRaceDelay?: number;
    /** start a poll beside a WebSocket not working by then, when reconnecting after a stall or a garbled frame (a reconnect after the server closed the socket races none). Default 250 ms (0 to 60,000 ms). */
    raceDelay?: number;
    /** hello must arrive within this after opening, or the attempt is given up (black hole). Default 5,000 ms (100 to 120,000 ms). */
    wsTimeout?: number;
    /** ping a WebSocket that has been quiet this long (a server that beats says when its next frame is due instead: docs/protocol.md). Default 5,000 ms (100 to 600,000 ms). */
    pingIdle?: number;
    /** a pinged WebSocket is dead when no frame answers within 4 x rtt, but no sooner than this. Default 2,000 ms (50 to 600,000 ms). */
    pongTimeoutMin?: number;
    /** ... and no later than this. Default 10,000 ms (50 to 600,000 ms). */
    pongTimeoutMax?: number;
    /** a working WebSocket lost sooner is a flap. Default 30,000 ms (0 to 3,600,000 ms). */
    flapWindow?: number;
    /** flaps in a row before falling back to polling. Default 3 (1 to 100). */
    flapLimit?: number;
    /** first re-probe of the WebSocket while polling (x2 each time, equal jitter). Default 3,000 ms (100 to 3,600,000 ms). */
    probeMin?: number;
    /** the re-probe delay grows up to this. Default 120,000 ms (100 to 86,400,000 ms). */
    probeMax?: number;
    /** the adaptive poll interval's lower bound (after a change). Default 1,000 ms (10 to 86,400,000 ms). */
    minInterval?: number;
    /** the adaptive poll interval's upper bound (unchanged data). Default 30,000 ms (10 to 86,400,000 ms). */
    maxInterval?: number;
    /** growth of the poll interval per unchanged poll. Default 150 % (100 to 1,000 %). */
    intervalGrowth?: number;
    /** wait= asked of a long poll (0: never long poll). Default 25,000 ms (0 to 300,000 ms). */
    longPollWait?: number;
    /** a request's timeout (plus its wait). Default 10,000 ms (100 to 600,000 ms). */
    requestTimeout?: number;
    /** error backoff: full jitter in [0, base x 2^n]. Default 1,000 ms (10 to 3,600,000 ms). */
    backoffBase?: number;
    /** the error backoff's cap. Default 60,000 ms (10 to 86,400,000 ms). */
    backoffMax?: number;
    /** close an open WebSocket after the page was hidden this long. Default 30,000 ms (0 to 86,400,000 ms). */
    hiddenGrace?: number;
    /** poll this slowly while hidden (0: nothing at all while hidden). Default 0 ms (0 to 86,400,000 ms). */
    hiddenInterval?: number;
    /** how long a remembered fallback lasts for the next page load. Default 900,000 ms (0 to 86,400,000 ms). */
    fallbackTtl?: number;
    /** largest frame or body accepted. Default 1,048,576 B (64 to 67,108,864 B). */
    maxMessageBytes?: number;
    /** deepest JSON nesting accepted. Default 32 (2 to 64). */
    maxDepth?: number;
    /** sends buffered until acked; more is a send_overflow rejection. Default 64 (1 to 256). */
    maxSends?: number;
    /** polls answered 401, 403 or 404 in a row before the connection closes for good (state closed, reason refused): a wrong URL or a right taken away is not retried for ever. Default 3 (1 to 1,000). */
    refusalLimit?: number;
}
// ---- end of generated ----

// Only ES types and what both the DOM lib and @types/node declare (Event, EventTarget,
// URL, AbortSignal) are used below, so this file compiles under `strict` with or without
// the DOM lib (tests/js/types.test.mjs runs tsc both ways).

/** Where a remembered fallback is kept (a Storage such as localStorage fits). */
export interface LifelineStorage {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
    removeItem(key: string): void;
}

/** What addEventListener / removeEventListener take as options. */
export type LifelineListenerOptions = boolean | { capture?: boolean; once?: boolean; passive?: boolean; signal?: AbortSignal };

/** Every core config field is an option (CoreOptions), and the shim's own: */
export interface LifelineOptions extends CoreOptions {
    /** Resource mode: send If-None-Match/If-Modified-Since yourself. Default: 1 in Node (no HTTP cache), else 0. */
    conditionalHeaders?: boolean | 0 | 1;

    /** Resume from this cursor ("<n>" or "<n>-<n>"; "0": everything retained). Default: from now. */
    cursor?: string;
    /** A WebSocket class (e.g. the ws package in Node). Default globalThis.WebSocket. */
    WebSocket?: unknown;
    /** Default globalThis.fetch. */
    fetch?: (url: string, init?: any) => Promise<any>;
    /** Monotonic clock in ms. Default performance.now(). */
    now?: () => number;
    setTimeout?: (f: () => void, ms: number) => unknown;
    clearTimeout?: (timer: any) => void;
    document?: { visibilityState?: string } & Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
    window?: { navigator?: { onLine?: boolean } } & Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
    /** Where a remembered fallback is kept. Default localStorage (Node: memory). */
    storage?: LifelineStorage;
    /** Jitter seed. Default random. */
    seed?: number;
    /** Load this core instead of the inlined one — a URL, the bytes of dist/lifeline.wasm,
     *  or a WebAssembly.Module: asynchronous, calls made meanwhile wait for it. */
    wasm?: string | URL | ArrayBuffer | ArrayBufferView | object;
    /** Resource mode: parse the body as JSON. Default false. */
    json?: boolean;
    /** Share one connection with the other tabs of this origin whose Lifeline has the same
     *  URL and core options (Web Locks + BroadcastChannel; alone where either is missing, and
     *  in resource mode). false: this instance keeps its own connection. Default true. */
    share?: boolean;
    /** Ride one connection with the page's other instances whose URLs are streams of the same
     *  endpoint (`<scheme>://<host><prefix>/`, the same query and options): protocol v2, one
     *  WebSocket or one poll for all of them, each stream keeping its own cursor, messages,
     *  resets, refusals and sends. A server of protocol v1 gets a connection per stream, as
     *  before. false: this instance keeps its own connection. Default true. */
    multiplex?: boolean;
}

/** Who runs the connection: this tab for its group ('leader'), another tab of the group
 *  ('follower'), or this instance alone ('solo': share: false, resource mode, no Web Locks
 *  or BroadcastChannel). */
export type Role = 'leader' | 'follower' | 'solo';

export interface LifelineMessageEvent<T = any> extends Event {
    /** Protocol: the message's data. Resource mode: the body text (parsed when json: true). */
    readonly data: T;
    /** Protocol: the message's cursor. Resource mode: the validator (ETag/Last-Modified). */
    readonly cursor: string;
}
export interface LifelineStateEvent extends Event {
    readonly state: State;
    readonly transport: Transport;
    readonly reason: Reason;
}
export interface LifelineErrorEvent extends Event {
    readonly code: ErrorCode;
    readonly reason: Reason;
    /** HTTP status, 0 when none. */
    readonly status: number;
    /** The server's own message (error frames, rejecting acks), else the code. */
    readonly message: string;
    /** The server's own code (error frames, rejecting acks), else empty. */
    readonly serverCode: string;
}
export interface LifelineResetEvent extends Event {
    readonly from: string;
    readonly to: string;
}
export interface LifelineRoleEvent extends Event {
    readonly role: Role;
}
export interface LifelineEventMap<T = any> {
    message: LifelineMessageEvent<T>;
    statechange: LifelineStateEvent;
    error: LifelineErrorEvent;
    reset: LifelineResetEvent;
    rolechange: LifelineRoleEvent;
}
export interface LifelineStats {
    requests: number;
    wsOpened: number;
    bytesIn: number;
    bytesOut: number;
    messages: number;
    reconnects: number;
    /** Current poll interval in ms (0 when not polling on an interval). */
    interval: number;
    /** Smoothed round trip in ms (0 until measured). */
    rtt: number;
    /** Tabs sharing this connection, this one included (1 when solo). */
    tabs: number;
    /** Streams of this page riding this connection, this one included (protocol v2; 1 alone).
     *  requests, wsOpened, bytesIn, bytesOut and reconnects are the connection's; messages
     *  this instance's own. */
    streams: number;
}
/** A rejected send. */
export interface LifelineSendError extends Error {
    /** The core's error name: send_rejected, send_overflow, send_too_large, closed, bad_state. */
    code: ErrorCode;
    /** send_rejected by a POST: its HTTP status; else 0. */
    status: number;
    /** send_rejected by a rejecting ack: the server's code and message; else empty. */
    serverCode: string;
    serverMessage: string;
}

export class Lifeline<T = any> extends EventTarget {
    /** Throws a TypeError on a bad option or URL. */
    constructor(url: string | URL, options?: LifelineOptions);
    /** Plain resource mode: polls any URL that sends ETag or Last-Modified. */
    static watch<T = string>(url: string | URL, options?: LifelineOptions): Lifeline<T>;
    readonly state: State;
    readonly transport: Transport;
    readonly cursor: string | null;
    readonly stats: LifelineStats;
    readonly role: Role;
    /** Resolves once the server acknowledged it; rejects with a LifelineSendError. */
    send(data: unknown): Promise<void>;
    /** Stops every timer, socket, request and listener; ends async iteration. */
    close(): void;
    [Symbol.asyncIterator](): AsyncIterator<{ data: T; cursor: string }>;
    addEventListener<K extends keyof LifelineEventMap<T>>(type: K, listener: (event: LifelineEventMap<T>[K]) => unknown, options?: LifelineListenerOptions): void;
    addEventListener(type: string, listener: ((event: Event) => unknown) | { handleEvent(event: Event): unknown } | null, options?: LifelineListenerOptions): void;
    removeEventListener<K extends keyof LifelineEventMap<T>>(type: K, listener: (event: LifelineEventMap<T>[K]) => unknown, options?: LifelineListenerOptions): void;
    removeEventListener(type: string, listener: ((event: Event) => unknown) | { handleEvent(event: Event): unknown } | null, options?: LifelineListenerOptions): void;
}
export default Lifeline;

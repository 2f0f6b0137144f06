// Types for lifeline-live (hand-written; js/lifeline.mjs is the source of truth).

export type State = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'paused' | 'offline' | 'closed';
export type Transport = 'none' | 'websocket' | 'longpoll' | 'poll' | 'resource';
export type Reason =
    | 'none' | 'start' | 'ws_hello' | 'ws_refused' | 'ws_blackhole' | 'ws_no_hello' | 'ws_stalled'
    | 'ws_flapping' | 'ws_closed' | 'ws_server_error' | 'ws_bad_frame' | 'poll_ok' | 'fallback_remembered'
    | 'upgrade' | 'http_error' | 'network_error' | 'retry_after' | 'hidden' | 'visible' | 'offline'
    | 'online' | 'pagehide' | 'pageshow' | 'closed_by_app';
export type ErrorCode =
    | 'bad_frame' | 'bad_response' | 'too_large' | 'too_deep' | 'cursor_backwards' | 'http_status'
    | 'network' | 'timeout' | 'server_error' | 'ws_failed' | 'send_rejected' | 'send_overflow'
    | 'send_too_large' | 'closed' | 'bad_config' | 'bad_state' | 'bad_cursor';

/** Every core config field is an option (integers; milliseconds unless said). */
export interface LifelineOptions {
    /** Plain resource mode (what Lifeline.watch sets): poll any URL with ETag/Last-Modified. Default false. */
    resourceMode?: boolean | 0 | 1;
    /** Try a WebSocket at all. Default true. */
    websocket?: boolean | 0 | 1;
    /** Start on polling, probe the WebSocket later. Default false (set by a remembered fallback). */
    startOnPolling?: boolean | 0 | 1;
    /** Start a poll beside a WebSocket not working by then. Default 250 (0..60000). */
    raceDelay?: number;
    /** hello must arrive within this after opening. Default 5000 (100..120000). */
    wsTimeout?: number;
    /** Ping after this long without a frame. Default 5000 (100..600000). */
    pingIdle?: number;
    /** Dead if no frame within max(pongTimeoutMin, 4 × rtt)… Default 2000 (50..600000). */
    pongTimeoutMin?: number;
    /** …capped here. Default 10000 (50..600000). */
    pongTimeoutMax?: number;
    /** A working WebSocket lost sooner than this counts as a flap. Default 30000 (0..3600000). */
    flapWindow?: number;
    /** Flaps in a row before falling back. Default 3 (1..100). */
    flapLimit?: number;
    /** First WebSocket re-probe while polling. Default 3000 (100..3600000). */
    probeMin?: number;
    /** Re-probe delay grows ×2 up to this. Default 120000 (100..86400000). */
    probeMax?: number;
    /** Poll interval after a change. Default 1000 (10..86400000). */
    minInterval?: number;
    /** Unchanged: the interval grows up to this. Default 30000 (10..86400000). */
    maxInterval?: number;
    /** Percent growth per unchanged poll. Default 150 (100..1000). */
    intervalGrowth?: number;
    /** wait= asked of a long poll (0: never long poll). Default 25000 (0..300000). */
    longPollWait?: number;
    /** A request's timeout (plus wait). Default 10000 (100..600000). */
    requestTimeout?: number;
    /** Error backoff: full jitter in [0, base × 2^n]. Default 1000 (10..3600000). */
    backoffBase?: number;
    /** …capped here. Default 60000 (10..86400000). */
    backoffMax?: number;
    /** Close an open WebSocket after this long hidden. Default 30000 (0..86400000). */
    hiddenGrace?: number;
    /** Poll this slowly while hidden; 0 = pause. Default 0 (0..86400000). */
    hiddenInterval?: number;
    /** How long a remembered fallback lasts. Default 900000 (0..86400000). */
    fallbackTtl?: number;
    /** Largest frame or body accepted, bytes. Default 1048576 (64..67108864). */
    maxMessageBytes?: number;
    /** Deepest JSON nesting accepted. Default 32 (2..64). */
    maxDepth?: number;
    /** Sends buffered until acked. Default 64 (1..256). */
    maxSends?: number;
    /** Resource mode: send If-None-Match/If-Modified-Since yourself. Default: 1 in Node (no HTTP cache), else 0. */
    conditionalHeaders?: boolean | 0 | 1;

    /** Resume from this cursor ("<n>" or "<n>-<n>"; "0": everything retained). Default: from now. */
    cursor?: string;
    /** A WebSocket class (e.g. the ws package in Node). Default globalThis.WebSocket. */
    WebSocket?: unknown;
    fetch?: typeof fetch;
    /** Monotonic clock in ms. Default performance.now(). */
    now?: () => number;
    setTimeout?: (f: () => void, ms: number) => unknown;
    clearTimeout?: (t: any) => void;
    document?: { visibilityState?: string } & Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
    window?: { navigator?: { onLine?: boolean } } & Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
    /** Where a remembered fallback is kept. Default localStorage (Node: memory). */
    storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
    /** Jitter seed. Default random. */
    seed?: number;
    /** Load this core instead of the inlined one (a URL, bytes or a Module): asynchronous,
     *  calls made meanwhile wait for it. */
    wasm?: string | URL | ArrayBuffer | Uint8Array | WebAssembly.Module;
    /** Resource mode: parse the body as JSON. Default false. */
    json?: boolean;
}

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
    readonly message: string;
}
export interface LifelineResetEvent extends Event {
    readonly from: string;
    readonly to: string;
}
export interface LifelineEventMap {
    message: LifelineMessageEvent;
    statechange: LifelineStateEvent;
    error: LifelineErrorEvent;
    reset: LifelineResetEvent;
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
}
/** A rejected send: code is the core's error name (send_overflow, send_too_large, closed, …). */
export interface LifelineSendError extends Error {
    code: ErrorCode;
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
    /** Resolves once the server acknowledged it; rejects with a LifelineSendError. */
    send(data: unknown): Promise<void>;
    /** Stops every timer, socket, request and listener; ends async iteration. */
    close(): void;
    [Symbol.asyncIterator](): AsyncIterator<{ data: T; cursor: string }>;
    addEventListener<K extends keyof LifelineEventMap>(type: K, listener: (ev: LifelineEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
    addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
    removeEventListener<K extends keyof LifelineEventMap>(type: K, listener: (ev: LifelineEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
    removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
export default Lifeline;

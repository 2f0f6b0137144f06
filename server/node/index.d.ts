// Types of lifeline-live/server (server/node/index.mjs). The contract: server/DESIGN.md.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** A message as a store keeps it: its cursor and its data as JSON text. */
export interface StoredMessage {
    cursor: string;
    json: string;
}

/** What `read` answers: the messages after the cursor (at most `limit`) and the cursor to read on from; `reset` true (no messages, `cursor` the head) when the cursor could not be served. */
export interface ReadResult {
    messages: StoredMessage[];
    cursor: string;
    reset: boolean;
}

/** What `health()` answers: `{ok, store, …}`. */
export type Health = { ok: boolean; store: string; [k: string]: unknown };

/**
 * The store interface (server/DESIGN.md "Store interface"); every method may return a
 * Promise. A custom store extends it and gives append, read, head and subscribe; `wait` is
 * built on those two. A plain object with append, read, head and subscribe serves too.
 */
export class Store {
    constructor(options?: { retention?: number; retentionMs?: number | null; streamTtl?: number | null });
    /** Append one message (its JSON text); resolves to its cursor. Atomic, totally ordered per stream. */
    append(stream: string, json: string): string | Promise<string>;
    /** No cursor: from now; `0`: everything retained; else the messages after it, or a reset. */
    read(stream: string, cursor: string | undefined, limit?: number): ReadResult | Promise<ReadResult>;
    head(stream: string): string | Promise<string>;
    /** Resolves true when a message after `cursor` may exist, false after `timeout` ms. */
    wait(stream: string, cursor: string, timeout: number): Promise<boolean>;
    /** `fn()` on news for the stream: a wake-up, not data. */
    subscribe(stream: string, fn: () => void): () => void;
    /** The store's state: `{ok, store, …}`. */
    health(): Health | Promise<Health>;
    /** Forget every stream (what a restart without persistence does). */
    clear(): void | Promise<void>;
    close(): void | Promise<void>;
    retention: number;
    retentionMs: number | null;
    streamTtl: number | null;
}

/** What `store` takes: a Store, or any object with its four essential calls. */
export type StoreLike = Pick<Store, 'append' | 'read' | 'head' | 'subscribe'> & Partial<Omit<Store, 'append' | 'read' | 'head' | 'subscribe'>>;

export type Action = 'subscribe' | 'send';

export interface LifelineOptions {
    /** May this request subscribe to / send on this stream? false → 403 / error frame `forbidden`. */
    authorize?: (stream: string, action: Action, req: IncomingMessage) => boolean | Promise<boolean>;
    /** A client's send. Return to ack it, throw `Rejected` to refuse it. Without it every send is refused (`sends_disabled`). */
    onSend?: (stream: string, data: unknown, req: IncomingMessage) => unknown | Promise<unknown>;
    /** A store; default the in-memory store. */
    store?: StoreLike;
    /** The Redis store instead of memory: `redis://h:p`, `redis-sentinel://h:p,h:p/<master name>` or `redis-cluster://h:p,h:p`. */
    redis?: string;
    /** Key prefix of the Redis store. Default `lifeline`. */
    redisKeyPrefix?: string;
    // ---- the options both servers share: generated from protocol/v1.json by tools/gen-protocol.mjs ----
    /** where streams are mounted: `<prefix>/<stream>`. Default `/live`. */
    prefix?: string;
    /** other origins allowed to open the WebSocket, send, and read polls: a list of origins, `'*'` (all), or a comma-separated string; each is normalised to `scheme://host[:port]` (lower case, default port and trailing slash dropped). Default `[]` (same origin only). */
    origins?: string[] | string | '*';
    /** the server pings a WebSocket idle this long (announced in `hello`); a socket that asked for beats gets beats instead, at most this far apart, and sends one when it sent nothing this long; a socket silent for `silent_peer_heartbeats` of them is closed. Default 25000 ms, range [1, 86400000]. */
    heartbeat?: number;
    /** longest hold of a long poll (`0`: no long polling, no `Lifeline-Long-Poll` header). Default 25000 ms, range [0, 86400000]. */
    longPollMax?: number;
    /** `Lifeline-Interval` hint on poll answers. Default none, range [0, 86400000]. */
    interval?: number | null;
    /** most messages in one poll answer / one catch-up read. Default 500, range [1, 1000000]. */
    batch?: number;
    /** messages kept per stream (oldest dropped first). Default 1000, range [1, 9007199254740991]. */
    retention?: number;
    /** also drop messages older than this. Default none, range [1, 9007199254740991]. */
    retentionMs?: number | null;
    /** a stream without an append this long loses its log, its meta (epoch and offset) twice as late, so an old cursor still gets an exact reset (Redis: key expiry; memory: a tombstone); `null`: never. Default 86400000 ms, range [1, 9007199254740991]. */
    streamTtl?: number | null;
    /** the memory store's most streams (live and tombstones); a new stream beyond: 503 `too_many_streams`. Default 100000, range [1, 9007199254740991]. */
    maxStreams?: number;
    /** largest POST body and WebSocket message. Default 65536 bytes, range [1, 1073741824]. */
    maxBody?: number;
    /** deepest nesting of a send's JSON (the outermost `{` or `[` is 1), checked on the text before it is parsed: deeper is 400 `bad_request` / error frame `bad_frame` + 1008. Default 64, range [1, 10000]. */
    maxJsonDepth?: number;
    /** bytes one WebSocket may have waiting in the process beyond the kernel's buffers: more is `slow_consumer` + close 1013 (Flask's writer blocks on the socket, so its bound holds by construction). Default 1048576 bytes, range [1, 1073741824]. */
    maxPendingBytesPerSocket?: number;
    /** a request's head must arrive within this, else 408 and the connection closed (Flask: `gevent_server`'s handler; Node: what the app gives its node:http server's `headersTimeout`). Default 10000 ms, range [1, 86400000]. */
    requestHeaderTimeoutMs?: number;
    /** a POST body must arrive within this after the head, else 408 `request_timeout` and the connection closed. Default 10000 ms, range [1, 86400000]. */
    requestBodyTimeoutMs?: number;
    /** the longest request target (path and query) on a stream URL: longer is 414 `uri_too_long`. Default 8000 bytes, range [1, 1048576]. */
    maxRequestTargetBytes?: number;
    /** take the own origin from `X-Forwarded-Proto` / `X-Forwarded-Host`. Default false. */
    trustProxy?: boolean;
    // ---- end of generated options ----
    /** true: log internal errors to stderr; a function: log through it. */
    log?: boolean | ((...args: unknown[]) => void);
    /**
     * Where LIFELINE_* variables are read from (default process.env; null: none). Each option
     * above has one (LIFELINE_URL_PREFIX, LIFELINE_ORIGINS, LIFELINE_HEARTBEAT, …,
     * LIFELINE_REDIS_URL, LIFELINE_REDIS_KEY_PREFIX, LIFELINE_TRUST_PROXY); an option given
     * here wins over its variable.
     */
    env?: Record<string, string | undefined> | null;
    /** Test seam for the demo/test layer's fault switches; not for applications (see index.mjs). */
    intercept?: Intercept;
}

/** The test seam's hooks (index.mjs says what each one does). */
export interface Intercept {
    socket?(ws: unknown, req: IncomingMessage, stream: string): boolean;
    muted?(ws: unknown): boolean;
    delay?(req: IncomingMessage, res: unknown): number;
    hello?: object;
    upgradeHeaders?(req: IncomingMessage): Record<string, string>;
}

export interface Lifeline {
    /** Answer a request under the prefix (true), or leave it alone (false). */
    handle(req: IncomingMessage, res: ServerResponse): boolean;
    /** Take an upgrade under the prefix (true), or leave it alone (false). */
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
    /** Append `data` (any JSON value) to a stream; resolves to its cursor. Rejects with StoreUnavailable when the store is down. */
    publish(stream: string, data: unknown): Promise<string>;
    /**
     * End the WebSockets (error frame `revoked`, close 1008) and held long polls (403 `revoked`)
     * of `stream` (null: every stream) whose request `where` accepts (default all); returns how
     * many were ended. For rights taken away: `authorize` runs once per socket and long poll.
     */
    disconnect(stream: string | null, options?: { where?: (req: IncomingMessage) => boolean; message?: string }): number;
    /** Change heartbeat, longPollMax, interval, batch, retention or retentionMs at run time (new requests and sockets see them). */
    configure(changes: Partial<Pick<LifelineOptions, 'heartbeat' | 'longPollMax' | 'interval' | 'batch' | 'retention' | 'retentionMs'>>): object;
    /** Close every socket and held poll; close the store if the handler made it. */
    close(): Promise<void>;
    /**
     * The URL the handler serves a built client file at: `clientUrl('lifeline.js')` →
     * `/live/client/lifeline.<hash>.js` (also 'lifeline.mjs', 'lifeline.csp.js',
     * 'lifeline.csp.mjs', 'lifeline.wasm'), cached by browsers for a year.
     */
    clientUrl(file: 'lifeline.js' | 'lifeline.mjs' | 'lifeline.csp.js' | 'lifeline.csp.mjs' | 'lifeline.wasm'): string;
    /** `<script src="…/lifeline.<hash>.js"></script>` (build 'csp': the strict-CSP build), for a page's HTML. */
    scriptTag(build?: 'script' | 'csp'): string;
    readonly store: StoreLike;
    /** The store's state: `{ok, store, …}` (Redis: mode, connected, pingMs, connections, probe); a store without a health hook is ok. */
    health(): Promise<Health>;
    readonly config: Readonly<Required<Pick<LifelineOptions, 'heartbeat' | 'longPollMax' | 'interval' | 'batch' | 'retention' | 'retentionMs' | 'maxBody' | 'maxJsonDepth' | 'maxPendingBytesPerSocket' | 'requestBodyTimeoutMs' | 'requestHeaderTimeoutMs' | 'maxRequestTargetBytes' | 'streamTtl' | 'maxStreams'>>>;
}

export function createLifeline(options?: LifelineOptions): Lifeline;

/** Thrown by onSend to refuse a send: POST answers `status` (a 4xx, not 408/429) with {error: code, message}. Another status: RangeError; a code that is not a non-empty string, a message that is not a string: TypeError. */
export class Rejected extends Error {
    constructor(code?: string, message?: string, status?: number);
    code: string;
    status: number;
}

/** The store's backend is down: polls 503, sockets close 1012, publish rejects with it. */
export class StoreUnavailable extends Error {
    /** The `error` code of the 503 answer: `unavailable`, or `too_many_streams`. */
    code: string;
}

/** The memory store holds maxStreams streams, none idle long enough to go (503 `too_many_streams`). */
export class TooManyStreams extends StoreUnavailable {}

export class MemoryStore extends Store {
    constructor(options?: { retention?: number; retentionMs?: number | null; streamTtl?: number | null; maxStreams?: number; now?: () => number });
    append(stream: string, json: string): string;
    read(stream: string, cursor: string | undefined, limit?: number): ReadResult;
    head(stream: string): string;
    subscribe(stream: string, fn: () => void): () => void;
    /** Forget every stream and start a new epoch (a simulated restart). */
    clear(): void;
    close(): void;
    health(): { ok: true; store: 'memory'; streams: number; tombstones: number; maxStreams: number };
    readonly streamCount: number;
    readonly epoch: bigint;
    maxStreams: number;
}

/** The Redis store: `redis://h:p`, `redis-sentinel://h:p,h:p/<master name>` or `redis-cluster://h:p,h:p`. */
export class RedisStore extends Store {
    constructor(options: { url: string; keyPrefix?: string; retention?: number; retentionMs?: number | null; streamTtl?: number | null; log?: (...args: unknown[]) => void });
    append(stream: string, json: string): Promise<string>;
    read(stream: string, cursor: string | undefined, limit?: number): Promise<ReadResult>;
    head(stream: string): Promise<string>;
    /** Delete every key of this store's prefix, as if Redis lost its data (a simulated restart). */
    clear(): Promise<void>;
    close(): Promise<void>;
    health(): Promise<Health>;
    /** Resolves once connected the first time, or after at most 3 s. */
    readonly ready: Promise<void>;
    /** Redis connections this store holds open now. */
    readonly connections: number;
    readonly mode: 'single' | 'sentinel' | 'cluster';
}

// ---- the subprotocol: generated from protocol/v1.json by tools/gen-protocol.mjs ----
export const SUBPROTOCOL: 'lifeline.v1';
// ---- end of generated subprotocol ----
export function isStreamName(s: unknown): boolean;
/** Test seam (with `intercept`): write a refusal (`status` with `{"error": code, "message"}`) on a raw upgrade socket, as the handler does. */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string, headers?: Record<string, string>): void;
export const DEFAULTS: Readonly<Required<Pick<LifelineOptions, 'prefix' | 'heartbeat' | 'longPollMax' | 'interval' | 'batch' | 'retention' | 'retentionMs' | 'maxBody' | 'trustProxy' | 'maxJsonDepth' | 'maxPendingBytesPerSocket' | 'requestBodyTimeoutMs' | 'requestHeaderTimeoutMs' | 'maxRequestTargetBytes' | 'streamTtl' | 'maxStreams'>>>;

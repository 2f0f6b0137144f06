// Types of lifeline-live/server (server/node/index.mjs). The contract: server/DESIGN.md.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** A message as a store keeps it: its cursor and its data as JSON text. */
export interface StoredMessage {
    cursor: string;
    json: string;
}

export type ReadResult = { messages: StoredMessage[]; cursor: string; reset?: undefined } | { reset: true; cursor: string };

/** The store interface (server/DESIGN.md "Store interface"); every method may return a Promise. */
export interface Store {
    /** Append one message (its JSON text); resolves to its cursor. Atomic, totally ordered per stream. */
    append(stream: string, json: string): string | Promise<string>;
    /** No cursor: from now; `0`: everything retained; else the messages after it, or a reset. */
    read(stream: string, cursor: string | undefined, limit: number): ReadResult | Promise<ReadResult>;
    head(stream: string): string | Promise<string>;
    /** Resolves (true) when a message after `cursor` may exist, or false after `timeout` ms. */
    wait?(stream: string, cursor: string, timeout: number): Promise<boolean>;
    /** `fn()` on news for the stream: a wake-up, not data. */
    subscribe(stream: string, fn: () => void): () => void;
    close?(): void | Promise<void>;
    retention?: number;
    retentionMs?: number | null;
}

export type Action = 'subscribe' | 'send';

export interface LifelineOptions {
    /** Where streams are mounted: `<prefix>/<stream>`. Default `/live`. */
    prefix?: string;
    /** May this request subscribe to / send on this stream? false → 403 / error frame `forbidden`. */
    authorize?: (stream: string, action: Action, req: IncomingMessage) => boolean | Promise<boolean>;
    /** A client's send. Return to ack it, throw `Rejected` to refuse it. Without it every send is refused (`sends_disabled`). */
    onSend?: (stream: string, data: unknown, req: IncomingMessage) => unknown | Promise<unknown>;
    /** Other origins allowed to open the WebSocket, send, and read polls; `'*'`: all. Default: same origin only. */
    origins?: string[] | '*';
    /** ms: the server pings an idle WebSocket; announced in hello. Default 25000. */
    heartbeat?: number;
    /** ms: longest hold of a long poll (0: no long polling). Default 25000. */
    longPollMax?: number;
    /** ms: `Lifeline-Interval` hint on poll answers. Default none. */
    interval?: number | null;
    /** Most messages in one poll answer / one catch-up read. Default 500. */
    batch?: number;
    /** Messages kept per stream. Default 1000. */
    retention?: number;
    /** Also drop messages older than this (ms). Default none. */
    retentionMs?: number | null;
    /** Largest POST body and WebSocket frame, bytes. Default 65536. */
    maxBody?: number;
    /** ms without an append after which a stream's log expires (its epoch and offset twice as late); null: never. Default 86400000 (24 h). */
    streamTtl?: number | null;
    /** The memory store's most streams (live + expired-log tombstones); a new one beyond: 503 `too_many_streams`. Default 100000. */
    maxStreams?: number;
    /** A store; default the in-memory store. */
    store?: Store;
    /** The Redis store instead of memory: `redis://h:p`, `redis-sentinel://h:p,h:p/<master name>` or `redis-cluster://h:p,h:p`. */
    redis?: string;
    /** Key prefix of the Redis store. Default `lifeline`. */
    redisKeyPrefix?: string;
    /** Take the own origin from X-Forwarded-Proto / X-Forwarded-Host. Default false. */
    trustProxy?: boolean;
    /** true: log internal errors to stderr; a function: log through it. */
    log?: boolean | ((...args: unknown[]) => void);
    /** Test seam for the demo/test layer's fault switches; not for applications (see index.mjs). */
    intercept?: object;
}

export interface Lifeline {
    /** Answer a request under the prefix (true), or leave it alone (false). */
    handle(req: IncomingMessage, res: ServerResponse): boolean;
    /** Take an upgrade under the prefix (true), or leave it alone (false). */
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
    /** Append `data` (any JSON value) to a stream; resolves to its cursor. Rejects with StoreUnavailable when the store is down. */
    publish(stream: string, data: unknown): Promise<string>;
    /** Change heartbeat, longPollMax, interval, batch, retention or retentionMs at run time (new requests and sockets see them). */
    configure(changes: Partial<Pick<LifelineOptions, 'heartbeat' | 'longPollMax' | 'interval' | 'batch' | 'retention' | 'retentionMs'>>): object;
    /** Close every socket and held poll; close the store if the handler made it. */
    close(): Promise<void>;
    /** The store's state: `{ok, store, …}` (Redis: mode, connected, pingMs, connections, probe). */
    health(): Promise<{ ok: boolean; store: string; [k: string]: unknown }>;
    readonly store: Store;
    readonly config: Readonly<Required<Pick<LifelineOptions, 'heartbeat' | 'longPollMax' | 'interval' | 'batch' | 'retention' | 'retentionMs' | 'maxBody'>>>;
}

export function createLifeline(options?: LifelineOptions): Lifeline;

/** Thrown by onSend to refuse a send: POST answers `status` (a 4xx, not 408/429) with {error: code, message}. */
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

export class MemoryStore implements Store {
    constructor(options?: { retention?: number; retentionMs?: number | null; streamTtl?: number | null; maxStreams?: number; now?: () => number });
    append(stream: string, json: string): string;
    read(stream: string, cursor: string | undefined, limit?: number): ReadResult;
    head(stream: string): string;
    wait(stream: string, cursor: string, timeout: number): Promise<boolean>;
    subscribe(stream: string, fn: () => void): () => void;
    /** Forget every stream and start a new epoch (a simulated restart). */
    reset(): void;
    close(): void;
    health(): { ok: true; store: 'memory'; streams: number; tombstones: number; maxStreams: number };
    readonly streamCount: number;
    retention: number;
    retentionMs: number | null;
    streamTtl: number | null;
    maxStreams: number;
}

export const SUBPROTOCOL: 'lifeline.v1';
export function isStreamName(s: unknown): boolean;
export const DEFAULTS: Readonly<Required<Pick<LifelineOptions, 'prefix' | 'heartbeat' | 'longPollMax' | 'interval' | 'batch' | 'retention' | 'retentionMs' | 'maxBody' | 'trustProxy'>>>;

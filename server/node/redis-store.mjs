// redis-store.mjs — the Redis store: streams that outlive the process and are shared by every
// process on one Redis (server/DESIGN.md "Redis layout"; the Lua scripts in server/redis/ are
// the one source, the Flask package uses the same files).
//
//   createLifeline({ redis: 'redis://127.0.0.1:6379' })      // or: store: new RedisStore({url})
//
// Theory:
//  - Appends and reads are the scripts append.lua and read.lua (EVALSHA, loaded on NOSCRIPT):
//    epoch, offset, XADD with the explicit ID `<epoch>-<offset>` and the trims are one atomic
//    step, so appends from any number of processes are totally ordered per stream, and a read
//    sees the epoch and the retained range of one instant ("cursor too old" is exact).
//  - When Redis loses a stream's history (restart without persistence, FLUSHALL, eviction)
//    its meta hash is gone: the next append starts a new epoch, and until then the stream's
//    head is `0-0`; either way every cursor issued before is answered with a reset — never a
//    silent gap.
//  - Connections: exactly two per process, whatever the number of polls and sockets: one for
//    commands, one Pub/Sub subscriber on `<prefix>:notify` (each append publishes the stream's
//    name). A notification wakes this process's local subscribers of that stream; concurrent
//    identical reads (the usual case: every client of a stream is at its head) share one
//    script call, so a notification costs one read per stream, fanned out.
//  - Redis down: commands fail at once (no offline queue) with StoreUnavailable — polls 503,
//    publish rejects — and every local subscriber is woken, so open WebSockets read, fail and
//    close with 1012. The clients reconnect (node-redis retries every ≤ 1 s) and everything
//    resumes without restarting the app; after a reconnect every subscriber is woken again
//    (a notification missed meanwhile costs a re-read, never a message).
//  - `redis` is imported when the first RedisStore is made, so a memory-only app never loads it.

import fs from 'node:fs';
import crypto from 'node:crypto';
import { StoreUnavailable } from './errors.mjs';
import { parseCursor } from './cursor.mjs';
import { waitWith } from './memory-store.mjs';
import { Subscribers } from './subscribers.mjs';
import { peer } from './peers.mjs';

const script = (name) => {
    const text = fs.readFileSync(new URL(`../redis/${name}.lua`, import.meta.url), 'utf8');
    return { text, sha: crypto.createHash('sha1').update(text).digest('hex') };
};
const SCRIPTS = { append: script('append'), read: script('read') };

/** Replies that mean "Redis cannot serve now", not "this request is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN)/;

export class RedisStore {
    /**
     * @param {{url: string, keyPrefix?: string, retention?: number, retentionMs?: number|null, log?: Function}} options
     */
    constructor(options) {
        if (typeof options?.url !== 'string') throw new TypeError('RedisStore needs {url}');
        this._redis = peer('redis', 'the Redis store');
        this.prefix = options.keyPrefix ?? 'lifeline';
        this.channel = `${this.prefix}:notify`;
        this.retention = options.retention ?? 1000;
        this.retentionMs = options.retentionMs ?? null;
        this._log = typeof options.log === 'function' ? options.log : () => {};
        this._subs = new Subscribers();
        this._inflight = new Map(); // read key -> Promise (shared by identical concurrent reads)
        this._closed = false;
        this._connectedOnce = false;
        this._clients = this._connect(options.url).then((c) => ((this._connectedOnce = true), c));
        this._clients.catch((err) => this._log('redis', err));
        /** Resolves once both connections are up the first time, or after at most 3 s (then calls fail until Redis is there). */
        this.ready = Promise.race([this._clients, new Promise((r) => setTimeout(r, 3000).unref())]).then(
            () => ((this._connectedOnce = true), undefined),
            () => ((this._connectedOnce = true), undefined),
        );
    }

    get retention() {
        return this._retention;
    }
    set retention(n) {
        if (!Number.isSafeInteger(n) || n < 1) throw new RangeError('retention must be an integer >= 1');
        this._retention = n;
    }
    get retentionMs() {
        return this._retentionMs;
    }
    set retentionMs(ms) {
        if (ms !== null && (!Number.isSafeInteger(ms) || ms < 1)) throw new RangeError('retentionMs must be null or an integer >= 1');
        this._retentionMs = ms;
    }

    /** Redis connections this store holds open now (2 when connected: commands + subscriber). */
    get connections() {
        return [this._cmd, this._sub].filter((c) => c?.isReady).length;
    }

    async _connect(url) {
        const { createClient } = this._redis;
        const options = {
            url,
            disableOfflineQueue: true,
            socket: { reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 1000), connectTimeout: 2000 },
        };
        const cmd = createClient(options);
        const sub = createClient({ ...options, disableOfflineQueue: false });
        this._cmd = cmd;
        this._sub = sub;
        const down = (err) => {
            if (err) this._log('redis', err.message);
            this._subs.wakeAll();
        };
        for (const c of [cmd, sub]) {
            c.on('error', down);
            c.on('reconnecting', () => down());
            c.on('end', () => down());
        }
        // after a reconnect: notifications may have been missed
        sub.on('ready', () => (this._forgetReads(null), this._subs.wakeAll()));
        await Promise.all([cmd.connect(), sub.connect()]);
        await sub.subscribe(this.channel, (stream) => (this._forgetReads(stream), this._subs.wake(stream)));
        return { cmd, sub };
    }

    _keys(stream) {
        return [`${this.prefix}:{${stream}}:meta`, `${this.prefix}:{${stream}}:log`];
    }

    /** Run a script; any failure of the connection is StoreUnavailable. */
    async _run(name, keys, args) {
        if (!this._connectedOnce) await this.ready; // the first connection is still being made
        const cmd = this._cmd;
        if (this._closed || !cmd?.isReady) throw new StoreUnavailable('Redis is not connected');
        const { sha, text } = SCRIPTS[name];
        try {
            try {
                return await cmd.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args.map(String)]);
            } catch (err) {
                if (!String(err?.message).startsWith('NOSCRIPT')) throw err;
                return await cmd.sendCommand(['EVAL', text, String(keys.length), ...keys, ...args.map(String)]);
            }
        } catch (err) {
            if (err instanceof StoreUnavailable) throw err;
            const isReply = err?.constructor?.name === 'ErrorReply' || err?.constructor?.name === 'SimpleError';
            if (!isReply || UNAVAILABLE_REPLY.test(String(err.message))) throw new StoreUnavailable(`Redis: ${err.message}`, { cause: err });
            throw err;
        }
    }

    async append(stream, json) {
        return String(await this._run('append', this._keys(stream), [json, this._retention, this._retentionMs ?? 0, this.channel, stream]));
    }

    read(stream, cursor, limit = 1000) {
        let hi = '';
        let lo = '';
        if (cursor !== undefined && cursor !== null) {
            const c = parseCursor(cursor);
            if (!c) throw new TypeError(`invalid cursor ${JSON.stringify(cursor)}`);
            [hi, lo] = [c[0].toString(), c[1].toString()];
        }
        const n = Number.isFinite(limit) ? Math.max(1, limit) : 1e6;
        const key = `${stream}\n${hi}-${lo}\n${n}`;
        let p = this._inflight.get(key);
        if (!p) {
            p = this._run('read', this._keys(stream), [hi, lo, n, this._retentionMs ?? 0]).then(decodeRead);
            this._inflight.set(key, p);
            const done = () => this._inflight.get(key) === p && this._inflight.delete(key);
            p.then(done, done);
        }
        return p;
    }

    /** News of `stream` (null: of every stream): a read in flight may have been answered before
     *  the append, so reads asked from now on must not join it — a waiter woken by this news
     *  would otherwise get the old answer and wait again, its wake-up lost. */
    _forgetReads(stream) {
        for (const key of [...this._inflight.keys()]) if (stream === null || key.startsWith(stream + '\n')) this._inflight.delete(key);
    }

    async head(stream) {
        return (await this.read(stream, undefined, 1)).cursor;
    }

    subscribe(stream, fn) {
        return this._subs.add(stream, fn);
    }

    wait(stream, cursor, timeout) {
        return waitWith(this, stream, cursor, timeout);
    }

    /** Test seam (the demo layer's restart): delete every key of this prefix, as if Redis lost its data. */
    async reset() {
        await this.ready;
        const cmd = this._cmd;
        if (!cmd?.isReady) throw new StoreUnavailable('Redis is not connected');
        let cursor = '0';
        do {
            const [next, keys] = /** @type {[string, string[]]} */ (await cmd.sendCommand(['SCAN', cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', '1000']));
            if (keys.length) await cmd.sendCommand(['UNLINK', ...keys]);
            cursor = String(next);
        } while (cursor !== '0');
        this._subs.wakeAll();
    }

    async close() {
        if (this._closed) return;
        this._closed = true;
        this._subs.clear();
        for (const c of [this._cmd, this._sub]) {
            try {
                if (c?.isOpen) c.destroy();
            } catch {}
        }
    }
}

function decodeRead(reply) {
    const [kind, cursor, ...rest] = reply;
    if (kind === 'reset') return { reset: true, cursor: String(cursor) };
    const messages = [];
    for (let i = 0; i < rest.length; i += 2) messages.push({ cursor: String(rest[i]), json: String(rest[i + 1]) });
    return { messages, cursor: String(cursor) };
}

// stores/redis.mjs — the Redis store: streams that outlive the process and are shared by every
// process on one Redis, a Sentinel-managed Redis, or a Redis Cluster (server/DESIGN.md "Redis
// layout", "Redis in production"; the Lua scripts in server/redis/ are the one source, the
// Flask package uses the same files).
//
//   createLifeline({ redis: 'redis://127.0.0.1:6379' })                       one Redis
//   createLifeline({ redis: 'redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster' })
//   createLifeline({ redis: 'redis-cluster://10.0.0.1:7000,10.0.0.2:7000' })  seed nodes
//   // or: store: new RedisStore({url, streamTtl, …})
//
// The store interface is stores/base.mjs (server/DESIGN.md "Store interface").
//
// Theory:
//  - Appends and reads are the scripts append.lua and read.lua (EVALSHA, loaded on NOSCRIPT):
//    epoch, offset, XADD with the explicit ID `<epoch>-<offset>` and the trims are one atomic
//    step, so appends from any number of processes are totally ordered per stream, and a read
//    sees the epoch and the retained range of one instant ("cursor too old" is exact).
//  - When Redis loses a stream's history (restart without persistence, FLUSHALL, eviction, a
//    failover that lost the last writes of a new stream, expiry) its meta hash is gone: the
//    next append starts a new epoch, and until then the stream's head is `0-0`; either way
//    every cursor issued before is answered with a reset — never a silent gap. A failover
//    that lost only the last writes of an old stream leaves the meta at a smaller offset: a
//    cursor beyond it is "ahead of the head", a reset too (server/DESIGN.md "Failover").
//  - Bounded state: append.lua gives the log a TTL of `streamTtl` and the meta twice that, so
//    an idle stream's keys go by themselves and an old cursor still meets the epoch (reset).
//  - Connections: constant per process, whatever the number of polls, sockets and streams.
//    One Redis / Sentinel: one for commands, one Pub/Sub subscriber on `<prefix>:notify` (each
//    append publishes the stream's name). Cluster: node-redis keeps one command connection and
//    one sharded Pub/Sub connection per primary; a stream with local waiters is SSUBSCRIBEd on
//    `<prefix>:{<stream>}:notify` (the script SPUBLISHes there: the channel lives on the
//    stream's shard, nothing is broadcast to the whole cluster). A notification wakes this
//    process's local subscribers of that stream; concurrent identical reads share one script
//    call, so a notification costs one read per stream, fanned out.
//  - A read's answer is reused for READ_REUSE_MS while no news of its stream came, when news
//    of it reaches this process (its subscriber is connected; on a Cluster, the stream's
//    channel is subscribed here): an idle stream's long polls renewing (each reads at its
//    start and asks the head when it expires) and a fan-out's clients coming back with the
//    same cursor cost one script call a second, not one each. News, a reconnect, a probe
//    that failed or clear() drop the answers at once. What changes with no news: messages
//    expiring by age (`retentionMs`), so an answer with messages is not reused then; a
//    stream's keys expiring (`streamTtl`), which shows at most READ_REUSE_MS late (a quarter
//    of streamTtl when that is shorter than 4 s).
//  - Redis down or failing over (connection lost, READONLY, LOADING, MASTERDOWN, CLUSTERDOWN,
//    TRYAGAIN, no answer within COMMAND_TIMEOUT_MS): the command fails with StoreUnavailable
//    (no offline queue) — polls 503, publish rejects — and every local subscriber is woken, so
//    open WebSockets read, fail and close with 1012. A failed append may or may not have been
//    applied (the caller was told it failed); one that answered is in Redis. The clients
//    reconnect (≤ 1 s apart) and every subscriber is woken again after a reconnect.
//  - No silent stall: when no notification arrived for PROBE_EVERY_MS, the process publishes a
//    probe on its own subscription's channel and expects it back within PROBE_WAIT_MS; if it
//    does not come, the subscriber is made again and every waiter woken (a re-read).
//    health() reports it.
//  - `redis` is imported when the first RedisStore is made, so a memory-only app never loads it.

import fs from 'node:fs';
import crypto from 'node:crypto';
import { StoreUnavailable } from '../errors.mjs';
import { parseCursor } from '../cursor.mjs';
import { Store } from './base.mjs';
import { Subscribers } from './subscribers.mjs';
import { peer } from '../peers.mjs';

const script = (name) => {
    const text = fs.readFileSync(new URL(`../../redis/${name}.lua`, import.meta.url), 'utf8');
    return { text, sha: crypto.createHash('sha1').update(text).digest('hex') };
};
const SCRIPTS = { append: script('append'), read: script('read') };

/** How long any Redis command may take before it fails with StoreUnavailable (both libraries). */
export const COMMAND_TIMEOUT_MS = 2000;
/** How long a read's answer may be reused while no news of its stream came (Flask: READ_REUSE). */
export const READ_REUSE_MS = 1000;
/** With replicas, an append is acknowledged once every connected replica has it (WAIT n REPLICA_WAIT_MS). */
export const REPLICA_WAIT_MS = 1000;
/** An idle subscription is probed this often; the probe must come back within PROBE_WAIT_MS. */
export const PROBE_EVERY_MS = 5000;
export const PROBE_WAIT_MS = 2000;
/** A probe's message: never a stream name (those are [A-Za-z0-9_.:-]). */
const PROBE_PREFIX = '?probe ';

/** Replies that mean "Redis cannot serve now", not "this request is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MOVED|ASK)/;

/**
 * `redis://…` / `rediss://…` (one Redis), `redis-sentinel://h:p,h:p/<master name>`,
 * `redis-cluster://h:p,h:p` (seed nodes) → {mode, url | nodes, name}.
 */
export function parseRedisUrl(url) {
    if (typeof url !== 'string') throw new TypeError('the Redis URL must be a string');
    if (/^rediss?:\/\//.test(url)) return { mode: 'single', url };
    const m = /^redis-(sentinel|cluster):\/\/([^/?#]+)(?:\/([^/?#]*))?$/.exec(url);
    if (!m) throw new TypeError(`not a Redis URL: ${url} (redis://h:p, redis-sentinel://h:p,…/name, redis-cluster://h:p,…)`);
    const nodes = m[2].split(',').map((hp) => {
        const i = hp.lastIndexOf(':');
        const port = Number(hp.slice(i + 1));
        if (i < 1 || !Number.isInteger(port)) throw new TypeError(`not host:port: ${hp} in ${url}`);
        return { host: hp.slice(0, i), port };
    });
    if (m[1] === 'sentinel' && !m[3]) throw new TypeError(`${url}: name the master: redis-sentinel://h:p,…/<name>`);
    return m[1] === 'cluster' ? { mode: 'cluster', nodes } : { mode: 'sentinel', nodes, name: decodeURIComponent(m[3]) };
}

export class RedisStore extends Store {
    /**
     * @param {{url: string, keyPrefix?: string, retention?: number, retentionMs?: number|null, streamTtl?: number|null, log?: Function}} options
     */
    constructor(options) {
        if (typeof options?.url !== 'string') throw new TypeError('RedisStore needs {url}');
        super(options);
        this._target = parseRedisUrl(options.url);
        this._redis = peer('redis', 'the Redis store');
        this.prefix = options.keyPrefix ?? 'lifeline';
        this.mode = this._target.mode;
        this.channel = `${this.prefix}:notify`;
        this._log = typeof options.log === 'function' ? options.log : () => {};
        this._subs = new Subscribers();
        this._local = new Map(); // cluster: stream -> local subscriber count (SSUBSCRIBEd while > 0)
        /** stream -> (cursor and limit -> {p: the read's answer, until: when it is asked again}) */
        this._reads = new Map();
        this._heard = new Set(); // cluster: streams whose channel is subscribed here
        this._closed = false;
        this._connectedOnce = false;
        this._id = crypto.randomBytes(6).toString('hex');
        this._probe = { sent: 0, seq: 0, pending: null, lastOk: null, failures: 0, resubscribes: 0, lastNews: Date.now() };
        this._clients = this._connect().then((c) => ((this._connectedOnce = true), c));
        this._clients.catch((err) => this._log('redis', err));
        /** Resolves once connected the first time, or after at most 3 s (then calls fail until Redis is there). */
        this.ready = Promise.race([this._clients, new Promise((r) => setTimeout(r, 3000).unref())]).then(
            () => ((this._connectedOnce = true), undefined),
            () => ((this._connectedOnce = true), undefined),
        );
        this._probeTimer = setInterval(() => (this._sweepReads(), this._probeIfIdle()), Math.min(PROBE_EVERY_MS, 1000));
        this._probeTimer.unref();
    }

    /** Redis connections this store holds open now (one Redis / Sentinel: 2 when connected). */
    get connections() {
        if (this.mode === 'cluster') {
            const masters = this._cluster?.masters ?? [];
            return masters.reduce((n, m) => n + (m.client?.isReady ? 1 : 0) + (m.pubSub?.client?.isReady ? 1 : 0), 0);
        }
        return [this._cmd, this._sub].filter((c) => c?.isReady).length;
    }

    _clientOptions() {
        return {
            disableOfflineQueue: true,
            socket: { reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 1000), connectTimeout: COMMAND_TIMEOUT_MS },
        };
    }

    async _connect() {
        const { mode } = this._target;
        const down = (err) => {
            if (err) this._log('redis', err.message ?? String(err));
            this._forgetReads(null);
            this._subs.wakeAll();
        };
        if (mode === 'cluster') {
            const { createCluster } = this._redis;
            const cluster = createCluster({
                rootNodes: this._target.nodes.map(({ host, port }) => ({ socket: { host, port } })),
                defaults: this._clientOptions(),
                // a refused connection to a dead primary re-reads the topology soon
                topologyRefreshOnReconnectionAttemptStrategy: 500,
            });
            this._cluster = cluster;
            cluster.on('error', down);
            cluster.on('node-error', (err) => down(err));
            cluster.on('node-reconnecting', () => down());
            cluster.on('node-ready', () => (this._forgetReads(null), this._subs.wakeAll()));
            await cluster.connect();
            return { cluster };
        }
        if (mode === 'sentinel') {
            const { createSentinel } = this._redis;
            const sentinel = createSentinel({
                name: this._target.name,
                sentinelRootNodes: this._target.nodes,
                nodeClientOptions: this._clientOptions(),
                sentinelClientOptions: { socket: { connectTimeout: COMMAND_TIMEOUT_MS } },
                masterPoolSize: 1,
                // re-ask the sentinels every second: a master client that reconnected to its old
                // address (a killed primary back on its port, not yet demoted) is replaced soon
                scanInterval: 1000,
            });
            this._sentinel = sentinel;
            this._cmd = sentinel;
            this._sub = sentinel;
            sentinel.on('error', down);
            sentinel.on('topology-change', (e) => {
                this._log('redis sentinel', e?.type ?? e);
                this._forgetReads(null);
                this._subs.wakeAll();
            });
            await sentinel.connect();
            await sentinel.subscribe(this.channel, (msg) => this._news(msg));
            return { sentinel };
        }
        const { createClient } = this._redis;
        const options = { url: this._target.url, ...this._clientOptions() };
        const cmd = createClient(options);
        this._cmd = cmd;
        for (const ev of ['error', 'reconnecting', 'end']) cmd.on(ev, (err) => down(ev === 'error' ? err : undefined));
        await Promise.all([cmd.connect(), this._makeSubscriber()]);
        return { cmd };
    }

    /** One Redis: (re)make the subscriber connection and subscribe to the channel. */
    async _makeSubscriber() {
        const old = this._sub;
        const sub = this._redis.createClient({ url: this._target.url, ...this._clientOptions(), disableOfflineQueue: false });
        this._sub = sub;
        if (old) {
            try {
                old.destroy();
            } catch {}
        }
        for (const ev of ['error', 'reconnecting', 'end']) {
            sub.on(ev, (err) => {
                if (ev === 'error') this._log('redis', err?.message);
                if (this._sub === sub) (this._forgetReads(null), this._subs.wakeAll());
            });
        }
        // after a reconnect: notifications may have been missed
        sub.on('ready', () => (this._forgetReads(null), this._subs.wakeAll()));
        await sub.connect();
        await sub.subscribe(this.channel, (msg) => this._news(msg));
        this._forgetReads(null);
        this._subs.wakeAll();
    }

    /** A notification: a stream's name, or a probe. */
    _news(msg) {
        this._probe.lastNews = Date.now();
        if (msg.startsWith(PROBE_PREFIX)) {
            if (this._probe.pending && msg === this._probe.pending.text) this._probe.pending.resolve(true);
            return;
        }
        this._forgetReads(msg);
        this._subs.wake(msg);
    }

    _keys(stream) {
        return [`${this.prefix}:{${stream}}:meta`, `${this.prefix}:{${stream}}:log`];
    }

    _notifyChannel(stream) {
        return this.mode === 'cluster' ? `${this.prefix}:{${stream}}:notify` : this.channel;
    }

    /** Send one command (keys[0] routes it on a Cluster); every failure of Redis is StoreUnavailable,
     *  and so is no answer within COMMAND_TIMEOUT_MS (node-redis's own timeout covers only the
     *  wait before the command is written; a late answer is still read and dropped, so the
     *  connection stays in step). */
    async _send(keys, args) {
        if (!this._connectedOnce) await this.ready; // the first connection is still being made
        if (this._closed) throw new StoreUnavailable('the Redis store is closed');
        let sent;
        if (this.mode === 'cluster') {
            if (!this._cluster?.isOpen) throw new StoreUnavailable('Redis Cluster is not connected');
            sent = this._cluster.sendCommand(keys[0], false, args);
        } else if (this.mode === 'sentinel') {
            if (!this._sentinel?.isReady) throw new StoreUnavailable('Redis (Sentinel) is not connected');
            sent = this._sentinel.sendCommand(false, args);
        } else {
            if (!this._cmd?.isReady) throw new StoreUnavailable('Redis is not connected');
            sent = this._cmd.sendCommand(args);
        }
        let timer;
        const late = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new StoreUnavailable(`Redis did not answer ${args[0]} within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
        });
        sent.catch(() => {}); // answered after the timeout: nobody listens any more
        try {
            return await Promise.race([sent, late]);
        } catch (err) {
            throw unavailable(err);
        } finally {
            clearTimeout(timer);
        }
    }

    /** Run a script (EVALSHA, EVAL when Redis does not have it). */
    async _run(name, keys, args) {
        const { sha, text } = SCRIPTS[name];
        const rest = [String(keys.length), ...keys, ...args.map(String)];
        try {
            return await this._send(keys, ['EVALSHA', sha, ...rest]);
        } catch (err) {
            if (!String(err?.message).startsWith('NOSCRIPT')) throw err;
            return await this._send(keys, ['EVAL', text, ...rest]);
        }
    }

    async append(stream, json) {
        const args = [
            json,
            this._retention,
            this._retentionMs ?? 0,
            this._notifyChannel(stream),
            stream,
            this._streamTtl ?? 0,
            this.mode === 'cluster' ? 1 : 0,
        ];
        const [id, replicas] = await this._run('append', this._keys(stream), args);
        this._forgetReads(stream); // this process reads its own append at once, before its news comes
        const cursor = String(id);
        if (Number(replicas) > 0) {
            // Acknowledged means on the replicas too, when there are some: a failover promotes a
            // replica, and asynchronous replication could otherwise lose an append its caller
            // was told had succeeded. WAIT runs on the connection that appended (one per primary).
            // Every connected replica: whichever a failover promotes then has it.
            const acked = Number(await this._send(this._keys(stream), ['WAIT', String(replicas), String(REPLICA_WAIT_MS)]));
            if (acked < Number(replicas))
                throw new StoreUnavailable(
                    `Redis: the append ${cursor} reached ${acked} of ${replicas} replicas within ${REPLICA_WAIT_MS} ms (it may still appear)`,
                );
        }
        return cursor;
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
        const key = `${hi}-${lo}\n${n}`;
        let reads = this._reads.get(stream);
        if (!reads) this._reads.set(stream, (reads = new Map()));
        let read = reads.get(key);
        if (read && read.until <= Date.now()) read = undefined;
        if (!read) {
            const p = this._run('read', this._keys(stream), [hi, lo, n, this._retentionMs ?? 0]).then(decodeRead);
            read = { p, until: Infinity }; // in flight: shared until answered
            reads.set(key, read);
            const mine = () => this._reads.get(stream)?.get(key) === read;
            p.then(
                (r) => {
                    if (!mine()) return; // news came meanwhile
                    // messages expire by age with retentionMs: such an answer changes without news
                    if (this._hears(stream) && !(this._retentionMs && r.messages.length)) read.until = Date.now() + this._reuseMs();
                    else reads.delete(key);
                },
                () => mine() && reads.delete(key),
            );
        }
        return read.p;
    }

    /** How long an answer is reused: READ_REUSE_MS, or a quarter of a short streamTtl (whose
     *  expiry changes answers with no news). */
    _reuseMs() {
        return Math.min(READ_REUSE_MS, (this._streamTtl ?? Infinity) / 4);
    }

    /** Whether news of `stream` reaches this process now: then a read's answer stays true until
     *  news of it comes (one Redis, Sentinel: the subscriber is connected; Cluster: the stream's
     *  channel is subscribed here, which it is while this process has a waiter on it). */
    _hears(stream) {
        if (this.mode === 'cluster') return this._heard.has(stream);
        return !!this._sub?.isReady;
    }

    /** News of `stream` (null: of every stream, or news may have been missed): reads asked from
     *  now on go to Redis — a read in flight may have been answered before the append, and a
     *  waiter woken by this news would otherwise get the old answer and wait again, its
     *  wake-up lost. */
    _forgetReads(stream) {
        if (stream === null) this._reads.clear();
        else this._reads.delete(stream);
    }

    /** Drop the answers that are no longer reused (every second, with the probe's timer). */
    _sweepReads() {
        const now = Date.now();
        for (const [stream, reads] of this._reads) {
            for (const [key, read] of reads) if (read.until <= now) reads.delete(key);
            if (!reads.size) this._reads.delete(stream);
        }
    }

    async head(stream) {
        return (await this.read(stream, undefined, 1)).cursor;
    }

    subscribe(stream, fn) {
        const off = this._subs.add(stream, fn);
        if (this.mode !== 'cluster') return off;
        // Cluster: the stream's channel is subscribed while this process has a waiter on it.
        const n = (this._local.get(stream) ?? 0) + 1;
        this._local.set(stream, n);
        if (n === 1) this._shardSubscribe(stream);
        let gone = false;
        return () => {
            off();
            if (gone) return;
            gone = true;
            const left = (this._local.get(stream) ?? 1) - 1;
            if (left > 0) return void this._local.set(stream, left);
            this._local.delete(stream);
            this._heard.delete(stream);
            this._cluster?.sUnsubscribe(this._notifyChannel(stream), this._onShardNews).catch(() => {});
        };
    }

    _onShardNews = (msg) => this._news(msg);

    async _shardSubscribe(stream) {
        try {
            await this._clients;
            await this._cluster.sSubscribe(this._notifyChannel(stream), this._onShardNews);
            if (this._local.has(stream)) this._heard.add(stream);
        } catch (err) {
            this._log('redis ssubscribe', err?.message);
        }
        // subscribed now: an append between the waiter's read and this moment sent no news here
        this._forgetReads(stream);
        this._subs.wake(stream);
    }

    // ---- no silent stall -----------------------------------------------------------------

    /** Probe the subscription end to end when no news came for PROBE_EVERY_MS. */
    async _probeIfIdle() {
        if (this._closed || !this._connectedOnce || this._probe.pending) return;
        if (Date.now() - this._probe.lastNews < PROBE_EVERY_MS) return;
        await this.probe().catch(() => {});
    }

    /**
     * Publish a probe on this process's own subscription and wait for it (PROBE_WAIT_MS). Not
     * back: the subscriber is made again and every waiter woken. Resolves true when it came back.
     * On a Cluster the probe travels the channel of one stream this process waits on (a shard's
     * subscription); with no waiter there is nothing to stall.
     */
    async probe() {
        while (this._probe.pending) await this._probe.pending.finished; // then a probe of its own
        let channel = this.channel;
        if (this.mode === 'cluster') {
            const stream = this._local.keys().next().value;
            if (stream === undefined) return true;
            channel = this._notifyChannel(stream);
        }
        const text = `${PROBE_PREFIX}${this._id} ${++this._probe.seq}`;
        let resolve;
        let finish;
        const promise = new Promise((r) => (resolve = r));
        const finished = new Promise((r) => (finish = r));
        this._probe.pending = { text, resolve, finished };
        const timer = setTimeout(() => resolve(false), PROBE_WAIT_MS);
        try {
            await this._send([channel], [this.mode === 'cluster' ? 'SPUBLISH' : 'PUBLISH', channel, text]);
        } catch {
            resolve(null); // Redis is down: nothing to learn about the subscription
        }
        const ok = await promise;
        clearTimeout(timer);
        this._probe.sent++;
        if (ok) this._probe.lastOk = Date.now();
        else if (ok === false) {
            this._probe.failures++;
            this._log('redis', 'the notification subscription did not deliver a probe: subscribing again');
            // still pending meanwhile: no second probe while the subscriber is made again
            await this._resubscribe().catch((err) => this._log('redis resubscribe', err?.message));
        }
        this._probe.lastNews = Date.now(); // down (null): try again after PROBE_EVERY_MS
        this._probe.pending = null;
        finish();
        return !!ok;
    }

    async _resubscribe() {
        this._probe.resubscribes++;
        if (this.mode === 'single') await this._makeSubscriber();
        else if (this.mode === 'sentinel') {
            await this._sentinel.unsubscribe(this.channel).catch(() => {});
            await this._sentinel.subscribe(this.channel, (msg) => this._news(msg));
        } else {
            for (const stream of this._local.keys()) {
                const ch = this._notifyChannel(stream);
                await this._cluster.sUnsubscribe(ch).catch(() => {});
                await this._cluster.sSubscribe(ch, this._onShardNews);
            }
        }
        this._forgetReads(null);
        this._subs.wakeAll();
    }

    /** The store's state: {ok, store, mode, connected, connections, probe: {...}} (live.health()). */
    async health() {
        const connected =
            this.mode === 'cluster'
                ? !!this._cluster?.isReady
                : this.mode === 'sentinel'
                  ? !!this._sentinel?.isReady
                  : !!(this._cmd?.isReady && this._sub?.isReady);
        let ping = null;
        try {
            const t = Date.now();
            await this._send([this.channel], ['PING']);
            ping = Date.now() - t;
        } catch {}
        const p = this._probe;
        const probeOk = p.lastOk === null || p.lastOk >= Date.now() - (PROBE_EVERY_MS + PROBE_WAIT_MS) * 2 || p.failures === 0;
        return {
            ok: connected && ping !== null && probeOk,
            store: 'redis',
            mode: this.mode,
            connected,
            pingMs: ping,
            connections: this.connections,
            probe: { sent: p.sent, failures: p.failures, resubscribes: p.resubscribes, lastOkAgoMs: p.lastOk === null ? null : Date.now() - p.lastOk },
        };
    }

    /** Forget every stream: delete every key of this prefix, as if Redis lost its data (the demo layer's restart). */
    async clear() {
        await this.ready;
        const clients = this.mode === 'cluster' ? this._cluster.masters.map((m) => m.client).filter(Boolean) : [this.mode === 'sentinel' ? null : this._cmd];
        for (const c of clients) {
            if (c === null) {
                // Sentinel: SCAN through the master
                let cursor = '0';
                do {
                    const [next, keys] = await this._send([], ['SCAN', cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', '1000']);
                    if (keys.length) await this._send([], ['UNLINK', ...keys]);
                    cursor = String(next);
                } while (cursor !== '0');
                continue;
            }
            if (!c?.isReady) throw new StoreUnavailable('Redis is not connected');
            let cursor = '0';
            do {
                const [next, keys] = /** @type {[string, string[]]} */ (await c.sendCommand(['SCAN', cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', '1000']));
                for (const k of keys) await c.sendCommand(['UNLINK', k]); // one key each: a Cluster node refuses CROSSSLOT
                cursor = String(next);
            } while (cursor !== '0');
        }
        this._forgetReads(null);
        this._subs.wakeAll();
    }

    async close() {
        if (this._closed) return;
        this._closed = true;
        clearInterval(this._probeTimer);
        this._probe.pending?.resolve(null);
        this._subs.clear();
        for (const c of new Set([this._cmd, this._sub, this._cluster])) {
            try {
                if (c?.isOpen) c.destroy();
            } catch {}
        }
        try {
            if (this._sentinel) await this._sentinel.close();
        } catch {}
    }
}

/** A failure of Redis (not of the request) as StoreUnavailable; anything else as it is. */
function unavailable(err) {
    if (err instanceof StoreUnavailable) return err;
    const name = err?.constructor?.name;
    const isReply = name === 'ErrorReply' || name === 'SimpleError';
    if (!isReply || UNAVAILABLE_REPLY.test(String(err.message))) return new StoreUnavailable(`Redis: ${err?.message ?? err}`, { cause: err });
    return err;
}

function decodeRead(reply) {
    const [kind, cursor, ...rest] = reply;
    if (kind === 'reset') return { messages: [], cursor: String(cursor), reset: true };
    const messages = [];
    for (let i = 0; i < rest.length; i += 2) messages.push({ cursor: String(rest[i]), json: String(rest[i + 1]) });
    return { messages, cursor: String(cursor), reset: false };
}

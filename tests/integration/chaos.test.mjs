// Chaos: a seeded random schedule of every proxy fault, server restarts, offline/online,
// hidden/visible and pagehide/pageshow, over at least 1,000 messages published at a steady
// rate straight to the server's admin API. At the end (fault cleared, visible, online) the
// client must have received every message exactly once, in order — per log epoch.
//
//   node --test tests/integration/chaos.test.mjs                  a random seed (printed)
//   CHAOS_SEED=1234 node --test tests/integration/chaos.test.mjs  replay one
//   CHAOS_MESSAGES=3000 CHAOS_SERVER=flask …                      longer / against Flask
//
// The oracle. Every publish returns its cursor `<boot>-<seq>`; the boot part is the log
// epoch (a restart starts a new log with a newer boot). The client starts from the cursor
// of a marker message. Its events, in order, must be:
//   - message c: c is in the epoch the client is in, and is exactly the next message
//     published in that epoch after the client's position (so: none lost, none repeated,
//     none out of order, nothing from a dead epoch);
//   - reset {from, to}: `from` is the client's position (its last cursor) and `to` is in a
//     strictly newer epoch; the client's position becomes `to`, i.e. it must next receive
//     the first message published in that epoch after `to` (messages published there
//     before `to` were published before the client reconnected: the server only resumes
//     "from now" after a reset — by design, and reported as such).
// At the end the client is in the server's current epoch and has received every message
// published in it after its reset point. In an earlier epoch it received a gap-free prefix;
// what was published there after it and before the restart died with that log (counted
// and printed, not a failure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, admin, serverAvailable } from '../lib/servers.mjs';
import { client, FAST, createProxy, fakePage, sleep, waitFor, parseCursor, cmpCursor } from './helpers.mjs';
import { MODES } from '../proxy.mjs';
import { prng } from '../lib/prng.mjs';

const SEED = process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const MESSAGES = Number(process.env.CHAOS_MESSAGES ?? 1000);
const SERVER = process.env.CHAOS_SERVER ?? 'node';
const PUBLISH_EVERY = Number(process.env.CHAOS_PUBLISH_MS ?? 40);

const epochOf = (c) => parseCursor(c)[0].toString();
const seqOf = (c) => parseCursor(c)[1];

/**
 * Replay the client's events against what was published. Returns
 * {errors: [...], complete, epochs: [{epoch, skippedBeforeReset, received, publishedAfter, diedWithLog}]}.
 * @param {string} start the client's starting cursor
 * @param {Map<string, {cursor, i}[]>} published per epoch, in publish (= cursor) order
 * @param {{type, cursor?, data?, from?, to?}[]} events the client's message/reset events, in order
 * @param {string} lastEpoch the server's current epoch
 */
function oracle(start, published, events, lastEpoch) {
    const errors = [];
    const epochs = [];
    let ep = epochOf(start);
    let list = published.get(ep) ?? [];
    let next = list.filter((p) => cmpCursor(p.cursor, start) <= 0).length;
    let pos = start;
    let cur = { epoch: ep, skippedBeforeReset: 0, received: 0, publishedAfter: list.length - next, start: next };
    epochs.push(cur);
    for (const [k, e] of events.entries()) {
        if (errors.length > 10) break;
        if (e.type === 'msg') {
            if (epochOf(e.cursor) !== ep) {
                errors.push(`event #${k}: message ${e.cursor} (i=${e.data?.i}) is not in the client's epoch ${ep}`);
                continue;
            }
            const want = list[next];
            if (!want) {
                errors.push(`event #${k}: message ${e.cursor} (i=${e.data?.i}) but nothing more was published in epoch ${ep} (duplicate or invented)`);
                continue;
            }
            if (e.cursor !== want.cursor || e.data?.i !== want.i) {
                const cmp = cmpCursor(e.cursor, want.cursor);
                errors.push(
                    `event #${k}: got ${e.cursor} (i=${e.data?.i}), expected ${want.cursor} (i=${want.i}): ` +
                        (cmp < 0
                            ? 'a repeat / going backwards'
                            : `${list.filter((p) => cmpCursor(p.cursor, want.cursor) >= 0 && cmpCursor(p.cursor, e.cursor) < 0).length} message(s) skipped`),
                );
                // resynchronise to report further problems sensibly
                const idx = list.findIndex((p) => p.cursor === e.cursor);
                if (idx >= 0) next = idx + 1;
                pos = e.cursor;
                continue;
            }
            next++;
            cur.received++;
            pos = e.cursor;
        } else if (e.type === 'reset') {
            if (e.from !== pos) errors.push(`event #${k}: reset from ${e.from}, but the client's position was ${pos}`);
            const to = epochOf(e.to);
            if (BigInt(to) <= BigInt(ep)) {
                errors.push(`event #${k}: reset ${e.from} -> ${e.to} does not move to a newer epoch (client in ${ep})`);
            }
            cur.diedWithLog = list.length - next;
            ep = to;
            list = published.get(ep) ?? [];
            next = list.filter((p) => seqOf(p.cursor) <= seqOf(e.to)).length;
            pos = e.to;
            cur = { epoch: ep, skippedBeforeReset: next, received: 0, publishedAfter: list.length - next, start: next };
            epochs.push(cur);
        }
    }
    const complete = ep === lastEpoch && next === list.length;
    return { errors, complete, epochs, missing: ep === lastEpoch ? list.length - next : null, clientEpoch: ep };
}

test('chaos oracle: catches a gap, a repeat, a stale epoch and a bad reset', () => {
    const A = '100',
        B = '200';
    const pub = new Map([
        [A, [1, 2, 3, 4].map((i) => ({ cursor: `${A}-${i}`, i }))],
        [B, [1, 2, 3].map((i) => ({ cursor: `${B}-${i}`, i }))],
    ]);
    const m = (ep, i) => ({ type: 'msg', cursor: `${ep}-${i}`, data: { i } });
    const good = [m(A, 2), m(A, 3), { type: 'reset', from: `${A}-3`, to: `${B}-1` }, m(B, 2), m(B, 3)];
    const ok = oracle(`${A}-1`, pub, good, B);
    assert.deepEqual(ok.errors, []);
    assert.ok(ok.complete);
    assert.equal(ok.epochs[0].diedWithLog, 1);
    assert.equal(ok.epochs[1].skippedBeforeReset, 1);
    assert.ok(!oracle(`${A}-1`, pub, good.slice(0, 4), B).complete, 'one missing at the end');
    assert.match(oracle(`${A}-1`, pub, [m(A, 3)], A).errors[0], /1 message\(s\) skipped/);
    assert.match(oracle(`${A}-1`, pub, [m(A, 2), m(A, 2)], A).errors[0], /repeat/);
    assert.match(oracle(`${A}-1`, pub, [{ type: 'reset', from: `${A}-1`, to: `${B}-0` }, m(A, 2)], B).errors[0], /not in the client's epoch/);
    assert.match(oracle(`${A}-1`, pub, [m(A, 2), { type: 'reset', from: `${A}-1`, to: `${B}-0` }], B).errors[0], /position was/);
    assert.match(oracle(`${A}-1`, pub, [{ type: 'reset', from: `${A}-1`, to: `${A}-4` }], A).errors[0], /newer epoch/);
});

test(
    `chaos: seed ${SEED}, ${MESSAGES} messages, ${SERVER} server — none lost, none repeated`,
    {
        timeout: 150000,
        skip: serverAvailable(SERVER) ? false : `${SERVER} server not available`,
    },
    async (t) => {
        console.log(`chaos seed ${SEED} (replay: CHAOS_SEED=${SEED} node --test tests/integration/chaos.test.mjs)`);
        t.diagnostic(`chaos seed ${SEED}`);
        const rnd = prng(SEED);
        const server = await startServer(SERVER, ['--heartbeat', '1000', '--retention', '100000']);
        const proxy = await createProxy({ target: server.url, listenPort: 0 });
        const pg = fakePage();
        const t0 = Date.now();
        const log = [];
        const note = (s) => log.push(`${String(Date.now() - t0).padStart(6)} ${s}`);
        let l;
        let rec;
        try {
            const start = await publish(server.url, { marker: 'start' });
            ({ l, rec } = client(`${proxy.url}/live/test`, {
                ...FAST,
                hiddenGrace: 500,
                cursor: start,
                seed: SEED,
                document: pg.document,
                window: pg.window,
            }));
            const events = [];
            l.addEventListener('message', (e) => events.push({ type: 'msg', cursor: e.cursor, data: e.data }));
            l.addEventListener('reset', (e) => events.push({ type: 'reset', from: e.from, to: e.to }));
            l.addEventListener('reset', (e) => note(`client reset ${e.from} -> ${e.to}`));
            l.addEventListener('statechange', (e) => note(`client ${e.state}/${e.transport} ${e.reason}`));

            // ---- the publisher: steady rate, straight to the server
            const published = new Map();
            let lastEpoch = epochOf(start);
            published.set(lastEpoch, [{ cursor: start, i: 0 }]);
            let sent = 0;
            const publisher = (async () => {
                const begin = Date.now();
                for (let i = 1; i <= MESSAGES; i++) {
                    const due = begin + i * PUBLISH_EVERY;
                    if (due > Date.now()) await sleep(due - Date.now());
                    const cursor = await publish(server.url, { i });
                    const ep = epochOf(cursor);
                    if (!published.has(ep)) published.set(ep, []);
                    published.get(ep).push({ cursor, i });
                    sent = i;
                }
            })();
            let publishing = true;
            publisher.finally(() => (publishing = false)).catch(() => {});

            // ---- the chaos schedule
            const counts = {};
            const bump = (k) => (counts[k] = (counts[k] ?? 0) + 1);
            let restarts = 0;
            const total = MESSAGES * PUBLISH_EVERY;
            const faults = MODES.filter((m) => m !== 'pass');
            const chaos = (async () => {
                while (publishing) {
                    const late = Date.now() - t0 > total * 0.85; // the last stretch: no restart (keep the final epoch long)
                    const kind = rnd.weighted([
                        ['mode', 50],
                        ['hidden', 10],
                        ['offline', 10],
                        ['restart', late || restarts >= 4 ? 0 : 6],
                        ['pagehide', 4],
                        ['mode+hidden', 5],
                        ['mode+offline', 5],
                        ['calm', 10],
                    ]);
                    const ms = rnd.int(150, 2000);
                    const mode = rnd.pick(faults);
                    const opts = mode === 'flap' ? { ms: rnd.int(50, 400) } : mode === 'latency' ? { ms: rnd.int(20, 400) } : {};
                    bump(kind.includes('mode') ? `${kind}:${mode}` : kind);
                    if (kind.startsWith('mode')) {
                        note(`proxy ${mode} ${JSON.stringify(opts)} for ${ms} ms${kind.includes('+') ? ' + ' + kind.split('+')[1] : ''}`);
                        proxy.setMode(mode, opts);
                    }
                    if (kind.endsWith('hidden')) (pg.hide(), note('hidden'));
                    if (kind.endsWith('offline')) (pg.goOffline(), note('offline'));
                    if (kind === 'pagehide') {
                        note('pagehide');
                        pg.window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
                    }
                    if (kind === 'restart') {
                        restarts++;
                        const r = await admin(server.url, '/admin/restart', {});
                        lastEpoch = epochOf(r.cursor);
                        note(`server restart -> ${r.cursor}`);
                    }
                    if (kind !== 'restart') await sleep(ms);
                    proxy.setMode('pass');
                    if (pg.hidden) (pg.show(), note('visible'));
                    if (!pg.online) (pg.goOnline(), note('online'));
                    if (kind === 'pagehide') {
                        note('pageshow (persisted)');
                        pg.window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
                    }
                    const gap = rnd.int(0, 800);
                    note(`pass for ${gap} ms`);
                    await sleep(gap);
                }
            })();
            await publisher;
            await chaos;
            proxy.setMode('pass');
            pg.show();
            pg.goOnline();
            note(`published ${sent}; fault cleared, visible, online`);

            let verdict;
            try {
                await waitFor(() => (verdict = oracle(start, published, events, lastEpoch)).complete || verdict.errors.length, 30000, 'the client to catch up');
            } catch {}
            await sleep(1000); // anything repeated would show up now
            verdict = oracle(start, published, events, lastEpoch);

            const perEpoch = verdict.epochs
                .map(
                    (e) =>
                        `epoch ${e.epoch}: skipped before reset point ${e.skippedBeforeReset}, received ${e.received}/${e.publishedAfter}` +
                        (e.diedWithLog !== undefined ? `, died with the log ${e.diedWithLog}` : ''),
                )
                .join('\n#   ');
            const msgs = events.filter((e) => e.type === 'msg').length;
            const summary =
                `seed ${SEED}: ${sent} published, ${msgs} delivered, ${restarts} restarts, ${rec.resets.length} resets, ` +
                `${rec.errors.length} error events, ${l.stats.wsOpened} websockets, ${l.stats.requests} requests, ${Date.now() - t0} ms\n#   ${perEpoch}\n#   actions ${JSON.stringify(counts)}`;
            console.log(summary.replace(/\n# {3}/g, '\n    '));
            for (const line of summary.split('\n#   ')) t.diagnostic(line);
            const why = () =>
                `${verdict.errors.join('\n')}\nmissing at the end: ${verdict.missing}; client epoch ${verdict.clientEpoch}, server epoch ${lastEpoch}\n` +
                `replay: CHAOS_SEED=${SEED}\n--- schedule and client states (last 150)\n${log.slice(-150).join('\n')}`;
            assert.ok(sent >= MESSAGES, 'every message published');
            assert.deepEqual(verdict.errors, [], why());
            assert.equal(verdict.clientEpoch, lastEpoch, why());
            assert.equal(verdict.missing, 0, why());
            assert.ok(verdict.complete, why());
            // zero lost in the epoch that is still alive, and something was delivered in it
            const final = verdict.epochs[verdict.epochs.length - 1];
            assert.equal(final.received, final.publishedAfter);
        } finally {
            l?.close();
            await proxy.close();
            await server.stop();
        }
    },
);

// share.mjs — one connection for all tabs of an origin (issue #13).
//
// Theory. Tabs whose Lifeline has the same URL and core options form a group named by
// them. A Web Lock of that name elects the leader: it runs the core (the transport policy
// stays the core's) and broadcasts every event it emits on a BroadcastChannel of the same
// name; the followers emit them as their own. Where either API is missing, there is no
// group: the instance runs alone (role 'solo').
//
// Cursors. Every tab keeps its own. A broadcast message carries the cursor it follows
// (`a`, the leader's cursor before it); a tab at cursor c delivers it when a <= c < its
// cursor, drops it when its cursor <= c (a repeat), and otherwise has a gap: it keeps the
// live messages aside, polls the server itself from c until nothing is left (the server
// answers, or resets c), then goes on. A tab joining with an older cursor, or one that
// missed something while leaders changed, is caught up this way, exactly once each.
//
// The first leader. A tab asks for the lock once at construction, with ifAvailable (in
// lifeline.mjs, before this module loads, so that a lone tab's start waits for the lock
// only, not for this file too); a tab that gets it leads at once, in term 0, and this
// module adopts the lock it holds.
//
// Leaders change. Leading starts a fresh core from the tab's own cursor, so a change loses
// nothing; two leaders for a moment cost requests, and the cursor drops the repeats. A
// closed or crashed leader frees the lock: the next tab in the lock's queue leads. The
// leader sends a heartbeat every second with its condition; a visible follower takes the
// lock (steal) from a leader that is hidden (hidden tabs' timers are throttled, and the
// group's transport belongs in a visible tab) or silent for FROZEN_MS (frozen: the lock
// is still held). Hidden followers never take over: when every tab is hidden the hidden
// leader's core pauses as a lone hidden tab does. pagehide leaves the group (a held or
// requested lock keeps a page out of the back/forward cache); pageshow joins again.
//
// Sends. A follower posts its sends to the leader and again to every new leader until
// acked (at least once); the leader runs them through its core and posts the ack back.
const BEAT_MS = 1000; // the leader's heartbeat
const SILENT_MS = 3000; // a leader silent this long (frozen, stuck) is replaced by a visible tab

/** A cursor as one number, for ordering ("7" is "7-0"). */
const big = (c) => {
    const [a, b = 0] = c.split('-');
    return (BigInt(a) << 64n) | BigInt(b);
};
const after = (x, y) => big(x) > big(y);

/**
 * Join the group `name` (where the browser has Web Locks and BroadcastChannel). The group: {role, tabs, out(type,
 * props, after), send(n, text), ack(tab, n, failure), close()}. t, the tab: {doc, win,
 * lead(), follow(), apply(type, props), view(): {state, transport, reason, cursor},
 * take(tab, n, text), settle(n, failure), resend(), role(r), poll(cursor, signal): Promise<Response>}.
 */
export function share(name, t, early) {
    const locks = navigator.locks;
    const id = Math.random(),
        seen = new Set(),
        held = [];
    const visible = () => t.doc?.visibilityState != 'hidden';
    const cursor = () => t.view().cursor;
    const post = (m) => ch?.postMessage(m);
    const beat = () => post({ h: id, v: visible(), s: t.view(), n: (g.tabs = seen.size + 1), t: g.term });
    let ch, token, release, leader, heard, hidden, catching, timer;

    // running: the tab leads already (it took the lock at construction, term 0, before this
    // module loaded), so its core goes on
    const become = (role, running) => {
        if (role == g.role) return;
        if (g.role == 'leader') t.follow();
        g.role = role;
        catching?.abort?.();
        leader = catching = held.length = 0;
        t.role(role);
        // a new term: the leader's send ids differ from every earlier leader's
        if (role == 'leader') (running || (g.term++, t.lead()), beat());
    };
    // One lock request at a time: queued (a follower), held (the leader), or stealing; or
    // the one the tab made at construction, held already.
    const claim = (steal) => {
        const ac = (token = /** @type {AbortController & { steal?: number }} */ (new AbortController())),
            gone = () => token == ac && ((release = null), become('follower'), claim());
        heard = Date.now();
        hidden = 0;
        ac.steal = steal; // one steal at a time
        if (early?.release) {
            release = early.release;
            early.done.then(gone, gone);
            early = 0;
            return become('leader', 1);
        }
        early = 0;
        locks
            .request(name, steal ? { steal } : { signal: ac.signal }, () => token == ac && new Promise((r) => ((release = r), become('leader'))))
            .then(gone, gone);
    };
    const steal = () => ch && g.role == 'follower' && !token?.steal && visible() && (hidden || Date.now() - heard > SILENT_MS) && (token?.abort(), claim(1));

    // behind the leader: poll from the tab's own cursor until nothing is left
    const catchUp = async () => {
        const run = (catching = new AbortController()); // aborted when this tab leads or leaves
        while (catching == run) {
            const c = cursor();
            try {
                const r = await t.poll(c, run.signal),
                    s = r.status,
                    b = s == 200 || s == 410 ? await r.json() : 0,
                    m = b.messages;
                if (catching != run) return;
                if (s == 410 && big(b.cursor)) t.apply('reset', { from: c, to: b.cursor });
                else if (m?.length) for (const x of m) after(x.cursor, cursor()) && t.apply('message', x);
                else if (s == 200 || s == 204 || s == 304) break;
                else throw s;
            } catch {
                // a server error or a bad body: again in a while (nothing skipped)
                await new Promise((r) => setTimeout(r, BEAT_MS));
            }
        }
        if (catching != run) return;
        catching = 0;
        // what came live meanwhile: anything past the cursor now follows it
        for (const o of held.splice(0)) after(o.cursor, cursor()) && t.apply('message', o);
    };

    const receive = ({ data: m }) => {
        if (g.role == 'leader') {
            if (m.p) (seen.add(m.p), m.j && beat()); // a newcomer learns the state at once
            if (m.x) t.take(m.f, m.x, m.d);
            // back from the back/forward cache as the leader it was, while another tab leads
            if (!m.h || release) return;
            become('follower');
        }
        const c = cursor(),
            o = m.o,
            s = m.s;
        if (m.k && m.f == id) t.settle(m.k, m.r);
        if (m.e == 'message' && c != null) {
            if (catching) return held.push(o);
            if (!after(o.cursor, c)) return; // a repeat
            if (m.a == null || after(m.a, c)) return (held.push(o), catchUp()); // a gap
        }
        // a reset concerns the tabs at the cursor it leaves
        if (m.e && (m.e != 'reset' || o.from == c)) t.apply(m.e, o);
        if (m.h) {
            heard = Date.now();
            hidden = !m.v;
            g.tabs = m.n;
            g.term = Math.max(g.term, m.t);
            post({ p: id });
            const v = t.view();
            // from now, pinned to where the group is: leading later resumes from there
            v.cursor ??= s.cursor;
            if (s.state != v.state || s.transport != v.transport) t.apply('statechange', { state: s.state, transport: s.transport, reason: s.reason });
            // behind the leader (or it started from now, unknown to a new follower): catch up
            if (c != null && !catching && (s.cursor == null ? m.h != leader : after(s.cursor, c))) catchUp();
            if (m.h != leader) ((leader = m.h), t.resend());
            steal();
        }
    };

    const join = () => {
        if (ch) return;
        ch = new BroadcastChannel(name);
        ch.onmessage = receive;
        claim();
        post({ p: id, j: 1 });
        timer = setInterval(() => (g.role == 'leader' ? (beat(), seen.clear()) : steal()), BEAT_MS);
    };
    // A leader that leaves keeps its core, which pagehide paused: back from the cache it
    // resumes, and stays the leader if the lock is still free (else the next heartbeat of
    // the tab that took it over makes it a follower).
    const leave = () => {
        token?.abort();
        catching?.abort?.();
        release?.();
        clearInterval(timer);
        ch?.close();
        token = release = ch = catching = null;
    };
    // (page.mjs's listen, repeated: this module loads on demand and imports nothing, so
    // that the bundler makes one file of it and none of what it would share)
    const listen = (on, how) => on.forEach(([target, type, f]) => target?.[how + 'EventListener'](type, f));
    const on = [
        [t.doc, 'visibilitychange', () => (g.role == 'leader' ? beat() : steal())],
        [t.win, 'pagehide', leave],
        [t.win, 'pageshow', (e) => e.persisted && join()],
    ];
    const g = {
        role: 'follower',
        tabs: 1,
        term: 0,
        /** The leader's event, for every follower; a: the cursor a message follows. */
        out: (type, o, a) => g.role == 'leader' && post({ e: type, o, a }),
        /** A follower's send to the leader (once known: each new one gets them all again). */
        send: (n, text) => leader && post({ x: n, f: id, d: text }),
        /** The leader's answer to a follower's send n: failure undefined (acked) or its fields. */
        ack: (f, n, r) => post({ k: n, f, r }),
        /** For good: leave, and listen no more. */
        close() {
            leave();
            become('follower');
            listen(on, 'remove');
        },
    };
    listen(on, 'add');
    join();
    return g;
}

// ---- Streams of one endpoint across tabs (protocol v2) -----------------------------------
//
// A tab's streams of one endpoint ride one connection (lifeline.mjs's pool); across tabs,
// the tab that hosts the endpoint's connection holds the Web Lock `name` ('lifeline host
// <endpoint> <core options>') and serves rides on a BroadcastChannel of that name. A tab
// that must run a stream (it leads the stream's group) while another tab hosts does not
// open a connection of its own: it rides, asking the host for a ghost — an instance in the
// host's tab, on the host's connection, from the rider's cursor — whose events come back as
// the rider's own (and so reach the rider's group). Sends travel the same way and are acked
// back. Every message names its ride; a rider keeps to the first host that accepts it.
//
// Liveness. The host beats every BEAT_MS; a rider asks again every BEAT_MS until accepted,
// then says it is there. A ghost whose rider is silent for SILENT_MS closes. A rider whose
// host is silent that long (frozen: its lock still held) or hidden while the rider's tab is
// visible (a hidden tab's connection pauses) runs a connection of its own, as before it
// rode, until it next stops running (a visible tab never waits on a hidden one; the host
// lock is not stolen). A host that closes frees the lock: a waiting rider hosts. pagehide
// lets go of the host lock (a held or requested lock keeps a page out of the back/forward
// cache): the host's riders are told their rides are gone and one of them hosts.

/**
 * Serve rides on `name` (this tab holds its lock). spawn(url, cursor, out) makes a ghost on
 * this tab's connection, out(type, o) carrying its events; doc: this tab's document. Returns
 * {close()}.
 */
export function serve(name, spawn, doc) {
    let ch = new BroadcastChannel(name);
    const id = Math.random(),
        rides = new Map(); // ride -> {l: ghost, heard}
    const post = (m) => ch?.postMessage({ h: id, ...m }); // (an ack may come after close)
    const end = (i) => {
        const l = rides.get(i)?.l;
        rides.delete(i);
        l?.close();
    };
    ch.onmessage = ({ data: m }) => {
        const i = m.i;
        if (!i || (m.h && m.h != id)) return; // not a rider's, or a rider of another host
        let r = rides.get(i);
        // a new ride: accepted, then its ghost (whose first events may come at once)
        if (m.w && !m.h && !r) (rides.set(i, (r = {})), post({ i, a: 1 }), (r.l = spawn(m.w, m.c, (e, o) => rides.has(i) && post({ i, e, o }))));
        else if (m.w) post({ i, a: 1 });
        if (!r) return m.h && post({ i, gone: 1 }); // a ride this host ended
        r.heard = Date.now();
        if (m.x)
            r.l.send(JSON.parse(m.d)).then(
                () => post({ i, k: m.x }),
                (e) => post({ i, k: m.x, r: [e.code, e.status, e.serverCode, e.serverMessage] }),
            );
        if (m.bye) end(i);
    };
    const timer = setInterval(() => {
        post({ v: doc?.visibilityState != 'hidden' });
        for (const [i, r] of rides) if (Date.now() - r.heard > SILENT_MS) end(i);
    }, BEAT_MS);
    return {
        close() {
            clearInterval(timer);
            for (const i of [...rides.keys()]) (end(i), post({ i, gone: 1 }));
            ch.close();
            ch = null;
        },
    };
}

/**
 * Ride on the host of `name` from `cursor`. t: {doc, apply(type, o), lost(alone)} — lost: the
 * host ended the ride, or (alone: this tab runs it itself) went silent, or hidden while this
 * tab is visible. Returns {send(text, settle(failure)), stop()}.
 */
export function ride(name, url, cursor, t) {
    const i = Math.random(),
        sends = new Map();
    let ch = new BroadcastChannel(name),
        host = 0,
        heard = Date.now(),
        n = 0;
    const post = (m) => ch?.postMessage({ i, h: host, ...m });
    const stop = () => (clearInterval(timer), post({ bye: 1 }), ch?.close(), (ch = null));
    ch.onmessage = ({ data: m }) => {
        if (m.h != host && !(m.a && !host && m.i == i)) return; // another host's
        heard = Date.now();
        // the host's beat: a hidden host's connection pauses, which a visible tab cannot wait on
        if (m.v === false && t.doc?.visibilityState != 'hidden') return (stop(), t.lost(1));
        if (m.i != i) return;
        if (m.a) host = m.h;
        if (m.e) t.apply(m.e, m.o);
        if (m.k) (sends.get(m.k)?.(m.r), sends.delete(m.k));
        if (m.gone) (stop(), t.lost());
    };
    // asked again until a host accepts (the host beats: silence is a host gone)
    const timer = setInterval(() => (Date.now() - heard > SILENT_MS ? (stop(), t.lost(1)) : post(host ? {} : { w: url, c: cursor })), BEAT_MS);
    post({ w: url, c: cursor });
    return {
        send: (text, settle) => (sends.set(++n, settle), post({ x: n, d: text })),
        stop,
    };
}

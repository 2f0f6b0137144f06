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
import { isCursor } from './protocol.mjs';

const HEARTBEAT_MS = 1000;
const FROZEN_MS = 3000;

/** A cursor as one number, for ordering ("7" is "7-0"). */
const big = (c) => {
    const [a, b = 0] = c.split('-');
    return (BigInt(a) << 64n) | BigInt(b);
};
const after = (x, y) => big(x) > big(y);

/**
 * Join the group `name`, or return nothing where tabs cannot share. t: the tab —
 * {lead(), follow(), apply(type, props), cursor(), view(), take(from, n, text),
 * settle(n, failure), resend(), role(r), poll(q): Promise<Response>, doc, win}.
 */
export function share(name, t) {
    const locks = globalThis.navigator?.locks, Channel = globalThis.BroadcastChannel;
    if (!locks || !Channel) return;
    const id = Math.random() + '', seen = new Map(), held = [];
    const visible = () => t.doc?.visibilityState != 'hidden';
    let ch, token, release, role = 'follower', leader, last, hidden, tabs = 1, catching;
    const post = (m) => ch?.postMessage(m);
    const beat = () => {
        const now = performance.now();
        for (const [tab, at] of seen) if (now - at > FROZEN_MS) seen.delete(tab);
        tabs = seen.size + 1;
        post({ h: id, v: visible(), s: t.view(), c: t.cursor(), n: tabs });
    };
    const become = (r) => {
        if (r == role) return;
        if (role == 'leader') t.follow();
        role = r;
        leader = held.length = catching = 0;
        t.role(r);
        if (r == 'leader') t.lead(), beat();
    };
    const steal = () => role == 'follower' && visible() && (hidden || performance.now() - last > FROZEN_MS) && claim(1);
    // One lock request at a time: queued (a follower), held (the leader), or stealing.
    const claim = (steal) => {
        const ac = new AbortController();
        token?.abort();
        token = ac;
        last = performance.now();
        hidden = 0;
        const gone = () => token == ac && ((release = null), become('follower'), claim());
        locks.request(name, steal ? { steal } : { signal: ac.signal }, () => token == ac && new Promise((r) => ((release = r), become('leader')))).then(gone, gone);
    };

    // a follower behind the live stream: poll from its own cursor until nothing is left
    const catchUp = async () => {
        const run = (catching = {});
        while (catching == run) {
            const c = t.cursor();
            try {
                const r = await t.poll(c), s = r.status, b = s == 200 || s == 410 ? await r.json() : 0;
                if (catching != run) return;
                if (s == 410 && isCursor(b.cursor)) t.apply('reset', { from: c, to: b.cursor });
                else if (s == 204 || s == 304 || (s == 200 && !b.messages.length)) break;
                else if (s == 200) for (const m of b.messages) after(m.cursor, t.cursor()) && t.apply('message', { data: m.data, cursor: m.cursor });
                else throw s;
            } catch {
                // a server error or bad body: again in a while (bounded cost, nothing skipped)
                await new Promise((r) => setTimeout(r, HEARTBEAT_MS));
            }
        }
        if (catching != run) return;
        catching = 0;
        // what came live meanwhile: anything past the cursor now follows it
        for (const [type, o] of held.splice(0)) if (type != 'message' || after(o.cursor, t.cursor())) t.apply(type, o);
    };
    // an event the leader emitted, for this follower
    const event = (type, o, a) => {
        const c = t.cursor();
        if (catching) return held.push([type, o]);
        if (type == 'message' && c != null) {
            if (!after(o.cursor, c)) return;
            if (a == null || after(a, c)) return held.push([type, o]), catchUp();
        }
        // a reset concerns the tabs at the cursor it leaves
        if (type != 'reset' || o.from == c) t.apply(type, o);
    };

    const receive = ({ data: m }) => {
        // back from the back/forward cache as the leader it was, while another tab leads
        if (m.h && role == 'leader' && !release) become('follower');
        if (m.p && role == 'leader') {
            const fresh = !seen.has(m.p);
            seen.set(m.p, performance.now());
            if (fresh) beat(); // the newcomer learns the state, and everyone the count
        }
        if (m.x && role == 'leader') t.take(m.f, m.x, m.d);
        if (role != 'follower') return;
        if (m.e) event(m.e, m.o, m.a);
        if (m.k && m.f == id) t.settle(m.k, m.r);
        if (m.h) {
            const c = t.cursor(), s = m.s, v = t.view();
            last = performance.now();
            hidden = !m.v;
            tabs = m.n;
            post({ p: id });
            if (s[0] != v[0] || s[1] != v[1]) t.apply('statechange', { state: s[0], transport: s[1], reason: s[2] });
            // behind the leader (or it started from now, unknown to a new follower): catch up
            if (c != null && !catching && (m.c == null ? m.h != leader : after(m.c, c))) catchUp();
            if (m.h != leader) (leader = m.h), t.resend();
            steal();
        }
    };

    let timer;
    const join = () => {
        if (ch) return;
        ch = new Channel(name);
        ch.onmessage = receive;
        claim();
        post({ p: id });
        timer = setInterval(() => (role == 'leader' ? beat() : steal()), HEARTBEAT_MS);
    };
    // A leader that leaves keeps its core, which pagehide paused: back from the cache it
    // resumes, and stays the leader if the lock is still free (else the next heartbeat of
    // the tab that took it over makes it a follower).
    const leave = () => {
        token?.abort();
        release?.();
        clearInterval(timer);
        ch?.close();
        token = release = ch = catching = null;
    };
    const on = [
        ['visibilitychange', () => (role == 'leader' ? beat() : steal())],
        ['pagehide', leave],
        ['pageshow', (e) => e.persisted && join()],
    ];
    on.forEach(([n, f], i) => (i ? t.win : t.doc)?.addEventListener(n, f));
    join();
    return {
        get role() {
            return role;
        },
        get tabs() {
            return tabs;
        },
        /** Whether this tab leads (runs the core). */
        leads: () => role == 'leader',
        /** The leader's event, for every follower; a = the cursor a message follows. */
        out: (type, o, a) => role == 'leader' && post({ e: type, o, a }),
        /** A follower's send to the leader (when there is one: each new one gets them all). */
        send: (n, text) => leader && post({ x: n, f: id, d: text }),
        /** The leader's answer to a follower's send n: failure undefined (acked) or its fields. */
        ack: (f, n, r) => post({ k: n, f, r }),
        /** For good: leave, and listen no more. */
        close() {
            leave();
            become('follower');
            on.forEach(([n, f], i) => (i ? t.win : t.doc)?.removeEventListener(n, f));
        },
    };
}

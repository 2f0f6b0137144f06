// transports/heartbeat.mjs — the heartbeat: one timer per process for every socket
// (server/DESIGN.md "The heartbeat"; Flask's transports/heartbeat.py).
//
// Theory: every open WebSocket needs something done when it has been quiet for a while, and
// that must not cost a timer per socket (a server holds tens of thousands):
//  - a beat socket (its URL asked with beat=<BEAT_QUERY_VALUE>) gets a beat, an empty text
//    frame, whenever the server has written it nothing for its gap: min(beatFirstMs,
//    heartbeat) after any frame that was not a beat, doubling after each beat up to the
//    heartbeat. It gets no control pings and no JSON ping: its own beats (or any frame)
//    keep it alive.
//  - any other socket (a client before beats) is served as before beats: a control ping
//    every heartbeat at the most, and a JSON `{"type":"ping"}` once it has been written
//    nothing for a heartbeat.
//  - any socket from which nothing (no frame, no control pong) came for
//    `silentPeerHeartbeats` heartbeats is terminated without a close frame.
// A socket keeps the heartbeat its hello announced. The transport says when it wrote a
// frame (`sent`: the gap starts again) and when it heard one (`heard`); a muted socket (the
// test seam) gets nothing and is not judged while muted.
//
// Cost: a timing wheel, not a sweep over every socket. One `setInterval(beatSweepMs)`,
// unref'd, runs while at least one socket is kept (a process with no sockets has no timer).
// Each socket waits in the slot of its next due time (slots of beatSweepMs, a Map from slot
// number to a Set, so no due time is too far for the wheel); a tick visits only the slots
// that came due. `heard`, and `sent` once the gap is back to its first, only move a due time
// later, so they merely note the time (no re-queue: O(1) per frame, one Date.now()); a
// socket found in its slot not due yet (it wrote since) is re-queued then, lazily. Only the
// first frame after a beat (the gap shrinks back) moves the socket to a sooner slot at once.
// So a socket costs one visit per gap it has been quiet, or per gap while it is busy: at most 1 / min(beatFirstMs, heartbeat) visits a
// second (0.4 by default), an idle one 1 / heartbeat (0.04); a tick costs the slots it passes
// (one or two) plus the sockets due. A beat is at most one sweep late, never early (the
// client's watchdog expects the schedule). Frames are pre-encoded: a beat is one shared
// empty Buffer, the JSON ping one shared Buffer, written as text frames.

import { LIMITS } from '../protocol.mjs';

/** The pre-encoded frames (the transport writes them as text frames). */
export const BEAT_FRAME = Buffer.alloc(0);
export const PING_FRAME = Buffer.from('{"type":"ping"}');

const realClock = { now: Date.now, setInterval, clearInterval };

/**
 * The sockets of a process and the one timer that keeps them alive.
 *
 *   const hb = heartbeat.add(conn, { heartbeat: 25000, beats: true });
 *   hb.sent(); hb.heard(); hb.stop();
 *
 * `conn` is the transport's side of one socket: open() and muted() say whether to act,
 * write(frame) writes a pre-encoded text frame, ping() a control ping, terminate() drops it.
 */
export class Heartbeat {
    /** @param {{clock?: {now: () => number, setInterval: Function, clearInterval: Function}, sweepMs?: number}} [options] */
    constructor({ clock = realClock, sweepMs = LIMITS.beatSweepMs } = {}) {
        this.clock = clock;
        this.sweepMs = sweepMs;
        this.slots = new Map(); // slot number (due time / sweepMs) -> Set of sockets
        this.size = 0;
        this.timer = null;
        this.cursor = 0; // the first slot not yet visited in full
    }

    /** Keep one socket from now on (after its hello); returns its handle. */
    add(conn, { heartbeat, beats }) {
        const now = this.clock.now();
        const first = Math.min(LIMITS.beatFirstMs, heartbeat);
        const e = { conn, heartbeat, beats, first, gap: first, sentAt: now, heardAt: now, pingAt: now + heartbeat, slot: null, stopped: false };
        if (this.size++ === 0) {
            this.cursor = Math.floor(now / this.sweepMs);
            this.timer = this.clock.setInterval(() => this.tick(), this.sweepMs);
            this.timer.unref?.();
        }
        this.queue(e);
        const clock = this.clock;
        return {
            /** A frame that was not a beat went out: the gap starts again. */
            sent: () => {
                e.sentAt = clock.now();
                if (e.gap === e.first) return; // the due time only moved later
                e.gap = e.first; // the first frame after a beat: the due time may be sooner
                if (e.slot === null) return; // being visited: re-queued after
                this.unqueue(e);
                this.queue(e);
            },
            /** A frame or a pong came: the peer is alive. */
            heard() {
                e.heardAt = clock.now();
            },
            /** The socket closed: forget it (the last one stops the timer). */
            stop: () => this.remove(e),
        };
    }

    /** When `e` needs a look next: its beat or ping, or when it turns silent. */
    due(e) {
        const silentAt = e.heardAt + LIMITS.silentPeerHeartbeats * e.heartbeat + 1;
        return Math.min(e.beats ? e.sentAt + e.gap : e.pingAt, silentAt);
    }

    queue(e) {
        e.slot = Math.max(this.cursor, Math.floor(this.due(e) / this.sweepMs));
        let slot = this.slots.get(e.slot);
        if (!slot) this.slots.set(e.slot, (slot = new Set()));
        slot.add(e);
    }

    unqueue(e) {
        const slot = this.slots.get(e.slot);
        if (!slot) return; // being visited
        slot.delete(e);
        if (slot.size === 0) this.slots.delete(e.slot);
        e.slot = null;
    }

    remove(e) {
        if (e.stopped) return;
        e.stopped = true;
        this.unqueue(e);
        if (--this.size === 0) {
            this.clock.clearInterval(this.timer);
            this.timer = null;
        }
    }

    /** One sweep: every socket in a slot that came due (the current slot: those due by now). */
    tick() {
        const now = this.clock.now();
        const last = Math.floor(now / this.sweepMs);
        const due = [];
        for (let k = this.cursor; k <= last; k++) {
            const slot = this.slots.get(k);
            if (slot) for (const e of slot) if (k < last || this.due(e) <= now) due.push(e);
        }
        this.cursor = last;
        for (const e of due) {
            this.unqueue(e);
            try {
                this.visit(e, now);
            } catch {
                e.conn.terminate(); // never a socket left out of the heartbeat (nor a tick cut short)
                this.remove(e);
            }
            if (!e.stopped) this.queue(e);
        }
    }

    /** A socket whose due time came (or that turns out not due: it is only re-queued). */
    visit(e, now) {
        const { conn, heartbeat } = e;
        if (!conn.open()) return this.remove(e);
        if (conn.muted()) {
            e.pingAt = now + heartbeat; // the test seam holds it: nothing goes out, nothing is judged
            e.heardAt = e.sentAt = now;
            return;
        }
        if (now - e.heardAt > LIMITS.silentPeerHeartbeats * heartbeat) {
            conn.terminate(); // a vanished peer: no close frame
            return this.remove(e);
        }
        if (e.beats) {
            if (now < e.sentAt + e.gap) return;
            conn.write(BEAT_FRAME);
            e.sentAt = now;
            e.gap = Math.min(2 * e.gap, heartbeat);
        } else if (now >= e.pingAt) {
            conn.ping();
            const idle = now - e.sentAt;
            if (idle >= heartbeat) {
                conn.write(PING_FRAME);
                e.sentAt = now;
            }
            e.pingAt = now + (idle >= heartbeat ? heartbeat : heartbeat - idle);
        }
    }
}

/** The process's heartbeat: every socket of every Lifeline in this process. */
export const heartbeat = new Heartbeat();

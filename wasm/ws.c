/* ws.c — one WebSocket attempt at a time: open, hello, liveness, loss, fallback, probes.
 * The phases and the transitions between them are state.c's table; this file decides
 * when each happens:
 *
 *   CONNECTING  closed: refused; T_WS: black hole          → attempt failed
 *   WAIT_HELLO  closed, or T_WS: no hello                   → attempt failed
 *   hello'd     closed, ping unanswered (stall), bad frame,
 *               error frame, a beating server overdue       → lost
 *
 * Liveness. A server that does not beat (its hello has no "beat"; servers before beats):
 * a socket quiet for ping_idle is pinged, and no frame within the pong timeout is a stall.
 * A server that beats (the socket asked with LL_BEAT_QUERY, and hello says "beat": B)
 * sends an empty frame whenever it has been silent for the schedule — LL_BEAT_FIRST_MS
 * after any other frame, then twice the previous gap, up to B — so the client knows when
 * the next frame is due at the latest, and nothing by then plus the pong timeout is a
 * stall: noticed within a few seconds after a message, at a few bytes a minute when idle.
 * The client's own beat (an empty frame when it has sent nothing for B) lets the server
 * drop a vanished client. A timer that fires far too late (a throttled tab) judges
 * nothing: it pings, as a check on return does.
 *
 * An attempt that failed falls back to polling (or, while polling already, schedules the
 * next probe). A lost socket reconnects after a jittered delay; flap_limit short lives in
 * a row fall back. A socket still CONNECTING blocks every other WebSocket to the same host
 * in browsers, so an attempt the core gives up on is always closed before anything else is
 * tried. */
#include "internal.h"

#include <string.h>

/* Start an attempt now, or when Retry-After allows; a poll starts beside it after `race`
 * ms unless it works by then (NO_RACE: none). */
void ll__ws_try(ll_core *c, uint32_t race) {
    uint32_t i;
    if (c->now < c->quiet_until) {
        ll__arm_request(c, T_WS_RETRY, 0);
        return;
    }
    ll__disarm(c, T_WS_RETRY);
    if (!ll__ws_enter(c, WS_CONNECTING)) return;
    c->ws_id = ll__new_id(c);
    c->ws_started_at = c->now;
    c->ping_out = 0;
    c->beat = 0;
    c->v2 = 0;
    LL__EACH_SUB(c, i, m) {
        ll__sub *s = &c->sub[i];
        s->ws_last.set = 0;
        s->hello_cur.set = 0;
        s->ws_open_cur = s->cur;
        s->on_ws = SUB_OFF;
    }
    /* the URL names the first subscription; a v2 server serves the others after hello */
    i = ll__first_sub(c);
    c->sub[i].on_ws = SUB_ASKED;
    ll__carry_cursor(ll__push(c, LL_ACT_WS_OPEN, c->ws_id, i, 0, 0), &c->sub[i].cur);
    ll__arm(c, T_WS, c->cfg[LL_CFG_ws_timeout]);
    /* Race: a poll beside a WebSocket that is not working soon. A probe while polling
     * needs none: the polls go on anyway. */
    if (c->role == ROLE_FALLBACK || c->poll_req || c->timers[T_POLL] != LL_NEVER) return;
    if (race == NO_RACE) return;
    if (race) ll__arm(c, T_RACE, race);
    else ll__poll_start(c);
}

static void drop(ll_core *c) {
    ll__ws_enter(c, WS_NONE);
    c->ping_out = 0;
    ll__disarm(c, T_WS);
    ll__disarm(c, T_PING);
    ll__disarm(c, T_GRACE);
    ll__sends_requeue(c, SEND_ON_WS);
}

/* Close the socket (whatever its phase) and forget it. */
void ll__ws_close(ll_core *c, uint32_t reason) {
    if (c->ws_phase == WS_NONE) return;
    ll__push(c, LL_ACT_WS_CLOSE, c->ws_id, 1000, 0, reason);
    drop(c);
}

static void forget(ll_core *c, int we_close, uint32_t reason) {
    if (we_close) ll__ws_close(c, reason);
    else drop(c);
}

/* The next probe; probes back off (probe_n counts up) until a socket lives past
 * flap_window. */
static void probe_later(ll_core *c) {
    if (ll__ws_wanted(c)) ll__arm_request(c, T_WS_RETRY, ll__probe_delay(c));
    c->probe_n++;
}

void ll__fallback(ll_core *c, uint32_t reason) {
    ll__set_role(c, ROLE_FALLBACK);
    c->flaps = 0; /* the streak ended here: a socket after the fallback starts a new one */
    c->fallback_reason = reason;
    if (c->cfg[LL_CFG_fallback_ttl] && !c->remembered) {
        ll__push(c, LL_ACT_REMEMBER_FALLBACK, 0, c->cfg[LL_CFG_fallback_ttl], 0, 0);
        c->remembered = 1;
    }
    ll__disarm(c, T_RACE);
    probe_later(c);
    /* Polls that serve go on serving (under this reason); else connecting again. */
    c->progress = PROGRESS_CONNECTING;
    ll__cause(c, reason);
    c->polled_ok = 0; /* a short poll first: "open" at once, even on a quiet stream */
    if (ll__active(c)) ll__poll_start(c);
}

/* Bad frames and error frames were reported with their own detail already. */
static void report(ll_core *c, uint32_t reason) {
    if (reason != LL_REASON_WS_BAD_FRAME && reason != LL_REASON_WS_SERVER_ERROR && reason != LL_REASON_WS_CLOSED)
        ll__error(c, LL_ERR_WS_FAILED, reason, 0);
}

/* An attempt that never worked (no hello). */
static void attempt_failed(ll_core *c, uint32_t reason, int we_close) {
    forget(c, we_close, reason);
    report(c, reason);
    if (c->role != ROLE_FALLBACK) ll__fallback(c, reason);
    else if (ll__ws_wanted(c)) probe_later(c);
}

/* A socket that had said hello is gone. */
static void lost(ll_core *c, uint32_t reason, int we_close) {
    uint64_t life = c->now - c->ws_hello_at;
    int was_transport = ll__ws_shown(c);
    forget(c, we_close, reason);
    if (life < c->cfg[LL_CFG_flap_window]) {
        c->flaps++;
    } else {
        c->flaps = 0;
        c->probe_n = 0;
    }
    report(c, reason);
    /* Race a poll beside the reconnect only when the way this socket was lost says a poll
     * would help. Closed by the server (a restart, an error frame): the new socket goes to
     * the same server, and under a reconnect herd every socket is slower than race_delay —
     * a poll beside each would meet a restart with twice the requests; the attempt's
     * ws_timeout still catches a black hole. Stalled or garbled, or a path that fell back
     * and has kept no socket past flap_window since (probe_n > 0): suspect, race. */
    c->race_reconnect = (reason != LL_REASON_WS_CLOSED && reason != LL_REASON_WS_SERVER_ERROR) || c->probe_n;
    /* A middlebox that stalled one socket may stall the next right after hello: the next
     * one must answer a ping before polling stops. */
    if (reason == LL_REASON_WS_STALLED) c->must_prove = 1;
    if (c->flaps >= c->cfg[LL_CFG_flap_limit]) {
        /* Short lives in a row. When the last one stalled, a stall it is (a middlebox that
         * stalls every socket soon after hello), already reported; else flapping. */
        if (reason != LL_REASON_WS_STALLED) {
            reason = LL_REASON_WS_FLAPPING;
            ll__error(c, LL_ERR_WS_FAILED, reason, 0);
        }
        ll__fallback(c, reason);
        return;
    }
    if (c->role == ROLE_FALLBACK) { /* a probe that said hello but never caught up */
        probe_later(c);
        return;
    }
    if (!ll__ws_wanted(c)) { /* hidden (grace) or offline: the socket was all there was */
        if (was_transport) ll__cause(c, reason);
        if (ll__active(c)) ll__arm_request(c, T_POLL, ll__next_interval(c, 0));
        return;
    }
    /* Reconnect after a jittered delay (a restarted server is not hit by every client at
     * once). A path that fell back and has kept no socket past flap_window since
     * (probe_n > 0) is reconnected on the growing probe schedule instead: its flap streak
     * ended with the fallback, but a path that keeps flapping is not tried again and again
     * at once. */
    if (c->probe_n) probe_later(c);
    else ll__arm_request(c, T_WS_RETRY, ll__backoff(c, c->ws_losses));
    c->ws_losses++;
    if (was_transport) {
        c->progress = PROGRESS_RECONNECTING;
        ll__cause(c, reason);
    }
}

static void fail(ll_core *c, uint32_t reason, int we_close) {
    if (ll__ws_hello_said(c)) lost(c, reason, we_close);
    else attempt_failed(c, reason, we_close);
}

/* A control frame out (ping, pong, beat); sends go out through sends.c. */
static void ws_send(ll_core *c, uint32_t frame) {
    ll__push(c, LL_ACT_WS_SEND, c->ws_id, frame, 0, 0);
    c->ws_last_tx = c->now;
}

/* Ask an open socket for a sign of life now; no frame within the pong timeout = dead. */
void ll__ws_ping(ll_core *c) {
    if (!ll__ws_hello_said(c) || c->ping_out) return;
    ws_send(c, LL_OUT_PING);
    c->ping_out = 1;
    c->ping_sent_at = c->now;
    ll__arm(c, T_PING, ll__pong_timeout(c));
}

/* The gap after which a beating server's next frame is due: the first one after anything
 * but a beat, twice the last one after a beat, never more than the announced beat. */
static uint32_t next_gap(const ll_core *c, int after_beat) {
    uint64_t gap = after_beat ? 2 * (uint64_t)c->beat_gap : LL_BEAT_FIRST_MS;
    return gap < c->beat ? (uint32_t)gap : c->beat;
}

/* When the quiet socket needs the core next (the file's theory, "Liveness"). */
static uint64_t frame_due(const ll_core *c) { return c->ws_last_rx + c->beat_gap + ll__pong_timeout(c); }
static void arm_quiet(ll_core *c) {
    uint64_t mine = c->ws_last_tx + c->beat, due = frame_due(c);
    if (!c->beat) due = c->ws_last_rx + c->cfg[LL_CFG_ping_idle];
    else if (mine < due) due = mine;
    c->timers[T_PING] = due;
}

void ll__ws_timer(ll_core *c, int t) {
    switch (t) {
    case T_WS:
        if (c->ws_phase == WS_CONNECTING) attempt_failed(c, LL_REASON_WS_BLACKHOLE, 1);
        else if (c->ws_phase == WS_WAIT_HELLO) attempt_failed(c, LL_REASON_WS_NO_HELLO, 1);
        break;
    case T_PING:
        if (!ll__ws_hello_said(c)) break;
        /* Judge by the last frame received, not by how late this timer fired (hidden
         * tabs throttle timers): a late timer sends a ping and waits for its answer. */
        if (c->ping_out) {
            uint64_t dead_at = c->ping_sent_at + ll__pong_timeout(c);
            if (c->now >= dead_at) fail(c, LL_REASON_WS_STALLED, 1);
            else ll__arm(c, T_PING, dead_at - c->now);
        } else if (!c->beat) {
            if (c->now >= c->ws_last_rx + c->cfg[LL_CFG_ping_idle]) ll__ws_ping(c);
            else arm_quiet(c);
        } else if (c->now >= frame_due(c)) {
            /* overdue: a stall, unless this timer itself is far too late to tell */
            if (c->now >= frame_due(c) + ll__pong_timeout(c)) ll__ws_ping(c);
            else fail(c, LL_REASON_WS_STALLED, 1);
        } else {
            if (c->now >= c->ws_last_tx + c->beat) ws_send(c, LL_OUT_BEAT);
            arm_quiet(c);
        }
        break;
    case T_WS_RETRY:
        if (c->ws_phase == WS_NONE && ll__ws_wanted(c))
            ll__ws_try(c, c->race_reconnect ? c->cfg[LL_CFG_race_delay] : NO_RACE);
        break;
    case T_GRACE:
        if (c->ws_phase == WS_NONE || c->visible) break;
        ll__ws_close(c, LL_REASON_HIDDEN);
        ll__cause(c, LL_REASON_HIDDEN);
        if (ll__active(c)) ll__arm_request(c, T_POLL, ll__next_interval(c, 0));
        break;
    }
}

/* A frame the core cannot read might have been a message: replace the socket, resuming
 * from the cursor, rather than risk skipping it. */
static void bad_frame(ll_core *c, uint32_t err) {
    ll__error(c, err, LL_REASON_WS_BAD_FRAME, 0);
    fail(c, LL_REASON_WS_BAD_FRAME, 1);
}

/* The subscriptions of the table not yet on the socket, asked in one sub frame. From the
 * socket's open on, not its hello: a v2 server serves them after its hello (frames are
 * handled in order), a v1 server ignores a frame it does not know, and its hello splits
 * them off. */
void ll__ws_ask(ll_core *c) {
    uint32_t i, mask = 0;
    LL__EACH_SUB(c, i, m) {
        if (c->sub[i].on_ws != SUB_OFF) continue;
        c->sub[i].on_ws = SUB_ASKED;
        mask |= 1u << i;
    }
    if (mask) ll__push(c, LL_ACT_WS_SUB, c->ws_id, mask, 0, 0);
}

/* A subscription is served on this socket from the head k: "from now" adopts it. */
static void served(ll__sub *s, const ll__cursor *k) {
    if (!s->cur.set) s->cur = *k;
    s->hello_cur = *k;
    s->on_ws = SUB_SERVED;
}

static void hello(ll_core *c, ll__span cursor, uint32_t beat, uint32_t version) {
    ll__cursor k;
    uint32_t first;
    if (version < 2 && !ll__cursor_parse(cursor.p, cursor.n, &k)) {
        bad_frame(c, LL_ERR_BAD_FRAME);
        return;
    }
    /* Where it enters: state.c's theory. */
    if (!ll__ws_enter(c, c->must_prove ? WS_PROVING : c->polls == POLLS_SERVING ? WS_CATCHING_UP : WS_REPLAYING))
        return;
    c->ws_hello_at = c->now;
    c->ws_losses = 0;
    ll__disarm(c, T_WS);
    /* The upgrade took a TCP and an HTTP round trip. */
    ll__rtt_sample(c, (c->now - c->ws_started_at) / 2);
    /* beats at most once a second, whatever a server asks */
    c->beat = beat && beat < 1000 ? 1000 : beat;
    c->beat_gap = next_gap(c, 0);
    c->ws_last_tx = c->now;
    arm_quiet(c);
    /* v2: the other subscriptions were asked at the open; each is served from its subd.
     * v1: the URL's subscription is served from the hello's head ("from now" adopts it; a
     * head behind the cursor is the race: a poll delivered past the moment this socket
     * connected, and it is caught up), and the others, now and later, need connections of
     * their own. */
    c->v2 = version >= 2;
    first = ll__first_sub(c);
    if (c->v2) {
        ll__ws_ask(c);
    } else {
        served(&c->sub[first], &k);
        ll__split(c, c->subs & ~(1u << first));
    }
    if (c->ws_phase == WS_PROVING) ll__ws_ping(c);
    if (c->ws_phase == WS_REPLAYING) ll__cause(c, LL_REASON_WS_HELLO);
    ll__caught_up_check(c);
    if (c->ws_phase == WS_CATCHING_UP && c->poll_empty && !ll__caught_up(c)) ll__poll_check(c);
}

/* v2: subscription i is served on this socket (its hello). */
static void subd(ll_core *c, ll__sub *s, ll__span cursor) {
    ll__cursor k;
    if (!ll__cursor_parse(cursor.p, cursor.n, &k)) {
        bad_frame(c, LL_ERR_BAD_FRAME);
        return;
    }
    served(s, &k);
    ll__caught_up_check(c);
    if (c->ws_phase == WS_CATCHING_UP && c->poll_empty && !ll__caught_up(c)) ll__poll_check(c);
}

static void msg(ll_core *c, uint32_t i, ll__span cursor) {
    ll__sub *s = &c->sub[i];
    ll__cursor k;
    if (!ll__ws_hello_said(c) || !ll__cursor_parse(cursor.p, cursor.n, &k)) {
        bad_frame(c, LL_ERR_BAD_FRAME);
        return;
    }
    if (s->ws_last.set && ll__cursor_cmp(&k, &s->ws_last) <= 0) {
        ll__error(c, LL_ERR_CURSOR_BACKWARDS, LL_REASON_WS_BAD_FRAME, 0);
        return;
    }
    s->ws_last = k;
    if (ll__cursor_cmp(&k, &s->cur) > 0) { /* a=0: the frame's own data */
        ll__spans(ll__push(c, LL_ACT_DELIVER, 0, 0, i, 0), 0, 0, cursor.p, cursor.n);
        s->cur = k;
    }
    ll__caught_up_check(c);
}

/* The subscription a frame is about: v2, its "s" (only once served: a msg for one that was
 * unsubscribed, or for a reused id before its subd, is the old one's), else the URL's.
 * LL_SUBS_MAX: none (the frame is ignored). */
static uint32_t frame_sub(const ll_core *c, uint32_t sub, uint32_t on_ws) {
    uint32_t i;
    if (!c->v2) return ll__first_sub(c);
    i = sub - 1;
    return sub && sub <= LL_SUBS_MAX && LL__USED(c, i) && c->sub[i].on_ws == on_ws ? i : LL_SUBS_MAX;
}

/* A frame, decoded by the caller (ll_ws_frame). Pong and unknown types need nothing more:
 * any frame's arrival was the sign of life. */
void ll__ws_frame(ll_core *c, uint32_t type, uint32_t size, uint32_t depth, ll__span cursor, uint32_t id,
                  ll__span message, ll__span code, uint32_t sub) {
    uint32_t err, i;
    c->ws_last_rx = c->now;
    if (c->ping_out) {
        c->ping_out = 0;
        ll__rtt_sample(c, c->now - c->ping_sent_at);
        if (c->ws_phase == WS_PROVING) { /* it answered: proven */
            c->must_prove = 0;
            ll__ws_enter(c, WS_CATCHING_UP);
            ll__caught_up_check(c);
        }
    }
    /* a beating server's next frame is due after the next gap (hello's own arming waits
     * for hello to be taken) */
    c->beat_gap = next_gap(c, type == LL_FRAME_BEAT);
    if (ll__ws_hello_said(c)) arm_quiet(c);
    err = size > c->cfg[LL_CFG_max_message_bytes] ? LL_ERR_TOO_LARGE
          : depth > c->cfg[LL_CFG_max_depth]      ? LL_ERR_TOO_DEEP
          : type >= LL_FRAME_BAD                  ? LL_ERR_BAD_FRAME
                                                  : LL_ERR_OK;
    if (err) {
        bad_frame(c, err);
        return;
    }
    switch (type) {
    case LL_FRAME_MSG:
        if ((i = frame_sub(c, sub, SUB_SERVED)) < LL_SUBS_MAX) msg(c, i, cursor);
        break;
    case LL_FRAME_HELLO:
        if (c->ws_phase == WS_WAIT_HELLO) hello(c, cursor, id, sub);
        break;
    case LL_FRAME_SUBD:
        if (c->v2 && (i = frame_sub(c, sub, SUB_ASKED)) < LL_SUBS_MAX) subd(c, &c->sub[i], cursor);
        break;
    case LL_FRAME_REFUSED:
        if (c->v2 && sub && sub <= LL_SUBS_MAX && LL__USED(c, sub - 1)) {
            ll__spans(ll__push(c, LL_ACT_REFUSED, 0, sub - 1, 0, 0), message.p, message.n, code.p, code.n);
            ll__drop_sub(c, sub - 1);
            ll__caught_up_check(c); /* one fewer to wait for */
        }
        break;
    case LL_FRAME_PING: ws_send(c, LL_OUT_PONG); break;
    case LL_FRAME_ACK: /* with an "error" code: the server refused that send */
        if (id && code.n) ll__sends_reject(c, id, 0, message, code);
        else if (id) ll__sends_ack(c, id);
        break;
    case LL_FRAME_RESET: {
        ll__cursor k;
        ll__sub *s;
        if (!ll__cursor_parse(cursor.p, cursor.n, &k)) {
            bad_frame(c, LL_ERR_BAD_FRAME);
            return;
        }
        /* v2: a reset after the subd (the subscription fell behind retention, or its stream
         * lost its history) continues after its cursor, whatever ours is */
        if (c->v2 && (i = frame_sub(c, sub, SUB_SERVED)) < LL_SUBS_MAX) {
            s = &c->sub[i];
            s->ws_last.set = 0;
            ll__reset(c, i, cursor, &k, &s->cur);
            if (ll__cursor_cmp(&s->hello_cur, &k) > 0) s->hello_cur = k;
            ll__caught_up_check(c);
            break;
        }
        if ((i = frame_sub(c, sub, SUB_ASKED)) >= LL_SUBS_MAX) break;
        s = &c->sub[i];
        s->ws_last.set = 0;
        if (!ll__reset(c, i, cursor, &k, &s->ws_open_cur)) { /* stale, and ahead: ask again */
            if (ll__ws_shown(c)) {
                c->progress = PROGRESS_RECONNECTING;
                ll__cause(c, LL_REASON_WS_CLOSED);
            }
            ll__ws_close(c, LL_REASON_WS_CLOSED);
            if (ll__ws_wanted(c)) ll__ws_try(c, c->cfg[LL_CFG_race_delay]);
        }
        break;
    }
    case LL_FRAME_ERROR:
        ll__spans(ll__error(c, LL_ERR_SERVER_ERROR, LL_REASON_WS_SERVER_ERROR, 0), message.p, message.n, code.p,
                  code.n);
        fail(c, LL_REASON_WS_SERVER_ERROR, 1);
        break;
    }
}

void ll__ws_closed(ll_core *c, uint32_t code) {
    (void)code; /* browsers hide the reason (1006 for a refused upgrade and a drop alike) */
    if (c->ws_phase == WS_CONNECTING) attempt_failed(c, LL_REASON_WS_REFUSED, 0);
    else if (c->ws_phase == WS_WAIT_HELLO) attempt_failed(c, LL_REASON_WS_NO_HELLO, 0);
    else lost(c, LL_REASON_WS_CLOSED, 0);
}

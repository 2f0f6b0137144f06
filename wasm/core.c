/* core.c — the entry points: config, start/close, the page's condition (visibility,
 * online, pagehide/pageshow, freeze/resume), the timer table, and the read-only views. Every input ends
 * with ll__publish (state.c), which derives the public state.
 *
 * The page's condition decides what may be on the wire (state.c: ll__active,
 * ll__ws_wanted): anything only while running, not left, online, and visible — or hidden
 * with hidden_interval > 0 (slow polling while hidden); a WebSocket only on a visible page
 * with a role other than ALONE. Losing a condition stops what it no longer allows (an open
 * WebSocket survives a hide for hidden_grace); regaining it reconnects at once, resuming
 * from the cursor. */
#include "internal.h"

#include <string.h>

static const uint32_t cfg_default[LL_CFG_COUNT] = {
#define X(n, d, lo, hi, unit, doc) d,
    LL_CONFIG(X)
#undef X
};
static const uint32_t cfg_min[LL_CFG_COUNT] = {
#define X(n, d, lo, hi, unit, doc) lo,
    LL_CONFIG(X)
#undef X
};
static const uint32_t cfg_max[LL_CFG_COUNT] = {
#define X(n, d, lo, hi, unit, doc) hi,
    LL_CONFIG(X)
#undef X
};

size_t ll_core_size(void) { return (sizeof(ll_core) + 7) & ~(size_t)7; }

void ll_init(ll_core *c, uint32_t seed_lo, uint32_t seed_hi) {
    memset(c, 0, sizeof *c);
    memcpy(c->cfg, cfg_default, sizeof c->cfg);
    c->rng = ((uint64_t)seed_hi << 32) | seed_lo;
    memset(c->timers, 0xff, sizeof c->timers); /* every timer LL_NEVER */
    c->state = LL_STATE_IDLE;
    c->life = LIFE_IDLE;
    c->bad_field = -1;
    c->visible = c->online = 1;
}

int ll_set(ll_core *c, uint32_t field, uint32_t value) {
    if (c->life != LIFE_IDLE) return LL_ERR_BAD_STATE;
    if (field >= LL_CFG_COUNT || value < cfg_min[field] || value > cfg_max[field]) {
        c->bad_field = (int32_t)field;
        return LL_ERR_BAD_CONFIG;
    }
    c->cfg[field] = value;
    return LL_ERR_OK;
}

uint32_t ll_get(const ll_core *c, uint32_t field) { return field < LL_CFG_COUNT ? c->cfg[field] : 0; }
uint32_t ll_config_min(uint32_t field) { return field < LL_CFG_COUNT ? cfg_min[field] : 0; }
uint32_t ll_config_max(uint32_t field) { return field < LL_CFG_COUNT ? cfg_max[field] : 0; }
int ll_bad_field(const ll_core *c) { return c->bad_field; }

int ll_set_cursor(ll_core *c, const char *cursor, size_t len) {
    if (c->life != LIFE_IDLE) return LL_ERR_BAD_STATE;
    if (!ll__cursor_parse(cursor, len, &c->start_cur)) return LL_ERR_BAD_CURSOR;
    return LL_ERR_OK;
}

/* ---- timers ---- */

void ll__arm(ll_core *c, int t, uint64_t in) { c->timers[t] = c->now + in; }
void ll__disarm(ll_core *c, int t) { c->timers[t] = LL_NEVER; }
void ll__arm_request(ll_core *c, int t, uint64_t in) {
    uint64_t at = c->now + in;
    c->timers[t] = at < c->quiet_until ? c->quiet_until : at;
}

uint64_t ll_next_deadline(const ll_core *c) {
    uint64_t d = LL_NEVER;
    int i;
    if (c->life == LIFE_CLOSED) return LL_NEVER;
    for (i = 0; i < T_COUNT; i++)
        if (c->timers[i] < d) d = c->timers[i];
    return d;
}

/* ---- the page's condition ---- */

/* (Re)connect after start, visible, online or pageshow: resume from the cursor at once. */
static void connect(ll_core *c, uint32_t reason) {
    if (!ll__active(c)) return;
    c->errors = 0;
    c->polled_ok = 0;
    c->ws_losses = 0;
    if (ll__ws_wanted(c) && c->ws_phase == WS_NONE) {
        if (c->role == ROLE_FALLBACK) {
            if (c->timers[T_WS_RETRY] == LL_NEVER) ll__arm_request(c, T_WS_RETRY, ll__probe_delay(c));
        } else {
            ll__ws_try(c, c->cfg[LL_CFG_start_race_delay]);
        }
    }
    if (!ll__ws_wanted(c) || c->role == ROLE_FALLBACK) ll__poll_start(c);
    c->progress = PROGRESS_CONNECTING;
    if (!ll__ws_shown(c) && c->polls != POLLS_SERVING) ll__cause(c, reason); /* else: still open */
}

/* Back (visible, online, pageshow, resume) after a time the page's timers may not have run
 * and its socket may have died unseen (a frozen tab, a sleeping phone): an open WebSocket
 * is pinged now and judged by the short pong timeout; a poll waiting for its interval
 * (not for a backoff or a Retry-After) goes now. */
static void poll_now(ll_core *c) {
    if (c->timers[T_POLL] != LL_NEVER && !c->errors && c->now >= c->quiet_until) {
        ll__disarm(c, T_POLL);
        ll__poll_start(c);
    }
}

static void check(ll_core *c) {
    ll__ws_ping(c);
    poll_now(c);
}

/* Stop what the page's condition no longer allows. keep_ws: an open WebSocket stays. */
static void quiesce(ll_core *c, uint32_t reason, int keep_ws) {
    if (c->ws_phase != WS_NONE && !(keep_ws && ll__ws_hello_said(c))) ll__ws_close(c, reason);
    ll__poll_stop(c);
    ll__disarm(c, T_RACE);
    ll__disarm(c, T_WS_RETRY);
}

/* The page's new condition stopped polling: that is the reason, unless a socket serves. */
static void settle(ll_core *c, uint32_t reason) {
    if (c->ws_phase != WS_SERVING) ll__cause(c, reason);
}

int ll_start(ll_core *c, uint64_t now, int visible, int online) {
    static const struct {
        uint8_t lo, hi;
    } order[] = {
        {LL_CFG_min_interval, LL_CFG_max_interval},
        {LL_CFG_probe_min, LL_CFG_probe_max},
        {LL_CFG_backoff_base, LL_CFG_backoff_max},
        {LL_CFG_pong_timeout_min, LL_CFG_pong_timeout_max},
    };
    size_t i;
    if (c->life != LIFE_IDLE) return LL_ERR_BAD_STATE;
    for (i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (c->cfg[order[i].lo] > c->cfg[order[i].hi]) {
            c->bad_field = order[i].lo;
            return LL_ERR_BAD_CONFIG;
        }
    }
    ll__begin_input(c, now);
    c->life = LIFE_RUNNING;
    c->visible = visible != 0;
    c->online = online != 0;
    c->sub[0].cur = c->start_cur;
    c->subs = 1;
    if (c->cfg[LL_CFG_resource_mode]) c->cfg[LL_CFG_websocket] = 0;
    c->role = c->cfg[LL_CFG_websocket] ? ROLE_BESIDE : ROLE_ALONE;
    if (c->cfg[LL_CFG_start_on_polling] && c->role == ROLE_BESIDE) {
        ll__set_role(c, ROLE_FALLBACK);
        c->remembered = 1;
        c->fallback_reason = LL_REASON_FALLBACK_REMEMBERED;
    }
    ll__cause(c, LL_REASON_START);
    if (ll__active(c)) connect(c, c->role == ROLE_FALLBACK ? LL_REASON_FALLBACK_REMEMBERED : LL_REASON_START);
    ll__publish(c);
    return LL_ERR_OK;
}

/* Every input: note the time; nothing happens unless running; ll__publish at the end. */
static int begin(ll_core *c, uint64_t now) {
    ll__begin_input(c, now);
    return c->life == LIFE_RUNNING;
}

static void visibility(ll_core *c, int visible) {
    if ((visible != 0) == c->visible) return;
    c->visible = visible != 0;
    if (c->left) return; /* pageshow decides; everything is stopped already */
    if (c->visible) {
        ll__disarm(c, T_GRACE);
        if (ll__ws_hello_said(c)) {
            check(c); /* timers were throttled while hidden: do not trust the socket */
        } else {
            quiesce(c, LL_REASON_VISIBLE, 0); /* drop any slow hidden-interval poll */
            connect(c, LL_REASON_VISIBLE);
        }
        return;
    }
    /* Hidden: nothing on the wire (or slow polls only); an open WebSocket gets a grace. */
    quiesce(c, LL_REASON_HIDDEN, 1);
    if (ll__ws_hello_said(c)) {
        ll__arm(c, T_GRACE, c->cfg[LL_CFG_hidden_grace]);
        if (!c->cfg[LL_CFG_hidden_grace]) ll__ws_timer(c, T_GRACE);
        return;
    }
    settle(c, LL_REASON_HIDDEN);
    if (ll__active(c)) ll__arm_request(c, T_POLL, ll__next_interval(c, 0));
}

void ll_visibility(ll_core *c, uint64_t now, int visible) {
    if (!begin(c, now)) return;
    visibility(c, visible);
    ll__publish(c);
}

static void online_changed(ll_core *c, int online) {
    if ((online != 0) == c->online) return;
    c->online = online != 0;
    if (c->online) {
        connect(c, LL_REASON_ONLINE);
        check(c);
        return;
    }
    /* The browser's word is a hint: an open WebSocket is pinged now and judged by the
     * answer; everything else stops. */
    quiesce(c, LL_REASON_OFFLINE, 1);
    ll__disarm(c, T_SEND);
    ll__ws_ping(c);
    settle(c, LL_REASON_OFFLINE);
}

void ll_online(ll_core *c, uint64_t now, int online) {
    if (!begin(c, now)) return;
    online_changed(c, online);
    ll__publish(c);
}

/* pagehide and freeze (reason says which) */
static void leave(ll_core *c, uint32_t reason) {
    if (c->left) return;
    c->left = (uint8_t)reason;
    quiesce(c, reason, 0);
    if (c->post_req) {
        ll__push(c, LL_ACT_FETCH_CANCEL, c->post_req, 0, 0, 0);
        c->post_req = 0;
        ll__sends_requeue(c, SEND_ON_POST);
    }
    ll__disarm(c, T_SEND);
    ll__disarm(c, T_SEND_REQ);
    ll__cause(c, reason);
}

/* pageshow and resume: reconnect from the cursor if the page had left, else check. A page
 * that pagehide took away comes back with pageshow (the back/forward cache fires resume
 * first, then pageshow): a resume before it is not yet the return. */
static void back(ll_core *c, uint32_t reason) {
    if (!c->left) {
        check(c);
        return;
    }
    if (c->left == LL_REASON_PAGEHIDE && reason == LL_REASON_RESUME) return;
    c->left = 0;
    if (ll__active(c)) connect(c, reason);
    else settle(c, reason);
}

void ll_pagehide(ll_core *c, uint64_t now) {
    if (!begin(c, now)) return;
    leave(c, LL_REASON_PAGEHIDE);
    ll__publish(c);
}

void ll_freeze(ll_core *c, uint64_t now) {
    if (!begin(c, now)) return;
    leave(c, LL_REASON_FREEZE);
    ll__publish(c);
}

void ll_pageshow(ll_core *c, uint64_t now) {
    if (!begin(c, now)) return;
    back(c, LL_REASON_PAGESHOW);
    ll__publish(c);
}

void ll_resume(ll_core *c, uint64_t now) {
    if (!begin(c, now)) return;
    back(c, LL_REASON_RESUME);
    ll__publish(c);
}

void ll_fallback_remembered(ll_core *c, uint64_t now) {
    if (!begin(c, now)) return;
    if (c->role == ROLE_BESIDE && !ll__ws_hello_said(c)) {
        ll__ws_close(c, LL_REASON_FALLBACK_REMEMBERED);
        ll__disarm(c, T_RACE);
        ll__set_role(c, ROLE_FALLBACK);
        c->remembered = 1;
        c->fallback_reason = LL_REASON_FALLBACK_REMEMBERED;
        connect(c, LL_REASON_FALLBACK_REMEMBERED); /* as a start on polling: a poll, a probe later */
    }
    ll__publish(c);
}

void ll_ws_unavailable(ll_core *c, uint64_t now) {
    if (!begin(c, now)) return;
    if (c->role != ROLE_ALONE && !ll__ws_hello_said(c)) {
        ll__ws_close(c, LL_REASON_WS_UNAVAILABLE); /* quietly: the server said why */
        ll__disarm(c, T_RACE);
        ll__disarm(c, T_WS_RETRY);
        ll__set_role(c, ROLE_ALONE);
        if (c->cfg[LL_CFG_fallback_ttl] && !c->remembered) {
            ll__push(c, LL_ACT_REMEMBER_FALLBACK, 0, c->cfg[LL_CFG_fallback_ttl], 0, 0);
            c->remembered = 1;
        }
        ll__cause(c, LL_REASON_WS_UNAVAILABLE);
    }
    ll__publish(c);
}

/* The app closed the connection (ll_close), or the server refused its URL again and again
 * (poll.c): the socket closed, requests cancelled, pending sends failed, no timer; final. */
void ll__shutdown(ll_core *c, uint32_t reason) {
    if (c->ws_phase != WS_NONE) ll__ws_close(c, reason);
    ll__poll_stop(c);
    if (c->post_req) ll__push(c, LL_ACT_FETCH_CANCEL, c->post_req, 0, 0, 0);
    c->post_req = 0;
    ll__sends_fail_all(c, LL_ERR_CLOSED);
    memset(c->timers, 0xff, sizeof c->timers); /* every timer LL_NEVER */
    c->life = LIFE_CLOSED;
    ll__cause(c, reason);
}

void ll_close(ll_core *c, uint64_t now) {
    if (!begin(c, now)) return;
    ll__shutdown(c, LL_REASON_CLOSED_BY_APP);
    ll__publish(c);
}

void ll_timer(ll_core *c, uint64_t now) {
    int round, t;
    if (!begin(c, now)) return;
    /* A handler may arm another timer that is already due; a few rounds settle it. */
    for (round = 0; round < 8; round++) {
        int fired = 0;
        for (t = 0; t < T_COUNT; t++) {
            if (c->timers[t] > now) continue;
            c->timers[t] = LL_NEVER;
            fired = 1;
            switch (t) {
            case T_RACE: /* a socket that said hello but has not caught up needs the poll too */
                ll__poll_start(c);
                break;
            case T_WS:
            case T_PING:
            case T_WS_RETRY:
            case T_GRACE: ll__ws_timer(c, t); break;
            case T_POLL:
            case T_POLL_REQ: ll__poll_timer(c, t); break;
            default: ll__sends_timer(c, t); break;
            }
        }
        if (!fired) break;
    }
    ll__publish(c);
}

/* ---- inputs routed to their concern ---- */

void ll_ws_opened(ll_core *c, uint64_t now, uint32_t ws) {
    if (!begin(c, now) || ws != c->ws_id || c->ws_phase != WS_CONNECTING) return;
    ll__ws_enter(c, WS_WAIT_HELLO);
    c->ws_last_rx = now;
    ll__ws_ask(c); /* the other subscriptions now: a v2 server serves them after its hello */
    ll__publish(c);
}

void ll_ws_frame(ll_core *c, uint64_t now, uint32_t ws, uint32_t type, uint32_t size, uint32_t depth,
                 const char *cursor, size_t cursor_len, uint32_t id, const char *message, size_t message_len,
                 const char *code, size_t code_len, uint32_t sub) {
    ll__span k = {cursor, (uint32_t)cursor_len}, m = {message, (uint32_t)message_len}, e = {code, (uint32_t)code_len};
    if (!begin(c, now) || ws != c->ws_id || c->ws_phase < WS_WAIT_HELLO) return;
    ll__ws_frame(c, type, size, depth, k, id, m, e, sub);
    ll__publish(c);
}

void ll_ws_closed(ll_core *c, uint64_t now, uint32_t ws, uint32_t code) {
    if (!begin(c, now) || ws != c->ws_id || c->ws_phase == WS_NONE) return;
    ll__ws_closed(c, code);
    ll__publish(c);
}

void ll_http_response(ll_core *c, uint64_t now, uint32_t req, uint32_t status, int32_t retry_after, uint32_t interval,
                      uint32_t long_poll, const char *validator, size_t validator_len, uint32_t size, uint32_t depth,
                      const char *body, size_t body_len) {
    ll__head h;
    if (!begin(c, now) || !req) return;
    h.retry_after = retry_after;
    h.interval = interval;
    h.long_poll = long_poll;
    h.validator.p = validator;
    h.validator.n = (uint32_t)validator_len;
    h.size = size;
    h.depth = depth;
    if (req == c->poll_req) ll__poll_response(c, status, &h, body, body_len);
    else if (req == c->post_req) ll__post_response(c, status, &h);
    ll__publish(c);
}

void ll_http_failed(ll_core *c, uint64_t now, uint32_t req, uint32_t kind) {
    if (!begin(c, now) || !req) return;
    if (req == c->poll_req) ll__poll_failed(c, kind);
    else if (req == c->post_req) ll__post_failed(c, kind);
    ll__publish(c);
}

int32_t ll_send(ll_core *c, uint64_t now, uint32_t sub, size_t len) {
    ll__begin_input(c, now);
    if (c->life == LIFE_CLOSED) return -LL_ERR_CLOSED;
    if (c->cfg[LL_CFG_resource_mode] || sub >= LL_SUBS_MAX || !LL__USED(c, sub)) return -LL_ERR_BAD_STATE;
    if (len > c->cfg[LL_CFG_max_message_bytes]) return -LL_ERR_SEND_TOO_LARGE;
    if (c->n_sends >= c->cfg[LL_CFG_max_sends]) return -LL_ERR_SEND_OVERFLOW;
    if (++c->next_send_id > 0x7fffffff) c->next_send_id = 1;
    c->sends[c->n_sends].id = c->next_send_id;
    c->sends[c->n_sends].len = (uint32_t)len;
    c->sends[c->n_sends].where = SEND_QUEUED;
    c->sends[c->n_sends].sub = sub;
    c->n_sends++;
    ll__sends_pump(c); /* a POST at most: nothing the public state is derived from moves */
    return (int32_t)c->next_send_id;
}

/* ---- the table of subscriptions ---- */

void ll__drop_sub(ll_core *c, uint32_t i) {
    c->subs &= ~(1u << i);
    c->sub[i].on_ws = SUB_OFF;
}

void ll__split(ll_core *c, uint32_t mask) {
    uint32_t i, out = c->subs & mask;
    c->split = 1;
    LL__EACH_SUB(c, i, m)
    if (out >> i & 1) ll__drop_sub(c, i);
    if (out) ll__push(c, LL_ACT_SPLIT, 0, out, 0, 0);
}

/* A change to the table while polling: the poll in hand asked for the old one. A long poll
 * held for it is cancelled and the table polled at once; a short one is answered soon, and
 * the next poll goes at once (poll.c); one waiting for its interval goes now. */
static void table_changed(ll_core *c) {
    c->subs_changed = 1;
    if (c->poll_req && c->poll_long) ll__poll_check(c);
    else poll_now(c); /* a poll waiting for its interval goes now */
}

int ll_subscribe(ll_core *c, uint64_t now, uint32_t sub, const char *cursor, size_t len) {
    ll__sub *s;
    ll__cursor k = {0, 0, 0, 0};
    if (!begin(c, now) || sub >= LL_SUBS_MAX || LL__USED(c, sub) || c->cfg[LL_CFG_resource_mode])
        return LL_ERR_BAD_STATE;
    if (len && !ll__cursor_parse(cursor, len, &k)) return LL_ERR_BAD_CURSOR;
    if (c->split) {
        ll__push(c, LL_ACT_SPLIT, 0, 1u << sub, 0, 0);
    } else {
        s = &c->sub[sub];
        memset(s, 0, sizeof *s);
        c->subs |= 1u << sub;
        s->cur = k;
        s->ws_open_cur = k;
        /* an open socket asks for it at once (a v1 hello split the table for good); one
         * not yet open asks for it when it opens (ws.c) */
        if (c->ws_phase >= WS_WAIT_HELLO) ll__ws_ask(c);
        table_changed(c);
    }
    ll__publish(c);
    return LL_ERR_OK;
}

void ll_unsubscribe(ll_core *c, uint64_t now, uint32_t sub) {
    ll__sub *s;
    if (!begin(c, now) || sub >= LL_SUBS_MAX || !LL__USED(c, sub)) return;
    s = &c->sub[sub];
    /* asked on this socket (a v1 server ignores the unsub as it did the sub) */
    if (s->on_ws != SUB_OFF && c->ws_phase != WS_NONE && !c->split) ll__push(c, LL_ACT_WS_UNSUB, c->ws_id, sub, 0, 0);
    ll__drop_sub(c, sub);
    if (c->subs) table_changed(c); /* the last one gone: the caller closes the core */
    ll__caught_up_check(c);
    ll__publish(c);
}

/* ---- views ---- */

#if defined(__wasm__)
extern unsigned char __heap_base;
uintptr_t ll_heap_base(void) { return (uintptr_t)&__heap_base; }
#endif

uint32_t ll_state(const ll_core *c) { return c->state; }
uint32_t ll_transport(const ll_core *c) { return c->transport; }
uint32_t ll_interval(const ll_core *c) {
    return c->state == LL_STATE_OPEN && (c->transport == LL_TRANSPORT_POLL || c->transport == LL_TRANSPORT_RESOURCE)
               ? c->interval
               : 0;
}
uint32_t ll_rtt(const ll_core *c) { return c->srtt; }

const char *ll_cursor(ll_core *c, uint32_t *len) { return ll_sub_cursor(c, 0, len); }

const char *ll_sub_cursor(ll_core *c, uint32_t sub, uint32_t *len) {
    *len = sub < LL_SUBS_MAX && LL__USED(c, sub) ? (uint32_t)ll__cursor_format(&c->sub[sub].cur, c->cursor_text) : 0;
    return c->cursor_text;
}

#define NAME_FN(fn, TABLE, COUNT)                           \
    const char *fn(uint32_t v) {                            \
        static const char *const names[] = {TABLE(NAME_X)}; \
        return v < (COUNT) ? names[v] : "?";                \
    }
#define NAME_X(n, s) s,
NAME_FN(ll_state_name, LL_STATES, LL_STATE_COUNT)
NAME_FN(ll_transport_name, LL_TRANSPORTS, LL_TRANSPORT_COUNT)
NAME_FN(ll_reason_name, LL_REASONS, LL_REASON_COUNT)
NAME_FN(ll_error_name, LL_ERRORS, LL_ERR_COUNT)
#undef NAME_X
#define NAME_X(n, s, f) s,
#define LL_ACTIONS_NAMES(X) LL_ACTIONS(X, )
NAME_FN(ll_action_name, LL_ACTIONS_NAMES, LL_ACT_COUNT)
#undef NAME_X
#define NAME_X(n, d, lo, hi, unit, doc) #n,
NAME_FN(ll_config_name, LL_CONFIG, LL_CFG_COUNT)
#undef NAME_X

/* internal.h — the core's private state and the functions its files share (ll__*). */
#ifndef LL_INTERNAL_H
#define LL_INTERNAL_H

#include "lifeline.h"

#define LL_QUEUE_CAP 32  /* actions queued by one input, drained before the next */
#define LL_SENDS_CAP 256 /* compile-time bound of config max_sends */

/* A cursor: <a> or <a>-<b>, ordered as the pair (a, b). */
typedef struct ll__cursor {
    uint64_t a, b;
    uint8_t set;   /* 0 = none ("from now") */
    uint8_t has_b; /* written with a dash */
} ll__cursor;

/* Timers: one deadline each (LL_NEVER = not armed). */
enum ll__timer {
    T_RACE,     /* when to start a poll beside a WebSocket that is not working yet */
    T_WS,       /* when a WebSocket attempt without hello is given up (black hole / no hello) */
    T_PING,     /* when to ping a quiet WebSocket, or declare an unanswered ping dead; with a
                   server that beats: when its next frame is overdue, or our own beat is due */
    T_WS_RETRY, /* when to try the WebSocket again (reconnect after a loss, or a probe) */
    T_POLL,     /* when to send the next poll */
    T_POLL_REQ, /* when the poll in flight times out */
    T_GRACE,    /* when an open WebSocket is closed because the page stayed hidden */
    T_SEND,     /* when to retry a failed POST send */
    T_SEND_REQ, /* when the POST in flight times out */
    T_COUNT
};

/* The machine (state.c has the theory and the tables). Three orthogonal enums and the
 * browser's own reports; everything public is derived from them. */

/* The WebSocket attempt in hand (one at a time). */
enum ll__ws_phase {
    WS_NONE,        /* no socket */
    WS_CONNECTING,  /* WS_OPEN asked, not open yet */
    WS_WAIT_HELLO,  /* open, no hello yet: not working */
    WS_PROVING,     /* said hello after a stall: must answer a ping before it may serve */
    WS_REPLAYING,   /* said hello while nothing else served: it is the page's transport while
                       it replays up to the head it announced (polls go on beside it) */
    WS_CATCHING_UP, /* said hello while polls serve: they stay the transport until it caught up */
    WS_SERVING,     /* caught up: the transport; polling stopped */
    WS_PHASE_COUNT
};

/* The role polling plays. */
enum ll__role {
    ROLE_ALONE,   /* no WebSocket at all (websocket off, resource mode): polls are everything */
    ROLE_BESIDE,  /* WebSocket first: polls bridge until a socket serves (the race) */
    ROLE_FALLBACK /* the WebSocket failed: polls are the transport, sockets are probes */
};

/* What polling has shown since it last (re)started. */
enum ll__polls {
    POLLS_UNPROVEN, /* no answer yet */
    POLLS_SERVING,  /* answered: the page's transport unless a socket serves */
    POLLS_FAILING   /* the last one failed (backing off, or waiting out Retry-After) */
};

/* Connecting (nothing worked since the last (re)start or fallback) or reconnecting (what
 * worked was lost). */
enum ll__progress { PROGRESS_CONNECTING, PROGRESS_RECONNECTING };

/* The page, as the browser reports it, in order of precedence (ll__page). */
enum ll__page { PAGE_VISIBLE, PAGE_HIDDEN, PAGE_OFFLINE, PAGE_LEFT };

enum ll__life { LIFE_IDLE, LIFE_RUNNING, LIFE_CLOSED };

/* ll__ws_try: no poll beside the attempt. */
#define NO_RACE UINT32_MAX

/* Internal action type: a validated poll batch, expanded into DELIVERs while draining. */
#define LL__ACT_BATCH 100

enum { SEND_QUEUED = 0, SEND_ON_WS = 1, SEND_ON_POST = 2 };

/* A subscription: one stream the connection carries (entry 0: the URL's; protocol v2 adds
 * more over one transport, server/DESIGN.md "Protocol v2"), with the cursors the core keeps
 * for it. */
typedef struct ll__sub {
    ll__cursor cur;         /* last delivered or adopted */
    ll__cursor hello_cur;   /* the server's head for it when the socket said hello */
    ll__cursor ws_last;     /* the last msg cursor of it on this socket */
    ll__cursor ws_open_cur; /* the cursor the socket asked to resume it from */
    ll__cursor poll_cur;    /* the cursor the poll in flight asked with */
    uint8_t quiet;          /* the last poll answer brought it nothing new */
    uint8_t on_ws; /* on the socket in hand: SUB_OFF, SUB_ASKED (URL or sub sent), SUB_SERVED (subd, or a v1 hello) */
} ll__sub;

enum { SUB_OFF, SUB_ASKED, SUB_SERVED };

/* The table's entries in use are the bits of ll_core's `subs`: loops visit those only, so a
 * connection of one stream pays for one. */
#define LL__EACH_SUB(c, i, m) for (uint32_t m = (c)->subs; m && ((i) = (uint32_t)__builtin_ctz(m), 1); m &= m - 1)
#define LL__USED(c, i) ((c)->subs >> (i)&1u)

typedef struct ll__send {
    uint32_t id;
    uint32_t len;
    uint32_t where; /* SEND_QUEUED / SEND_ON_WS / SEND_ON_POST */
    uint32_t sub;   /* the subscription whose stream it goes to */
} ll__send;

/* The fields most code touches come first: a field within the first 128 bytes costs one
 * byte less in every wasm load and store that reaches it. */
struct ll_core {
    /* The machine (state.c) */
    uint8_t life, role, polls, progress;
    uint8_t visible, online, left; /* the browser's reports (ll__page combines them);
                                        * left: 0, or the reason it left (pagehide, freeze) */
    uint8_t must_prove;            /* the next socket must answer a ping (after a stall) */
    uint8_t race_reconnect;        /* race a poll beside the reconnect (ws.c: lost) */
    uint32_t ws_phase, ws_id, poll_req, post_req;
    ll_action *cause_slot; /* the STATE action reserved for this input's cause... */
    uint32_t cause;        /* ...and that reason (meaningful with cause_slot) */
    uint64_t now;
    uint32_t q_head, q_len, n_sends, next_id;
    uint32_t errors;              /* poll errors in a row */
    uint32_t refusals;            /* 401/403/404 poll answers in a row */
    uint32_t flaps;               /* short-lived WebSockets in a row */
    uint32_t ws_losses;           /* losses in a row (reconnect backoff) */
    uint32_t interval;            /* current adaptive interval */
    uint8_t ping_out, remembered; /* remembered: a REMEMBER_FALLBACK is in force */
    uint8_t poll_long;            /* the poll in flight asked wait= */
    uint8_t poll_many;            /* ... and polls every subscription at once (v2) */
    uint8_t poll_after_hello;     /* ... and was sent after the catching-up socket's
                                          hello: an empty answer means nothing lies between
                                          the cursor and the hello's head */
    uint8_t poll_empty;           /* the last poll answer brought nothing new */
    uint8_t polled_ok;            /* a poll answered since the last (re)start, error or
                                          fallback: long polls allowed */
    uint8_t have_version, batch_active;
    uint32_t subs;        /* the subscriptions in the table (bit i: sub[i]) */
    uint8_t v2;           /* the socket in hand said hello v2: it carries every subscription */
    uint8_t split;        /* the server speaks v1: one subscription per connection (SPLIT) */
    uint8_t subs_changed; /* the table changed since the poll in hand was sent */
    uint64_t quiet_until; /* Retry-After: no request before this */
    uint32_t cfg[LL_CFG_COUNT];
    uint64_t timers[T_COUNT];
    uint64_t rng;
    uint32_t state, transport, reason; /* as last published: for the views, never a decision */
    uint32_t bad_edges;                /* transitions the tables refused: a bug if ever > 0 */
    int32_t bad_field;

    ll__cursor start_cur; /* ll_set_cursor() */

    /* WebSocket */
    uint64_t ws_started_at, ws_hello_at, ws_last_rx, ws_last_tx, ping_sent_at;
    uint32_t beat;     /* hello's "beat": the server beats at most this far apart (0: it pings) */
    uint32_t beat_gap; /* the gap after which the server's next frame is due */
    uint32_t fallback_reason;
    uint32_t probe_n; /* probes since falling back */
    uint32_t srtt;

    /* Polling */
    uint64_t poll_sent_at;
    uint32_t server_long_max; /* Lifeline-Long-Poll (0 = not offered) */
    uint32_t hint_interval;   /* Lifeline-Interval (0 = none) */
    uint64_t last_change;     /* when data last changed (0 = never) */
    uint32_t gap_ewma;        /* smoothed time between changes */

    /* Resource mode: the version last delivered, as hashes */
    uint64_t validator_hash, body_hash;

    /* Sends */
    uint32_t next_send_id, post_send, send_errors;

    /* Actions: the batch being expanded (its cursor lines, the next element's index) */
    const char *batch_p, *batch_end;
    uint32_t batch_i, batch_sub;
    ll__cursor batch_floor;
    uint32_t overflow; /* actions dropped for want of room: a bug if ever > 0 */
    char cursor_text[LL_CURSOR_TEXT];
    char old_cursor_text[LL_CURSOR_TEXT];
    ll_action out;
    ll_action sink; /* where an action goes when the queue is full (never, if bug-free) */
    ll_action queue[LL_QUEUE_CAP];
    ll__send sends[LL_SENDS_CAP];
    ll__sub sub[LL_SUBS_MAX]; /* the table (entry 0: the URL's stream); last: reached by index */
};

/* ---- queue.c ---- */
void ll__begin_input(ll_core *c, uint64_t now);
ll_action *ll__push(ll_core *c, uint32_t type, uint32_t id, uint32_t a, uint32_t b, uint32_t cc);
void ll__fill(ll_action *x, uint32_t type, uint32_t id, uint32_t a, uint32_t b, uint32_t cc);
void ll__spans(ll_action *x, const char *s, size_t s_len, const char *t, size_t t_len);
void ll__carry_cursor(ll_action *x, const ll__cursor *k);
uint32_t ll__new_id(ll_core *c);
ll_action *ll__error(ll_core *c, uint32_t code, uint32_t reason, uint32_t status);

/* ---- cursor.c ---- */
int ll__cursor_parse(const char *p, size_t n, ll__cursor *out);
int ll__cursor_cmp(const ll__cursor *x, const ll__cursor *y);       /* unset sorts first */
size_t ll__cursor_format(const ll__cursor *x, char *buf);           /* buf >= LL_CURSOR_TEXT */
int ll__parse_u64(const char **pp, const char *end, uint64_t *out); /* digits, no overflow */
size_t ll__put_u64(char *buf, uint64_t v);

typedef struct ll__span {
    const char *p;
    uint32_t n;
} ll__span;

/* The next line of a cursor list (ll_http_response) at *pos, which becomes NULL after the
 * last one; 0 when none is left. */
int ll__line(const char **pos, const char *end, ll__span *line);

/* ---- what the caller decoded of a response (ll_http_response) ---- */
typedef struct ll__head {
    int32_t retry_after; /* seconds, -1 = none */
    uint32_t interval, long_poll;
    ll__span validator;
    uint32_t size, depth;
} ll__head;

/* ---- policy.c ---- */
uint32_t ll__rand(ll_core *c, uint32_t n);    /* uniform in [0, n] */
uint64_t ll__backoff(ll_core *c, uint32_t n); /* full jitter, n-th error in a row */
uint64_t ll__probe_delay(ll_core *c);         /* equal jitter */
uint32_t ll__next_interval(ll_core *c, int changed);
void ll__note_change(ll_core *c);
void ll__rtt_sample(ll_core *c, uint64_t rtt);
uint32_t ll__pong_timeout(const ll_core *c);

/* ---- state.c ---- */
int ll__ws_enter(ll_core *c, uint32_t phase); /* 0 (and unchanged) when the table forbids it */
int ll__ws_hello_said(const ll_core *c);      /* PROVING, REPLAYING, CATCHING_UP or SERVING */
void ll__set_role(ll_core *c, uint32_t role);
void ll__cause(ll_core *c, uint32_t reason);    /* why the public state may change now */
void ll__shutdown(ll_core *c, uint32_t reason); /* stop everything for good: closed */
uint32_t ll__page(const ll_core *c);
int ll__active(const ll_core *c);    /* anything may be on the wire */
int ll__ws_wanted(const ll_core *c); /* a WebSocket may be open or tried */
void ll__publish(ll_core *c);        /* end of every input: derive, emit if changed */
int ll__ws_shown(const ll_core *c);  /* the public state shows the WebSocket open */

/* ---- timers (core.c) ---- */
void ll__arm(ll_core *c, int t, uint64_t in);         /* fire `in` ms from now */
void ll__arm_request(ll_core *c, int t, uint64_t in); /* the same, but not before Retry-After ends */
void ll__disarm(ll_core *c, int t);

/* ---- ws.c ---- */
void ll__ws_try(ll_core *c, uint32_t race);
void ll__ws_close(ll_core *c, uint32_t reason);
void ll__ws_timer(ll_core *c, int t);
void ll__ws_ping(ll_core *c);
void ll__ws_ask(ll_core *c); /* the table's subscriptions not on the socket yet, in one sub frame */
void ll__ws_frame(ll_core *c, uint32_t type, uint32_t size, uint32_t depth, ll__span cursor, uint32_t id,
                  ll__span message, ll__span code, uint32_t sub);
void ll__ws_closed(ll_core *c, uint32_t code);
void ll__fallback(ll_core *c, uint32_t reason);

/* ---- poll.c ---- */
void ll__poll_start(ll_core *c);
void ll__poll_check(ll_core *c);
void ll__poll_stop(ll_core *c);
void ll__poll_timer(ll_core *c, int t);
void ll__poll_response(ll_core *c, uint32_t status, const ll__head *h, const char *b, size_t bn);
void ll__poll_failed(ll_core *c, uint32_t kind);
uint32_t ll__polling_transport(const ll_core *c);
int ll__reset(ll_core *c, uint32_t i, ll__span cursor_text, const ll__cursor *to, const ll__cursor *asked);
int ll__caught_up(const ll_core *c); /* every subscription served and delivered up to its head */
void ll__caught_up_check(ll_core *c);

/* ---- the table of subscriptions (core.c) ---- */
#define ll__first_sub(c) \
    ((uint32_t)__builtin_ctz((c)->subs | 1u << 31))                /* the one a stream URL names (WS_OPEN, a v1 poll) */
#define ll__subs_used(c) ((uint32_t)__builtin_popcount((c)->subs)) /* how many are in the table */
void ll__drop_sub(ll_core *c, uint32_t i);                         /* out of the table */
void ll__split(ll_core *c, uint32_t mask); /* a v1 server: these go to connections of their own */
int ll__retry_after_wait(ll_core *c, const ll__head *h);

/* ---- sends.c ---- */
void ll__sends_pump(ll_core *c);
int ll__sends_next_ws(ll_core *c, ll_action *out);
void ll__sends_ack(ll_core *c, uint32_t id);
void ll__sends_reject(ll_core *c, uint32_t id, uint32_t status, ll__span message, ll__span code);
void ll__sends_requeue(ll_core *c, uint32_t where);
void ll__sends_fail_all(ll_core *c, uint32_t code);
void ll__sends_timer(ll_core *c, int t);
void ll__post_response(ll_core *c, uint32_t status, const ll__head *h);
void ll__post_failed(ll_core *c, uint32_t kind);

#endif

/* poll.c — HTTP polling (protocol mode: long or interval polls; resource mode:
 * conditional GETs of any URL), delivery through the cursor, resets, and the switch from
 * polling up to a WebSocket that caught up.
 *
 * Delivery rule, whatever the transport: a message is delivered only if its cursor is
 * above the last delivered one, which then moves to it. Both transports may carry the
 * same message while they overlap (the race at start, a probe catching up): the second
 * copy is dropped here, silently. */
#include "internal.h"

#include <string.h>

/* The server said the cursor a request `asked` with is too old; continue after `to`. When
 * the cursor moved meanwhile (the other transport already reset it, or delivered past it),
 * the answer is stale: ignored when `to` is not ahead of the cursor, and otherwise the
 * transport must ask again from the cursor (returns 0) — adopting `to` would skip what
 * lies between. Returns 1 when the reset was applied or is moot. */
int ll__reset(ll_core *c, uint32_t i, ll__span cursor_text, const ll__cursor *to, const ll__cursor *asked) {
    ll__sub *s = &c->sub[i];
    ll_action *x;
    if (ll__cursor_cmp(asked, &s->cur) != 0) return ll__cursor_cmp(to, &s->cur) <= 0;
    x = ll__push(c, LL_ACT_RESET, 0, i, 0, 0);
    /* the old cursor's text lives in the action itself (several resets may be queued) */
    ll__carry_cursor(x, &s->cur);
    ll__spans(x, x->t, x->t_len, 0, 0);
    x->t = cursor_text.p;
    x->t_len = cursor_text.n;
    s->cur = *to;
    return 1;
}

uint32_t ll__polling_transport(const ll_core *c) {
    if (c->cfg[LL_CFG_resource_mode]) return LL_TRANSPORT_RESOURCE;
    return c->server_long_max && c->cfg[LL_CFG_long_poll_wait] && c->visible ? LL_TRANSPORT_LONGPOLL
                                                                             : LL_TRANSPORT_POLL;
}

/* The WebSocket becomes the transport once it delivered up to the server's head at hello
 * (and, on probation after a stall, answered a ping): only then is polling stopped, so
 * nothing published meanwhile can fall between them. */
int ll__caught_up(const ll_core *c) {
    uint32_t i;
    LL__EACH_SUB(c, i, m) {
        const ll__sub *s = &c->sub[i];
        if (s->on_ws != SUB_SERVED || ll__cursor_cmp(&s->cur, &s->hello_cur) < 0) return 0;
    }
    return 1;
}

void ll__caught_up_check(ll_core *c) {
    uint32_t reason;
    if ((c->ws_phase != WS_REPLAYING && c->ws_phase != WS_CATCHING_UP) || !ll__caught_up(c)) return;
    /* From polling (a fallback, or polls that served the page) it is an upgrade. */
    reason = c->role == ROLE_FALLBACK || c->polls == POLLS_SERVING ? LL_REASON_UPGRADE : LL_REASON_WS_HELLO;
    ll__ws_enter(c, WS_SERVING);
    ll__set_role(c, ROLE_BESIDE);
    c->errors = 0;
    ll__disarm(c, T_WS_RETRY);
    ll__disarm(c, T_RACE);
    ll__poll_stop(c);
    if (c->remembered) {
        ll__push(c, LL_ACT_FORGET_FALLBACK, 0, 0, 0, 0);
        c->remembered = 0;
    }
    c->interval = 0;
    ll__cause(c, reason);
}

/* Whether every subscription has a cursor (a long poll needs one to wait after). */
static int all_have_cursors(const ll_core *c) {
    uint32_t i;
    LL__EACH_SUB(c, i, m)
    if (!c->sub[i].cur.set) return 0;
    return 1;
}

static void send_poll(ll_core *c, int may_wait) {
    uint32_t wait = 0, timeout = c->cfg[LL_CFG_request_timeout], i, first = ll__first_sub(c);
    ll_action *x;
    ll__disarm(c, T_POLL);
    c->poll_req = ll__new_id(c);
    if (!c->cfg
             [LL_CFG_resource_mode]) { /* A long poll only once a plain poll answered since the last (re)start or error
         * (so "open" and the round trip are known at once, not after a held poll on a
         * quiet stream), only when the server offers long polls (Lifeline-Long-Poll),
         * and never while hidden (a hidden page holds no connection). */
        if (may_wait && c->visible && all_have_cursors(c) && c->polled_ok && c->server_long_max)
            wait = c->cfg[LL_CFG_long_poll_wait];
        if (c->server_long_max && wait > c->server_long_max) wait = c->server_long_max;
    }
    c->poll_long = wait != 0;
    c->poll_after_hello = c->ws_phase == WS_CATCHING_UP;
    LL__EACH_SUB(c, i, m)
    c->sub[i].poll_cur = c->sub[i].cur;
    c->poll_many = !c->split && ll__subs_used(c) > 1;
    c->subs_changed = 0;
    c->poll_sent_at = c->now;
    timeout += wait;
    x = ll__push(c, LL_ACT_POLL, c->poll_req, timeout, wait, c->poll_many ? LL_SUBS_MAX : first);
    if (!c->cfg[LL_CFG_resource_mode] && !c->poll_many) ll__carry_cursor(x, &c->sub[first].cur);
    ll__arm(c, T_POLL_REQ, timeout);
}

void ll__poll_start(ll_core *c) {
    if (c->poll_req || c->ws_phase == WS_SERVING || !ll__active(c)) return;
    if (c->now < c->quiet_until) {
        ll__arm_request(c, T_POLL, 0);
        return;
    }
    send_poll(c, 1);
}

/* A socket said hello, while polls serve, naming a head ahead of the cursor where the last
 * poll brought nothing new: ask at once (a short poll in place of one held or waiting)
 * whether anything lies between. Messages
 * come back and are delivered; an empty answer means nothing does (an empty stream's head
 * may be no message's cursor, like the reference servers' <boot>-0), and the socket is
 * caught up — else it would wait for a first message to catch up with. */
void ll__poll_check(ll_core *c) {
    if (c->poll_req) ll__push(c, LL_ACT_FETCH_CANCEL, c->poll_req, 0, 0, 0);
    c->poll_req = 0;
    if (c->now < c->quiet_until || c->errors || !ll__active(c)) {
        ll__poll_start(c);
        return;
    }
    send_poll(c, 0);
}

void ll__poll_stop(ll_core *c) {
    if (c->poll_req) ll__push(c, LL_ACT_FETCH_CANCEL, c->poll_req, 0, 0, 0);
    c->poll_req = 0;
    c->polls = POLLS_UNPROVEN;
    ll__disarm(c, T_POLL);
    ll__disarm(c, T_POLL_REQ);
}

/* A failed poll: back off with full jitter. */
static void poll_error(ll_core *c, uint32_t reason) {
    uint64_t delay = ll__backoff(c, c->errors);
    c->errors++;
    c->polled_ok = 0;
    if (ll__active(c)) ll__arm_request(c, T_POLL, delay);
    /* A socket that said hello carries the page meanwhile: nothing to tell. */
    if (ll__ws_hello_said(c)) return;
    if (c->polls == POLLS_SERVING || c->progress == PROGRESS_RECONNECTING) {
        c->progress = PROGRESS_RECONNECTING;
        ll__cause(c, reason);
    }
    c->polls = POLLS_FAILING;
}

/* 429/503 with Retry-After: nothing is sent before it ends (plus jitter up to a tenth of
 * it and a quarter second, so a shed crowd does not come back in one instant). Returns 0
 * when the response has no Retry-After. */
int ll__retry_after_wait(ll_core *c, const ll__head *h) {
    uint64_t ms, until;
    if (h->retry_after < 0) return 0;
    ms = (uint64_t)(h->retry_after > 86400 ? 86400 : h->retry_after) * 1000;
    until = c->now + ms + ll__rand(c, (uint32_t)(ms / 10 + 250));
    if (until > c->quiet_until) c->quiet_until = until;
    return 1;
}

/* FNV-1a, 64 bit: to compare validators and bodies without keeping them. */
static uint64_t hash(ll__span s) {
    uint64_t h = 1469598103934665603ULL;
    uint32_t i;
    for (i = 0; i < s.n; i++) {
        h ^= (unsigned char)s.p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* changed: 0 nothing new, 1 new data, 2 poll again at once (after a reset). */
static void schedule_next(ll_core *c, int changed) {
    uint64_t delay;
    if (c->ws_phase == WS_SERVING || !ll__active(c)) return;
    if (changed == 2 || c->subs_changed) {
        delay = 0;
    } else if (ll__polling_transport(c) == LL_TRANSPORT_LONGPOLL) {
        /* Re-poll at once, unless the server answered "nothing" without holding. */
        c->interval = 0;
        delay = changed || !c->poll_long || c->now - c->poll_sent_at >= c->cfg[LL_CFG_min_interval]
                    ? 0
                    : c->cfg[LL_CFG_min_interval];
    } else {
        if (changed) ll__note_change(c);
        delay = ll__next_interval(c, changed);
    }
    if (delay == 0) ll__poll_start(c);
    else ll__arm_request(c, T_POLL, delay);
}

static void polling_works(ll_core *c) {
    uint32_t reason;
    c->errors = 0;
    c->polled_ok = 1;
    /* A socket that said hello is (becoming) the transport: no flicker to polling. */
    if (c->ws_phase == WS_REPLAYING || c->ws_phase == WS_SERVING) return;
    reason = c->role == ROLE_FALLBACK ? c->fallback_reason : LL_REASON_POLL_OK;
    if (c->polls != POLLS_SERVING) ll__cause(c, reason); /* serving already: the reason stands */
    c->polls = POLLS_SERVING;
    ll__sends_pump(c);
}

static int bad_body(ll_core *c, int err) {
    ll__error(c, (uint32_t)err, LL_REASON_HTTP_ERROR, 0);
    poll_error(c, LL_REASON_HTTP_ERROR);
    return -1;
}

/* The size and depth checks, then the body's own cursor (its first line): LL_ERR_OK or
 * the error. *pos moves to the elements' lines. */
static int body_head(ll_core *c, const ll__head *h, const char **pos, const char *end, ll__span *text, ll__cursor *k) {
    if (h->size > c->cfg[LL_CFG_max_message_bytes]) return LL_ERR_TOO_LARGE;
    if (h->depth > c->cfg[LL_CFG_max_depth]) return LL_ERR_TOO_DEEP;
    return ll__line(pos, end, text) && ll__cursor_parse(text->p, text->n, k) ? LL_ERR_OK : LL_ERR_BAD_RESPONSE;
}

/* One subscription's lines of a 200 poll body (its cursor, then its messages' cursors;
 * the messages numbered from *index on): check them, then queue one BATCH that delivers
 * what is new. Returns 1 changed, 0 unchanged, -1 bad (not reported yet). */
static int section(ll_core *c, uint32_t i, const char *b, const char *end, uint32_t *index) {
    ll__sub *s = &c->sub[i];
    ll__cursor head, k, last;
    const char *pos = b, *first;
    ll__span line;
    uint32_t total = 0, fresh = 0, backwards = 0;
    ll_action *x;
    if (!ll__line(&pos, end, &line) || !ll__cursor_parse(line.p, line.n, &head)) return -1;
    first = pos;
    last = s->cur;
    while (ll__line(&pos, end, &line)) {
        if (!ll__cursor_parse(line.p, line.n, &k)) return -1;
        total++;
        if (ll__cursor_cmp(&k, &last) > 0) {
            last = k;
            fresh++;
        } else if (fresh) {
            backwards++;
        }
    }
    if (backwards) ll__error(c, LL_ERR_CURSOR_BACKWARDS, LL_REASON_HTTP_ERROR, 0);
    s->quiet = !fresh;
    if (fresh) {
        polling_works(c); /* "open" before the messages it carries */
        /* the floor (what is delivered already) travels in the action: batches of several
         * subscriptions may be queued */
        x = ll__push(c, LL__ACT_BATCH, 0, *index, i, 0);
        ll__carry_cursor(x, &s->cur);
        ll__spans(x, first, (size_t)(end - first), 0, 0);
        s->cur = last;
    } else if (!total) {
        /* No messages: the server's current cursor. Adopt it when it is ahead (nothing
         * exists between), complain when it is behind. */
        int cmp = ll__cursor_cmp(&head, &s->cur);
        if (cmp > 0) s->cur = head;
        else if (cmp < 0) ll__error(c, LL_ERR_CURSOR_BACKWARDS, LL_REASON_HTTP_ERROR, 0);
    }
    *index += total;
    return fresh != 0;
}

/* A 200 poll body: one stream's lines, or (a poll of many) sections: a line "#<i>" starts
 * subscription i's, then its lines, or one line "~<cursor>" (a reset: it continues after
 * that), or "!<code> <message>" (refused). Streams the answer leaves out had nothing new.
 * Returns 1 changed, 2 a reset (poll again at once), 0 unchanged, -1 error (reported,
 * backoff armed). */
static int batch(ll_core *c, const ll__head *h, const char *b, size_t bn) {
    const char *pos = b, *end = b + bn, *start;
    ll__span line;
    uint32_t index = 0, i;
    int changed = 0, r;
    if (h->size > c->cfg[LL_CFG_max_message_bytes]) return bad_body(c, LL_ERR_TOO_LARGE);
    if (h->depth > c->cfg[LL_CFG_max_depth]) return bad_body(c, LL_ERR_TOO_DEEP);
    if (!c->poll_many) {
        r = section(c, ll__first_sub(c), b, end, &index);
        return r < 0 ? bad_body(c, LL_ERR_BAD_RESPONSE) : r;
    }
    while (pos && pos < end) {
        uint64_t n;
        const char *p;
        if (!ll__line(&pos, end, &line) || line.n < 2 || line.p[0] != '#') return bad_body(c, LL_ERR_BAD_RESPONSE);
        p = line.p + 1;
        if (!ll__parse_u64(&p, line.p + line.n, &n) || p != line.p + line.n || n >= LL_SUBS_MAX || !LL__USED(c, n))
            return bad_body(c, LL_ERR_BAD_RESPONSE);
        i = (uint32_t)n;
        start = pos; /* the section runs to the next "#" line */
        while (pos && pos < end && *pos != '#') ll__line(&pos, end, &line);
        if (start && start < end && (*start == '~' || *start == '!')) {
            ll__span t;
            const char *q = start;
            ll__line(&q, end, &t);
            if (*start == '!') { /* refused: out of the table */
                uint32_t cn = 1; /* "!<code> <message>": the code runs to the first space */
                while (cn < t.n && t.p[cn] != ' ') cn++;
                ll__spans(ll__push(c, LL_ACT_REFUSED, 0, i, 0, 0), t.p + cn + 1, cn < t.n ? t.n - cn - 1 : 0, t.p + 1,
                          cn - 1);
                ll__drop_sub(c, i);
            } else {
                ll__cursor k;
                ll__span text = {t.p + 1, t.n - 1};
                if (!ll__cursor_parse(text.p, text.n, &k)) return bad_body(c, LL_ERR_BAD_RESPONSE);
                ll__reset(c, i, text, &k, &c->sub[i].poll_cur);
                c->sub[i].quiet = 0;
                changed = 2;
            }
            continue;
        }
        r = section(c, i, start, pos ? pos - 1 : end, &index);
        if (r < 0) return bad_body(c, LL_ERR_BAD_RESPONSE);
        if (r && !changed) changed = 1;
    }
    return changed;
}

static void resource(ll_core *c, uint32_t status, const ll__head *h, const char *b, size_t bn) {
    ll__span validator = h->validator;
    ll__span body = {b, (uint32_t)bn};
    uint64_t vh, bh;
    int changed;
    if (status == 304) {
        polling_works(c);
        schedule_next(c, 0);
        return;
    }
    if (h->size > c->cfg[LL_CFG_max_message_bytes]) {
        bad_body(c, LL_ERR_TOO_LARGE);
        return;
    }
    vh = validator.n ? hash(validator) : 0;
    bh = hash(body);
    /* Unchanged when the validator is the one we had (the browser revalidated its cached
     * copy and gave us a 200 from cache), or with no validator at all, the same bytes. */
    changed = !c->have_version || (vh ? vh != c->validator_hash : bh != c->body_hash);
    c->have_version = 1;
    c->validator_hash = vh;
    c->body_hash = bh;
    if (changed) ll__spans(ll__push(c, LL_ACT_DELIVER, 0, 0, 0, 0), b, bn, validator.p, validator.n);
    polling_works(c);
    schedule_next(c, changed);
}

void ll__poll_response(ll_core *c, uint32_t status, const ll__head *h, const char *b, size_t bn) {
    int changed = 0;
    uint32_t refusals = c->refusals, i;
    LL__EACH_SUB(c, i, m)
    c->sub[i].quiet = 1; /* until its answer says otherwise */
    c->refusals = 0;
    c->poll_req = 0;
    ll__disarm(c, T_POLL_REQ);
    if (!c->poll_long) ll__rtt_sample(c, c->now - c->poll_sent_at);
    if (status == 200 || status == 204 || status == 304 || status == 410) {
        /* The server's word on how to poll, from every answer that was its own. */
        c->server_long_max = h->long_poll > 300000 ? 300000 : h->long_poll;
        c->hint_interval = h->interval && h->interval < 10 ? 10 : h->interval > 86400000 ? 86400000 : h->interval;
    }
    if ((status == 429 || status == 503) && ll__retry_after_wait(c, h)) {
        c->errors++;
        if (ll__active(c)) ll__arm_request(c, T_POLL, 0);
        if (!ll__ws_hello_said(c)) {
            c->polls = POLLS_FAILING;
            c->progress = PROGRESS_RECONNECTING;
            ll__cause(c, LL_REASON_RETRY_AFTER);
        }
        return;
    }
    if (c->cfg[LL_CFG_resource_mode] && (status == 200 || status == 304)) {
        resource(c, status, h, b, bn);
        return;
    }
    if (status == 404 && c->poll_many) {
        /* a server of v1: no poll of many streams; one stream per connection from here */
        uint32_t first = ll__first_sub(c);
        ll__split(c, ~(1u << first));
        schedule_next(c, 2);
        return;
    }
    if (status == 200) {
        changed = batch(c, h, b, bn);
        if (changed < 0) return;
    } else if (status == 410 && !c->cfg[LL_CFG_resource_mode] && !c->poll_many) {
        const char *pos = b;
        ll__span text;
        ll__cursor k;
        int err = body_head(c, h, &pos, b + bn, &text, &k);
        if (err != LL_ERR_OK) {
            bad_body(c, err);
            return;
        }
        i = ll__first_sub(c);
        ll__reset(c, i, text, &k, &c->sub[i].poll_cur); /* stale or not: poll again at once */
        c->sub[i].quiet = 0;
        changed = 2;
    } else if (status != 204 && status != 304) {
        /* 401, 403, 404 in a row: the URL is wrong or the right to it is gone; retrying
         * for ever would hide that, so after refusal_limit of them the connection closes. */
        if (status == 401 || status == 403 || status == 404) c->refusals = refusals + 1;
        if (c->refusals >= c->cfg[LL_CFG_refusal_limit]) {
            ll__error(c, LL_ERR_HTTP_STATUS, LL_REASON_REFUSED, status);
            ll__shutdown(c, LL_REASON_REFUSED);
            return;
        }
        ll__error(c, LL_ERR_HTTP_STATUS, LL_REASON_HTTP_ERROR, status);
        poll_error(c, LL_REASON_HTTP_ERROR);
        return;
    }
    c->poll_empty = !changed;
    polling_works(c);
    /* asked after hello, and nothing after a subscription's cursor: nothing between it and
     * its head (a stream with news moved its cursor past the one asked) */
    if (c->poll_after_hello && c->ws_phase == WS_CATCHING_UP) {
        LL__EACH_SUB(c, i, m) {
            ll__sub *s = &c->sub[i];
            if (s->on_ws == SUB_SERVED && s->quiet && ll__cursor_cmp(&s->cur, &s->hello_cur) < 0) s->hello_cur = s->cur;
        }
    }
    ll__caught_up_check(c);
    schedule_next(c, changed);
}

void ll__poll_failed(ll_core *c, uint32_t kind) {
    c->poll_req = 0;
    ll__disarm(c, T_POLL_REQ);
    ll__error(c, kind == LL_FAIL_TIMEOUT ? LL_ERR_TIMEOUT : LL_ERR_NETWORK, LL_REASON_NETWORK_ERROR, 0);
    poll_error(c, LL_REASON_NETWORK_ERROR);
}

void ll__poll_timer(ll_core *c, int t) {
    if (t == T_POLL) {
        ll__poll_start(c);
    } else if (c->poll_req) { /* T_POLL_REQ: the request outlived its timeout */
        ll__push(c, LL_ACT_FETCH_CANCEL, c->poll_req, 0, 0, 0);
        ll__poll_failed(c, LL_FAIL_TIMEOUT);
    }
}

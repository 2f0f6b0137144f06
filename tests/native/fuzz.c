/* fuzz.c — libFuzzer target: random event sequences and random bytes against the core.
 *
 * The input drives a small simulated driver: each byte picks an input (timer, socket
 * events, frames from templates or raw bytes — decoded as the shim decodes them, or
 * raw decoded fields — HTTP answers with templated or raw bodies, or raw cursor lines,
 * visibility, online, pagehide/pageshow/freeze/resume, sends, close) aimed at the ids the core really
 * asked for, so runs go deep. After every input all actions are drained and checked:
 *   - no cursor delivered twice or backwards (except across a RESET);
 *   - the action queue never overflowed, and one input yields a bounded number of actions;
 *   - no transition the state tables forbid was attempted; a STATE action always differs
 *     from the one before, at most one comes per input, and it matches ll_state/ll_transport;
 *   - after ll_timer(now) nothing is still due, and no deadline is absurdly far;
 *   - hidden (without hidden_interval), offline, after pagehide or close: no request and
 *     no WebSocket is opened;
 *   - actions name only ids the core handed out, and spans lie inside real memory;
 *   - once the core has a cursor, every WebSocket upgrade and every poll carries one (a
 *     request without it would read as "from now": a silent gap). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../wasm/internal.h"
#include "decode.h"

typedef struct sim {
    const uint8_t *p, *end;
    ll_core *c;
    uint64_t now;
    uint32_t ws, poll, post;
    int visible, online, paged_out, closed, hidden_interval;
    uint64_t server_seq;
    ll__cursor last[LL_SUBS_MAX]; /* per subscription */
    uint8_t have_last[LL_SUBS_MAX];
    uint8_t had_cursor[LL_SUBS_MAX];   /* each subscription had a cursor when the input being drained began */
    uint32_t state, transport, reason; /* the last STATE action */
    size_t n_msgs;                     /* messages the input being drained carried: a DELIVER's a indexes them */
} sim;

static uint8_t next(sim *s) { return s->p < s->end ? *s->p++ : 0; }

static void fail(const char *what) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
}

static void drain(sim *s, int after_timer) {
    const ll_action *a;
    int n = 0, states = 0;
    uint32_t i;
    int quiet = (!s->visible && !s->hidden_interval) || !s->online || s->paged_out || s->closed;
    while ((a = ll_next_action(s->c))) {
        if (++n > 100000) fail("endless actions");
        if (getenv("FUZZ_TRACE"))
            fprintf(stderr, "  @%llu %s id=%u a=%u c=%u %.*s\n", (unsigned long long)s->now, ll_action_name(a->type),
                    a->id, a->a, a->c, (int)a->s_len, a->s);
        if (a->s_len) (void)((volatile const char *)a->s)[a->s_len - 1];
        if (a->t_len) (void)((volatile const char *)a->t)[a->t_len - 1];
        switch (a->type) {
        case LL_ACT_WS_OPEN:
            if (quiet || !s->visible) fail("WebSocket opened while it must be quiet");
            if (a->a < LL_SUBS_MAX && s->had_cursor[a->a] && !a->t_len) fail("WebSocket opened without the cursor");
            s->ws = a->id;
            break;
        case LL_ACT_POLL:
        case LL_ACT_POST:
            if (a->type == LL_ACT_POLL) {
                if (quiet) fail("poll sent while it must be quiet");
                if (a->c < LL_SUBS_MAX && s->had_cursor[a->c] && !a->t_len && !s->c->cfg[LL_CFG_resource_mode])
                    fail("poll sent without the cursor");
                s->poll = a->id;
            } else {
                if (s->closed || s->paged_out || !s->online) fail("POST while quiet");
                s->post = a->id;
            }
            break;
        case LL_ACT_FETCH_CANCEL:
            if (a->id != s->poll && a->id != s->post) fail("cancel of an unknown request");
            if (a->id == s->poll) s->poll = 0;
            else s->post = 0;
            break;
        case LL_ACT_STATE:
            if (++states > 1) fail("two STATE actions for one input");
            if (a->a == s->state && a->b == s->transport && a->c == s->reason)
                fail("a STATE action that changed nothing");
            s->state = a->a, s->transport = a->b, s->reason = a->c;
            break;
        case LL_ACT_WS_CLOSE:
            if (a->id != s->ws) fail("close of an unknown socket");
            s->ws = 0;
            break;
        case LL_ACT_DELIVER: {
            ll__cursor k;
            if (s->c->cfg[LL_CFG_resource_mode]) break;
            if (a->a >= s->n_msgs) fail("delivered a message the input did not carry");
            if (!ll__cursor_parse(a->t, a->t_len, &k)) fail("delivered an invalid cursor");
            if (a->b >= LL_SUBS_MAX) fail("delivered for no subscription");
            if (s->have_last[a->b] && ll__cursor_cmp(&k, &s->last[a->b]) <= 0)
                fail("cursor delivered twice or backwards");
            s->last[a->b] = k;
            s->have_last[a->b] = 1;
            break;
        }
        case LL_ACT_RESET:
            if (a->a < LL_SUBS_MAX) s->have_last[a->a] = 0;
            break;
        case LL_ACT_REFUSED: /* out of the table: it may come back with another cursor */
            if (a->a < LL_SUBS_MAX) s->have_last[a->a] = 0;
            break;
        case LL_ACT_SPLIT:
            for (i = 0; i < LL_SUBS_MAX; i++)
                if (a->a >> i & 1) s->have_last[i] = 0;
            break;
        default:
            if (a->type >= LL_ACT_COUNT) fail("unknown action");
        }
    }
    s->n_msgs = 0;
    if (s->c->overflow) fail("action queue overflowed");
    if (s->c->bad_edges) fail("a transition the state tables forbid");
    if (ll_state(s->c) != s->state || ll_transport(s->c) != s->transport) fail("ll_state disagrees with STATE");
    if (s->c->q_len || s->c->batch_active) fail("drain left something");
    if (after_timer) {
        uint64_t d = ll_next_deadline(s->c);
        if (d <= s->now) fail("a timer is still due after ll_timer");
        if (d != LL_NEVER && d > s->now + 3ULL * 86400000) fail("deadline absurdly far");
    }
    if (s->closed && ll_next_deadline(s->c) != LL_NEVER) fail("deadline after close");
    for (i = 0; i < LL_SUBS_MAX; i++) s->had_cursor[i] = (s->c->subs >> i & 1) && s->c->sub[i].cur.set;
}

static char *cursor_text(sim *s, char *buf) {
    ll__cursor k = {s->server_seq, 0, 1, 0};
    uint8_t m = next(s);
    if (m % 8 == 0 && s->server_seq) k.a = s->server_seq - 1 - (m % 3); /* backwards */
    if (m % 16 == 1) {
        k.has_b = 1;
        k.b = m;
    }
    ll__cursor_format(&k, buf);
    return buf;
}

static size_t raw(sim *s, char *buf, size_t cap) {
    size_t n = next(s) % 200;
    size_t i;
    if (n > cap) n = cap;
    for (i = 0; i < n; i++) buf[i] = (char)next(s);
    return n;
}

static size_t frame(sim *s, char *buf, size_t cap) {
    char k[LL_CURSOR_TEXT];
    switch (next(s) % 12) {
    case 9: /* v2: a hello, or a subscription's subd, msg, reset or refused (s 0 to 33: some out of range) */
        switch (next(s) % 5) {
        case 0:
            return (size_t)snprintf(buf, cap, "{\"type\":\"hello\",\"v\":2,\"beat\":%u}",
                                    (unsigned)(next(s) % 31) * 1000);
        case 1:
            return (size_t)snprintf(buf, cap, "{\"type\":\"subd\",\"s\":%u,\"cursor\":\"%s\"}", next(s) % 34u,
                                    cursor_text(s, k));
        case 2:
            s->server_seq++;
            return (size_t)snprintf(buf, cap, "{\"type\":\"msg\",\"s\":%u,\"cursor\":\"%s\",\"data\":%u}",
                                    next(s) % 34u, cursor_text(s, k), (unsigned)s->server_seq);
        case 3:
            return (size_t)snprintf(buf, cap, "{\"type\":\"reset\",\"s\":%u,\"cursor\":\"%s\"}", next(s) % 34u,
                                    cursor_text(s, k));
        default:
            return (size_t)snprintf(buf, cap, "{\"type\":\"refused\",\"s\":%u,\"code\":\"forbidden\"}", next(s) % 34u);
        }
    case 10: return (size_t)snprintf(buf, cap, "{\"type\":\"ack\",\"s\":%u,\"id\":%u}", next(s) % 34u, next(s) % 8);
    case 0: /* from a server that pings, or one that beats (at most 0 to 30 s apart) */
        if (next(s) % 2)
            return (size_t)snprintf(buf, cap, "{\"type\":\"hello\",\"cursor\":\"%s\",\"heartbeat\":25000}",
                                    cursor_text(s, k));
        return (size_t)snprintf(buf, cap, "{\"type\":\"hello\",\"cursor\":\"%s\",\"beat\":%u}", cursor_text(s, k),
                                (unsigned)(next(s) % 31) * 1000);
    case 8: return 0; /* a beat: an empty text frame */
    case 1:
        s->server_seq++;
        return (size_t)snprintf(buf, cap, "{\"type\":\"msg\",\"cursor\":\"%s\",\"data\":{\"n\":%u}}", cursor_text(s, k),
                                (unsigned)s->server_seq);
    case 2: return (size_t)snprintf(buf, cap, "{\"type\":\"ping\"}");
    case 3: return (size_t)snprintf(buf, cap, "{\"type\":\"pong\"}");
    case 4:
        if (next(s) % 2)
            return (size_t)snprintf(buf, cap, "{\"type\":\"ack\",\"id\":%u,\"error\":\"no\",\"message\":\"m\"}",
                                    next(s) % 8);
        return (size_t)snprintf(buf, cap, "{\"type\":\"ack\",\"id\":%u}", next(s) % 8);
    case 5: return (size_t)snprintf(buf, cap, "{\"type\":\"reset\",\"cursor\":\"%s\"}", cursor_text(s, k));
    case 6: return (size_t)snprintf(buf, cap, "{\"type\":\"error\",\"code\":\"x\",\"message\":\"m\"}");
    case 7:
        s->server_seq++;
        return (size_t)snprintf(buf, cap, "{\"type\":\"msg\",\"cursor\":\"%s\",\"data\":[[[[[[[[1]]]]]]]]}",
                                cursor_text(s, k));
    default: return raw(s, buf, cap);
    }
}

static size_t body(sim *s, char *buf, size_t cap) {
    char k[LL_CURSOR_TEXT];
    size_t n = 0;
    uint8_t m = next(s), count, i;
    if (m % 5 == 4) return raw(s, buf, cap);
    count = (uint8_t)(m % 6);
    n += (size_t)snprintf(buf + n, cap - n, "{\"messages\":[");
    for (i = 0; i < count && n < cap - 100; i++) {
        s->server_seq++;
        n +=
            (size_t)snprintf(buf + n, cap - n, "%s{\"cursor\":\"%s\",\"data\":%u}", i ? "," : "", cursor_text(s, k), i);
    }
    n += (size_t)snprintf(buf + n, cap - n, "],\"cursor\":\"%s\"}", cursor_text(s, k));
    return n;
}

/* Decoded response heads: Retry-After s, Lifeline-Interval, Lifeline-Long-Poll, validator. */
static const struct head {
    int32_t retry_after;
    uint32_t interval, long_poll;
    const char *validator;
} HEADS[] = {
    {-1, 0, 0, ""},
    {-1, 0, 25000, ""},
    {2, 0, 0, ""},
    {-1, 700, 0, "\"a\""},
    {-1, 0, 0, "Sun, 06 Nov 1994 08:49:37 GMT"},
    {99999999, 0, 0, "\"b\""},
    {-1, 99999999, 1, ""},
    {0, 1, 300001, "\"a\""},
};
static const uint32_t STATUS[] = {200, 200, 200, 204, 304, 410, 429, 503, 500, 400, 404, 0, 999};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char buf[4096];
    sim s;
    uint8_t setup;
    memset(&s, 0, sizeof s);
    s.p = data;
    s.end = data + size;
    s.c = malloc(ll_core_size());
    ll_init(s.c, next(&s), next(&s));
    setup = next(&s);
    ll_set(s.c, LL_CFG_resource_mode, setup % 7 == 0);
    ll_set(s.c, LL_CFG_websocket, setup % 5 != 0);
    ll_set(s.c, LL_CFG_start_on_polling, setup % 3 == 0);
    ll_set(s.c, LL_CFG_max_sends, 1 + setup % 4);
    ll_set(s.c, LL_CFG_max_message_bytes, 64 + next(&s) * 4u);
    ll_set(s.c, LL_CFG_max_depth, 2 + next(&s) % 10);
    ll_set(s.c, LL_CFG_flap_limit, 1 + setup % 3);
    s.hidden_interval = setup % 11 == 0;
    ll_set(s.c, LL_CFG_hidden_interval, s.hidden_interval ? 20000 : 0);
    if (setup % 4 == 1) ll_set_cursor(s.c, "5", 1);
    s.visible = next(&s) % 4 != 0;
    s.online = next(&s) % 8 != 0;
    if (ll_start(s.c, 0, s.visible, s.online) != LL_ERR_OK) fail("start");
    drain(&s, 0);
    while (s.p < s.end) {
        uint8_t op = next(&s);
        size_t n;
        if (getenv("FUZZ_TRACE")) fprintf(stderr, "op %u (ws=%u poll=%u post=%u)\n", op % 16, s.ws, s.poll, s.post);
        switch (op % 16) {
        case 0: {
            uint64_t d = ll_next_deadline(s.c);
            s.now = d != LL_NEVER && d > s.now ? d : s.now + 1;
            ll_timer(s.c, s.now);
            drain(&s, 1);
            continue;
        }
        case 1:
            s.now += (uint64_t)next(&s) * 37;
            ll_timer(s.c, s.now);
            drain(&s, 1);
            continue;
        case 2: ll_ws_opened(s.c, s.now, s.ws); break;
        case 3:
        case 4: {
            dec_frame f;
            n = frame(&s, buf, sizeof buf);
            dec_frame_decode(buf, n, &f);
            if (next(&s) % 8 == 0) { /* fields no decoder would produce */
                f.type = next(&s) % (LL_FRAME_COUNT + 2);
                f.depth = next(&s) % 16;
                f.id = next(&s) % 8;
                f.cursor.p = buf;
                f.cursor.n = raw(&s, buf, sizeof buf);
            }
            s.n_msgs = 1;
            ll_ws_frame(s.c, s.now, s.ws, f.type, (uint32_t)n, f.depth, f.cursor.p, f.cursor.n, f.id, f.message.p,
                        f.message.n, f.code.p, f.code.n, f.sub);
            break;
        }
        case 5: {
            uint32_t id = next(&s) % 8 ? s.ws : next(&s);
            ll_ws_closed(s.c, s.now, id, 1006);
            if (id == s.ws) s.ws = 0;
            break;
        }
        case 6:
        case 7:
        case 14: {
            uint32_t req = s.poll;
            dec_body b = {0, NULL, 0, NULL, 0};
            const char *in = buf;
            size_t in_n;
            n = in_n = body(&s, buf, sizeof buf);
            const struct head *h = &HEADS[next(&s) % (sizeof HEADS / sizeof HEADS[0])];
            s.poll = 0;
            if (!s.c->cfg[LL_CFG_resource_mode]) {
                if (next(&s) % 8 == 0) { /* raw lines, as no decoder would write them */
                    size_t i;
                    in_n = raw(&s, buf, sizeof buf);
                    for (i = 0; i < in_n; i++) s.n_msgs += buf[i] == '\n';
                } else {
                    dec_body_decode(buf, n, &b);
                    in = b.lines, in_n = b.lines_len;
                    s.n_msgs = b.count;
                }
            }
            ll_http_response(s.c, s.now, req, STATUS[next(&s) % (sizeof STATUS / sizeof STATUS[0])], h->retry_after,
                             h->interval, h->long_poll, h->validator, strlen(h->validator), (uint32_t)n, b.depth, in,
                             in_n);
            drain(&s, 0);
            if (b.lines) dec_body_free(&b);
            continue;
        }
        case 8:
            s.visible = !s.visible;
            ll_visibility(s.c, s.now, s.visible);
            break;
        case 9:
            s.online = !s.online;
            ll_online(s.c, s.now, s.online);
            break;
        case 10: { /* away by pagehide or freeze, back by pageshow or resume (or back again) */
            uint8_t how = next(&s);
            if (s.paged_out || (how & 2)) (how & 1 ? ll_resume : ll_pageshow)(s.c, s.now);
            else (how & 1 ? ll_freeze : ll_pagehide)(s.c, s.now);
            s.paged_out = !s.paged_out && !(how & 2);
            break;
        }
        case 11: ll_send(s.c, s.now, next(&s) % 3u, next(&s) * 3u); break;
        case 12: {
            uint32_t req = s.post;
            s.post = 0;
            const struct head *h = &HEADS[next(&s) % (sizeof HEADS / sizeof HEADS[0])];
            ll_http_response(s.c, s.now, req, STATUS[next(&s) % (sizeof STATUS / sizeof STATUS[0])], h->retry_after,
                             h->interval, h->long_poll, h->validator, strlen(h->validator), 9, 1, "", 0);
            break;
        }
        case 13:
            if (next(&s) == 0xff) {
                ll_close(s.c, s.now);
                s.closed = 1;
            } else {
                uint32_t req = next(&s) % 2 ? s.poll : s.post;
                if (req == s.poll) s.poll = 0;
                else s.post = 0;
                ll_http_failed(s.c, s.now, req, next(&s) % 2);
            }
            break;
        default:
            if (next(&s) % 3 == 0) { /* the table: a subscription added (with or without a cursor) or removed */
                char k[LL_CURSOR_TEXT];
                uint32_t i = next(&s) % (LL_SUBS_MAX + 2u);
                if (i < LL_SUBS_MAX) s.have_last[i] = 0; /* a new subscription may start anywhere */
                if (next(&s) % 2) ll_unsubscribe(s.c, s.now, i);
                else if (next(&s) % 2) ll_subscribe(s.c, s.now, i, "", 0);
                else ll_subscribe(s.c, s.now, i, cursor_text(&s, k), strlen(k));
            } else if (next(&s) % 8 == 0) {
                ll_ws_unavailable(s.c, s.now); /* a poll answer's Lifeline-WebSocket: none */
            } else if (next(&s) % 4 == 0) {
                ll_fallback_remembered(s.c, s.now); /* the shim's storage, read late */
            } else {
                ll_ws_closed(s.c, s.now, s.ws, 1000);
                s.ws = 0;
            }
            break;
        }
        drain(&s, 0);
    }
    free(s.c);
    return 0;
}

/* transcript.c — the native transcript runner (see transcript.h). */
#include "transcript.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../wasm/lifeline.h"
#include "decode.h"

#define MAX_LINES 64
#define LINE 4096

typedef struct run {
    const char *path;
    ll_core *core;
    unsigned long long now;
    int started;
    int failures;
    int verbose;
    char actual[MAX_LINES][LINE];
    int n_actual;
    char expected[MAX_LINES][LINE];
    int expected_line[MAX_LINES];
    int n_expected;
    int input_line;
    char last_cursor[LL_SUBS_MAX][64]; /* invariant: each subscription's deliveries strictly increase */
    uint32_t subs;                     /* the subscriptions in the core's table, as the shim keeps them */
    const dec_span *data;              /* the messages the input being drained carried (DELIVER's a) */
    size_t n_data;
} run;

static void fail(run *r, int line, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "%s:%d: ", r->path, line);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    r->failures++;
}

static void quoted(char *out, size_t cap, const char *s, size_t n) {
    size_t o = 0, i;
    out[o++] = '"';
    for (i = 0; i < n && o + 4 < cap; i++) {
        if (s[i] == '\r') continue;
        out[o++] = s[i] == '\n' ? '|' : s[i];
    }
    out[o++] = '"';
    out[o] = 0;
}

/* The query a WS_OPEN / POLL goes out with, spelled as js/protocol.mjs withQuery() does. */
static void query(char *out, size_t cap, const ll_action *a, uint32_t wait) {
    int n = 0;
    out[0] = 0;
    if (a->t_len) n = snprintf(out, cap, "cursor=%.*s", (int)a->t_len, a->t);
    if (wait) snprintf(out + n, cap - (size_t)n, "%swait=%u", n ? "&" : "", wait);
}

/* The subscriptions of a mask, each as #<i>=<cursor> ("-" for none): how WS_SUB and a
 * poll of all are rendered. */
static void table(ll_core *c, uint32_t mask, char *out, size_t cap) {
    uint32_t i, n;
    size_t o = 0;
    out[0] = 0;
    for (i = 0; i < LL_SUBS_MAX && o + 80 < cap; i++) {
        const char *k = ll_sub_cursor(c, i, &n);
        if (!(mask >> i & 1)) continue;
        o += (size_t)snprintf(out + o, cap - o, "%s#%u=%.*s", o ? " " : "", i, n ? (int)n : 1, n ? k : "-");
    }
}

/* "#<i> " for subscription i > 0 (subscription 0 renders as before subscriptions existed). */
static void sub_tag(char *out, size_t cap, uint32_t sub) {
    if (sub) snprintf(out, cap, "#%u ", sub);
    else out[0] = 0;
}

/* One action as one line (a DELIVER's data is data[a], or the body in resource mode).
 * tests/js/transcript.mjs renders the same way. */
static void render(ll_core *c, uint32_t subs, const ll_action *a, const dec_span *data, size_t n_data, char *out,
                   size_t cap) {
    char s[LINE], t[LINE], q[LINE], tag[16];
    query(q, sizeof q, a, a->type == LL_ACT_POLL ? a->b : 0);
    quoted(s, sizeof s, a->s, a->s_len);
    quoted(t, sizeof t, a->t, a->t_len);
    switch (a->type) {
    case LL_ACT_WS_OPEN:
        sub_tag(tag, sizeof tag, a->a);
        snprintf(out, cap, "ws_open %u %s\"%s\"", a->id, tag, q);
        break;
    case LL_ACT_WS_SEND: /* spelled as js/protocol.mjs spells the client's frames */
        if (a->a == LL_OUT_SEND && a->c) snprintf(out, cap, "ws_send %u send=%u s=%u", a->id, a->b, a->c);
        else if (a->a == LL_OUT_SEND) snprintf(out, cap, "ws_send %u send=%u", a->id, a->b);
        else if (a->a == LL_OUT_BEAT) snprintf(out, cap, "ws_send %u \"\"", a->id); /* an empty frame */
        else snprintf(out, cap, "ws_send %u {\"type\":\"%s\"}", a->id, a->a == LL_OUT_PING ? "ping" : "pong");
        break;
    case LL_ACT_WS_CLOSE: snprintf(out, cap, "ws_close %u %u %s", a->id, a->a, ll_reason_name(a->c)); break;
    case LL_ACT_POLL:
        if (a->c == LL_SUBS_MAX) { /* every subscription at once */
            table(c, subs, s, sizeof s);
            snprintf(out, cap, "fetch %u GET all \"%s\" wait=%u timeout=%u", a->id, s, a->b, a->a);
        } else {
            sub_tag(tag, sizeof tag, a->c);
            snprintf(out, cap, "fetch %u GET %s\"%s\" timeout=%u", a->id, tag, q, a->a);
        }
        break;
    case LL_ACT_POST:
        sub_tag(tag, sizeof tag, a->c);
        snprintf(out, cap, "fetch %u POST %s\"\" timeout=%u send=%u", a->id, tag, a->a, a->b);
        break;
    case LL_ACT_WS_SUB:
        table(c, a->a, s, sizeof s);
        snprintf(out, cap, "ws_sub %u %s", a->id, s);
        break;
    case LL_ACT_WS_UNSUB: snprintf(out, cap, "ws_unsub %u #%u", a->id, a->a); break;
    case LL_ACT_REFUSED: {
        int n = snprintf(out, cap, "refused #%u", a->a);
        if (a->t_len) n += snprintf(out + n, cap - (size_t)n, " code=%.*s", (int)a->t_len, a->t);
        if (a->s_len) snprintf(out + n, cap - (size_t)n, " %s", s);
        break;
    }
    case LL_ACT_SPLIT: {
        uint32_t i;
        int n = snprintf(out, cap, "split");
        for (i = 0; i < LL_SUBS_MAX; i++)
            if (a->a >> i & 1) n += snprintf(out + n, cap - (size_t)n, " #%u", i);
        break;
    }
    case LL_ACT_FETCH_CANCEL: snprintf(out, cap, "fetch_cancel %u", a->id); break;
    case LL_ACT_DELIVER: {
        dec_span d = {a->s, a->s_len};
        if (!a->s_len) d = a->a < n_data ? data[a->a] : (dec_span){"(no such message)", 17};
        sub_tag(tag, sizeof tag, a->b);
        snprintf(out, cap, "deliver %s%.*s %.*s", tag, a->t_len ? (int)a->t_len : 1, a->t_len ? a->t : "-",
                 (int)(d.n > 200 ? 200 : d.n), d.p);
        break;
    }
    case LL_ACT_STATE:
        snprintf(out, cap, "state %s %s %s", ll_state_name(a->a), ll_transport_name(a->b), ll_reason_name(a->c));
        break;
    case LL_ACT_ERROR: {
        int n = snprintf(out, cap, "error %s %s", ll_error_name(a->a), ll_reason_name(a->c));
        if (a->b) n += snprintf(out + n, cap - (size_t)n, " status=%u", a->b);
        if (a->t_len) n += snprintf(out + n, cap - (size_t)n, " code=%.*s", (int)a->t_len, a->t);
        if (a->s_len) snprintf(out + n, cap - (size_t)n, " %s", s);
        break;
    }
    case LL_ACT_RESET:
        sub_tag(tag, sizeof tag, a->a);
        snprintf(out, cap, "reset %s%.*s -> %.*s", tag, (int)a->s_len, a->s, (int)a->t_len, a->t);
        break;
    case LL_ACT_ACK: snprintf(out, cap, "ack %u", a->id); break;
    case LL_ACT_SEND_FAILED: {
        int n = snprintf(out, cap, "send_failed %u..%u %s", a->id, a->a, ll_error_name(a->b));
        if (a->c) n += snprintf(out + n, cap - (size_t)n, " status=%u", a->c);
        if (a->t_len) n += snprintf(out + n, cap - (size_t)n, " code=%.*s", (int)a->t_len, a->t);
        if (a->s_len) snprintf(out + n, cap - (size_t)n, " %s", s);
        break;
    }
    case LL_ACT_REMEMBER_FALLBACK: snprintf(out, cap, "remember_fallback %u", a->a); break;
    case LL_ACT_FORGET_FALLBACK: snprintf(out, cap, "forget_fallback"); break;
    default: snprintf(out, cap, "unknown %u", a->type); break;
    }
}

/* Cursor order for the delivery invariant (same rule as the core, re-derived here). */
static int cursor_less(const char *x, const char *y) {
    unsigned long long xa = strtoull(x, NULL, 10), ya = strtoull(y, NULL, 10), xb = 0, yb = 0;
    const char *dx = strchr(x, '-'), *dy = strchr(y, '-');
    if (dx) xb = strtoull(dx + 1, NULL, 10);
    if (dy) yb = strtoull(dy + 1, NULL, 10);
    return xa < ya || (xa == ya && xb < yb);
}

static void drain(run *r) {
    const ll_action *a;
    r->n_actual = 0;
    while ((a = ll_next_action(r->core))) {
        if (a->type == LL_ACT_DELIVER && !ll_get(r->core, LL_CFG_resource_mode) && a->t_len < 60 &&
            a->b < LL_SUBS_MAX) {
            char k[64], *last = r->last_cursor[a->b];
            memcpy(k, a->t, a->t_len);
            k[a->t_len] = 0;
            if (last[0] && !cursor_less(last, k)) fail(r, r->input_line, "invariant: delivered %s after %s", k, last);
            strcpy(last, k);
        }
        if (a->type == LL_ACT_RESET && a->a < LL_SUBS_MAX) r->last_cursor[a->a][0] = 0;
        if (a->type == LL_ACT_REFUSED) r->subs &= ~(1u << a->a);
        if (a->type == LL_ACT_SPLIT) r->subs &= ~a->a;
        if (r->n_actual < MAX_LINES) render(r->core, r->subs, a, r->data, r->n_data, r->actual[r->n_actual++], LINE);
        else fail(r, r->input_line, "more than %s actions%s", "64", "");
    }
}

static void check(run *r) {
    int i, n = r->n_actual > r->n_expected ? r->n_actual : r->n_expected;
    for (i = 0; i < n; i++) {
        const char *want = i < r->n_expected ? r->expected[i] : "(nothing)";
        const char *got = i < r->n_actual ? r->actual[i] : "(nothing)";
        int line = i < r->n_expected ? r->expected_line[i] : r->input_line;
        if (strcmp(want, got) != 0) {
            fail(r, line, "expected: %s\n    actual: %s", want, got);
            break;
        }
    }
    if (r->verbose)
        for (i = 0; i < r->n_actual; i++) printf("  > %s\n", r->actual[i]);
    r->n_actual = r->n_expected = 0;
}

static char *word(char **p) {
    char *s = *p, *w;
    while (*s == ' ') s++;
    w = s;
    while (*s && *s != ' ') s++;
    if (*s) *s++ = 0;
    *p = s;
    return w;
}

static unsigned cfg_field(const char *name) {
    unsigned i;
    for (i = 0; i < LL_CFG_COUNT; i++)
        if (strcmp(ll_config_name(i), name) == 0) return i;
    return LL_CFG_COUNT;
}

/* A poll-of-all answer written as its sections: "#<i> <a stream's v1 poll body>" (decoded
 * as the shim decodes it), "#<i> ~<cursor>" (a reset) or "#<i> !<code> <message>" (an
 * error), the parts separated by " | "; turned into the lines ll_http_response takes, the
 * messages numbered across the sections, as js/protocol.mjs does. */
static void sections(run *r, ll_core *c, uint32_t id, uint32_t status, int32_t retry_after, uint32_t interval,
                     uint32_t long_poll, char *text) {
    static char lines[LINE * 4];
    static dec_span data[256];
    size_t o = 0, n_data = 0;
    uint32_t depth = 0;
    dec_body bodies[LL_SUBS_MAX];
    int nb = 0, i;
    char *part = text, *next;
    for (; part && *part; part = next) {
        char *sp;
        next = strstr(part, " | ");
        if (next) *next = 0, next += 3;
        sp = strchr(part, ' ');
        if (!sp) break;
        *sp++ = 0;
        o += (size_t)snprintf(lines + o, sizeof lines - o, "%s%s\n", o ? "\n" : "", part); /* #<i> */
        if (*sp == '~' || *sp == '!') {
            o += (size_t)snprintf(lines + o, sizeof lines - o, "%s", sp);
            continue;
        }
        dec_body_decode(sp, strlen(sp), &bodies[nb]);
        if (bodies[nb].depth + 2 > depth) depth = bodies[nb].depth + 2;
        memcpy(lines + o, bodies[nb].lines, bodies[nb].lines_len);
        o += bodies[nb].lines_len;
        for (i = 0; i < (int)bodies[nb].count && n_data < 256; i++) data[n_data++] = bodies[nb].data[i];
        nb++;
    }
    r->data = data;
    r->n_data = n_data;
    ll_http_response(c, r->now, id, status, retry_after, interval, long_poll, "", 0, (uint32_t)o, depth, lines, o);
    drain(r);
    r->n_data = 0;
    for (i = 0; i < nb; i++) dec_body_free(&bodies[i]);
}

static void do_input(run *r, char *rest, int line) {
    ll_core *c = r->core;
    unsigned long long now = r->now;
    char *cmd = word(&rest);
    if (!strcmp(cmd, "start")) {
        int visible = !strstr(rest, "hidden"), online = !strstr(rest, "offline");
        r->subs = 1;
        int rc = ll_start(c, now, visible, online);
        if (rc) {
            snprintf(r->actual[r->n_actual++], LINE, "returns %s field=%s", ll_error_name((uint32_t)rc),
                     ll_bad_field(c) >= 0 ? ll_config_name((uint32_t)ll_bad_field(c)) : "-");
            return;
        }
        r->started = 1;
    } else if (!strcmp(cmd, "opened")) {
        ll_ws_opened(c, now, (uint32_t)atoi(word(&rest)));
    } else if (!strcmp(cmd, "frame")) {
        /* decoded as the shim decodes it (decode.h) */
        uint32_t id = (uint32_t)atoi(word(&rest));
        dec_frame f;
        dec_frame_decode(rest, strlen(rest), &f);
        r->data = &f.data;
        r->n_data = 1;
        ll_ws_frame(c, now, id, f.type, (uint32_t)strlen(rest), f.depth, f.cursor.p, f.cursor.n, f.id, f.message.p,
                    f.message.n, f.code.p, f.code.n, f.sub);
        drain(r);
        r->n_data = 0;
        return;
    } else if (!strcmp(cmd, "closed")) {
        uint32_t id = (uint32_t)atoi(word(&rest));
        ll_ws_closed(c, now, id, (uint32_t)atoi(word(&rest)));
    } else if (!strcmp(cmd, "http")) {
        /* [Name: value] headers, decoded as the shim does: Retry-After seconds (else -1),
         * Lifeline-Interval / Lifeline-Long-Poll ms (else 0), the ETag or else the
         * Last-Modified as the validator. */
        int32_t retry_after = -1;
        uint32_t interval = 0, long_poll = 0, id = (uint32_t)atoi(word(&rest)), status = (uint32_t)atoi(word(&rest));
        static char etag[256], modified[256]; /* the validator span lives until the drain */
        const char *validator;
        char *body = rest, *big = NULL;
        size_t n;
        etag[0] = modified[0] = 0;
        while (*body == ' ') body++;
        while (*body == '[') {
            char *end = strchr(body, ']'), *colon = strchr(body, ':'), *v;
            if (!end || !colon || colon > end) break;
            *colon = *end = 0;
            for (v = colon + 1; *v == ' '; v++) {}
            if (!strcasecmp(body + 1, "Retry-After")) retry_after = strspn(v, "0123456789") == strlen(v) ? atoi(v) : -1;
            else if (!strcasecmp(body + 1, "Lifeline-Interval")) interval = (uint32_t)atol(v);
            else if (!strcasecmp(body + 1, "Lifeline-Long-Poll")) long_poll = (uint32_t)atol(v);
            else if (!strcasecmp(body + 1, "ETag")) snprintf(etag, sizeof etag, "%s", v);
            else if (!strcasecmp(body + 1, "Last-Modified")) snprintf(modified, sizeof modified, "%s", v);
            body = end + 1;
            while (*body == ' ') body++;
        }
        validator = etag[0] ? etag : modified;
        if (!strncmp(body, "sections ", 9)) { /* a poll of all: sections() */
            sections(r, c, id, status, retry_after, interval, long_poll, body + 9);
            return;
        }
        if (!strncmp(body, "<<", 2)) {
            n = (size_t)atol(body + 2);
            big = malloc(n + 1);
            memset(big, 'x', n);
            body = big;
            body[n] = 0;
        }
        n = strlen(body);
        if (ll_get(c, LL_CFG_resource_mode)) {
            ll_http_response(c, now, id, status, retry_after, interval, long_poll, validator, strlen(validator),
                             (uint32_t)n, 0, body, n);
        } else { /* decoded as the shim decodes it (decode.h) */
            dec_body b;
            dec_body_decode(body, n, &b);
            r->data = b.data;
            r->n_data = b.count;
            ll_http_response(c, now, id, status, retry_after, interval, long_poll, validator, strlen(validator),
                             (uint32_t)n, b.depth, b.lines, b.lines_len);
            drain(r);
            r->n_data = 0;
            dec_body_free(&b);
            free(big);
            return;
        }
        drain(r);
        free(big);
        return;
    } else if (!strcmp(cmd, "failed")) {
        uint32_t id = (uint32_t)atoi(word(&rest));
        ll_http_failed(c, now, id, strcmp(word(&rest), "timeout") ? LL_FAIL_NETWORK : LL_FAIL_TIMEOUT);
    } else if (!strcmp(cmd, "timer")) {
        ll_timer(c, now);
    } else if (!strcmp(cmd, "hidden") || !strcmp(cmd, "visible")) {
        ll_visibility(c, now, cmd[0] == 'v');
    } else if (!strcmp(cmd, "offline") || !strcmp(cmd, "online")) {
        ll_online(c, now, cmd[1] == 'n');
    } else if (!strcmp(cmd, "pagehide")) {
        ll_pagehide(c, now);
    } else if (!strcmp(cmd, "pageshow")) {
        ll_pageshow(c, now);
    } else if (!strcmp(cmd, "freeze")) {
        ll_freeze(c, now);
    } else if (!strcmp(cmd, "resume")) {
        ll_resume(c, now);
    } else if (!strcmp(cmd, "fallback_remembered")) {
        ll_fallback_remembered(c, now);
    } else if (!strcmp(cmd, "ws_unavailable")) {
        ll_ws_unavailable(c, now);
    } else if (!strcmp(cmd, "subscribe")) { /* subscribe <i> [cursor] */
        uint32_t i = (uint32_t)atoi(word(&rest));
        char *k = word(&rest);
        int rc = ll_subscribe(c, now, i, k, strlen(k));
        if (!rc) r->subs |= 1u << i;
        drain(r);
        if (rc && r->n_actual < MAX_LINES)
            snprintf(r->actual[r->n_actual++], LINE, "returns %s", ll_error_name((uint32_t)rc));
        return;
    } else if (!strcmp(cmd, "unsubscribe")) {
        uint32_t i = (uint32_t)atoi(word(&rest));
        r->subs &= ~(1u << i);
        ll_unsubscribe(c, now, i);
    } else if (!strcmp(cmd, "send")) { /* send <len> [#<sub>] */
        size_t len = (size_t)atol(word(&rest));
        char *sub = word(&rest);
        int32_t rc = ll_send(c, now, sub[0] == '#' ? (uint32_t)atoi(sub + 1) : 0, len);
        drain(r);
        if (r->n_actual < MAX_LINES) {
            if (rc > 0) snprintf(r->actual[r->n_actual++], LINE, "returns %d", rc);
            else snprintf(r->actual[r->n_actual++], LINE, "returns %s", ll_error_name((uint32_t)-rc));
        }
        return;
    } else if (!strcmp(cmd, "close")) {
        ll_close(c, now);
    } else {
        fail(r, line, "unknown input %s%s", cmd, "");
        return;
    }
    drain(r);
}

static void do_check(run *r, char *rest, int line) {
    char buf[128];
    char *what = word(&rest);
    if (!strcmp(what, "deadline")) {
        unsigned long long d = ll_next_deadline(r->core), lo, hi;
        char *arg = word(&rest), *dots = strstr(arg, "..");
        if (!strcmp(arg, "never")) {
            if (d != LL_NEVER)
                snprintf(buf, sizeof buf, "%llu", d), fail(r, line, "deadline %s, expected %s", buf, "never");
            return;
        }
        lo = strtoull(arg, NULL, 10);
        hi = dots ? strtoull(dots + 2, NULL, 10) : lo;
        if (d < lo || d > hi) {
            snprintf(buf, sizeof buf, "%llu", d == LL_NEVER ? 0ULL : d);
            fail(r, line, "deadline %s, expected %s", d == LL_NEVER ? "never" : buf, arg);
        }
    } else if (!strcmp(what, "state")) {
        snprintf(buf, sizeof buf, "%s %s", ll_state_name(ll_state(r->core)), ll_transport_name(ll_transport(r->core)));
        if (strcmp(buf, rest)) fail(r, line, "state %s, expected %s", buf, rest);
    } else if (!strcmp(what, "cursor")) { /* cursor [#<i>] <cursor> */
        uint32_t n, sub = 0;
        const char *k;
        if (rest[0] == '#') sub = (uint32_t)atoi(word(&rest) + 1);
        k = ll_sub_cursor(r->core, sub, &n);
        snprintf(buf, sizeof buf, "%.*s", (int)n, k);
        if (strcmp(buf, rest)) fail(r, line, "cursor %s, expected %s", buf, rest);
    } else if (!strcmp(what, "interval") || !strcmp(what, "rtt")) {
        unsigned v = what[0] == 'i' ? ll_interval(r->core) : ll_rtt(r->core);
        snprintf(buf, sizeof buf, "%u", v);
        if (strcmp(buf, rest)) fail(r, line, "value %s, expected %s", buf, rest);
    } else {
        fail(r, line, "unknown check %s%s", what, "");
    }
}

int ll_run_transcript(const char *path, const char *text, size_t len, int verbose) {
    run *r = calloc(1, sizeof *r);
    char *copy = malloc(len + 1), *line, *next;
    int lineno = 0, failures;
    unsigned seed = 1;
    memcpy(copy, text, len);
    copy[len] = 0;
    r->path = path;
    r->verbose = verbose;
    r->core = malloc(ll_core_size());
    ll_init(r->core, seed, 0);
    for (line = copy; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        if (line[0] == '@') {
            char *rest = line + 1, *t = word(&rest);
            check(r);
            if (!strcmp(t, "next")) {
                unsigned long long d = ll_next_deadline(r->core);
                if (d == LL_NEVER) {
                    fail(r, lineno, "@next with no deadline%s%s", "", "");
                    continue;
                }
                r->now = d;
            } else {
                unsigned long long t2 = strtoull(t, NULL, 10);
                if (t2 < r->now) fail(r, lineno, "time goes backwards at %s%s", t, "");
                r->now = t2;
            }
            r->input_line = lineno;
            if (verbose) printf("@%llu %s\n", r->now, rest);
            do_input(r, rest, lineno);
        } else if (line[0] == '>') {
            if (r->n_expected < MAX_LINES) {
                snprintf(r->expected[r->n_expected], LINE, "%s", line + 2);
                r->expected_line[r->n_expected++] = lineno;
            }
        } else if (line[0] == '?') {
            char *rest = line + 1;
            check(r);
            do_check(r, rest, lineno);
        } else if (!strncmp(line, "config ", 7)) {
            char *rest = line + 7, *kv;
            while (*(kv = word(&rest))) {
                char *eq = strchr(kv, '=');
                unsigned f;
                if (!eq) continue;
                *eq = 0;
                f = cfg_field(kv);
                if (f == LL_CFG_COUNT || ll_set(r->core, f, (uint32_t)strtoul(eq + 1, NULL, 10)))
                    fail(r, lineno, "bad config %s=%s", kv, eq + 1);
            }
        } else if (!strncmp(line, "cursor ", 7)) {
            if (ll_set_cursor(r->core, line + 7, strlen(line + 7))) fail(r, lineno, "bad cursor %s%s", line + 7, "");
        } else if (!strncmp(line, "seed ", 5)) {
            seed = (unsigned)atoi(line + 5);
            ll_init(r->core, seed, 0);
        }
    }
    check(r);
    failures = r->failures;
    free(r->core);
    free(copy);
    free(r);
    return failures;
}

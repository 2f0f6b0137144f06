/* decode.c — see decode.h. A strict JSON scanner that picks the protocol's fields out of
 * one object and measures nesting. */
#include "decode.h"

#include <stdlib.h>
#include <string.h>

#include "../../wasm/lifeline.h"

#define DEEPEST 255

typedef struct scan {
    const char *p, *end;
    uint32_t deepest;
    int bad;
} scan;

static int fail(scan *s) {
    s->bad = 1;
    return 0;
}

static void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int hexdigit(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* At '"': moves past the closing quote; *out excludes the quotes. */
static int scan_string(scan *s, dec_span *out) {
    const char *start;
    if (s->p >= s->end || *s->p != '"') return fail(s);
    start = ++s->p;
    while (s->p < s->end) {
        unsigned char ch = (unsigned char)*s->p;
        if (ch == '"') {
            if (out) out->p = start, out->n = (size_t)(s->p - start);
            s->p++;
            return 1;
        }
        if (ch < 0x20) return fail(s);
        if (ch == '\\') {
            s->p++;
            if (s->p >= s->end) break;
            if (*s->p == 'u') {
                if (s->end - s->p < 5 || !hexdigit(s->p[1]) || !hexdigit(s->p[2]) || !hexdigit(s->p[3]) ||
                    !hexdigit(s->p[4]))
                    return fail(s);
                s->p += 5;
                continue;
            }
            if (!*s->p || !strchr("\"\\/bfnrt", *s->p)) return fail(s); /* (strchr finds the NUL too) */
        }
        s->p++;
    }
    return fail(s);
}

static int digits(scan *s) {
    const char *q = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return s->p > q;
}

/* A JSON number; *is_uint says whether it is a plain non-negative integer. */
static int scan_number(scan *s, int *is_uint) {
    int u = 1;
    if (s->p < s->end && *s->p == '-') s->p++, u = 0;
    if (s->p < s->end && *s->p == '0') s->p++;
    else if (!digits(s)) return fail(s);
    if (s->p < s->end && *s->p == '.') {
        s->p++, u = 0;
        if (!digits(s)) return fail(s);
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++, u = 0;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!digits(s)) return fail(s);
    }
    if (is_uint) *is_uint = u;
    return 1;
}

static int scan_value(scan *s, uint32_t depth);

static int scan_literal(scan *s) {
    static const char *const words[] = {"true", "false", "null"};
    size_t i;
    for (i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= n && !memcmp(s->p, words[i], n)) {
            s->p += n;
            return 1;
        }
    }
    return fail(s);
}

/* At '[' or '{' at nesting `depth`: the container with every value inside it. */
static int scan_container(scan *s, uint32_t depth) {
    char close = *s->p == '[' ? ']' : '}';
    int first = 1;
    if (depth > s->deepest) s->deepest = depth;
    if (depth > DEEPEST) return 0; /* deepest says so; the caller stops */
    s->p++;
    for (;;) {
        skip_ws(s);
        if (first && s->p < s->end && *s->p == close) {
            s->p++;
            return 1;
        }
        if (close == '}') {
            if (!scan_string(s, NULL)) return 0;
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':') return fail(s);
        }
        if (!scan_value(s, depth + 1)) return 0;
        skip_ws(s);
        if (s->p >= s->end) return fail(s);
        if (*s->p == close) {
            s->p++;
            return 1;
        }
        if (*s->p++ != ',') return fail(s);
        first = 0;
    }
}

static int scan_value(scan *s, uint32_t depth) {
    skip_ws(s);
    if (s->p >= s->end) return fail(s);
    switch (*s->p) {
    case '{':
    case '[': return scan_container(s, depth);
    case '"': return scan_string(s, NULL);
    case 't':
    case 'f':
    case 'n': return scan_literal(s);
    default: return scan_number(s, NULL);
    }
}

/* The protocol fields of one object; a known field of the wrong JSON type is malformed. */
typedef struct obj {
    dec_span type, cursor, message, data, messages, code, error;
    int has_id;
    uint64_t id;
    uint64_t beat; /* hello's "beat" when a whole number below 2^32, else 0 */
    uint64_t s, v; /* v2: a frame's "s", a hello's "v" (the same rule) */
} obj;

static int span_is(dec_span s, const char *lit) { return s.p && s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

/* One object at nesting `depth`; 0 when it is not one (or not well-formed). */
static int scan_obj(scan *s, uint32_t depth, obj *o) {
    int first = 1;
    memset(o, 0, sizeof *o);
    skip_ws(s);
    if (s->p >= s->end || *s->p != '{') return fail(s);
    if (depth > s->deepest) s->deepest = depth;
    s->p++;
    for (;;) {
        dec_span key, v;
        int is_uint = 0;
        skip_ws(s);
        if (first && s->p < s->end && *s->p == '}') break;
        if (!scan_string(s, &key)) return 0;
        skip_ws(s);
        if (s->p >= s->end || *s->p++ != ':') return fail(s);
        skip_ws(s);
        v.p = s->p;
        if ((span_is(key, "id") || span_is(key, "beat") || span_is(key, "s") || span_is(key, "v")) && s->p < s->end &&
            *s->p >= '0' && *s->p <= '9') {
            if (!scan_number(s, &is_uint)) return 0;
        } else if (!scan_value(s, depth + 1)) {
            return 0;
        }
        v.n = (size_t)(s->p - v.p);
        if (span_is(key, "type") || span_is(key, "cursor") || span_is(key, "message") || span_is(key, "code") ||
            span_is(key, "error")) {
            dec_span *f = span_is(key, "type")      ? &o->type
                          : span_is(key, "cursor")  ? &o->cursor
                          : span_is(key, "message") ? &o->message
                          : span_is(key, "code")    ? &o->code
                                                    : &o->error;
            if (*v.p != '"') return fail(s);
            f->p = v.p + 1, f->n = v.n - 2;
        } else if (span_is(key, "data")) {
            o->data = v;
        } else if (span_is(key, "messages")) {
            if (*v.p != '[') return fail(s);
            o->messages = v;
        } else if (span_is(key, "beat") || span_is(key, "s") || span_is(key, "v")) {
            const char *q;
            uint64_t beat = 0;
            for (q = v.p; is_uint && v.n <= 10 && q < v.p + v.n; q++) beat = beat * 10 + (uint64_t)(*q - '0');
            *(span_is(key, "beat") ? &o->beat
              : span_is(key, "s")  ? &o->s
                                   : &o->v) = is_uint && v.n <= 10 && beat <= UINT32_MAX ? beat : 0;
        } else if (span_is(key, "id")) {
            const char *q;
            uint64_t id = 0;
            if (!is_uint || v.n > 16) return fail(s);
            for (q = v.p; q < v.p + v.n; q++) id = id * 10 + (uint64_t)(*q - '0');
            if (id > LL_SEND_ID_MAX) return fail(s); /* JSON.parse's safe integers */
            o->has_id = 1, o->id = id;
        }
        skip_ws(s);
        if (s->p >= s->end) return fail(s);
        if (*s->p == '}') break;
        if (*s->p++ != ',') return fail(s);
        first = 0;
    }
    s->p++;
    return 1;
}

/* The text's nesting depth (0 when it is not JSON), as the shim measures the parsed value:
 * a text that is JSON but not an object is scanned again as a value. */
static uint32_t depth(const char *text, size_t n, const scan *done, int was_obj) {
    scan s = {text, text + n, 0, 0};
    if (!was_obj) {
        if (!scan_value(&s, 1) || s.bad) return s.deepest > DEEPEST ? DEEPEST + 1 : 0;
        skip_ws(&s);
        if (s.p != s.end) return 0;
        done = &s;
    }
    return done->deepest > DEEPEST ? DEEPEST + 1 : done->deepest;
}

void dec_frame_decode(const char *text, size_t n, dec_frame *f) {
    static const char *const types[] = {"msg", "hello", "ping", "ack", "reset", "error", "subd", "refused"};
    scan s = {text, text + n, 0, 0};
    obj o;
    int ok = scan_obj(&s, 1, &o);
    uint32_t i;
    memset(f, 0, sizeof *f);
    if (!n) { /* an empty text frame: a server's beat */
        f->type = LL_FRAME_BEAT;
        return;
    }
    skip_ws(&s);
    ok = ok && !s.bad && s.p == s.end;
    f->depth = depth(text, n, &s, ok);
    if (!ok || !o.type.p) {
        f->type = LL_FRAME_BAD;
        return;
    }
    for (i = 0; i < LL_FRAME_BEAT && !span_is(o.type, types[i]); i++) {}
    f->type = i < LL_FRAME_BEAT ? i : LL_FRAME_OTHER;
    if (f->type == LL_FRAME_MSG && !o.data.p) f->type = LL_FRAME_BAD;
    f->id = f->type == LL_FRAME_HELLO ? (uint32_t)o.beat : o.has_id && o.id <= UINT32_MAX ? (uint32_t)o.id : 0;
    f->sub = f->type == LL_FRAME_HELLO ? (uint32_t)o.v : o.s <= LL_SUBS_MAX ? (uint32_t)o.s : 0;
    f->cursor = o.cursor, f->message = o.message, f->data = o.data;
    f->code = f->type == LL_FRAME_ACK ? o.error : o.code;
    if (f->type == LL_FRAME_ACK && o.error.p && !o.error.n) f->code = (dec_span){"rejected", 8};
}

void dec_body_decode(const char *text, size_t n, dec_body *b) {
    scan s = {text, text + n, 0, 0};
    obj o;
    int ok = scan_obj(&s, 1, &o);
    memset(b, 0, sizeof *b);
    b->lines = malloc(n + 2);
    b->data = malloc((n / 2 + 1) * sizeof *b->data);
    skip_ws(&s);
    ok = ok && !s.bad && s.p == s.end;
    b->depth = depth(text, n, &s, ok);
    if (!ok) return; /* malformed: no lines at all */
    if (o.cursor.p) memcpy(b->lines, o.cursor.p, o.cursor.n);
    b->lines_len = o.cursor.n;
    if (o.messages.p) {
        scan e = {o.messages.p + 1, o.messages.p + o.messages.n - 1, 0, 0};
        for (;;) {
            obj m;
            const char *at;
            skip_ws(&e);
            if (e.p < e.end && *e.p == ',') e.p++;
            skip_ws(&e);
            if (e.p >= e.end) break;
            at = e.p;
            if (!scan_obj(&e, 3, &m) || e.bad || !m.cursor.p || !m.data.p) {
                /* not an object with a string cursor and data: an empty line (malformed) */
                e.p = at, e.bad = 0;
                scan_value(&e, 3);
                m.cursor.n = 0, m.data.p = NULL, m.data.n = 0;
            }
            b->lines[b->lines_len++] = '\n';
            if (m.cursor.n) memcpy(b->lines + b->lines_len, m.cursor.p, m.cursor.n);
            b->lines_len += m.cursor.n;
            b->data[b->count++] = m.data;
        }
    }
}

void dec_body_free(dec_body *b) {
    free(b->lines);
    free(b->data);
}

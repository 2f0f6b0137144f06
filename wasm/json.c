/* json.c — picks the protocol's fields out of one JSON object.
 *
 * The caller hands the core only texts that are JSON (the shim checks each one with
 * JSON.parse and passes an empty text for one that is not: see ll_ws_frame), so this is a
 * finder, not a validator. It skips values by their structure alone (strings with their
 * escapes, brackets), knows the JSON type of each field it reads by its first character,
 * and bounds nesting. It never copies: `data` comes back as the raw span of its JSON text.
 * On text that is not JSON it still stays inside the span and ends in one linear pass;
 * what it then returns is some answer, never a crash (the fuzzer feeds it garbage). */
#include "internal.h"

#include <stddef.h>
#include <string.h>

typedef struct scan {
    const char *p, *end;
} scan;

/* Whitespace; outside strings, JSON has no other character at or below ' '. */
static void skip_ws(scan *s) {
    while (s->p < s->end && (unsigned char)*s->p <= ' ') s->p++;
}

static int delim(char ch) { return ch == ',' || ch == ':' || ch == ']' || ch == '}' || (unsigned char)ch <= ' '; }

/* Past one value, nested at most `depth` levels: LL_ERR_OK, LL_ERR_TOO_DEEP or `bad`. */
static int skip(scan *s, uint32_t depth, int bad) {
    uint32_t in = 0;
    do {
        char ch;
        if (s->p >= s->end) return bad;
        ch = *s->p++;
        if (ch == '"') {
            do {
                if (s->p >= s->end) return bad;
                ch = *s->p++;
                if (ch == '\\' && s->p < s->end) s->p++, ch = 0;
            } while (ch != '"');
        } else if (ch == '[' || ch == '{') {
            if (++in > depth) return LL_ERR_TOO_DEEP;
        } else if (ch == ']' || ch == '}') {
            if (!in--) return bad;
        }
    } while (in || (s->p < s->end && !delim(*s->p)));
    return LL_ERR_OK;
}

/* Whether the span is exactly the NUL-terminated literal. */
int ll__span_eq(ll__span s, const char *lit) {
    uint32_t i;
    if (!s.p) return 0;
    for (i = 0; i < s.n; i++)
        if (s.p[i] != lit[i]) return 0; /* also stops at lit's NUL */
    return lit[i] == 0;
}

enum { F_STRING, F_RAW, F_ARRAY, F_UINT };
static const struct field {
    char name[9];
    uint8_t kind, offset;
} FIELDS[] = {
    {"type", F_STRING, offsetof(ll__obj, type)},
    {"cursor", F_STRING, offsetof(ll__obj, cursor)},
    {"message", F_STRING, offsetof(ll__obj, message)},
    {"data", F_RAW, offsetof(ll__obj, data)},
    {"messages", F_ARRAY, offsetof(ll__obj, messages)},
    {"id", F_UINT, offsetof(ll__obj, id)},
};

/* The value v (already skipped) into the field named by key; 0 when its JSON type is wrong. */
static int field(ll__span key, ll__span v, ll__obj *o) {
    const struct field *f;
    const char *q = v.p;
    char first = *v.p;
    for (f = FIELDS; f < FIELDS + sizeof FIELDS / sizeof FIELDS[0]; f++) {
        if (!ll__span_eq(key, f->name)) continue;
        if (f->kind == F_UINT) {
            /* a plain non-negative integer up to 2^53 (what JSON numbers carry exactly) */
            uint64_t *id = (uint64_t *)(void *)((char *)o + f->offset);
            return ll__parse_u64(&q, v.p + v.n, id) && q == v.p + v.n && *id <= (uint64_t)1 << 53;
        }
        if ((f->kind == F_STRING && first != '"') || (f->kind == F_ARRAY && first != '[')) return 0;
        if (f->kind == F_STRING) v.p++, v.n -= 2;
        *(ll__span *)(void *)((char *)o + f->offset) = v;
        return 1;
    }
    return 1; /* not one of ours */
}

int ll__parse_obj(const char *p, size_t n, uint32_t max_depth, int bad, ll__obj *o) {
    scan s = {p, p + n};
    memset(o, 0, sizeof *o);
    o->id = LL__ABSENT;
    skip_ws(&s);
    if (s.p >= s.end || *s.p++ != '{') return bad;
    for (;;) {
        ll__span key, v;
        int err;
        skip_ws(&s);
        if (s.p < s.end && *s.p == '}') break;
        key.p = s.p + 1;
        if (s.p >= s.end || *s.p != '"' || skip(&s, 0, bad)) return bad;
        key.n = (uint32_t)(s.p - key.p - 1);
        skip_ws(&s);
        if (s.p >= s.end || *s.p++ != ':') return bad;
        skip_ws(&s);
        v.p = s.p;
        err = skip(&s, max_depth - 1, bad); /* the object itself is one level */
        if (err) return err;
        v.n = (uint32_t)(s.p - v.p);
        if (!field(key, v, o)) return bad;
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') s.p++;
    }
    s.p++;
    skip_ws(&s);
    return s.p == s.end ? LL_ERR_OK : bad;
}

int ll__array_next(const char **pos, const char *end, ll__span *elem) {
    scan s = {*pos, end};
    skip_ws(&s);
    if (s.p < s.end && (*s.p == '[' || *s.p == ',')) s.p++;
    skip_ws(&s);
    if (s.p >= s.end || *s.p == ']') return 0;
    elem->p = s.p;
    if (skip(&s, 255, LL_ERR_BAD_RESPONSE)) return 0;
    elem->n = (uint32_t)(s.p - elem->p);
    *pos = s.p;
    return 1;
}

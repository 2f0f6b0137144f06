/* json.c — a validating JSON scanner that picks the protocol's fields out of one object.
 *
 * It never copies or re-serialises: `data` comes back as the raw span of its JSON text,
 * which the shim hands to JSON.parse. Every value is fully validated (RFC 8259 grammar,
 * no control characters in strings) and nesting is bounded, so a hostile body costs at
 * most one linear pass and a recursion no deeper than max_depth (<= 64). */
#include "internal.h"

#include <stddef.h>
#include <string.h>

typedef struct scan {
    const char *p, *end;
    uint32_t max_depth;
    int err; /* LL_ERR_OK until the first problem */
    int bad; /* the code for "malformed" */
} scan;

static int fail(scan *s, int code) {
    if (s->err == LL_ERR_OK) s->err = code;
    return 0;
}

static void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hexdigit(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* At '"': moves past the closing quote; *out excludes the quotes. */
static int scan_string(scan *s, ll__span *out) {
    const char *start;
    if (s->p >= s->end || *s->p != '"') return fail(s, s->bad);
    start = ++s->p;
    while (s->p < s->end) {
        unsigned char ch = (unsigned char)*s->p;
        if (ch == '"') {
            if (out) {
                out->p = start;
                out->n = (uint32_t)(s->p - start);
            }
            s->p++;
            return 1;
        }
        if (ch < 0x20) return fail(s, s->bad);
        if (ch == '\\') {
            s->p++;
            if (s->p >= s->end) break;
            switch (*s->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                s->p++;
                break;
            case 'u':
                if (s->end - s->p < 5 || !hexdigit(s->p[1]) || !hexdigit(s->p[2]) ||
                    !hexdigit(s->p[3]) || !hexdigit(s->p[4]))
                    return fail(s, s->bad);
                s->p += 5;
                break;
            default:
                return fail(s, s->bad);
            }
            continue;
        }
        s->p++;
    }
    return fail(s, s->bad);
}

static int digits(scan *s) {
    const char *q = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return s->p > q;
}

/* A JSON number; *is_uint says whether it is a plain non-negative integer. */
static int scan_number(scan *s, int *is_uint) {
    int u = 1;
    if (s->p < s->end && *s->p == '-') {
        s->p++;
        u = 0;
    }
    if (s->p < s->end && *s->p == '0') {
        s->p++;
    } else if (!digits(s)) {
        return fail(s, s->bad);
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        u = 0;
        if (!digits(s)) return fail(s, s->bad);
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        u = 0;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!digits(s)) return fail(s, s->bad);
    }
    if (is_uint) *is_uint = u;
    return 1;
}

/* true, false or null: the letters that follow must be the literal's. */
static int scan_literal(scan *s) {
    ll__span word = {s->p, 0};
    while (s->p < s->end && *s->p >= 'a' && *s->p <= 'z') s->p++;
    word.n = (uint32_t)(s->p - word.p);
    return ll__span_eq(word, "true") || ll__span_eq(word, "false") || ll__span_eq(word, "null") || fail(s, s->bad);
}

static int scan_value(scan *s, uint32_t depth);

/* At '[' or '{': the container with every value inside it. */
static int scan_container(scan *s, uint32_t depth) {
    char close = *s->p == '[' ? ']' : '}';
    int first = 1;
    if (depth > s->max_depth) return fail(s, LL_ERR_TOO_DEEP);
    s->p++;
    for (;;) {
        skip_ws(s);
        if (s->p < s->end && *s->p == close && first) {
            s->p++;
            return 1;
        }
        if (close == '}') {
            if (!scan_string(s, NULL)) return 0;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':') return fail(s, s->bad);
            s->p++;
        }
        if (!scan_value(s, depth + 1)) return 0;
        skip_ws(s);
        if (s->p >= s->end) return fail(s, s->bad);
        if (*s->p == close) {
            s->p++;
            return 1;
        }
        if (*s->p != ',') return fail(s, s->bad);
        s->p++;
        first = 0;
    }
}

static int scan_value(scan *s, uint32_t depth) {
    skip_ws(s);
    if (s->p >= s->end) return fail(s, s->bad);
    switch (*s->p) {
    case '{': case '[': return scan_container(s, depth);
    case '"': return scan_string(s, NULL);
    case 't': case 'f': case 'n': return scan_literal(s);
    default: return scan_number(s, NULL);
    }
}

/* Whether the span is exactly the NUL-terminated literal. */
int ll__span_eq(ll__span s, const char *lit) {
    uint32_t i;
    if (!s.p) return 0;
    for (i = 0; i < s.n; i++)
        if (s.p[i] != lit[i]) return 0; /* also stops at lit's NUL */
    return lit[i] == 0;
}

/* A plain non-negative integer up to 2^53 (what JSON numbers carry exactly). */
static int uint_field(scan *s, uint64_t *out) {
    const char *q = s->p;
    int u = 0;
    if (!scan_number(s, &u) || !u || !ll__parse_u64(&q, s->p, out) || *out > ((uint64_t)1 << 53))
        return fail(s, s->bad);
    return 1;
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

/* One value, into the field named by key (or skipped when the key is not one of ours). */
static void field(scan *s, ll__span key, ll__obj *o) {
    const struct field *f;
    const char *start = s->p;
    for (f = FIELDS; f < FIELDS + sizeof FIELDS / sizeof FIELDS[0]; f++) {
        if (ll__span_eq(key, f->name)) break;
    }
    if (f == FIELDS + sizeof FIELDS / sizeof FIELDS[0]) {
        scan_value(s, 2);
        return;
    }
    if (f->kind == F_UINT) {
        uint_field(s, (uint64_t *)(void *)((char *)o + f->offset));
        return;
    }
    if ((f->kind == F_STRING && *s->p != '"') || (f->kind == F_ARRAY && *s->p != '[')) {
        fail(s, s->bad);
        return;
    }
    if (scan_value(s, 2)) {
        ll__span *dst = (ll__span *)(void *)((char *)o + f->offset);
        dst->p = start + (f->kind == F_STRING);
        dst->n = (uint32_t)(s->p - start) - 2 * (f->kind == F_STRING);
    }
}

int ll__parse_obj(const char *p, size_t n, uint32_t max_depth, int bad, ll__obj *o) {
    scan s = {p, p + n, max_depth, LL_ERR_OK, bad};
    int first = 1;
    memset(o, 0, sizeof *o);
    o->id = LL__ABSENT;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') return bad;
    s.p++;
    for (;;) {
        ll__span key;
        skip_ws(&s);
        if (first && s.p < s.end && *s.p == '}') {
            s.p++;
            break;
        }
        if (!scan_string(&s, &key)) return s.err;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') return bad;
        s.p++;
        skip_ws(&s);
        if (s.p >= s.end) return bad;
        field(&s, key, o);
        if (s.err != LL_ERR_OK) return s.err;
        skip_ws(&s);
        if (s.p >= s.end) return bad;
        if (*s.p == '}') {
            s.p++;
            break;
        }
        if (*s.p != ',') return bad;
        s.p++;
        first = 0;
    }
    skip_ws(&s);
    return s.p == s.end ? LL_ERR_OK : bad;
}

int ll__array_next(const char **pos, const char *end, ll__span *elem) {
    scan s = {*pos, end, 1000, LL_ERR_OK, LL_ERR_BAD_RESPONSE};
    skip_ws(&s);
    if (s.p >= s.end || *s.p == ']') return 0;
    if (*s.p == '[' || *s.p == ',') s.p++;
    skip_ws(&s);
    if (s.p >= s.end || *s.p == ']') return 0;
    elem->p = s.p;
    if (!scan_value(&s, 1)) return 0;
    elem->n = (uint32_t)(s.p - elem->p);
    *pos = s.p;
    return 1;
}

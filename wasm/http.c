/* http.c — the few response headers the core reads. */
#include "internal.h"

#include <string.h>

static char lower(char ch) { return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch; }

static void trim(ll__span *v) {
    while (v->n && (v->p[0] == ' ' || v->p[0] == '\t')) v->p++, v->n--;
    while (v->n && (v->p[v->n - 1] == ' ' || v->p[v->n - 1] == '\t' || v->p[v->n - 1] == '\r'))
        v->n--;
}

/* Headers come as lines "Name: value" separated by "\n" or "\r\n". The last match wins. */
int ll__header(const char *h, size_t n, const char *name, ll__span *value) {
    size_t name_n = strlen(name);
    const char *p = h, *end = h + n;
    int found = 0;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if ((size_t)(line_end - p) > name_n && p[name_n] == ':') {
            size_t i;
            for (i = 0; i < name_n && lower(p[i]) == lower(name[i]); i++) {
            }
            if (i == name_n) {
                value->p = p + name_n + 1;
                value->n = (uint32_t)(line_end - value->p);
                trim(value);
                found = 1;
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return found;
}

int ll__parse_uint(ll__span v, uint64_t *out) {
    const char *p = v.p;
    return v.n && ll__parse_u64(&p, v.p + v.n, out) && p == v.p + v.n;
}

/* Retry-After as a delay in ms, or -1 when absent or unreadable. The shim turns the
 * HTTP-date form into seconds (measured against the response's own Date header, so
 * neither clock skew nor the page's clock matter): the core reads seconds only. */
int64_t ll__retry_after(const char *h, size_t n) {
    ll__span v;
    uint64_t secs;
    if (!ll__header(h, n, "retry-after", &v) || !ll__parse_uint(v, &secs)) return -1;
    return secs > 86400 ? 86400000 : (int64_t)secs * 1000;
}

/* FNV-1a, 64 bit: to compare validators and bodies without keeping them. */
uint64_t ll__hash(const char *p, size_t n, uint64_t h) {
    size_t i;
    if (!h) h = 1469598103934665603ULL;
    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

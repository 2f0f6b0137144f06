/* cursor.c — cursors "<u64>" or "<u64>-<u64>", ordered numerically as pairs, the decimal
 * numbers they are made of, and the lists of them a poll body is decoded into. */
#include "internal.h"

int ll__parse_u64(const char **pp, const char *end, uint64_t *out) {
    const char *p = *pp;
    uint64_t v = 0;
    if (p == end || *p < '0' || *p > '9') return 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return 0; /* over 2^64-1 */
        v = v * 10 + d;
    }
    *pp = p;
    *out = v;
    return 1;
}

int ll__cursor_parse(const char *p, size_t n, ll__cursor *out) {
    const char *end;
    ll__cursor k = {0, 0, 1, 0};
    if (!p || n == 0 || n >= LL_CURSOR_TEXT) return 0;
    end = p + n;
    if (!ll__parse_u64(&p, end, &k.a)) return 0;
    if (p < end && *p == '-') {
        p++;
        if (!ll__parse_u64(&p, end, &k.b)) return 0;
        k.has_b = 1;
    }
    if (p != end) return 0;
    *out = k;
    return 1;
}

int ll__line(const char **pos, const char *end, ll__span *line) {
    const char *q = *pos;
    if (!q) return 0;
    line->p = q;
    while (q < end && *q != '\n') q++;
    line->n = (uint32_t)(q - line->p);
    *pos = q < end ? q + 1 : NULL;
    return 1;
}

int ll__cursor_cmp(const ll__cursor *x, const ll__cursor *y) {
    if (!x->set || !y->set) return (int)x->set - (int)y->set;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return 0;
}

size_t ll__put_u64(char *buf, uint64_t v) {
    char tmp[20];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

size_t ll__cursor_format(const ll__cursor *x, char *buf) {
    size_t n = 0;
    if (x->set) {
        n = ll__put_u64(buf, x->a);
        if (x->has_b) {
            buf[n++] = '-';
            n += ll__put_u64(buf + n, x->b);
        }
    }
    buf[n] = 0;
    return n;
}

/* http.c — the few response headers the core reads, and Retry-After's two forms. */
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
    uint64_t x = 0;
    uint32_t i;
    if (v.n == 0 || v.n > 15) return 0;
    for (i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return 0;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = x;
    return 1;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int num(const char *p, int n, int *out) {
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

/* IMF-fixdate, the form RFC 9110 requires senders to use: "Sun, 06 Nov 1994 08:49:37 GMT".
 * Seconds since the epoch, or -1. */
static int64_t http_date(ll__span v) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = v.p;
    int d, y, hh, mm, ss, m;
    if (v.n != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
        p[16] != ' ' || p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4) != 0)
        return -1;
    if (!num(p + 5, 2, &d) || !num(p + 12, 4, &y) || !num(p + 17, 2, &hh) ||
        !num(p + 20, 2, &mm) || !num(p + 23, 2, &ss))
        return -1;
    for (m = 0; m < 12 && memcmp(months + 3 * m, p + 8, 3) != 0; m++) {
    }
    if (m == 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60) return -1;
    return days_from_civil(y, (unsigned)m + 1, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
}

/* Retry-After as a delay. An HTTP date is measured against the same response's Date
 * header, so neither clock skew nor the page's clock matter. */
int64_t ll__retry_after(const char *h, size_t n) {
    ll__span v, date;
    uint64_t secs;
    int64_t at, now;
    if (!ll__header(h, n, "retry-after", &v)) return -1;
    if (ll__parse_uint(v, &secs)) return secs > 86400 ? 86400000 : (int64_t)secs * 1000;
    if (!ll__header(h, n, "date", &date)) return -1;
    at = http_date(v);
    now = http_date(date);
    if (at < 0 || now < 0) return -1;
    if (at <= now) return 0;
    return (at - now > 86400 ? 86400 : at - now) * 1000;
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

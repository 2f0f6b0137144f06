/* unit.c — unit tests of the parsers and policy tables.
 *
 * Parsers get every input whole, cut at every length (each cut must be rejected or
 * accepted without reading past its end), and placed right before a guard page so that
 * any over-read crashes. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../wasm/internal.h"

static int passed, failed;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (cond) {                                                   \
            passed++;                                                 \
        } else {                                                      \
            failed++;                                                 \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fputc('\n', stderr);                                      \
        }                                                             \
    } while (0)

/* A copy of p[0..n) that ends exactly at a PROT_NONE page. */
static char *guarded(const char *p, size_t n) {
    static char *base;
    static size_t page;
    if (!base) {
        page = (size_t)sysconf(_SC_PAGESIZE);
        base = mmap(NULL, 64 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(base + 63 * page, page, PROT_NONE);
    }
    if (n > 63 * page) abort();
    memcpy(base + 63 * page - n, p, n);
    return base + 63 * page - n;
}

static int parse(const char *s, size_t n, uint32_t depth, ll__obj *o) {
    return ll__parse_obj(guarded(s, n), n, depth, LL_ERR_BAD_FRAME, o);
}

static void test_cursor(void) {
    static const struct { const char *text; int ok; } cases[] = {
        {"0", 1}, {"7", 1}, {"7-0", 1}, {"1526919030474-55", 1},
        {"18446744073709551615", 1}, {"18446744073709551615-18446744073709551615", 1},
        {"18446744073709551616", 0}, {"", 0}, {"-", 0}, {"7-", 0}, {"-7", 0}, {"7-1-2", 0},
        {" 7", 0}, {"7 ", 0}, {"0x10", 0}, {"1.5", 0}, {"+3", 0},
    };
    size_t i;
    char buf[LL_CURSOR_TEXT];
    ll__cursor a, b, none = {0, 0, 0, 0};
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].text);
        int ok = ll__cursor_parse(guarded(cases[i].text, n), n, &a);
        CHECK(ok == cases[i].ok, "cursor %s", cases[i].text);
        if (ok) {
            ll__cursor_format(&a, buf);
            CHECK(strcmp(buf, cases[i].text) == 0, "round trip %s -> %s", cases[i].text, buf);
        }
    }
    /* Order: numeric pairs; a bare number is its pair with 0; none sorts first. */
    {
        static const char *ordered[] = {"0", "7", "7-1", "7-10", "8", "10", "10-2", "1526919030474-0"};
        size_t j;
        for (i = 0; i < 8; i++) {
            for (j = 0; j < 8; j++) {
                ll__cursor_parse(ordered[i], strlen(ordered[i]), &a);
                ll__cursor_parse(ordered[j], strlen(ordered[j]), &b);
                int want = i < j ? -1 : i > j ? 1 : 0;
                CHECK(ll__cursor_cmp(&a, &b) == want, "cmp %s %s", ordered[i], ordered[j]);
            }
            CHECK(ll__cursor_cmp(&none, &a) < 0 && ll__cursor_cmp(&a, &none) > 0, "none first");
        }
        ll__cursor_parse("7", 1, &a);
        ll__cursor_parse("7-0", 3, &b);
        CHECK(ll__cursor_cmp(&a, &b) == 0, "7 == 7-0");
    }
}

static void test_json_good(void) {
    static const char *good[] = {
        "{}",
        " {\"type\":\"ping\"} ",
        "{\"type\":\"msg\",\"cursor\":\"5\",\"data\":{\"a\":[1,2.5e-3,-0,true,false,null,\"x\\u00e9\\n\"]}}",
        "{\"type\":\"hello\",\"cursor\":\"1-2\",\"heartbeat\":25000}",
        "{\"type\":\"ack\",\"id\":9007199254740992}",
        "{\"data\":\"\\\"quoted\\\"\",\"type\":\"msg\",\"cursor\":\"1\"}",
        "{\"cursor\":\"3\",\"messages\":[]}",
        "{\"cursor\":\"3\",\"messages\":[{\"cursor\":\"3\",\"data\":[]}]}",
        "{\"type\":\"x\",\"unknown\":{\"deep\":[[[]]]}}",
        "{\"type\":\"x\",\"data\":\"\xc3\xa9\"}",
    };
    size_t i, cut;
    ll__obj o;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n = strlen(good[i]);
        CHECK(parse(good[i], n, 32, &o) == LL_ERR_OK, "good %s", good[i]);
        /* Every proper prefix of an object is incomplete (trailing blanks aside). */
        for (cut = 0; cut < n; cut++) {
            int trailing = 1, rc;
            size_t k;
            for (k = cut; k < n; k++) trailing &= good[i][k] == ' ';
            rc = parse(good[i], cut, 32, &o);
            if (!trailing) CHECK(rc != LL_ERR_OK, "prefix %zu of %s accepted", cut, good[i]);
        }
    }
    parse(good[2], strlen(good[2]), 32, &o);
    CHECK(ll__span_eq(o.type, "msg") && ll__span_eq(o.cursor, "5"), "fields");
    CHECK(o.data.n == strlen("{\"a\":[1,2.5e-3,-0,true,false,null,\"x\\u00e9\\n\"]}"), "data span is the raw JSON");
    parse(good[4], strlen(good[4]), 32, &o);
    CHECK(o.id == 9007199254740992ULL, "id");
    parse(good[3], strlen(good[3]), 32, &o);
    CHECK(o.id == LL__ABSENT, "no id");
}

static void test_json_bad(void) {
    /* What the finder itself rejects: not an object, broken structure, wrong JSON types of
     * the fields it reads. */
    static const char *bad[] = {
        "", "[]", "\"x\"", "{", "}", "{\"type\"}", "{\"type\":}", "{,}", "{\"type\":\"a\"} x",
        "{'a':1}", "{\"type\":5}", "{\"cursor\":5}", "{\"id\":-1}", "{\"id\":1.5}", "{\"id\":\"1\"}",
        "{\"messages\":{}}", "{\"id\":99999999999999999}", "{\"a\":[1}", "{\"a\":\"x}",
    };
    /* Not JSON, but shaped like it: the caller's check (JSON.parse in the shim) rejects
     * these before the core sees them; the finder only has to stay inside the text. */
    static const char *not_json[] = {
        "{\"type\":\"a\",}", "{\"a\":1 \"b\":2}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}",
        "{\"a\":-}", "{\"a\":1e}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}", "{\"a\":\"tab\there\"}", "{\"a\":[1,]}", "{\"a\":[,1]}",
        "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":\"\\", "{\"a\":]]]}",
    };
    size_t i;
    ll__obj o;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(parse(bad[i], strlen(bad[i]), 32, &o) == LL_ERR_BAD_FRAME, "bad %s", bad[i]);
    for (i = 0; i < sizeof not_json / sizeof not_json[0]; i++) {
        int rc = parse(not_json[i], strlen(not_json[i]), 32, &o);
        CHECK(rc == LL_ERR_OK || rc == LL_ERR_BAD_FRAME, "not JSON %s: %d", not_json[i], rc);
    }
}

static void test_json_depth(void) {
    char buf[300];
    ll__obj o;
    int d;
    /* data at depth 2 holding k nested arrays reaches depth 1 + k. */
    for (d = 1; d <= 70; d++) {
        int n = 0, k, rc;
        n += sprintf(buf + n, "{\"data\":");
        for (k = 0; k < d; k++) buf[n++] = '[';
        for (k = 0; k < d; k++) buf[n++] = ']';
        buf[n++] = '}';
        rc = parse(buf, (size_t)n, 32, &o);
        CHECK(rc == (1 + d <= 32 ? LL_ERR_OK : LL_ERR_TOO_DEEP), "depth %d -> %d", d, rc);
    }
}

static void test_array_iter(void) {
    const char *body = "{\"cursor\":\"3\",\"messages\":[ {\"cursor\":\"1\",\"data\":[1,[2]]} ,{\"cursor\":\"2\",\"data\":\"]\"},{\"cursor\":\"3\",\"data\":{}}]}";
    ll__obj o;
    ll__span el;
    const char *pos;
    int n = 0;
    CHECK(parse(body, strlen(body), 32, &o) == LL_ERR_OK, "batch");
    for (pos = o.messages.p; ll__array_next(&pos, o.messages.p + o.messages.n, &el);) n++;
    CHECK(n == 3, "3 elements, got %d", n);
}

static ll_core *fresh(void) {
    ll_core *c = malloc(ll_core_size());
    ll_init(c, 1, 0);
    return c;
}

static void test_config(void) {
    ll_core *c = fresh();
    CHECK(ll_set(c, LL_CFG_min_interval, 5) == LL_ERR_BAD_CONFIG, "below min");
    CHECK(ll_bad_field(c) == LL_CFG_min_interval, "bad field named");
    CHECK(ll_set(c, LL_CFG_COUNT, 1) == LL_ERR_BAD_CONFIG, "unknown field");
    CHECK(ll_set(c, LL_CFG_min_interval, 40000) == LL_ERR_OK, "in range");
    CHECK(ll_start(c, 0, 1, 1) == LL_ERR_BAD_CONFIG && ll_bad_field(c) == LL_CFG_min_interval, "min > max");
    CHECK(ll_set(c, LL_CFG_max_interval, 40000) == LL_ERR_OK, "fix");
    CHECK(ll_set_cursor(c, "x", 1) == LL_ERR_BAD_CURSOR, "bad cursor");
    CHECK(ll_start(c, 0, 1, 1) == LL_ERR_OK, "starts");
    CHECK(ll_set(c, LL_CFG_min_interval, 1000) == LL_ERR_BAD_STATE, "no config after start");
    CHECK(ll_start(c, 0, 1, 1) == LL_ERR_BAD_STATE, "no second start");
    free(c);
}

static void test_policy(void) {
    ll_core *c = fresh();
    uint32_t n;
    int i;
    /* Full jitter stays within [0, min(cap, base*2^n)] and covers it. */
    c->cfg[LL_CFG_backoff_base] = 1000;
    c->cfg[LL_CFG_backoff_max] = 30000;
    for (n = 0; n < 8; n++) {
        uint64_t lo = UINT64_MAX, hi = 0, ceil = 1000ULL << n;
        if (ceil > 30000) ceil = 30000;
        for (i = 0; i < 2000; i++) {
            uint64_t d = ll__backoff(c, n);
            if (d < lo) lo = d;
            if (d > hi) hi = d;
        }
        CHECK(hi <= ceil && lo < ceil / 10 && hi > ceil * 9 / 10, "backoff n=%u in [%llu,%llu]", n,
              (unsigned long long)lo, (unsigned long long)hi);
    }
    /* Probe delays: equal jitter, doubling to probe_max. */
    for (n = 0; n < 10; n++) {
        uint64_t d, ceil = 3000ULL << n;
        if (ceil > 120000) ceil = 120000;
        c->probe_n = n;
        d = ll__probe_delay(c);
        CHECK(d >= ceil / 2 && d <= ceil, "probe n=%u: %llu", n, (unsigned long long)d);
    }
    /* Pong timeout follows the round trip within its bounds. */
    c->srtt = 0;
    CHECK(ll__pong_timeout(c) == 2000, "no rtt: min");
    c->srtt = 1000;
    CHECK(ll__pong_timeout(c) == 4000, "4 x rtt");
    c->srtt = 9000;
    CHECK(ll__pong_timeout(c) == 10000, "capped");
    free(c);
}

int main(void) {
    test_cursor();
    test_json_good();
    test_json_bad();
    test_json_depth();
    test_array_iter();
    test_config();
    test_policy();
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}

/* unit.c — unit tests of the parsers (the core's cursors and lines, the tests' decoder)
 * and the policy tables.
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
#include "decode.h"

static int passed, failed;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (cond) {                                                    \
            passed++;                                                  \
        } else {                                                       \
            failed++;                                                  \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
        }                                                              \
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

static void test_cursor(void) {
    static const struct {
        const char *text;
        int ok;
    } cases[] = {
        {"0", 1},
        {"7", 1},
        {"7-0", 1},
        {"1526919030474-55", 1},
        {"18446744073709551615", 1},
        {"18446744073709551615-18446744073709551615", 1},
        {"18446744073709551616", 0},
        {"", 0},
        {"-", 0},
        {"7-", 0},
        {"-7", 0},
        {"7-1-2", 0},
        {" 7", 0},
        {"7 ", 0},
        {"0x10", 0},
        {"1.5", 0},
        {"+3", 0},
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

/* The test decoder (decode.h) must agree with JSON.parse, as js/protocol.mjs uses it. */
static uint32_t frame_type(const char *text) {
    dec_frame f;
    size_t n = strlen(text);
    dec_frame_decode(guarded(text, n), n, &f);
    return f.type;
}

static void test_decode_frames(void) {
    static const struct {
        const char *text;
        uint32_t type;
    } cases[] = {
        {" {\"type\":\"ping\"} ", LL_FRAME_PING},
        {"{\"type\":\"msg\",\"cursor\":\"5\",\"data\":{\"a\":[1,2.5e-3,-0,true,false,null,\"x\\u00e9\\n\"]}}",
         LL_FRAME_MSG},
        {"{\"type\":\"hello\",\"cursor\":\"1-2\",\"heartbeat\":25000}", LL_FRAME_HELLO},
        {"{\"type\":\"ack\",\"id\":9007199254740991}", LL_FRAME_ACK},
        {"{\"type\":\"ack\",\"id\":9007199254740992}", LL_FRAME_BAD},
        {"{\"data\":\"\\\"quoted\\\"\",\"type\":\"msg\",\"cursor\":\"1\"}", LL_FRAME_MSG},
        {"{\"type\":\"x\",\"unknown\":{\"deep\":[[[]]]}}", LL_FRAME_OTHER},
        {"{\"type\":\"msg\",\"cursor\":\"1\",\"data\":\"\xc3\xa9\"}", LL_FRAME_MSG},
        /* an empty text frame: a beat (only servers that announced beats send one) */
        {"", LL_FRAME_BEAT},
        /* not JSON, not an object, or a known field of the wrong type: bad */
        {" ", LL_FRAME_BAD},
        {"[]", LL_FRAME_BAD},
        {"\"x\"", LL_FRAME_BAD},
        {"{", LL_FRAME_BAD},
        {"{}", LL_FRAME_BAD},
        {"{\"type\":\"a\",}", LL_FRAME_BAD},
        {"{\"a\":1 \"b\":2}", LL_FRAME_BAD},
        {"{\"type\":\"a\"} x", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"x\":01}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"x\":1.}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"x\":tru}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"x\":\"\\x\"}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"x\":\"tab\there\"}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"x\":[1,]}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"x\":NaN}", LL_FRAME_BAD},
        {"{'type':'a'}", LL_FRAME_BAD},
        {"{\"type\":5}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"cursor\":5}", LL_FRAME_BAD},
        {"{\"type\":\"ack\",\"id\":-1}", LL_FRAME_BAD},
        {"{\"type\":\"ack\",\"id\":1.5}", LL_FRAME_BAD},
        {"{\"type\":\"ack\",\"id\":\"1\"}", LL_FRAME_BAD},
        {"{\"type\":\"a\",\"messages\":{}}", LL_FRAME_BAD},
        {"{\"type\":\"ack\",\"id\":99999999999999999}", LL_FRAME_BAD},
        {"{\"type\":\"msg\",\"cursor\":\"1\"}", LL_FRAME_BAD},
    };
    size_t i, cut;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        size_t n = strlen(t);
        CHECK(frame_type(t) == cases[i].type, "frame %s", t);
        /* a proper prefix of a frame is never a frame (trailing blanks aside; the empty
         * prefix is a beat) */
        for (cut = 1; cut < n && cases[i].type != LL_FRAME_BAD; cut++) {
            dec_frame f;
            size_t k;
            int trailing = 1;
            for (k = cut; k < n; k++) trailing &= t[k] == ' ';
            dec_frame_decode(guarded(t, cut), cut, &f);
            if (!trailing) CHECK(f.type == LL_FRAME_BAD, "prefix %zu of %s", cut, t);
        }
    }
    {
        dec_frame f;
        const char *t = cases[1].text;
        dec_frame_decode(t, strlen(t), &f);
        CHECK(f.cursor.n == 1 && f.cursor.p[0] == '5' && f.depth == 3, "fields, depth %u", f.depth);
        CHECK(f.data.n == strlen("{\"a\":[1,2.5e-3,-0,true,false,null,\"x\\u00e9\\n\"]}"), "data span is the raw JSON");
    }
    {
        /* an escaped NUL is no escape (JSON.parse rejects it) */
        static const char t[] = "{\"type\":\"x\",\"m\":\"\\\0\"}";
        dec_frame f;
        dec_frame_decode(guarded(t, sizeof t - 1), sizeof t - 1, &f);
        CHECK(f.type == LL_FRAME_BAD, "backslash NUL");
    }
}

static void test_decode_depth(void) {
    char buf[700];
    int d;
    /* data holding k nested arrays: depth 1 + k; past 255 it reads 256 */
    for (d = 1; d <= 300; d += d < 70 ? 1 : 23) {
        dec_frame f;
        int n = 0, k;
        n += sprintf(buf + n, "{\"type\":\"msg\",\"cursor\":\"1\",\"data\":");
        for (k = 0; k < d; k++) buf[n++] = '[';
        for (k = 0; k < d; k++) buf[n++] = ']';
        buf[n++] = '}';
        dec_frame_decode(buf, (size_t)n, &f);
        CHECK(f.depth == (uint32_t)(1 + d > 255 ? 256 : 1 + d), "depth %d -> %u", d, f.depth);
    }
}

static void test_decode_body(void) {
    const char *body =
        "{\"cursor\":\"3\",\"messages\":[ {\"cursor\":\"1\",\"data\":[1,[2]]} ,{\"cursor\":\"2\",\"data\":\"]\"},"
        "{\"cursor\":\"x\",\"data\":{}},5,{\"data\":1},{\"cursor\":\"4\",\"data\":null}]}";
    dec_body b;
    dec_body_decode(body, strlen(body), &b);
    CHECK(b.lines_len == strlen("3\n1\n2\nx\n\n\n4") && !memcmp(b.lines, "3\n1\n2\nx\n\n\n4", b.lines_len),
          "lines %.*s", (int)b.lines_len, b.lines);
    CHECK(b.count == 6 && b.data[1].n == 3 && b.data[3].p == NULL && b.data[5].n == 4, "data spans");
    CHECK(b.depth == 5, "depth %u", b.depth);
    dec_body_free(&b);
    dec_body_decode("<html>", 6, &b);
    CHECK(b.lines_len == 0 && b.count == 0, "not JSON: no lines");
    dec_body_free(&b);
}

/* The core's side: cursor lines. */
static void test_lines(void) {
    static const struct {
        const char *text;
        int n;
    } cases[] = {{"", 1}, {"5", 1}, {"5\n6", 2}, {"5\n", 2}, {"5\n\n7", 3}};
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = guarded(cases[i].text, strlen(cases[i].text)), *pos = t;
        ll__span line;
        int n = 0;
        while (ll__line(&pos, t + strlen(cases[i].text), &line)) n++;
        CHECK(n == cases[i].n, "lines of \"%s\": %d", cases[i].text, n);
    }
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
    test_decode_frames();
    test_decode_depth();
    test_decode_body();
    test_lines();
    test_config();
    test_policy();
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}

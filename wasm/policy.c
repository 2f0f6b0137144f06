/* policy.c — the numbers: jitter, error backoff, probe schedule, the adaptive poll
 * interval and the round-trip estimate behind the ping timeout.
 *
 * Adaptive interval. The core keeps a smoothed gap between observed changes (gap_ewma).
 *   changed   → next poll after gap/2 (or min_interval when no gap is known yet), so a
 *               source that changes every 10 s is polled about twice per change, not ten
 *               times;
 *   unchanged → the interval grows by interval_growth percent per poll, up to max_interval
 *               and, once a change rate is known, up to twice the larger of the gap and
 *               the time since the last change (latency stays proportional to the real
 *               change rate, and a source gone quiet is polled less and less).
 * A Lifeline-Interval header from the server overrides all of it. */
#include "internal.h"

static uint64_t next_random(ll_core *c) { /* splitmix64 */
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint32_t ll__rand(ll_core *c, uint32_t n) {
    return n == UINT32_MAX ? (uint32_t)next_random(c) : (uint32_t)(next_random(c) % ((uint64_t)n + 1));
}

static uint64_t grow(uint32_t base, uint32_t cap, uint32_t n) {
    uint64_t d = base;
    while (n-- && d < cap) d *= 2;
    return d < cap ? d : cap;
}

/* Full jitter: uniform in [0, min(backoff_max, backoff_base * 2^n)]. Spreads a crowd of
 * clients that all failed at once (a server restart) evenly over the window. */
uint64_t ll__backoff(ll_core *c, uint32_t n) {
    return ll__rand(c, (uint32_t)grow(c->cfg[LL_CFG_backoff_base], c->cfg[LL_CFG_backoff_max], n));
}

/* Equal jitter for WebSocket probes: [d/2, d], d = probe_min * 2^probe_n up to probe_max,
 * so probes never come back-to-back but still spread. */
uint64_t ll__probe_delay(ll_core *c) {
    uint64_t d = grow(c->cfg[LL_CFG_probe_min], c->cfg[LL_CFG_probe_max], c->probe_n);
    return d / 2 + ll__rand(c, (uint32_t)(d - d / 2));
}

static uint32_t clamp(uint64_t v, uint32_t lo, uint32_t hi) { return v < lo ? lo : v > hi ? hi : (uint32_t)v; }

void ll__note_change(ll_core *c) {
    if (c->last_change) {
        uint64_t gap = c->now - c->last_change;
        if (gap > 86400000) gap = 86400000;
        c->gap_ewma = c->gap_ewma ? (uint32_t)((3 * (uint64_t)c->gap_ewma + gap) / 4) : (uint32_t)gap;
    }
    c->last_change = c->now ? c->now : 1;
}

uint32_t ll__next_interval(ll_core *c, int changed) {
    uint32_t lo = c->cfg[LL_CFG_min_interval], hi = c->cfg[LL_CFG_max_interval];
    uint64_t iv;
    if (!c->visible && c->cfg[LL_CFG_hidden_interval]) {
        iv = c->cfg[LL_CFG_hidden_interval];
    } else if (c->hint_interval) {
        iv = c->hint_interval;
    } else if (changed) {
        iv = c->gap_ewma ? clamp(c->gap_ewma / 2, lo, hi) : lo;
    } else {
        uint64_t cap = hi;
        iv = c->interval ? (uint64_t)c->interval * c->cfg[LL_CFG_interval_growth] / 100 : lo;
        if (iv <= c->interval) iv = (uint64_t)c->interval + 1;
        if (c->gap_ewma) {
            uint64_t quiet = c->now - c->last_change;
            cap = clamp(2 * (quiet > c->gap_ewma ? quiet : c->gap_ewma), lo, hi);
        }
        iv = clamp(iv < cap ? iv : cap, lo, hi);
    }
    c->interval = (uint32_t)iv;
    return c->interval;
}

void ll__rtt_sample(ll_core *c, uint64_t rtt) {
    if (rtt > 600000) rtt = 600000;
    c->srtt = c->srtt ? (uint32_t)((7 * (uint64_t)c->srtt + rtt) / 8) : (uint32_t)(rtt ? rtt : 1);
}

/* No frame within this after a ping: the connection is dead. Four smoothed round trips
 * (a loaded link answers well within that), never below pong_timeout_min. */
uint32_t ll__pong_timeout(const ll_core *c) {
    return clamp(4 * (uint64_t)c->srtt, c->cfg[LL_CFG_pong_timeout_min], c->cfg[LL_CFG_pong_timeout_max]);
}

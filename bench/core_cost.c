/* core_cost.c — drives the core through N typical cycles of one kind, for callgrind:
 *   poll      interval polling: the timer fires (FETCH), a 200 with one message answers
 *             (DELIVER, next timer) — 2 input events per cycle
 *   longpoll  a 200 with one message answers a held poll (DELIVER, next FETCH at once)
 *             — 1 input event per cycle
 *   ws        a msg frame on an open WebSocket (DELIVER) — 1 input event per cycle
 *   idle      an idle long poll answered 204 — 1 input event per cycle
 * Frames and bodies go in decoded, as the shim passes them (JSON.parse is the shim's cost,
 * not the core's). Instructions per event = (Ir(2N) - Ir(N)) / (events(2N) - events(N)), which cancels
 * start-up; `make bench-core` does that arithmetic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../wasm/lifeline.h"

static unsigned long long now;
static uint32_t last_fetch;

static void drain(ll_core *c) {
    const ll_action *a;
    while ((a = ll_next_action(c)))
        if (a->type == LL_ACT_POLL) last_fetch = a->id;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "poll";
    long n = argc > 2 ? atol(argv[2]) : 1000, i;
    ll_core *c = malloc(ll_core_size());
    char body[80], cursor[24];
    ll_init(c, 1, 0);
    ll_set_cursor(c, "1", 1);
    if (strcmp(mode, "ws") != 0) ll_set(c, LL_CFG_websocket, 0);
    ll_start(c, now, 1, 1);
    drain(c);
    if (!strcmp(mode, "ws")) {
        ll_ws_opened(c, now += 5, 1);
        drain(c);
        ll_ws_frame(c, now += 5, 1, LL_FRAME_HELLO, 47, 1, "1", 1, 0, "", 0, "", 0, 0);
        drain(c);
    }
    for (i = 0; i < n; i++) {
        /* {"cursor":"<i+2>","messages":[{"cursor":"<i+2>","data":{"n":<i>}}]}: depth 4 */
        int bn = snprintf(body, sizeof body, "%ld\n%ld", i + 2, i + 2), size = 60;
        if (!strcmp(mode, "ws")) { /* {"type":"msg","cursor":"<i+2>","data":{"n":<i>}}: depth 2 */
            int cn = snprintf(cursor, sizeof cursor, "%ld", i + 2);
            ll_ws_frame(c, now += 100, 1, LL_FRAME_MSG, 40, 2, cursor, (size_t)cn, 0, "", 0, "", 0, 0);
        } else if (!strcmp(mode, "poll")) {
            unsigned long long d = ll_next_deadline(c);
            now = d == LL_NEVER ? now + 1000 : d;
            ll_timer(c, now);
            drain(c);
            ll_http_response(c, now += 20, last_fetch, 200, -1, 0, 0, "", 0, (uint32_t)size, 4, body, (size_t)bn);
        } else if (!strcmp(mode, "idle")) {
            ll_http_response(c, now += 25000, last_fetch, 204, -1, 0, 25000, "", 0, 0, 0, "", 0);
        } else {
            ll_http_response(c, now += 100, last_fetch, 200, -1, 0, 25000, "", 0, (uint32_t)size, 4, body, (size_t)bn);
        }
        drain(c);
    }
    free(c);
    return 0;
}

/* state.c — the machine: its enums, the transitions they allow, and the public state
 * derived from them.
 *
 * Theory of operation
 * -------------------
 * The core's decisions rest on four orthogonal enums (internal.h) and on what the
 * browser reports about the page:
 *
 *   ws_phase  the WebSocket attempt in hand:
 *               NONE → CONNECTING → WAIT_HELLO → PROVING → CATCHING_UP → SERVING
 *                                             ↘ REPLAYING ─────────────↗
 *             (any phase → NONE when the socket is closed or lost)
 *   role      what polling is for: ALONE (no WebSocket at all), BESIDE (the WebSocket
 *             comes first; polls bridge until a socket serves), FALLBACK (the WebSocket
 *             failed; polls are the transport and sockets are only probes)
 *   polls     what polling has shown since it last started: UNPROVEN, SERVING, FAILING
 *   progress  CONNECTING (nothing worked since the last (re)start or fallback) or
 *             RECONNECTING (what worked was lost)
 *   page      VISIBLE, HIDDEN, OFFLINE, LEFT (pagehide) — combined from the browser's
 *             reports, the later ones taking precedence
 *
 * A hello decides where a socket enters: PROVING when the socket before it stalled (it
 * must answer a ping first), CATCHING_UP when polls already serve the page (they stay the
 * transport until the socket delivered up to the head its hello announced), REPLAYING when
 * nothing else serves (the socket is the transport at once, polls go on beside it until it
 * caught up). Only SERVING stops polling.
 *
 * WebSocket phase transitions (in the native builds ll__ws_enter refuses any other,
 * counts it in bad_edges and leaves the phase as it was; the fuzzer checks that never
 * happens; the wasm build, -DNDEBUG, leaves the check out). Each of the 14 is taken in
 * tests/scenarios/, e.g.:
 *
 *   NONE        -> CONNECTING   ll__ws_try: start, reconnect, probe      ws_happy
 *   CONNECTING  -> WAIT_HELLO   ll_ws_opened                             ws_happy
 *   CONNECTING  -> NONE         closed: refused; T_WS: black hole;       ws_refused, race_blackhole,
 *                               a fallback remembered late               fallback_remembered_late
 *   WAIT_HELLO  -> PROVING      hello after a stall                      ws_stall_probation
 *   WAIT_HELLO  -> REPLAYING    hello, nothing else serves               ws_resume_backlog
 *   WAIT_HELLO  -> CATCHING_UP  hello while polls serve                  race_poll_first, upgrade_probe
 *   WAIT_HELLO  -> NONE         closed or T_WS before hello; stale reset ws_closed_before_hello, ws_no_hello_timeout, reset_stale
 *   PROVING     -> CATCHING_UP  any frame answers the ping               ws_stall_probation
 *   PROVING     -> NONE         the ping unanswered                      ws_stall_every_socket
 *   REPLAYING   -> SERVING      delivered up to the hello's head         ws_resume_backlog
 *   REPLAYING   -> NONE         lost before caught up                    ws_frame_limits
 *   CATCHING_UP -> SERVING      delivered up to the hello's head         race_poll_first
 *   CATCHING_UP -> NONE         lost before caught up                    reset_stale_offline
 *   SERVING     -> NONE         lost: closed, stalled, bad/error frame,  ws_flapping, ws_stall_after_open,
 *                               hidden past the grace, pagehide, close   hidden_ws_grace, close_stops_everything
 *
 * Role transitions: BESIDE → FALLBACK (ws.c ll__fallback; core.c ll_fallback_remembered),
 * FALLBACK → BESIDE (poll.c
 * ll__caught_up_check: a probe serves); BESIDE or FALLBACK → ALONE (core.c
 * ll_ws_unavailable: the server says it cannot upgrade; ws_unavailable); ALONE never
 * changes.
 * polls: → SERVING when a poll answers (poll.c polling_works; not while a socket that said
 * hello with nothing else serving replays); → FAILING on a failed poll or a Retry-After
 * (poll.c poll_error, ll__poll_response; not while a socket that said hello carries the
 * page); → UNPROVEN whenever polling stops (poll.c ll__poll_stop).
 * progress: → CONNECTING on every (re)start and fallback (core.c connect, ws.c
 * ll__fallback); → RECONNECTING when what the page showed open is lost (ws.c lost, a stale
 * reset; poll.c poll_error, Retry-After).
 *
 * The public state is derived, once, at the end of every input (ll__publish; ll_send
 * excepted: a send moves nothing it is derived from), first rule that applies:
 *
 *   life IDLE / CLOSED                              idle / closed       none
 *   ws SERVING, or REPLAYING on a visible page      open                websocket
 *   page LEFT                                       paused              none
 *   polls SERVING                                   open                longpoll|poll|resource
 *   page OFFLINE                                    offline             none
 *   page HIDDEN                                     paused              none
 *   progress                                        connecting|reconnecting  none
 *
 * The reason is the one the input recorded (ll__cause) where a transition happened; the
 * STATE action is emitted only when (state, transport, reason) changed, in the place
 * among the input's actions where its cause was recorded (so "open" comes before the
 * messages that opened it; ll__cause reserves that place). No decision reads the
 * published state back: it exists for the caller's views (ll_state, ll_transport,
 * ll_interval). */
#include "internal.h"

#include <string.h>

#define TO(p) (1u << (p))
#ifndef NDEBUG
static const uint8_t ws_edges[WS_PHASE_COUNT] = {
    [WS_NONE] = TO(WS_CONNECTING),
    [WS_CONNECTING] = TO(WS_NONE) | TO(WS_WAIT_HELLO),
    [WS_WAIT_HELLO] = TO(WS_NONE) | TO(WS_PROVING) | TO(WS_REPLAYING) | TO(WS_CATCHING_UP),
    [WS_PROVING] = TO(WS_NONE) | TO(WS_CATCHING_UP),
    [WS_REPLAYING] = TO(WS_NONE) | TO(WS_SERVING),
    [WS_CATCHING_UP] = TO(WS_NONE) | TO(WS_SERVING),
    [WS_SERVING] = TO(WS_NONE),
};
#endif

int ll__ws_enter(ll_core *c, uint32_t phase) {
#ifndef NDEBUG /* the native builds (tests, fuzzer) hold every transition to the table */
    if (!(ws_edges[c->ws_phase] & TO(phase))) {
        c->bad_edges++;
        return 0;
    }
#endif
    c->ws_phase = phase;
    return 1;
}

int ll__ws_hello_said(const ll_core *c) { return c->ws_phase >= WS_PROVING; }

void ll__set_role(ll_core *c, uint32_t role) {
#ifndef NDEBUG
    if (c->role == ROLE_ALONE && role != ROLE_ALONE) {
        c->bad_edges++;
        return;
    }
#endif
    c->role = (uint8_t)role;
}

/* The reason of a change: a STATE action is reserved here, in its place among the input's
 * actions (an earlier reservation of the same input is withdrawn); ll__publish fills it in,
 * or withdraws it when nothing changed. */
void ll__cause(ll_core *c, uint32_t reason) {
    if (c->cause_slot) c->cause_slot->type = LL_ACT_NONE;
    c->cause_slot = ll__push(c, LL_ACT_STATE, 0, 0, 0, 0);
    c->cause = reason;
}

uint32_t ll__page(const ll_core *c) {
    return c->left ? PAGE_LEFT : !c->online ? PAGE_OFFLINE : !c->visible ? PAGE_HIDDEN : PAGE_VISIBLE;
}

int ll__active(const ll_core *c) {
    uint32_t page = ll__page(c);
    return c->life == LIFE_RUNNING && (page == PAGE_VISIBLE || (page == PAGE_HIDDEN && c->cfg[LL_CFG_hidden_interval]));
}

int ll__ws_wanted(const ll_core *c) {
    return c->life == LIFE_RUNNING && ll__page(c) == PAGE_VISIBLE && c->role != ROLE_ALONE;
}

int ll__ws_shown(const ll_core *c) {
    return c->ws_phase == WS_SERVING || (c->ws_phase == WS_REPLAYING && ll__page(c) == PAGE_VISIBLE);
}

static void derive(const ll_core *c, uint32_t *state, uint32_t *transport) {
    uint32_t page = ll__page(c);
    *transport = LL_TRANSPORT_NONE;
    if (c->life != LIFE_RUNNING) {
        *state = c->life == LIFE_IDLE ? LL_STATE_IDLE : LL_STATE_CLOSED;
    } else if (ll__ws_shown(c)) {
        *state = LL_STATE_OPEN;
        *transport = LL_TRANSPORT_WEBSOCKET;
    } else if (page == PAGE_LEFT) { /* NOLINT(bugprone-branch-clone): paused before polls serve, unlike hidden */
        *state = LL_STATE_PAUSED;
    } else if (c->polls == POLLS_SERVING) {
        *state = LL_STATE_OPEN;
        *transport = ll__polling_transport(c);
    } else if (page == PAGE_OFFLINE) {
        *state = LL_STATE_OFFLINE;
    } else if (page == PAGE_HIDDEN) {
        *state = LL_STATE_PAUSED;
    } else {
        *state = c->progress == PROGRESS_RECONNECTING ? LL_STATE_RECONNECTING : LL_STATE_CONNECTING;
    }
}

void ll__publish(ll_core *c) {
    uint32_t state, transport, reason = c->cause_slot ? c->cause : c->reason;
    ll_action *x = c->cause_slot;
    derive(c, &state, &transport);
    c->cause_slot = NULL;
    if (state == c->state && transport == c->transport && reason == c->reason) {
        if (x) x->type = LL_ACT_NONE;
        return;
    }
    if (!x) x = ll__push(c, LL_ACT_STATE, 0, 0, 0, 0);
    x->a = c->state = state;
    x->b = c->transport = transport;
    x->c = c->reason = reason;
}

/* sends.c — application sends: buffered (bounded), sent over the WebSocket once it said
 * hello or else by POST once polling works, one POST at a time and in order, resolved by
 * the server's ack. A send that went out on a transport that was then lost goes out again
 * on the next one (at-least-once; the id lets a server drop a repeat).
 *
 * The core keeps only ids and lengths: the caller keeps the bytes and frames them when an
 * action names the id. */
#include "internal.h"

#include <string.h>

static ll__send *first_queued(ll_core *c) {
    uint32_t i;
    for (i = 0; i < c->n_sends; i++)
        if (c->sends[i].where == SEND_QUEUED) return &c->sends[i];
    return NULL;
}

/* Start a POST if one may go now: polls serve and no socket said hello. (WebSocket sends
 * are framed lazily, while draining.) */
void ll__sends_pump(ll_core *c) {
    ll__send *s;
    if (ll__ws_hello_said(c) || c->post_req || c->timers[T_SEND] != LL_NEVER) return;
    if (!ll__active(c) || c->polls != POLLS_SERVING || !(s = first_queued(c))) return;
    if (c->now < c->quiet_until) {
        ll__arm_request(c, T_SEND, 0);
        return;
    }
    c->post_req = ll__new_id(c);
    c->post_send = s->id;
    s->where = SEND_ON_POST;
    ll__push(c, LL_ACT_POST, c->post_req, c->cfg[LL_CFG_request_timeout], s->id, s->sub);
    ll__arm(c, T_SEND_REQ, c->cfg[LL_CFG_request_timeout]);
}

int ll__sends_next_ws(ll_core *c, ll_action *out) {
    ll__send *s;
    if (!ll__ws_hello_said(c) || !(s = first_queued(c))) return 0;
    s->where = SEND_ON_WS;
    c->ws_last_tx = c->now;
    ll__fill(out, LL_ACT_WS_SEND, c->ws_id, LL_OUT_SEND, s->id, c->v2 ? s->sub + 1 : 0);
    return 1;
}

/* Forget pending send `id`; 0 when it is not ours (any more). */
static int drop(ll_core *c, uint32_t id) {
    uint32_t i;
    for (i = 0; i < c->n_sends && c->sends[i].id != id; i++) {}
    if (i == c->n_sends) return 0;
    memmove(&c->sends[i], &c->sends[i + 1], (c->n_sends - i - 1) * sizeof c->sends[0]);
    c->n_sends--;
    return 1;
}

void ll__sends_ack(ll_core *c, uint32_t id) {
    if (drop(c, id)) ll__push(c, LL_ACT_ACK, id, 0, 0, 0);
}

/* The server refused send `id` for good (a 4xx POST, or an ack with an "error"). */
void ll__sends_reject(ll_core *c, uint32_t id, uint32_t status, ll__span message, ll__span code) {
    if (!drop(c, id)) return;
    ll__spans(ll__push(c, LL_ACT_SEND_FAILED, id, id, LL_ERR_SEND_REJECTED, status), message.p, message.n, code.p,
              code.n);
    ll__spans(ll__error(c, LL_ERR_SEND_REJECTED, status ? LL_REASON_HTTP_ERROR : LL_REASON_NONE, status), message.p,
              message.n, code.p, code.n);
}

void ll__sends_requeue(ll_core *c, uint32_t where) {
    uint32_t i;
    for (i = 0; i < c->n_sends; i++)
        if (c->sends[i].where == where) c->sends[i].where = SEND_QUEUED;
}

void ll__sends_fail_all(ll_core *c, uint32_t code) {
    if (!c->n_sends) return;
    ll__push(c, LL_ACT_SEND_FAILED, c->sends[0].id, c->sends[c->n_sends - 1].id, code, 0);
    c->n_sends = 0;
}

static void retry_later(ll_core *c) {
    ll__sends_requeue(c, SEND_ON_POST);
    ll__arm_request(c, T_SEND, ll__backoff(c, c->send_errors));
    c->send_errors++;
}

void ll__post_response(ll_core *c, uint32_t status, const ll__head *h) {
    static const ll__span none = {"", 0};
    uint32_t id = c->post_send;
    c->post_req = 0;
    ll__disarm(c, T_SEND_REQ);
    if (status >= 200 && status < 300) {
        /* The POST carried exactly one send: a 2xx accepts it, whatever the body says. */
        c->send_errors = 0;
        ll__sends_ack(c, id);
    } else if ((status == 429 || status == 503) && ll__retry_after_wait(c, h)) {
        ll__sends_requeue(c, SEND_ON_POST);
        ll__arm_request(c, T_SEND, 0);
    } else if (status >= 400 && status < 500 && status != 408 && status != 429) {
        /* The server refused this send for good (malformed, too large, forbidden). */
        ll__sends_reject(c, id, status, none, none);
    } else {
        retry_later(c);
    }
    ll__sends_pump(c);
}

void ll__post_failed(ll_core *c, uint32_t kind) {
    (void)kind;
    c->post_req = 0;
    ll__disarm(c, T_SEND_REQ);
    retry_later(c);
}

void ll__sends_timer(ll_core *c, int t) {
    if (t == T_SEND_REQ && c->post_req) {
        ll__push(c, LL_ACT_FETCH_CANCEL, c->post_req, 0, 0, 0);
        ll__post_failed(c, LL_FAIL_TIMEOUT);
        return;
    }
    ll__sends_pump(c);
}

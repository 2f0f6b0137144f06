/* queue.c — the action queue the caller drains.
 *
 * One input queues a handful of actions (bounded by LL_QUEUE_CAP); a poll batch queues a
 * single BATCH entry that ll_next_action() expands into one DELIVER per new message, and
 * pending sends are framed one by one as the caller drains. So the queue stays small
 * whatever the size of the input. */
#include "internal.h"

#include <string.h>

void ll__begin_input(ll_core *c, uint64_t now) {
    if (now > c->now) c->now = now;
    c->cause_slot = NULL;
}

/* A fresh id for a socket or a request (never 0). */
uint32_t ll__new_id(ll_core *c) {
    if (++c->next_id == 0) c->next_id = 1;
    return c->next_id;
}

/* The action names cursor k (empty when unset): its text goes inside the action. */
void ll__carry_cursor(ll_action *x, const ll__cursor *k) {
    x->t_len = (uint32_t)ll__cursor_format(k, x->text);
    x->t = x->text;
}

/* Queue an action; its spans start empty (ll__spans sets them). A full queue is a bug
 * (counted in overflow); the action then lands in a sink and is lost. */
/* An action's fields, its spans empty (its text is left as it is: only a span uses it). */
void ll__fill(ll_action *x, uint32_t type, uint32_t id, uint32_t a, uint32_t b, uint32_t cc) {
    x->type = type;
    x->id = id;
    x->a = a;
    x->b = b;
    x->c = cc;
    x->s = x->t = "";
    x->s_len = x->t_len = 0;
}

ll_action *ll__push(ll_core *c, uint32_t type, uint32_t id, uint32_t a, uint32_t b, uint32_t cc) {
    ll_action *x = &c->sink;
    if (c->q_len < LL_QUEUE_CAP) x = &c->queue[(c->q_head + c->q_len++) % LL_QUEUE_CAP];
    else c->overflow++;
    ll__fill(x, type, id, a, b, cc);
    return x;
}

void ll__spans(ll_action *x, const char *s, size_t s_len, const char *t, size_t t_len) {
    if (s_len) x->s = s, x->s_len = (uint32_t)s_len;
    if (t_len) x->t = t, x->t_len = (uint32_t)t_len;
}

ll_action *ll__error(ll_core *c, uint32_t code, uint32_t reason, uint32_t status) {
    return ll__push(c, LL_ACT_ERROR, 0, code, status, reason);
}

/* Expand the batch: the next element whose cursor is above the floor (the cursors were
 * checked when the response arrived); a = its index among the body's messages. */
static int batch_next(ll_core *c, ll_action *out) {
    ll__span line;
    while (ll__line(&c->batch_p, c->batch_end, &line)) {
        ll__cursor k;
        uint32_t i = c->batch_i++;
        if (!ll__cursor_parse(line.p, line.n, &k) || ll__cursor_cmp(&k, &c->batch_floor) <= 0) continue;
        c->batch_floor = k;
        ll__fill(out, LL_ACT_DELIVER, 0, i, c->batch_sub, 0);
        out->t = line.p;
        out->t_len = line.n;
        return 1;
    }
    c->batch_active = 0;
    return 0;
}

const ll_action *ll_next_action(ll_core *c) {
    for (;;) {
        if (c->batch_active && batch_next(c, &c->out)) return &c->out;
        if (c->q_len) {
            /* The slot itself: nothing is pushed while draining, so it stays intact until
             * the next input, as the contract asks. */
            ll_action *x = &c->queue[c->q_head];
            c->q_head = (c->q_head + 1) % LL_QUEUE_CAP;
            c->q_len--;
            if (x->type == LL_ACT_NONE) continue; /* a withdrawn STATE (state.c) */
            if (x->type == LL__ACT_BATCH) {       /* a: its first message's index, b: its subscription, t: its floor */
                c->batch_p = x->s;
                c->batch_end = x->s + x->s_len;
                c->batch_i = x->a;
                c->batch_sub = x->b;
                c->batch_floor.set = 0;
                ll__cursor_parse(x->t, x->t_len, &c->batch_floor);
                c->batch_active = 1;
                continue;
            }
            return x;
        }
        if (ll__sends_next_ws(c, &c->out)) return &c->out;
        return NULL;
    }
}

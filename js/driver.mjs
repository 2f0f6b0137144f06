// driver.mjs — runs one core: feed one input, drain every action, arm one timer.
//
// Inputs never nest: while any core of the runtime is draining (an adapter or an event
// listener may call back synchronously), new inputs wait in one queue until the drain
// ends — the action spans may point into the shared scratch buffer, and a core must not
// be fed in the middle of its own drain.
import { ERR_CLOSED } from './constants.js';

let busy = 0;
const queue = [];

/** Run f now, or after the drain in progress. */
export const later = (f) => {
    if (busy) return queue.push(f);
    busy = 1;
    try {
        return f();
    } finally {
        busy = 0;
        while (queue.length && !busy) later(queue.shift());
    }
};

/** A driver for `core` (a slot of runtime `rt`); act(action, msgs) handles each action.
 *  Returns feed(name, args, k, msgs): call ll_<name>(core, now, ...args) (strings and bytes
 *  become spans), hand its result to k, drain (each action with msgs: the messages the
 *  input carried, which a DELIVER indexes), and arm one timer for the next deadline.
 *  feed.stop() disarms for good; a stopped core answers every input as closed. */
export function driver(rt, core, now, setTimer, clearTimer, act) {
    const x = rt.x;
    let timer, at = -1, stopped;
    const feed = (name, args = [], k, msgs) =>
        later(() => {
            if (stopped) return k?.(-ERR_CLOSED);
            const t = Math.floor(now());
            const r = x['ll_' + name](core, BigInt(t), ...rt.args(args));
            k?.(r); // (k?.(call) would skip the call when k is absent)
            for (let p; !stopped && (p = x.ll_next_action(core)); ) act(rt.action(p), msgs);
            if (stopped) return;
            // LL_NEVER reads as -1n: no timer
            const d = Number(x.ll_next_deadline(core));
            if (d == at) return;
            clearTimer(timer);
            at = d;
            if (d >= 0) timer = setTimer(() => ((at = -1), feed('timer')), Math.max(0, d - t));
        });
    feed.stop = () => {
        stopped = 1;
        clearTimer(timer);
    };
    return feed;
}

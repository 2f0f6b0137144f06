// driver.mjs — runs one core: feed one input, drain every action, arm one timer.
//
// Inputs never nest: while any core of the runtime is draining (an adapter or an event
// listener may call back synchronously), new inputs wait in one queue until the drain
// ends — the action spans may point into the shared scratch buffer, and a core must not
// be fed in the middle of its own drain.
import { ERR_CLOSED } from './constants.js';

let busy = false;
const queue = [];

/** Run f now, or after the drain in progress. */
export function later(f) {
    if (busy) return queue.push(f);
    busy = true;
    try {
        return f();
    } finally {
        busy = false;
        while (queue.length && !busy) later(queue.shift());
    }
}

/** A driver for `core` (a slot of runtime `rt`); act(action, msgs) handles each action.
 *  Returns feed(name, args, k, msgs): call the export `name` (an ll_ input) as name(core, now, ...args) (strings and bytes
 *  become spans), hand its result to k, drain (each action with msgs: the messages the
 *  input carried, which a DELIVER indexes), and arm one timer for the next deadline.
 *  feed.stop() disarms for good; a stopped core answers every input as closed. */
export function driver(rt, core, now, setTimer, clearTimer, act) {
    const x = rt.x;
    let timer,
        armedFor = -1,
        stopped = false;
    const feed = (name, args = [], k, msgs) =>
        later(() => {
            if (stopped) return k?.(-ERR_CLOSED);
            const time = Math.floor(now());
            const result = x[name](core, BigInt(time), ...rt.args(args));
            if (k) k(result);
            for (let action; !stopped && (action = x.ll_next_action(core));) act(rt.action(action), msgs);
            if (stopped) return;
            // LL_NEVER reads as -1n: no timer
            const deadline = Number(x.ll_next_deadline(core));
            if (deadline == armedFor) return;
            clearTimer(timer);
            armedFor = deadline;
            if (deadline >= 0)
                timer = setTimer(
                    () => {
                        armedFor = -1;
                        feed('ll_timer');
                    },
                    Math.max(0, deadline - time),
                );
        });
    feed.stop = () => {
        stopped = true;
        clearTimer(timer);
    };
    return feed;
}

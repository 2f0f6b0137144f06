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
        armedFor = -1, // when the armed timer fires (-1: none armed)
        wanted = -1, // the core's next deadline (-1: none)
        stopped = false;
    // A deadline that moves later (every frame moves a socket's liveness deadline) keeps
    // the armed timer: when it fires early it arms again for the rest, so a busy socket
    // costs no clearTimeout/setTimeout pair per input.
    const arm = (time) => {
        armedFor = wanted;
        timer = setTimer(
            () => {
                armedFor = -1;
                const t = Math.floor(now());
                if (wanted >= 0 && t < wanted) arm(t);
                else feed('ll_timer');
            },
            Math.max(0, wanted - time),
        );
    };
    const feed = (name, args = [], k, msgs) =>
        later(() => {
            if (stopped) return k?.(-ERR_CLOSED);
            const time = Math.floor(now());
            const result = x[name](core, BigInt(time), ...rt.args(args));
            if (k) k(result);
            for (let action; !stopped && (action = x.ll_next_action(core));) act(rt.action(action), msgs);
            if (stopped) return;
            // LL_NEVER reads as -1n: no timer
            wanted = Number(x.ll_next_deadline(core));
            if (armedFor >= 0 && wanted >= armedFor) return;
            clearTimer(timer);
            armedFor = -1;
            if (wanted >= 0) arm(time);
        });
    feed.stop = () => {
        stopped = true;
        clearTimer(timer);
    };
    return feed;
}

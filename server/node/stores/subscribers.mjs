// stores/subscribers.mjs — who in this process waits for news of which stream; both stores use it.
// A subscriber is a plain function called with no argument: news is a wake-up, never data
// (the subscriber reads the store itself), so a missed or repeated call costs a read, never
// a message. A failing subscriber breaks neither the caller nor the other subscribers.

export class Subscribers {
    #byStream = new Map(); // stream -> Set(fn)

    /** Add fn for stream; returns the function that removes it again. */
    add(stream, fn) {
        let set = this.#byStream.get(stream);
        if (!set) this.#byStream.set(stream, (set = new Set()));
        set.add(fn);
        return () => {
            set.delete(fn);
            if (!set.size && this.#byStream.get(stream) === set) this.#byStream.delete(stream);
        };
    }

    /** Wake every subscriber of stream. */
    wake(stream) {
        for (const fn of [...(this.#byStream.get(stream) ?? [])]) {
            try {
                fn();
            } catch {
                // one subscriber's failure is its own
            }
        }
    }

    /** Wake every subscriber of every stream (a restart, a lost or regained connection). */
    wakeAll() {
        for (const stream of [...this.#byStream.keys()]) this.wake(stream);
    }

    clear() {
        this.#byStream.clear();
    }
}

// prng.mjs — a small seeded generator (mulberry32) for the tests that replay a run from
// its seed (the chaos runs, the seeded leader kills): the same seed, the same choices.

/** next() in [0, 1); int(lo, hi) inclusive; pick(list); weighted([[value, weight], …]). */
export function prng(seed) {
    let a = seed >>> 0;
    const next = () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return {
        next,
        int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
        pick: (list) => list[Math.floor(next() * list.length)],
        weighted(pairs) {
            let r = next() * pairs.reduce((s, [, w]) => s + w, 0);
            for (const [v, w] of pairs) if ((r -= w) < 0) return v;
            return pairs[pairs.length - 1][0];
        },
    };
}

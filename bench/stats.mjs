// stats.mjs — the benches' two summaries, one definition each.

/** The median of the finite numbers in `values` (the mean of the middle two for an even
 *  count); null when there are none. */
export function median(values) {
    const s = values.filter((v) => v != null && Number.isFinite(v)).sort((x, y) => x - y);
    if (!s.length) return null;
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The p-th percentile (nearest rank) of the finite numbers in `values`; null when none. */
export function percentile(values, p) {
    const s = values.filter((v) => v != null && Number.isFinite(v)).sort((x, y) => x - y);
    return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : null;
}

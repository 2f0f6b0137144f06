// stats.mjs — the benches' summaries and processes' CPU time, one definition each.
import fs from 'node:fs';

const TICK_HZ = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** utime + stime of a pid, in ms (0 when it is gone). */
function cpuMs(pid) {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return ((Number(f[11]) + Number(f[12])) * 1000) / TICK_HZ; // fields 14, 15 of stat
    } catch {
        return 0;
    }
}

/** A CPU snapshot of some processes: pid -> ms of CPU so far. */
export const cpuOf = (pids) => Object.fromEntries(pids.map((p) => [p, cpuMs(p)]));

/** ms of CPU per second of wall time per 1,000 clients, for a CPU snapshot pair. */
export function cpuRate(a, b, wallMs, clients) {
    let used = 0;
    for (const p in b) used += b[p] - (a[p] ?? 0);
    return (used / (wallMs / 1000)) * (1000 / clients);
}

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

// storage.mjs — a remembered fallback per URL (origin + path), with an expiry, so the next
// page load starts on polling. localStorage, an injected Storage, or (Node) memory.
const memory = new Map();
const inMemory = { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v), removeItem: (k) => memory.delete(k) };

export function storage(store, url) {
    const key = 'lifeline:' + url.origin + url.pathname;
    const t = (f) => {
        try {
            return f();
        } catch {} // storage disabled, full, or garbage: no memory, no harm
    };
    // localStorage is first touched when used: that first touch loads the origin's storage
    // (milliseconds), which the start does after its socket exists
    const use = (f) => t(() => f((store ||= t(() => localStorage) || inMemory)));
    return {
        live: () => use((s) => JSON.parse(s.getItem(key)).until > Date.now()),
        remember: (ttl) => use((s) => s.setItem(key, JSON.stringify({ until: Date.now() + ttl }))),
        forget: () => use((s) => s.removeItem(key)),
    };
}

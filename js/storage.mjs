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
    store ||= t(() => localStorage) || inMemory;
    return {
        live: () => t(() => JSON.parse(store.getItem(key)).until > Date.now()),
        remember: (ttl) => t(() => store.setItem(key, JSON.stringify({ until: Date.now() + ttl }))),
        forget: () => t(() => store.removeItem(key)),
    };
}

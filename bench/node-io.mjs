// node-io.mjs — what a page gives a client and the benches' Node processes give it instead
// (bench/cluster-fleet.mjs, bench/poll-cycle.mjs, bench/ws-delivery.mjs):
//  - keepAliveFetch: fetch over node:http on one keep-alive agent, the same for the library
//    and the hand-written clients. Not Node's own fetch (undici), whose one pool per origin,
//    shared by thousands of clients in one process, churns connections (docs/benchmarks.md);
//  - memoryStorage: a client's own storage (Node has no localStorage), so that no client
//    inherits another's remembered fallback.
import http from 'node:http';

export const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** fetch(url, {method, headers, body, signal}) over node:http on the keep-alive agent: a
 *  Response with the whole body (null for 204 and 304), headers as the server sent them. */
export function keepAliveFetch(url, init = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { agent, method: init.method ?? 'GET', headers: init.headers }, (res) => {
            const chunks = [];
            res.on('data', (d) => chunks.push(d));
            res.on('end', () => {
                const headers = new Headers();
                for (const [k, v] of Object.entries(res.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
                const body = res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks);
                resolve(new Response(body, { status: res.statusCode, headers }));
            });
            res.on('error', reject);
        });
        req.on('error', reject);
        req.setTimeout(60000, () => req.destroy(new Error('timeout')));
        init.signal?.addEventListener('abort', () => req.destroy(new DOMException('aborted', 'AbortError')), { once: true });
        req.end(init.body);
    });
}

/** A storage of its own, in memory, for one client (getItem, setItem, removeItem). */
export function memoryStorage() {
    const m = new Map();
    return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, String(v)), removeItem: (k) => void m.delete(k) };
}

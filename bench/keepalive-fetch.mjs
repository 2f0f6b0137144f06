// keepalive-fetch.mjs — fetch over node:http on one keep-alive agent, for the client fleets
// (bench/cluster-fleet.mjs, bench/poll-cycle.mjs): the library and the hand-written clients
// use the same one. Not Node's own fetch (undici), whose one pool per origin, shared by
// thousands of clients in one process, churns connections (docs/benchmarks.md).
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

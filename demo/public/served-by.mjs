// served-by.mjs — which server process answered each request of this page.
//
// Behind a round-robin balancer (make demo-cluster: nginx over Flask and Node processes on
// one Redis) consecutive requests of one page land on different processes. Every answer of
// the reference servers names its process: HTTP responses carry `Lifeline-Served-By`, the
// WebSocket's `hello` frame carries `"server"` (clients ignore unknown fields). Lifeline
// takes `fetch` and `WebSocket` as options, so the page hands its Lifelines a fetch that
// reads the header and a WebSocket that reads the first hello: no change to the library, and
// the page sees exactly the requests the library makes. One pair for the whole page, so its
// streams still ride one connection (a Lifeline pools with instances of the same options).
//
//   const io = servedBy((a) => show(a));        // a = {stream, kind, server, status, t}
//   new Lifeline('/live/chat', { ...io });
//
// kind: 'poll' (GET), 'send' (POST), 'websocket' (a hello). stream: the URL's, or 'all' for a
// poll of every stream (<prefix>/) and a socket that carries them all (a v2 hello). server:
// the name, or null when the server does not say (an older server, an error page of the
// balancer).

const HEADER = 'Lifeline-Served-By';

/** The stream a request names: its URL's last path segment; 'all' for <prefix>/. */
function streamOf(url) {
    const path = new URL(String(url), globalThis.location?.href).pathname;
    return path.slice(path.lastIndexOf('/') + 1) || 'all';
}

export function servedBy(onAnswer, { fetch: baseFetch = globalThis.fetch, WebSocket: BaseWebSocket = globalThis.WebSocket } = {}) {
    const fetch = async (input, init = {}) => {
        const res = await baseFetch(input, init);
        const method = String(init.method ?? 'GET').toUpperCase();
        onAnswer({ stream: streamOf(input), kind: method === 'POST' ? 'send' : 'poll', status: res.status, server: res.headers.get(HEADER), t: Date.now() });
        return res;
    };
    class ServedByWebSocket extends BaseWebSocket {
        constructor(url, protocols) {
            super(url, protocols);
            // Only frames up to the hello are looked at (a reset may come first).
            const onFrame = (ev) => {
                if (typeof ev.data !== 'string' || !ev.data.includes('"hello"')) return;
                let f;
                try {
                    f = JSON.parse(ev.data);
                } catch {
                    return;
                }
                if (f?.type !== 'hello') return;
                this.removeEventListener('message', onFrame);
                const stream = f.v >= 2 ? 'all' : streamOf(url); // a v2 socket carries every stream
                onAnswer({ stream, kind: 'websocket', status: 101, server: typeof f.server === 'string' ? f.server : null, t: Date.now() });
            };
            this.addEventListener('message', onFrame);
        }
    }
    return { fetch, WebSocket: ServedByWebSocket };
}

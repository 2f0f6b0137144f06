// stats.mjs — the demo/test layer's counters for GET /admin/stats, taken from outside the
// library: request counts by kind (ws, poll — GETs without wait —, longpoll, post, options)
// and by status ("101", "200", "204", …) for stream URLs, bytesIn (POST bodies and frames
// in), bytesOut (bodies and frames out; `bytes` is the same number).

export function createStats() {
    let c = fresh();
    function fresh() {
        return { ws: 0, poll: 0, longpoll: 0, post: 0, options: 0, bytesIn: 0, bytesOut: 0, bytes: 0 };
    }
    const add = (k, n = 1) => (c[k] = (c[k] ?? 0) + n);
    const out = (n) => {
        c.bytesOut += n;
        c.bytes = c.bytesOut;
    };
    return {
        /** A request to a stream URL: count it, and its status and body bytes when answered. */
        request(req, res, query, longPollMax) {
            if (req.method === 'OPTIONS') add('options');
            else if (req.method === 'POST') {
                add('post');
                add('bytesIn', Number(req.headers['content-length']) || 0);
            } else if (req.method === 'GET' || req.method === 'HEAD') {
                const wait = Number(query.get('wait'));
                add(req.method === 'GET' && longPollMax > 0 && wait > 0 && /^\d+$/.test(query.get('wait')) ? 'longpoll' : 'poll');
            }
            const writeHead = res.writeHead;
            res.writeHead = function (status, ...rest) {
                add(String(status));
                return writeHead.call(this, status, ...rest);
            };
            const end = res.end;
            res.end = function (chunk, ...rest) {
                if (chunk && req.method !== 'HEAD') out(Buffer.byteLength(chunk));
                return end.call(this, chunk, ...rest);
            };
        },
        upgrade: () => add('ws'),
        status: (s) => add(String(s)),
        /** An accepted socket: count frames both ways. */
        socket(ws) {
            add('101');
            const send = ws.send;
            ws.send = function (data, ...rest) {
                out(Buffer.byteLength(data));
                return send.call(this, data, ...rest);
            };
            ws.on('message', (data) => add('bytesIn', data.length));
        },
        snapshot: () => ({ ...c }),
        reset: () => void (c = fresh()),
    };
}

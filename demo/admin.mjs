// admin.mjs — the demo/test layer's admin API (server/DESIGN.md "The demo/test layer").
// Loopback peers only, and refused for a browser Origin other than this server's own (a
// cross-site page must not restart the server).
//
//   POST /admin/publish {"stream"?: "test", "data": …} -> {"cursor"}
//   POST /admin/fault {"mode", "ms"?}                  -> {"mode", "ms"}
//   POST /admin/restart                                -> {"cursor"} (of stream `test`)
//   GET|POST /admin/config {…}                         -> the config (heartbeat, longPollMax,
//                                                         interval, batch, retention, shed, sends)
//   GET /admin/stats, POST /admin/stats/reset          -> flat counters (stats.mjs)
//   POST /admin/disconnect {"stream"?: "test", "user"?} -> {"disconnected": n}: live.disconnect
//                                                         of the stream, only the requests whose
//                                                         X-User header is `user` when given

export const DEFAULT_STREAM = 'test';

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(addr) {
    if (typeof addr !== 'string') return false;
    let a = addr.toLowerCase();
    if (a.startsWith('::ffff:')) a = a.slice(7);
    return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

class AdminError extends Error {
    constructor(status, code, message, headers = {}) {
        super(message);
        Object.assign(this, { status, code, headers });
    }
}

const ROUTES = {
    '/admin/fault': 'POST',
    '/admin/restart': 'POST',
    '/admin/publish': 'POST',
    '/admin/config': 'GET, POST',
    '/admin/stats': 'GET',
    '/admin/stats/reset': 'POST',
    '/admin/disconnect': 'POST',
};

function readJson(req, limit) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on('data', (c) => {
            size += c.length;
            if (size > limit) reject(new AdminError(413, 'too_large', `body over ${limit} bytes`));
            else chunks.push(c);
        });
        req.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (!text.trim()) return resolve({});
            try {
                const v = JSON.parse(text);
                if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error();
                resolve(v);
            } catch {
                reject(new AdminError(400, 'bad_request', 'body must be a JSON object'));
            }
        });
        req.on('error', reject);
    });
}

/**
 * @param {{publish, fault, restart, config, configure, stats, resetStats, disconnect, maxBody}} app
 * @returns {(req, res, pathname) => Promise<void>}
 */
export function adminApi(app) {
    return async function serveAdmin(req, res, pathname) {
        const send = (status, body, headers = {}) => {
            const text = JSON.stringify(body);
            res.writeHead(status, {
                ...headers,
                'Cache-Control': 'no-store',
                'Content-Type': 'application/json; charset=utf-8',
                'Content-Length': Buffer.byteLength(text),
            });
            res.end(text);
        };
        try {
            if (!isLoopback(req.socket.remoteAddress)) throw new AdminError(403, 'forbidden', 'the admin API answers loopback clients only');
            const origin = req.headers.origin;
            if (origin !== undefined) {
                let host = null;
                try {
                    host = new URL(origin).host;
                } catch {}
                if (host !== req.headers.host) throw new AdminError(403, 'forbidden', 'cross-origin admin request');
            }
            const allow = ROUTES[pathname];
            if (!allow) throw new AdminError(404, 'not_found', `no admin route ${pathname}`);
            const method = req.method === 'HEAD' ? 'GET' : req.method;
            if (!allow.split(', ').includes(method)) throw new AdminError(405, 'method_not_allowed', `${req.method} not allowed`, { Allow: allow });
            const body = method === 'POST' ? await readJson(req, app.maxBody) : {};
            switch (pathname) {
                case '/admin/fault': {
                    if (body.ms !== undefined && (!Number.isSafeInteger(body.ms) || body.ms < 0))
                        throw new AdminError(400, 'bad_request', 'ms must be an integer >= 0');
                    return send(200, app.fault(body.mode ?? 'none', body.ms));
                }
                case '/admin/restart':
                    return send(200, { cursor: await app.restart() });
                case '/admin/publish':
                    return send(200, { cursor: await app.publish(body.stream ?? DEFAULT_STREAM, body.data) });
                case '/admin/config':
                    return send(200, method === 'POST' ? app.configure(body) : app.config());
                case '/admin/stats':
                    return send(200, app.stats());
                case '/admin/disconnect': {
                    if (body.user !== undefined && typeof body.user !== 'string') throw new AdminError(400, 'bad_request', 'user must be a string');
                    const where = body.user === undefined ? undefined : (r) => r.headers['x-user'] === body.user;
                    return send(200, { disconnected: app.disconnect(body.stream ?? DEFAULT_STREAM, { where }) });
                }
                case '/admin/stats/reset':
                    app.resetStats();
                    return send(200, app.stats());
            }
        } catch (err) {
            if (err instanceof AdminError) return send(err.status, { error: err.code, message: err.message }, err.headers);
            if (err instanceof RangeError || err instanceof TypeError) return send(400, { error: 'bad_request', message: err.message });
            if (err?.name === 'StoreUnavailable') return send(503, { error: 'unavailable', message: err.message }, { 'Retry-After': '1' });
            console.error('[admin]', err);
            return send(500, { error: 'internal', message: 'internal server error' });
        }
    };
}

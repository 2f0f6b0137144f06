// origin.mjs — cross-site safety and CORS (server/DESIGN.md "Cross-site safety").
//
// Browsers apply CORS to fetch but not to WebSockets, and a simple POST reaches the server
// whatever CORS says: so the server itself refuses an upgrade or a POST whose `Origin` is
// neither its own nor listed. A request without `Origin` (not from a page, or a same-origin
// GET) is allowed. Polls are never refused for their origin — a cross-site page cannot read
// the answer without the CORS headers, which only listed origins get.

import { HEADERS } from './protocol.mjs';

/**
 * Normalize the `origins` option (spec: options.origins, the same in Flask): '*', an array of
 * origins, or a comma-separated string of them; '*' anywhere means every origin. Each is
 * normalized to `scheme://host[:port]` (what a browser sends); default: none (same origin only).
 */
export function parseOrigins(v) {
    if (v === undefined || v === null) return [];
    if (typeof v === 'string') v = v.split(',');
    if (!Array.isArray(v) || v.some((o) => typeof o !== 'string'))
        throw new TypeError("origins must be '*', an array of origin strings or a comma-separated string");
    const list = v.map((o) => o.trim()).filter(Boolean);
    if (list.includes('*')) return '*';
    return list.map(normalizeOrigin);
}

function normalizeOrigin(o) {
    try {
        const u = new URL(o);
        return u.origin === 'null' ? o : u.origin;
    } catch {
        return o;
    }
}

function first(h) {
    return typeof h === 'string' ? h.split(',')[0].trim() : undefined;
}

/**
 * @param {'*'|string[]} origins
 * @param {boolean} trustProxy take the own origin from X-Forwarded-Proto / -Host
 */
export function originPolicy(origins, trustProxy) {
    /** The request's own origin: scheme + Host (or the forwarded ones behind a trusted proxy). */
    function ownOrigin(req) {
        let proto = req.socket?.encrypted ? 'https' : 'http';
        let host = req.headers.host;
        if (trustProxy) {
            proto = first(req.headers['x-forwarded-proto']) || proto;
            host = first(req.headers['x-forwarded-host']) || host;
        }
        if (!host) return null;
        try {
            return new URL(`${proto}://${host}`).origin;
        } catch {
            return null;
        }
    }
    function listed(origin) {
        return origins === '*' || origins.includes(normalizeOrigin(origin));
    }
    return {
        ownOrigin,
        /** May this request open a WebSocket or send? */
        allowed(req) {
            const origin = req.headers.origin;
            if (origin === undefined) return true;
            if (listed(origin)) return true;
            return origin !== 'null' && normalizeOrigin(origin) === ownOrigin(req);
        },
        /** CORS headers for an answer to this request. */
        corsHeaders(req) {
            const h = { Vary: HEADERS.vary, 'Access-Control-Expose-Headers': HEADERS.expose };
            const origin = req.headers.origin;
            if (origins === '*') h['Access-Control-Allow-Origin'] = '*';
            else if (origin && listed(origin)) h['Access-Control-Allow-Origin'] = origin;
            return h;
        },
    };
}

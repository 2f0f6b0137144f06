// http.mjs — the fetch adapter: FETCH / FETCH_CANCEL actions in, responses out as inputs.
// The core owns timeouts (it cancels and reports); a cancelled request sends no input.
const HEADERS = 'etag last-modified retry-after lifeline-interval lifeline-long-poll'.split(' ');

/** o: {fetch, url, max: max_message_bytes, cache: whether the HTTP cache revalidates,
 *  body(id): the app's JSON text of send id, stats}. */
export function http({ fetch, url, max, cache, body, stats }, feed) {
    const reqs = new Map();
    const go = async (id, post, sendId, q, extra) => {
        const ac = new AbortController(), headers = {}, init = { headers, signal: ac.signal };
        const mine = () => reqs.get(id) == ac;
        reqs.set(id, ac);
        stats.requests++;
        if (post) {
            // text/plain: a simple request, no CORS preflight
            init.method = 'POST';
            init.body = `{"id":${sendId},"data":${body(sendId)}}`;
            stats.bytesOut += init.body.length;
            headers['content-type'] = 'text/plain;charset=UTF-8';
        }
        if (cache) init.cache = 'no-cache';
        for (const l of extra.split('\r\n')) {
            const i = l.indexOf(':');
            if (i > 0) headers[l.slice(0, i)] = l.slice(i + 1).trim();
        }
        try {
            const r = await fetch(q ? url + (url.includes('?') ? '&' : '?') + q : url, init);
            let h = '', n = 0, b = [], rd = r.body?.getReader(), c;
            for (const k of HEADERS) {
                let v = r.headers.get(k);
                // the core reads Retry-After in seconds: an HTTP date becomes seconds from
                // the response's own Date (so the page's clock does not matter)
                if (v != null && k == 'retry-after' && isNaN(v))
                    v = Math.max(0, Math.ceil((Date.parse(v) - (Date.parse(r.headers.get('date')) || Date.now())) / 1e3));
                if (v != null) h += k + ': ' + v + '\r\n';
            }
            // at most max + 1 bytes: enough for the core to see "too large"
            while (rd && n <= max && !(c = await rd.read()).done) b.push(c.value), (n += c.value.length);
            if (n > max) rd.cancel().catch(() => {});
            const all = new Uint8Array(n);
            n = 0;
            for (c of b) all.set(c, n), (n += c.length);
            stats.bytesIn += n;
            mine() && (reqs.delete(id), feed('http_response', [id, r.status, h, all.subarray(0, max + 1)]));
        } catch {
            mine() && (reqs.delete(id), feed('http_failed', [id, 0]));
        }
    };
    return {
        fetch: (a) => go(a.id, a.a, a.c, a.s, a.t),
        cancel(id) {
            reqs.get(id)?.abort();
            reqs.delete(id);
        },
    };
}

// http.mjs — the fetch adapter: FETCH / FETCH_CANCEL actions in, responses out as inputs.
// The core owns timeouts (it cancels and reports); a cancelled request sends no input.
import { body as decode, postBody, withQuery } from './protocol.mjs';

const int = (v) => (/^\d+$/.test(v) ? +v : -1);

/** o: {fetch, url, max: max_message_bytes, cache: revalidate through the HTTP cache,
 *  conditional: send If-None-Match/If-Modified-Since from the last 200 (where fetch has
 *  no cache, as in Node), body(id): the app's JSON text of send id, stats}. */
export function http({ fetch, url, max, cache, conditional, body, stats }, feed) {
    const reqs = new Map(), last = {};
    const go = async (id, post, sendId, target) => {
        const ac = new AbortController(), headers = {}, init = { headers, signal: ac.signal };
        const mine = () => reqs.get(id) == ac;
        reqs.set(id, ac);
        stats.requests++;
        if (post) {
            // text/plain: a simple request, no CORS preflight
            init.method = 'POST';
            init.body = postBody(sendId, body(sendId));
            stats.bytesOut += init.body.length;
            headers['content-type'] = 'text/plain;charset=UTF-8';
        }
        if (cache) init.cache = 'no-cache';
        if (conditional) {
            if (last.etag) headers['if-none-match'] = last.etag;
            if (last.modified) headers['if-modified-since'] = last.modified;
        }
        try {
            const r = await fetch(target, init);
            const g = (k) => r.headers.get(k), etag = g('etag'), modified = g('last-modified');
            let n = 0, b = [], rd = r.body?.getReader(), c, ra = g('retry-after');
            // the core reads Retry-After in seconds: an HTTP date becomes seconds from the
            // response's own Date (so the page's clock does not matter)
            ra = ra == null ? -1 : int(ra) >= 0 ? int(ra) : Date.parse(ra) >= 0 ? Math.max(0, Math.ceil((Date.parse(ra) - (Date.parse(g('date')) || Date.now())) / 1e3)) : -1;
            if (r.status == 200) (last.etag = etag), (last.modified = modified);
            // at most max + 1 bytes: enough for the core to see "too large"
            while (rd && n <= max && !(c = await rd.read()).done) b.push(c.value), (n += c.value.length);
            if (n > max) rd.cancel().catch(() => {});
            const all = new Uint8Array(n);
            stats.bytesIn += n;
            n = 0;
            for (c of b) all.set(c, n), (n += c.length);
            const head = [ra, Math.max(0, int(g('lifeline-interval'))), Math.max(0, int(g('lifeline-long-poll'))), etag ?? modified ?? ''];
            // resource mode (cache or conditional) takes the bytes; the protocol, what they hold
            const body = all.subarray(0, max + 1), [args, msgs] = cache || conditional ? [[body.length, 0, body]] : decode(body, body.length);
            mine() && (reqs.delete(id), feed('http_response', [id, r.status, ...head, ...args], null, msgs));
        } catch {
            mine() && (reqs.delete(id), feed('http_failed', [id, 0]));
        }
    };
    return {
        /** A GET resuming after `cursor` (empty: from now), a long poll when wait > 0 (POLL). */
        poll: (request, cursor, wait) => go(request, 0, 0, withQuery(url, cursor, wait)),
        /** A POST of send id `send` (POST). */
        post: (request, send) => go(request, 1, send, url),
        cancel(id) {
            reqs.get(id)?.abort();
            reqs.delete(id);
        },
    };
}

// http.mjs — the fetch adapter: POLL / POST / FETCH_CANCEL actions in, responses out as
// inputs. The core owns timeouts (it cancels and reports); a cancelled request sends no
// input.
import { FAIL_NETWORK } from './constants.js';
import { body as decodeBody, bodyAll, postBody, withQuery } from './protocol.mjs';

/** A header's value as a whole number, or -1 (absent, or not digits only). */
function wholeNumber(value) {
    return /^\d+$/.test(value) ? +value : -1;
}

/** What the core reads of a response's headers, as ll_http_response takes it: Retry-After
 *  in seconds (-1: absent or unreadable; an HTTP date counts from the response's own Date
 *  header, so the page's clock does not matter), Lifeline-Interval and Lifeline-Long-Poll
 *  in ms (0: absent), and the validator (the ETag, or else the Last-Modified value).
 *  header(name) returns a header's value or null. The transcript runner decodes its
 *  headers with this too. */
export function responseHead(header) {
    const retryText = header('retry-after');
    let retryAfter = wholeNumber(retryText);
    if (retryAfter < 0 && retryText != null && Date.parse(retryText) >= 0)
        retryAfter = Math.max(0, Math.ceil((Date.parse(retryText) - (Date.parse(header('date')) || Date.now())) / 1e3));
    const interval = Math.max(0, wholeNumber(header('lifeline-interval')));
    const longPoll = Math.max(0, wholeNumber(header('lifeline-long-poll')));
    return [retryAfter, interval, longPoll, header('etag') ?? header('last-modified') ?? ''];
}

/** The body, read up to max + 1 bytes: enough for the core to see "too large". */
async function readBody(response, max) {
    const reader = response.body?.getReader(),
        chunks = [];
    let size = 0;
    while (reader && size <= max) {
        const chunk = await reader.read();
        if (chunk.done) break;
        chunks.push(chunk.value);
        size += chunk.value.length;
    }
    if (size > max) reader.cancel().catch(() => {});
    const bytes = new Uint8Array(size);
    size = 0;
    for (const chunk of chunks) {
        bytes.set(chunk, size);
        size += chunk.length;
    }
    return bytes.subarray(0, max + 1);
}

/** o: {fetch, url, max: max_message_bytes, cache: revalidate through the HTTP cache,
 *  conditional: send If-None-Match/If-Modified-Since from the last 200 (where fetch has
 *  no cache, as in Node), body(send): the app's JSON text of send id `send`, stats}. */
export function http({ fetch, url, max, cache, conditional, body, stats }, feed) {
    const requests = new Map(),
        last = {};
    const go = async (id, post, send, target, index) => {
        const abort = new AbortController(),
            headers = {},
            init = { headers, signal: abort.signal };
        const mine = () => requests.get(id) == abort;
        requests.set(id, abort);
        stats.requests++;
        if (post) {
            // text/plain: a simple request, no CORS preflight
            init.method = 'POST';
            init.body = postBody(send, body(send));
            stats.bytesOut += init.body.length;
            headers['content-type'] = 'text/plain;charset=UTF-8';
        }
        if (cache) init.cache = 'no-cache';
        if (conditional) {
            if (last.etag) headers['if-none-match'] = last.etag;
            if (last.modified) headers['if-modified-since'] = last.modified;
        }
        try {
            const response = await fetch(target, init);
            const header = (name) => response.headers.get(name);
            if (response.status == 200) {
                last.etag = header('etag');
                last.modified = header('last-modified');
            }
            const bytes = await readBody(response, max);
            stats.bytesIn += bytes.length;
            // resource mode (cache or conditional) takes the bytes; the protocol, what they hold
            const [args, msgs] =
                cache || conditional ? [[bytes.length, 0, bytes]] : index ? bodyAll(bytes, bytes.length, index) : decodeBody(bytes, bytes.length);
            if (mine()) {
                requests.delete(id);
                feed('ll_http_response', [id, response.status, ...responseHead(header), ...args], null, msgs);
                // a server that cannot upgrade says so (Lifeline-WebSocket: none): polls alone
                if (!cache && !conditional && header('lifeline-websocket') == 'none') feed('ll_ws_unavailable');
            }
        } catch {
            if (mine()) {
                requests.delete(id);
                feed('ll_http_failed', [id, FAIL_NETWORK]); // a timeout is the core's to call
            }
        }
    };
    return {
        /** A GET of the stream URL `target` (default: the instance's) resuming after `cursor`
         *  (empty: from now), a long poll when wait > 0 (POLL). */
        poll: (request, cursor, wait, target = url) => go(request, false, 0, withQuery(target, cursor, wait)),
        /** v2: the poll of many streams at `target`; index: stream name -> subscription. */
        pollAll: (request, target, index) => go(request, false, 0, target, index),
        /** A POST of send id `send` to the stream URL `target` (POST). */
        post: (request, send, target = url) => go(request, true, send, target),
        cancel(request) {
            requests.get(request)?.abort();
            requests.delete(request);
        },
    };
}

// The fetch adapter alone: what reaches the core for each kind of answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { http } from '../../js/http.mjs';
import { fakeFetch, settle } from './fakes.mjs';

function adapter(o = {}) {
    const fetch = fakeFetch(), inputs = [];
    const stats = { requests: 0, bytesIn: 0, bytesOut: 0 };
    const h = http({ fetch, url: 'http://x.test/live', max: 64, cache: false, body: () => '{"a":1}', stats, ...o }, (name, args) => inputs.push([name, ...args]));
    return { h, fetch, inputs };
}
const text = (v) => (typeof v == 'string' ? v : new TextDecoder().decode(v));

test('Retry-After as an HTTP date becomes seconds, measured against the Date header', async () => {
    const { h, fetch, inputs } = adapter();
    h.fetch({ id: 1, a: 0, c: 0, s: 'cursor=1', t: '' });
    assert.equal(fetch.requests[0].url, 'http://x.test/live?cursor=1');
    fetch.requests[0].reply(503, { Date: 'Sun, 06 Nov 1994 08:49:37 GMT', 'Retry-After': 'Sun, 06 Nov 1994 08:51:07 GMT', 'Lifeline-Interval': '500' }, '');
    await settle();
    assert.equal(inputs[0][0], 'http_response');
    assert.equal(inputs[0][2], 503);
    assert.equal(inputs[0][3], 'retry-after: 90\r\nlifeline-interval: 500\r\n');
});

test('Retry-After in seconds passes as is; ETag and Last-Modified pass', async () => {
    const { h, fetch, inputs } = adapter();
    h.fetch({ id: 1, a: 0, c: 0, s: '', t: '' });
    fetch.requests[0].reply(429, { 'Retry-After': '7', ETag: '"e"', 'Last-Modified': 'x' }, '');
    await settle();
    assert.equal(inputs[0][3], 'etag: "e"\r\nlast-modified: x\r\nretry-after: 7\r\n');
});

test('the body is read up to max + 1 bytes', async () => {
    const { h, fetch, inputs } = adapter();
    h.fetch({ id: 1, a: 0, c: 0, s: '', t: '' });
    fetch.requests[0].reply(200, {}, 'y'.repeat(1000));
    await settle();
    assert.equal(inputs[0][4].length, 65);
});

test('POST body, content type and extra headers', async () => {
    const { h, fetch } = adapter();
    h.fetch({ id: 3, a: 1, c: 9, s: '', t: 'If-None-Match: "v"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n' });
    const r = fetch.requests[0];
    assert.equal(r.init.method, 'POST');
    assert.equal(r.init.body, '{"id":9,"data":{"a":1}}');
    assert.deepEqual(r.init.headers, { 'content-type': 'text/plain;charset=UTF-8', 'If-None-Match': '"v"', 'If-Modified-Since': 'Sun, 06 Nov 1994 08:49:37 GMT' });
});

test('a network error is http_failed; a cancelled request sends nothing', async () => {
    const { h, fetch, inputs } = adapter();
    h.fetch({ id: 1, a: 0, c: 0, s: '', t: '' });
    h.fetch({ id: 2, a: 0, c: 0, s: '', t: '' });
    fetch.requests[0].fail();
    h.cancel(2);
    await settle();
    assert.deepEqual(inputs, [['http_failed', 1, 0]]);
    assert.equal(fetch.requests[1].aborted, true);
    assert.equal(text(''), '');
});

// The fetch adapter alone: what reaches the core for each kind of answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { http } from '../../js/http.mjs';
import { fakeFetch, settle } from './fakes.mjs';

function adapter(o = {}) {
    const fetch = fakeFetch(),
        inputs = [];
    const stats = { requests: 0, bytesIn: 0, bytesOut: 0 };
    const h = http({ fetch, url: 'http://x.test/live', max: 64, cache: false, body: () => '{"a":1}', stats, ...o }, (name, args) =>
        inputs.push([name, ...args]),
    );
    return { h, fetch, inputs };
}

test('Retry-After as an HTTP date becomes seconds, measured against the Date header', async () => {
    const { h, fetch, inputs } = adapter();
    h.poll(1, '1', 0);
    assert.equal(fetch.requests[0].url, 'http://x.test/live?cursor=1');
    fetch.requests[0].reply(503, { Date: 'Sun, 06 Nov 1994 08:49:37 GMT', 'Retry-After': 'Sun, 06 Nov 1994 08:51:07 GMT', 'Lifeline-Interval': '500' }, '');
    await settle();
    assert.equal(inputs[0][0], 'll_http_response');
    assert.equal(inputs[0][2], 503);
    // [name, id, status, retry_after s, interval ms, long poll ms, validator, size, depth, body]
    assert.deepEqual(inputs[0].slice(3, 7), [90, 500, 0, '']);
});

test('Retry-After in seconds passes as is; the ETag wins over Last-Modified; junk is absent', async () => {
    const { h, fetch, inputs } = adapter();
    h.poll(1, '', 0);
    fetch.requests[0].reply(429, { 'Retry-After': '7', ETag: '"e"', 'Last-Modified': 'x', 'Lifeline-Long-Poll': '25000' }, '');
    await settle();
    assert.deepEqual(inputs[0].slice(3, 7), [7, 0, 25000, '"e"']);
    h.poll(2, '', 0);
    fetch.requests[1].reply(503, { 'Retry-After': 'soon', 'Last-Modified': 'x', 'Lifeline-Interval': '-5' }, '');
    await settle();
    assert.deepEqual(inputs[1].slice(3, 7), [-1, 0, 0, 'x']);
});

test('the body is read up to max + 1 bytes', async () => {
    const { h, fetch, inputs } = adapter();
    h.poll(1, '', 0);
    fetch.requests[0].reply(200, {}, 'y'.repeat(1000));
    await settle();
    assert.equal(inputs[0][7], 65); // the size the core sees: too large
});

test('POST body and content type (text/plain: no preflight)', async () => {
    const { h, fetch } = adapter();
    h.post(3, 9);
    const r = fetch.requests[0];
    assert.equal(r.init.method, 'POST');
    assert.equal(r.init.body, '{"id":9,"data":{"a":1}}');
    assert.deepEqual(r.init.headers, { 'content-type': 'text/plain;charset=UTF-8' });
});

test('conditional: the validators of the last 200 go out as If-None-Match / If-Modified-Since', async () => {
    const { h, fetch } = adapter({ conditional: true });
    h.poll(1, '', 0);
    assert.deepEqual(fetch.requests[0].init.headers, {});
    fetch.requests[0].reply(200, { ETag: '"v"', 'Last-Modified': 'Sun, 06 Nov 1994 08:49:37 GMT' }, 'x');
    await settle();
    h.poll(2, '', 0);
    assert.deepEqual(fetch.requests[1].init.headers, { 'if-none-match': '"v"', 'if-modified-since': 'Sun, 06 Nov 1994 08:49:37 GMT' });
});

test('a network error is http_failed; a cancelled request sends nothing', async () => {
    const { h, fetch, inputs } = adapter();
    h.poll(1, '', 0);
    h.poll(2, '', 0);
    fetch.requests[0].fail();
    h.cancel(2);
    await settle();
    assert.deepEqual(inputs, [['ll_http_failed', 1, 0]]);
    assert.equal(fetch.requests[1].aborted, true);
});

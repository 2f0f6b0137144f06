// Sharing where it cannot happen: Node has BroadcastChannel but no Web Locks
// (navigator.locks), so every instance runs alone there — role 'solo', one tab — and the
// option is checked like the others. Sharing itself is tested in Chromium
// (tests/browser/share*.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifeline } from '../../js/index.mjs';
import { fakeClock, fakeWebSocket, fakeFetch } from './fakes.mjs';

const io = () => {
    const clock = fakeClock();
    return { WebSocket: fakeWebSocket(), fetch: fakeFetch(), now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, seed: 1 };
};

test('without Web Locks every instance runs alone: role solo, stats.tabs 1, its own connection', () => {
    assert.equal(globalThis.navigator?.locks, undefined, 'this Node has no Web Locks');
    const o = io();
    const a = new Lifeline('http://example.test/live/x', o), b = new Lifeline('http://example.test/live/x', o);
    assert.deepEqual([a.role, b.role], ['solo', 'solo']);
    assert.deepEqual([a.stats.tabs, b.stats.tabs], [1, 1]);
    assert.equal(o.WebSocket.all.length, 2, 'one WebSocket each');
    assert.equal(a.state, 'connecting');
    a.close();
    b.close();
});

test('share: false and resource mode are solo; share is a known option', () => {
    const o = io();
    const a = new Lifeline('http://example.test/live/x', { ...o, share: false });
    const w = Lifeline.watch('http://example.test/file.json', o);
    assert.deepEqual([a.role, w.role], ['solo', 'solo']);
    a.close();
    w.close();
    assert.throws(() => new Lifeline('http://example.test/live/x', { ...o, sharing: false }), /unknown option sharing/);
});

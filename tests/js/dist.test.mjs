// The built files as they ship: plain ASCII (no BOM, no byte above 0x7F: bundlers drop a
// BOM and some escape non-ASCII), and the inlined core decodes and runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fakeClock, fakeFetch, fakeWebSocket } from './fakes.mjs';

const dist = (f) => new URL('../../dist/' + f, import.meta.url);

/** A build's Lifeline starts (polling only, on fake I/O), makes its first request, and closes. */
function pollsOnce(Lifeline) {
    const clock = fakeClock(),
        fetch = fakeFetch();
    const l = new Lifeline('http://example.test/live', {
        websocket: false,
        fetch,
        now: clock.now,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
    });
    assert.equal(l.state, 'connecting');
    assert.equal(fetch.requests.length, 1);
    l.close();
    assert.equal(l.state, 'closed');
}

test('dist/lifeline.mjs, dist/lifeline.js and the CSP build are plain ASCII without a BOM', () => {
    for (const f of ['lifeline.mjs', 'lifeline.js', 'lifeline.csp.mjs', 'lifeline.csp.js']) {
        const bytes = fs.readFileSync(dist(f));
        assert.notDeepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], f);
        assert.equal(
            bytes.findIndex((b) => b > 0x7f),
            -1,
            f,
        );
    }
});

test('the inlined core of dist/lifeline.mjs decodes, compiles and runs', async () => {
    pollsOnce((await import(dist('lifeline.mjs'))).Lifeline);
});

test("dist/lifeline.mjs runs dist/lifeline.wasm given as options.wasm (its short export names are the bundle's)", async () => {
    const { Lifeline } = await import(dist('lifeline.mjs'));
    const clock = fakeClock(),
        fetch = fakeFetch();
    const l = new Lifeline('http://example.test/live', {
        wasm: fs.readFileSync(dist('lifeline.wasm')),
        websocket: false,
        fetch,
        now: clock.now,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
    });
    for (let i = 0; i < 200 && !fetch.requests.length; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(l.state, 'connecting');
    assert.equal(fetch.requests.length, 1);
    l.close();
    assert.equal(l.state, 'closed');
});

test('dist/lifeline.wasm exports one short name per ll_* export of lifeline.h, and its memory', () => {
    const h = fs.readFileSync(new URL('../../wasm/lifeline.h', import.meta.url), 'utf8');
    const declared = [...h.matchAll(/^LL_EXPORT [^(]*[ *](ll_[a-z0-9_]*)\(/gm)];
    const names = WebAssembly.Module.exports(new WebAssembly.Module(fs.readFileSync(dist('lifeline.wasm')))).map((e) => e.name);
    assert.equal(names.length, declared.length + 1);
    assert.ok(names.includes('memory'));
    for (const n of names) assert.ok(n == 'memory' || /^[a-zA-Z]{1,2}$/.test(n), n);
    assert.doesNotMatch(fs.readFileSync(dist('lifeline.mjs'), 'latin1'), /\bll_[a-z]/);
});

test('dist/lifeline.mjs loads dist/lifeline-share.mjs to share; where it cannot, the tab runs solo and says so', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-dist-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.copyFileSync(dist('lifeline.mjs'), path.join(dir, 'lifeline.mjs')); // without lifeline-share.mjs beside it
    assert.match(fs.readFileSync(dist('lifeline.mjs'), 'latin1'), /import\("\.\/lifeline-share\.mjs"\)/);
    const { Lifeline } = await import(pathToFileURL(path.join(dir, 'lifeline.mjs')));
    globalThis.navigator = { locks: {} }; // Node has BroadcastChannel: a browser that could share
    try {
        const clock = fakeClock(),
            fetch = fakeFetch(),
            roles = [];
        const l = new Lifeline('http://example.test/live', {
            websocket: false,
            fetch,
            now: clock.now,
            setTimeout: clock.setTimeout,
            clearTimeout: clock.clearTimeout,
        });
        l.addEventListener('rolechange', (e) => roles.push(e.role));
        assert.equal(l.role, 'follower'); // until the module has loaded: a follower without a leader
        assert.equal(fetch.requests.length, 0);
        for (let i = 0; i < 400 && !fetch.requests.length; i++) await new Promise((r) => setTimeout(r, 5));
        assert.deepEqual(roles, ['solo']);
        assert.equal(l.role, 'solo');
        assert.equal(fetch.requests.length, 1, 'it polls for itself');
        l.close();
        assert.equal(l.state, 'closed');
    } finally {
        delete globalThis.navigator;
    }
});

test('dist/lifeline.mjs pools a second stream of an endpoint once dist/lifeline-pool.mjs has loaded; where it cannot, each stream keeps a connection of its own', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-dist-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.mkdirSync(path.join(dir, 'alone'));
    for (const f of ['lifeline.mjs', 'lifeline-pool.mjs']) fs.copyFileSync(dist(f), path.join(dir, f));
    fs.copyFileSync(dist('lifeline.mjs'), path.join(dir, 'alone', 'lifeline.mjs')); // without lifeline-pool.mjs
    assert.match(fs.readFileSync(dist('lifeline.mjs'), 'latin1'), /import\("\.\/lifeline-pool\.mjs"\)/);
    for (const [at, sockets] of [
        ['lifeline.mjs', 1],
        ['alone/lifeline.mjs', 2],
    ]) {
        const { Lifeline } = await import(pathToFileURL(path.join(dir, at)));
        const clock = fakeClock(),
            WebSocket = fakeWebSocket(),
            o = { WebSocket, fetch: fakeFetch(), now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout },
            [a, b] = ['a', 'b'].map((s) => new Lifeline('http://example.test/live/' + s, o)),
            got = [];
        b.addEventListener('message', (e) => got.push(e.data));
        assert.equal(WebSocket.all.length, 1, `${at}: the first stream connects at once`);
        for (let i = 0; i < 400 && b.state == 'idle'; i++) await new Promise((r) => setTimeout(r, 5));
        assert.equal(WebSocket.all.length, sockets, `${at}: ${sockets} WebSocket(s) for two streams`);
        const ws = WebSocket.all.at(-1);
        ws.open();
        ws.frame({ type: 'hello', v: 2, heartbeat: 25000, beat: 25000 });
        const s = sockets == 1 ? 2 : 1; // b's subscription: the second on a's socket, the URL's own on its own
        ws.frame({ type: 'subd', s, cursor: '1' });
        ws.frame({ type: 'msg', s, cursor: '2', data: 'b2' });
        assert.deepEqual(got, ['b2'], `${at}: the second stream delivers`);
        a.close();
        b.close();
    }
});

test('the CSP build never touches WebAssembly and runs the same API', async () => {
    assert.doesNotMatch(fs.readFileSync(dist('lifeline.csp.mjs'), 'latin1'), /WebAssembly\./);
    const { Lifeline } = await import(dist('lifeline.csp.mjs'));
    const saved = globalThis.WebAssembly;
    delete globalThis.WebAssembly; // as on a page where compiling is refused: it must not matter
    try {
        pollsOnce(Lifeline);
    } finally {
        globalThis.WebAssembly = saved;
    }
});

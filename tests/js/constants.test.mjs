// What js/gen-constants.mjs generates from wasm/lifeline.h (js/constants.js, the unions and
// CoreOptions in js/lifeline.d.ts, the README's option table) is committed: it must be
// current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { SUBPROTOCOL } from '../../server/node/protocol.mjs';
import { outputs } from '../../js/gen-constants.mjs';
import * as K from '../../js/constants.js';

const root = new URL('../../', import.meta.url);

test('js/constants.js, js/lifeline.d.ts and the option table of docs/client.md are current (run: node js/gen-constants.mjs)', () => {
    for (const [file, text] of Object.entries(outputs())) assert.equal(fs.readFileSync(new URL(file, root), 'utf8'), text, file);
});

test('the tables are complete and consistent', () => {
    assert.equal(K.STATES[K.STATE_CLOSED], 'closed');
    assert.equal(K.ACTIONS[K.ACT_FORGET_FALLBACK], 'forget_fallback');
    assert.equal(K.ACTION_FIELDS.length, K.ACTIONS.length);
    assert.deepEqual(K.ACTION_FIELDS[K.ACT_POLL], { request: 1, timeout: 2, wait: 3, sub: 4, cursor: 7 });
    assert.equal(K.ERRORS[K.ERR_OK], 'ok');
    assert.equal(K.SUBPROTOCOL, SUBPROTOCOL); // the client's is the servers' (both from protocol/v1.json)
    assert.equal(K.CONFIG.length, K.CONFIG_DEFAULT.length);
    assert.equal(K.OPTION_NAMES[K.CFG_race_delay], 'raceDelay');
    K.CONFIG.forEach((n, i) => assert.ok(K.CONFIG_MIN[i] <= K.CONFIG_DEFAULT[i] && K.CONFIG_DEFAULT[i] <= K.CONFIG_MAX[i], n));
});

test('the wasm module exports exactly what lifeline.h declares LL_EXPORT', () => {
    const h = fs.readFileSync(new URL('wasm/lifeline.h', root), 'utf8');
    const declared = [...h.matchAll(/^LL_EXPORT [^(]*[ *](ll_[a-z0-9_]*)\(/gm)].map((m) => m[1]).sort();
    const mod = new WebAssembly.Module(fs.readFileSync(new URL('build/lifeline.wasm', root)));
    const exported = WebAssembly.Module.exports(mod)
        .map((e) => e.name)
        .filter((n) => n != 'memory')
        .sort();
    assert.deepEqual(exported, declared);
    const make = execFileSync('make', ['-s', '--no-print-directory', '-C', root.pathname, '-f', 'Makefile', '-f', '-', 'print-exports'], {
        input: 'print-exports:\n\t@echo $(EXPORTS)\n',
        encoding: 'utf8',
    });
    assert.deepEqual(make.trim().split(/\s+/).sort(), declared);
});

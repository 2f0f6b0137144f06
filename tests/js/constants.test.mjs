// js/constants.js is generated from wasm/lifeline.h and committed: it must be current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { generate, HEADER, OUTPUT } from '../../js/gen-constants.mjs';
import * as K from '../../js/constants.js';

test('js/constants.js equals the generator output (run: node js/gen-constants.mjs)', () => {
    assert.equal(fs.readFileSync(OUTPUT, 'utf8'), generate(fs.readFileSync(HEADER, 'utf8')));
});

test('the tables are complete and consistent', () => {
    assert.equal(K.STATES[K.STATE_CLOSED], 'closed');
    assert.equal(K.ACTIONS[K.ACT_FORGET_FALLBACK], 'forget_fallback');
    assert.equal(K.ERRORS[K.ERR_OK], 'ok');
    assert.equal(K.CONFIG.length, K.CONFIG_DEFAULT.length);
    K.CONFIG.forEach((n, i) => assert.ok(K.CONFIG_MIN[i] <= K.CONFIG_DEFAULT[i] && K.CONFIG_DEFAULT[i] <= K.CONFIG_MAX[i], n));
});

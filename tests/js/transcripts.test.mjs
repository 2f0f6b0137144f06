// Every tests/scenarios/*.txt through the wasm build, the package's loader and driver —
// and through the CSP build's core (the same C translated to JavaScript by wasm2js): the C
// runner and these must agree on every scenario.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { runTranscript } from './transcript.mjs';
import { layout } from '../../js/loader.mjs';
import { instance } from '../../js/core-csp.mjs';

const dir = new URL('../scenarios/', import.meta.url);
const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort();

test('there are scenarios', () => assert.ok(files.length > 0));
const csp = layout(instance());
for (const [core, rt] of [
    ['wasm', undefined],
    ['csp (JS)', csp],
])
    for (const f of files)
        test(`scenario ${f} (${core} core)`, () => {
            const failures = runTranscript(`tests/scenarios/${f}`, fs.readFileSync(new URL(f, dir), 'utf8'), rt);
            assert.equal(failures.length, 0, '\n' + failures.join('\n'));
        });

test('a broken expectation is reported at file:line', () => {
    const failures = runTranscript('x.txt', '@0 start\n> ws_open 9 ""\n');
    assert.match(failures[0], /^x\.txt:2: expected: ws_open 9 ""\n {4}actual: ws_open 1 ""/);
});

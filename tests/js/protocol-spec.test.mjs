// What tools/gen-protocol.mjs generates from protocol/v1.json (the servers' protocol
// modules, wasm/protocol.h, the README's and server/DESIGN.md's protocol tables) is
// committed: it must be current. Also: the spec's tables are consistent with one another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { outputs, load, FILES } from '../../tools/gen-protocol.mjs';

const root = new URL('../../', import.meta.url);

test('every file generated from protocol/v1.json and v2.json is current (run: make protocol)', () => {
    for (const [file, text] of Object.entries(outputs())) assert.equal(fs.readFileSync(new URL(file, root), 'utf8'), text, file);
});

test('the spec: every error has a status, a close code or (v2) the frame that answers it; every option default is in its range', () => {
    const read = (file) => fs.readFileSync(new URL(file, root), 'utf8');
    const { errors, options } = load(read(FILES.spec), read(FILES.spec2));
    assert.equal(new Set(errors.map((e) => e.code)).size, errors.length, 'error codes are unique');
    for (const e of errors) assert.ok(e.status !== null || e.close !== null || ['refused', 'ack'].includes(e.answered_in), e.code);
    for (const o of options.filter((x) => x.min !== undefined)) {
        assert.ok(o.default === null ? o.nullable : o.min <= o.default && o.default <= o.max, o.name);
    }
});

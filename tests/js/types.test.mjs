// dist/lifeline.d.ts under `tsc --strict`: a user's file (tests/js/types/user.ts) compiles
// in a browser project (DOM lib) and in a Node project (no DOM lib, @types/node), and a
// Lifeline<T>'s message event carries a T.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const root = new URL('../../', import.meta.url).pathname;
const tsc = path.join(root, 'node_modules/.bin/tsc');

function compile(lib, types) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-types-'));
    try {
        fs.copyFileSync(path.join(root, 'tests/js/types/user.ts'), path.join(dir, 'user.ts'));
        const compilerOptions = {
            strict: true,
            noEmit: true,
            target: 'es2022',
            module: 'esnext',
            moduleResolution: 'bundler',
            lib,
            types,
            typeRoots: [path.join(root, 'node_modules/@types')],
            paths: { 'lifeline-live': [path.join(root, 'dist/lifeline.d.ts')] },
        };
        fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['user.ts'] }));
        return execFileSync(tsc, ['-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 120000 });
    } catch (e) {
        return e.stdout + e.stderr || String(e);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

test('dist/lifeline.d.ts compiles under strict with the DOM lib', () => {
    assert.equal(compile(['es2022', 'dom'], []), '');
});

test('dist/lifeline.d.ts compiles under strict without the DOM lib (a Node project)', () => {
    assert.equal(compile(['es2022'], ['node']), '');
});

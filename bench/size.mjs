// size.mjs — where the bytes of dist/lifeline.mjs go (run after `make build`):
//   node bench/size.mjs [--functions N]
// Prints the all-in size (zlib -9 and, when present, GNU gzip -9), its parts (the JS alone,
// the inlined wasm alone, what sharing one gzip stream costs), and the wasm's largest
// functions by code bytes (from a build with function names; emcc, the same flags as
// `make build`).
import fs from 'node:fs';
import zlib from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const read = (p) => fs.readFileSync(path.join(root, p));
const gz = (b) => zlib.gzipSync(b, { level: 9 }).length;
const gnu = (file) => {
    try {
        return execFileSync('gzip', ['-9c', file], { maxBuffer: 1 << 26 }).length;
    } catch {
        return null;
    }
};
const row = (name, raw, z, g) =>
    console.log(`${name.padEnd(40)} ${String(raw).padStart(6)} B ${String(z).padStart(6)} B zlib -9${g ? `  ${g} B gzip -9` : ''}`);

const mjs = read('dist/lifeline.mjs'),
    wasm = read('dist/lifeline.wasm');
const text = mjs.toString('utf8');
// the literal js/build.mjs appends (the module with one-letter export names: not build/wasm-inline.mjs's)
const literal = text.match(/\nvar LIFELINE_WASM=('.*');\n$/s)?.[1];
const at = literal ? text.lastIndexOf(literal) : -1;
if (at < 0) throw new Error('size: the inlined wasm is not in dist/lifeline.mjs (run make build)');
const js = Buffer.from(text.slice(0, at) + "''" + text.slice(at + literal.length), 'utf8');
const lit = Buffer.from(literal, 'utf8');

console.log('all-in and its parts');
row('dist/lifeline.mjs', mjs.length, gz(mjs), gnu(path.join(root, 'dist/lifeline.mjs')));
for (const chunk of ['lifeline-share.mjs', 'lifeline-pool.mjs'])
    row(`dist/${chunk} (on demand)`, read('dist/' + chunk).length, gz(read('dist/' + chunk)), gnu(path.join(root, 'dist/' + chunk)));
row('dist/lifeline.js', read('dist/lifeline.js').length, gz(read('dist/lifeline.js')), gnu(path.join(root, 'dist/lifeline.js')));
row('  the JS alone', js.length, gz(js));
row('  the inlined wasm literal alone', lit.length, gz(lit));
row('  dist/lifeline.wasm (binary)', wasm.length, gz(wasm));
console.log(`  one gzip stream for both costs ${gz(mjs) - gz(js) - gz(lit)} B over gzipping them apart`);

// the wasm's functions, by code bytes
const n = Number(process.argv[process.argv.indexOf('--functions') + 1]) || 25;
const exportsList = JSON.parse(read('build/exports.json'))
    .map((e) => e.export)
    .filter((e) => e.startsWith('ll_'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeline-size-'));
const out = path.join(tmp, 'named.wasm');
const src = fs
    .readdirSync(path.join(root, 'wasm'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => path.join(root, 'wasm', f));
// the flags exactly as make expands them
const flags = execFileSync('make', ['-s', '--no-print-directory', '--eval', 'print-%: ; @echo $($*)', 'print-WASM_CFLAGS_EMCC'], { cwd: root })
    .toString()
    .trim()
    .split(/\s+/)
    .filter((f) => !f.startsWith('-sEXPORTED_FUNCTIONS'));
execFileSync('emcc', [...flags, '--profiling-funcs', `-sEXPORTED_FUNCTIONS=${exportsList.map((e) => '_' + e).join(',')}`, '-o', out, ...src], {
    env: { ...process.env, EMSDK_PYTHON: '/usr/bin/python3' },
    stdio: ['ignore', 'ignore', 'inherit'],
});
const dis = execFileSync('wasm-objdump', ['-d', out], { maxBuffer: 1 << 26 }).toString();
const heads = [...dis.matchAll(/^([0-9a-f]+) func\[\d+\] <([^>]+)>:/gm)].map((m) => [parseInt(m[1], 16), m[2]]);
const codeEnd = (() => {
    const h = execFileSync('wasm-objdump', ['-h', out])
        .toString()
        .match(/Code start=0x[0-9a-f]+ end=0x([0-9a-f]+)/);
    return parseInt(h[1], 16);
})();
const sizes = heads.map(([start, name], i) => [(heads[i + 1]?.[0] ?? codeEnd) - start, name]).sort((a, b) => b[0] - a[0]);
console.log(`\nwasm code ${sizes.reduce((s, [b]) => s + b, 0)} B in ${sizes.length} functions (before wasm-metadce); the largest:`);
for (const [b, name] of sizes.slice(0, n)) console.log(`${String(b).padStart(6)}  ${name}`);
fs.rmSync(tmp, { recursive: true, force: true });

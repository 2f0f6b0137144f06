// build.mjs — dist/lifeline.{mjs,js,d.ts} with the wasm inlined, and the strict-CSP build
// dist/lifeline.csp.{mjs,js} with the core as JavaScript (run by `make build`).
//
// The wasm travels as a plain-ASCII string literal, so the files need no BOM and survive
// any page encoding and any bundler (some drop a BOM, some escape non-ASCII): the first
// char is a key every byte is XORed with (picked to suit gzip), the second an escape char
// (a value no XORed byte takes), then one char per byte — a byte of 128 to 255 as the
// escape char followed by the byte minus 128. js/loader.mjs decodes it. Measured against
// base64 (`node js/build.mjs --measure`): base64 breaks gzip's byte alignment and costs far
// more after gzip -9.
//
// The build fails when dist/lifeline.mjs holds a byte above 0x7F, or (--budget: what
// `make build` passes for the shipped, emcc-built core) outgrows SIZE_BUDGET.
//
// The CSP build: the Makefile translates the core with wasm2js (build/lifeline.wasm2js.mjs,
// an ES module importing its helpers from 'env' and instantiating itself); here it becomes
// build/core-js.mjs, a module exporting the instantiating function (js/core-csp.mjs calls
// it), and the bundles take js/core-csp.mjs where the main build has js/core-wasm.mjs. Its
// size is printed beside the main build's; SIZE_BUDGET is the main build's alone.
import fs from 'node:fs';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';
import { minify } from 'terser';

const root = new URL('..', import.meta.url);
const at = (p) => new URL(p, root).pathname;
const gz = (b) => zlib.gzipSync(b, { level: 9 }).length;

// Short export names. build/lifeline.wasm (the Makefile's) exports the ll_* names of
// wasm/lifeline.h, which the sources and tests call. The shipped module (dist/lifeline.wasm,
// and the one the bundles inline) is the same module with each ll_* export renamed to one
// or two letters, in export order; the bundled JS names exports only as ll_* properties or
// string literals (js/driver.mjs takes the export's name), and each is replaced by its
// letters. The names weigh ~270 B of the bundle after zlib -9 (measured with --measure).
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const short = (i) => (i < 52 ? '' : LETTERS[Math.floor(i / 52) - 1]) + LETTERS[i % 52];
const uleb = (n) => {
    const out = [];
    do (out.push((n & 127) | (n > 127 ? 128 : 0)), (n >>>= 7));
    while (n);
    return out;
};
/** The module with its ll_* exports renamed, and the map from the old names to the new. */
function renameExports(module) {
    const names = new Map(),
        out = [...module.subarray(0, 8)];
    let p = 8;
    const leb = () => {
        let n = 0,
            shift = 0,
            b;
        do ((b = module[p++]), (n |= (b & 127) << shift), (shift += 7));
        while (b & 128);
        return n >>> 0;
    };
    while (p < module.length) {
        const id = module[p++],
            size = leb(),
            end = p + size;
        let payload = [...module.subarray(p, end)];
        if (id == 7) {
            payload = [];
            const count = leb();
            payload.push(...uleb(count));
            for (let i = 0; i < count; i++) {
                const length = leb(),
                    old = Buffer.from(module.subarray(p, p + length)).toString();
                p += length;
                const kind = module[p++],
                    start = p;
                leb();
                const renamed = old.startsWith('ll_') ? short(names.size) : old;
                if (renamed != old) names.set(old, renamed);
                payload.push(...uleb(renamed.length), ...Buffer.from(renamed), kind, ...module.subarray(start, p));
            }
            if (p != end) throw new Error('build: the export section of build/lifeline.wasm does not parse');
        }
        out.push(id, ...uleb(payload.length), ...payload);
        p = end;
    }
    return { bytes: Buffer.from(out), names };
}
const longNamed = fs.readFileSync(at('build/lifeline.wasm'));
const { bytes: wasm, names: exportNames } = renameExports(longNamed);
fs.mkdirSync(at('dist'), { recursive: true });
fs.writeFileSync(at('dist/lifeline.wasm'), wasm);
new WebAssembly.Module(wasm); // still a valid module
/** The bundled JS calling the renamed exports; a build error if it names any other ll_ export. */
const renameCalls = (text) =>
    text.replace(/\bll_[a-z0-9_]+\b/g, (name) => {
        if (!exportNames.has(name)) throw new Error(`build: the bundle names ${name}, which build/lifeline.wasm does not export`);
        return exportNames.get(name);
    });
// The size budget of dist/lifeline.mjs: its bytes after Node's zlib.gzipSync at level 9
// (what this build prints as "zlib -9", as bench/size.mjs does). The one place it is kept.
// 11600 until issue #14, which added the error naming CSP and its two ways out (~130 B),
// the page lifecycle (freeze/resume inputs, the check on return: ~100 B) and the check
// poll for a socket whose hello names a head no message fills (~85 B): 11950. Issue #13's
// limit since tab sharing (js/share.mjs, loaded on demand from dist/lifeline-share.mjs, and
// its hooks in lifeline.mjs): 12,288 B. Issue #12 item 8, the healthy start (the first
// tab's early Web Lock, the remembered fallback read after the socket exists, the start's
// race delay; ~190 B): 12,480 B. Issue #24 item 5, mistakes that name their fix (each
// option checked with what it accepts: ~250 B; the status, URL and server's words in HTTP
// errors, a refused send's serverCode: ~60 B; the core's refusal limit, a URL refused 3
// times in a row closes for good: ~80 B; the option throw on its own line: 6 B): 12,940 B.
// Issue #24 item 6, a server that cannot upgrade says so (Lifeline-WebSocket: none; the
// core's ws_unavailable input, polling alone without probes: ~60 B): 13,000 B. Issue #22
// item 2, server beats (the beat query, empty frames both ways, the core's watchdog on the
// beat schedule and its own beat; ~220 B): 13,250 B. Issue #23, many streams over one
// connection (the core's table of 32 subscriptions, v2's frames and the poll of all: ~1,200
// B; the shim's pooling, routing and the poll of all's URL and answer: ~1,370 B): 15,850 B —
// over the 12,480 B that issue asks; winning it back (the largest new functions, chunks
// loaded on demand) is the step after. Issue #23 item 4, a stream only a follower tab
// follows rides on the host tab's connection (the host lock: its claim, its wait, its
// release on pagehide, asked for beside the group's lock so that the healthy start waits
// for no second lock; a visible tab whose host is hidden or silent runs its stream itself;
// the ride and the serving are in lifeline-share.mjs; ~640 B): 16,500 B. Then the host's
// side of pooling moved to a chunk of its own, loaded when a second stream of an endpoint
// joins (js/pool.mjs, dist/lifeline-pool.mjs, 751 B: adopting, releasing and restarting
// riders, the sub/unsub frames, the poll of all's URL, a refused stream, a v1 server's
// split; -338 B here), asked for as soon as a page makes a second instance of an endpoint
// (+34 B: bench/README.md "Several streams in the page"): 16,150 B. The core asking for the
// other subscriptions at the socket's open, and a v1 hello splitting the table for good
// (the wasm 26 B smaller, the file 12 B larger after zlib): 16,160 B. What stays is what
// cannot leave without costing a page of several streams a second connection or a second
// copy of the library: server/DESIGN.md "Size".
export const SIZE_BUDGET = 16160;

// Only what a JS string literal cannot hold raw is escaped; esbuild would re-escape every
// control character, so the bundles carry a placeholder that is swapped in afterwards.
// The key maps the wasm's most frequent bytes onto characters the JS around it uses, so
// the one Huffman table gzip builds for both serves both.
const ESC = { 10: '\\n', 13: '\\r', 39: "\\'", 92: '\\\\' };
const char = (v) => ESC[v] || String.fromCharCode(v);
/**
 * The literal of `module` for `key`, or null when no escape char can be had. The escape
 * char E is the rarest char below 128 whose byte E + 128 never occurs (after the XOR): a
 * byte of 128 to 255 is E and the byte minus 128, a byte E itself is E twice.
 */
const encode = (module, key) => {
    const bytes = module.map((b) => b ^ key),
        count = new Array(256).fill(0);
    for (const b of bytes) count[b]++;
    let escape = null;
    for (let v = 0; v < 128; v++) if (!ESC[v] && !count[v + 128] && (escape == null || count[v] < count[escape])) escape = v;
    if (escape == null) return null;
    // the escape char, then the key and the bytes, each as above (so any key of 0 to 255
    // stays plain ASCII)
    const byte = (b) => (b < 128 && b != escape ? char(b) : char(escape) + char(b == escape ? escape : b - 128));
    let s = "'" + char(escape) + byte(key);
    for (const b of bytes) s += byte(b);
    return s + "'";
};
// build/wasm-inline.mjs is what js/loader.mjs imports when run from the sources (tests):
// build/lifeline.wasm, with the ll_* names the sources call
const inline = (literal) => {
    fs.mkdirSync(at('build'), { recursive: true });
    fs.writeFileSync(
        at('build/wasm-inline.mjs'),
        `// Generated by js/build.mjs from build/lifeline.wasm (ASCII: see js/build.mjs).\nexport default () => ${literal};\n`,
    );
};
inline("''"); // so that the bundler finds the module; rewritten with the chosen key below
// not a constant: a literal placeholder would let terser fold its length into the decoder
const PLACEHOLDER = 'globalThis.LIFELINE_WASM_PLACEHOLDER';
/** @type {import('esbuild').BuildOptions} */
const common = {
    bundle: true,
    minify: true,
    write: false,
    target: 'es2022',
    legalComments: 'none',
    plugins: [{ name: 'wasm', setup: (b) => b.onLoad({ filter: /wasm-inline\.mjs$/ }, () => ({ contents: `export default () => ${PLACEHOLDER}` })) }],
};
// The properties of the shim's internal interfaces (share.mjs's tab and group, the runtime
// of loader.mjs, a core's adapters, storage.mjs), which terser shortens like variables
// and the action fields no event shares (measured: 55 B zlib -9). Only names no public
// API, DOM or JS built-in uses in the bundles (not `request`: Web Locks' navigator.locks.request;
// not `max`: Math.max): the build fails if one is a member of the public types (js/lifeline.d.ts).
const INTERNAL_PROPERTIES =
    'lead follow take settle resend pg alloc live remember forget poll post view args action free out ack term socket frame timeout wait index first last ttl ws http conditional'.split(
        ' ',
    );
const publicTypes = fs.readFileSync(at('js/lifeline.d.ts'), 'utf8');
for (const name of INTERNAL_PROPERTIES)
    if (new RegExp(`\\b${name}\\??\\s*[(:]`).test(publicTypes.replace(/\/\*[\s\S]*?\*\/|\/\/.*/g, '')))
        throw new Error(`build: ${name} is in js/lifeline.d.ts: a public name cannot be an internal property`);
// And every property whose name starts with `_`: the members of Lifeline that pool.mjs
// (a chunk of its own, which cannot reach private # fields) shares with lifeline.mjs.
if (/\b_\w*\??\s*[(:]/.test(publicTypes.replace(/\/\*[\s\S]*?\*\/|\/\/.*/g, '')))
    throw new Error('build: js/lifeline.d.ts names a member starting with _: those are internal');
const mangle = { properties: { regex: new RegExp(`^(${INTERNAL_PROPERTIES.join('|')}|_\\w+)$`) } };
// esbuild bundles; terser then minifies a little tighter (measured: ~3% of the JS, gzip).
// Each output file is minified with one name cache, so the properties match across files.
// Node prints the source line of an uncaught error's throw: in a minified bundle, the whole
// file. The option errors' one throw (lifeline.mjs optionError) stands on a line of its own,
// so a misconfigured Lifeline in Node shows `throw new TypeError("Lifeline: "+e)` (2 B).
const OPTION_THROW = /throw new TypeError\("Lifeline: "\+\w+\)/g;
const throwOnItsLine = (code) => {
    if (code.match(OPTION_THROW)?.length > 1) throw new Error('build: more than one option-error throw in a bundle');
    return code.replace(OPTION_THROW, '\n$&\n');
};
const minified = async (text, format, nameCache) =>
    throwOnItsLine((await minify(text, { module: format == 'esm', ecma: 2022, compress: { passes: 2 }, mangle, nameCache })).code);
const bundle = async (o) => minified((await esbuild.build({ ...common, ...o })).outputFiles[0].text, o.format, {});
// The ES module loads two modules on demand (lifeline.mjs imports each dynamically):
// share.mjs, where a tab can share, and pool.mjs, when a second stream of an endpoint joins
// the first one's connection. esbuild splits each into a chunk of its own (CHUNKS), which
// imports nothing, so the three are all; the classic script and the CSP build carry both
// inline.
const CHUNKS = ['lifeline-share.mjs', 'lifeline-pool.mjs'];
const split = await esbuild.build({
    ...common,
    entryPoints: [at('js/index.mjs')],
    format: 'esm',
    splitting: true,
    outdir: at('dist'),
    entryNames: 'lifeline',
    chunkNames: 'lifeline-[name]',
    outExtension: { '.js': '.mjs' },
});
const names = split.outputFiles.map((f) => f.path.split('/').pop()).sort();
if (names.join() != [...CHUNKS, 'lifeline.mjs'].sort().join())
    throw new Error(`build: the ES module should split into lifeline.mjs, ${CHUNKS.join(', ')}; not ${names.join(', ')}`);
const nameCache = {},
    text = (n) => split.outputFiles.find((f) => f.path.endsWith('/' + n)).text;
const esm = renameCalls(await minified(text('lifeline.mjs'), 'esm', nameCache));
const chunks = [];
for (const chunk of CHUNKS) {
    const bytes = Buffer.from(renameCalls(await minified(text(chunk), 'esm', nameCache)) + '\n', 'utf8');
    if (!esm.includes(`"./${chunk}"`)) throw new Error(`build: dist/lifeline.mjs does not import ./${chunk}`);
    if (/\bimport\b[^(]/.test(bytes.toString())) throw new Error(`build: dist/${chunk} imports a module: a chunk must import nothing`);
    if (bytes.some((v) => v > 0x7f)) throw new Error(`build: dist/${chunk} holds a byte above 0x7F: it must be plain ASCII`);
    fs.writeFileSync(at('dist/' + chunk), bytes);
    chunks.push([chunk, bytes]);
}
const script = { contents: "import L from './js/index.mjs'; globalThis.Lifeline = L;", resolveDir: at('.') };
const iife = renameCalls(await bundle({ stdin: script, format: 'iife' }));
const row = (name, b) => console.log(`${name.padEnd(24)} ${String(b.length).padStart(6)} B  ${String(gz(b)).padStart(5)} B zlib -9`);
// The ES module carries the literal at its end (gzip does better with the JS first:
// measured 45 B); the var is assigned before any code of the module's user runs, and
// read only when a Lifeline is made (build/wasm-inline.mjs exports a function).
// The first line is V8's explicit compile hint (Chrome 136 and later; a plain comment elsewhere):
// every function is compiled with the script, off the main thread where the browser streams
// it, instead of lazily on its first call inside `new Lifeline()` — the constructor is the
// critical path of the first message (bench/start.mjs measured ~5 ms of lazy compilation there).
const COMPILE_HINT = '//# allFunctionsCalledOnLoad\n';
const file = (text, literal, format) =>
    Buffer.from(
        COMPILE_HINT +
            (format == 'esm' ? text.replace(PLACEHOLDER, 'LIFELINE_WASM') + `\nvar LIFELINE_WASM=${literal};\n` : text.replace(PLACEHOLDER, () => literal)),
        'utf8',
    );
let literal,
    best = Infinity;
for (let key = 0; key < 256; key++) {
    const l = encode(wasm, key),
        n = l && gz(file(esm, l, 'esm'));
    if (l && n < best) ((best = n), (literal = l));
}
if (!literal) throw new Error('build: no key leaves an escape char (see encode)');
inline([...Array(256).keys()].map((key) => encode(longNamed, key)).find(Boolean)); // any key serves the sources
for (const [out, text, format] of [
    ['dist/lifeline.mjs', esm, 'esm'],
    ['dist/lifeline.js', iife, 'iife'],
]) {
    if (text.split(PLACEHOLDER).length != 2 || text.includes('LIFELINE_WASM=')) throw new Error(`build: the wasm placeholder is not in ${out} exactly once`);
    const b = file(text, literal, format),
        high = b.findIndex((v) => v > 0x7f);
    if (high >= 0) throw new Error(`build: ${out} holds a byte above 0x7F at ${high}: it must be plain ASCII`);
    fs.writeFileSync(at(out), b);
    row(out, b);
}
for (const [chunk, bytes] of chunks) row(`dist/${chunk}`, bytes);
fs.copyFileSync(at('js/lifeline.d.ts'), at('dist/lifeline.d.ts'));

// ---- the CSP build ----
const translated = fs.readFileSync(at('build/lifeline.wasm2js.mjs'), 'utf8');
const head = "import { setTempRet0 } from 'env';\n",
    tail = translated.indexOf('\nvar retasmFunc = asmFunc(');
if (!translated.startsWith(head) || tail < 0 || !translated.includes('\nfunction asmFunc(env) {'))
    throw new Error('build: build/lifeline.wasm2js.mjs is not shaped as this wasm2js writes it (an env import, asmFunc, retasmFunc)');
// the exports returning a 64-bit integer, from the header that declares them
const i64Results = [...fs.readFileSync(at('wasm/lifeline.h'), 'utf8').matchAll(/^LL_EXPORT u?int64_t (ll_\w+)\(/gm)].map((m) => m[1]);
fs.writeFileSync(
    at('build/core-js.mjs'),
    '// Generated by js/build.mjs from build/lifeline.wasm2js.mjs (the core by wasm2js).\n' +
        '// @ts-nocheck: machine-translated asm.js, not type-checked (make lint)\n' +
        translated.slice(head.length, tail) +
        `\nexport default asmFunc;\nexport const I64_RESULTS = ${JSON.stringify(i64Results)};\n`,
);
const csp = { name: 'csp', setup: (b) => b.onResolve({ filter: /\/core-wasm\.mjs$/ }, () => ({ path: at('js/core-csp.mjs') })) };
/** @type {[string, import('esbuild').BuildOptions][]} */
const cspOutputs = [
    ['dist/lifeline.csp.mjs', { entryPoints: [at('js/index.mjs')], format: 'esm' }],
    ['dist/lifeline.csp.js', { stdin: script, format: 'iife' }],
];
for (const [out, o] of cspOutputs) {
    const text = await bundle({ ...o, plugins: [csp] });
    if (text.includes(PLACEHOLDER) || text.includes('WebAssembly.')) throw new Error(`build: ${out} carries WebAssembly: the CSP build must not`);
    const b = Buffer.from(text + '\n', 'utf8'),
        high = b.findIndex((v) => v > 0x7f);
    if (high >= 0) throw new Error(`build: ${out} holds a byte above 0x7F at ${high}: it must be plain ASCII`);
    fs.writeFileSync(at(out), b);
    row(out, b);
}
row('  JS only (no wasm)', Buffer.from(esm.replace(PLACEHOLDER, '""')));
row('  dist/lifeline.wasm', wasm);
const size = gz(file(esm, literal, 'esm'));
if (process.argv.includes('--budget') && size > SIZE_BUDGET) {
    console.error(`build: dist/lifeline.mjs is ${size} B zlib -9, over its budget of ${SIZE_BUDGET} B (SIZE_BUDGET in js/build.mjs)`);
    process.exit(1);
}
console.log(`dist/lifeline.mjs: ${size} B zlib -9, budget ${SIZE_BUDGET} B`);

if (process.argv.includes('--measure')) {
    row('  as base64 literal', Buffer.from(`'${wasm.toString('base64')}'`));
    row('  as the ASCII literal', Buffer.from(literal, 'utf8'));
}

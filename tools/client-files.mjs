// client-files.mjs — the built client as both server libraries serve it (run by `make
// build` after js/build.mjs): dist/client/ holds each shipped file under a name carrying a
// hash of its content (lifeline.<hash>.js), so a server can let browsers cache it for a
// year, and manifest.json maps each plain name to its hashed one. The ES module imports its
// on-demand chunks by their hashed names, so a cached module never loads another version's
// chunk.
//
// The Node handler (server/node/client.mjs) serves dist/client/ from the npm package; the
// Flask package carries a copy in lifeline_flask/client/ (package data of the wheel that
// `make wheel` builds), written here too. Both are build outputs, never committed.
import fs from 'node:fs';
import crypto from 'node:crypto';

const root = new URL('..', import.meta.url);
const at = (p) => new URL(p, root).pathname;
const OUT = 'dist/client',
    FLASK_COPY = 'server/flask/lifeline_flask/client';

// The chunks first: the module that imports them names their hashed files.
const CHUNKS = ['lifeline-share.mjs', 'lifeline-pool.mjs'];
const FILES = [...CHUNKS, 'lifeline.mjs', 'lifeline.js', 'lifeline.csp.mjs', 'lifeline.csp.js', 'lifeline.wasm'];

const hashed = (name, bytes) => {
    const hash = crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 12);
    const dot = name.indexOf('.');
    return `${name.slice(0, dot)}.${hash}${name.slice(dot)}`;
};

const manifest = {};
const contents = new Map();
for (const name of FILES) {
    let bytes = fs.readFileSync(at('dist/' + name));
    if (name == 'lifeline.mjs') {
        let text = bytes.toString('utf8');
        for (const chunk of CHUNKS) {
            const plain = `"./${chunk}"`;
            if (text.split(plain).length != 2) throw new Error(`client-files: dist/lifeline.mjs should import ./${chunk} exactly once`);
            text = text.replace(plain, `"./${manifest[chunk]}"`);
        }
        bytes = Buffer.from(text, 'utf8');
    }
    manifest[name] = hashed(name, bytes);
    contents.set(manifest[name], bytes);
}
for (const dir of [OUT, FLASK_COPY]) {
    fs.rmSync(at(dir), { recursive: true, force: true });
    fs.mkdirSync(at(dir), { recursive: true });
    for (const [name, bytes] of contents) fs.writeFileSync(at(`${dir}/${name}`), bytes);
    fs.writeFileSync(at(`${dir}/manifest.json`), JSON.stringify(manifest, null, 2) + '\n');
}
console.log(`${OUT}/ and ${FLASK_COPY}/: ${Object.values(manifest).join(', ')}`);

// client.mjs — the browser client, served by the handler itself: no build step and no
// second static server for the page that uses it.
//
//   GET <prefix>/client/<hashed name>   one of dist/client/'s files (tools/client-files.mjs):
//                                       cached for a year (the name changes with the content)
//   live.clientUrl('lifeline.js')       that file's URL, e.g. /live/client/lifeline.<hash>.js
//   live.scriptTag()                    <script src="…lifeline.<hash>.js"></script>
//
// The files are public code: any origin may load them (Access-Control-Allow-Origin: *, so
// a module script from another origin works). A package without dist/client/ (a checkout
// before `make build`) serves none and says so when a URL is asked for.

import fs from 'node:fs';

const DIR = new URL('../../dist/client/', import.meta.url);
const TYPES = { '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };
/** The <script> tag of each build a page can take with one tag. */
const SCRIPTS = { script: 'lifeline.js', csp: 'lifeline.csp.js' };

let files; // hashed name -> {bytes, type}, read once
function load() {
    if (files) return files;
    files = new Map();
    let manifest = {};
    try {
        manifest = JSON.parse(fs.readFileSync(new URL('manifest.json', DIR), 'utf8'));
    } catch {}
    for (const [plain, hashed] of Object.entries(manifest))
        files.set(hashed, { plain, bytes: fs.readFileSync(new URL(hashed, DIR)), type: TYPES[hashed.slice(hashed.lastIndexOf('.'))] });
    return files;
}

/** The hashed file name of a plain one ('lifeline.js'), or an Error naming the way out. */
function hashedName(plain) {
    for (const [hashed, f] of load()) if (f.plain === plain) return hashed;
    const known = [...load().values()].map((f) => f.plain);
    throw new Error(
        known.length
            ? `lifeline-live/server: no client file ${JSON.stringify(plain)}; there are ${known.join(', ')}`
            : 'lifeline-live/server: this package has no built client (dist/client/): install lifeline-live from npm, or run `make build` in a checkout',
    );
}

/** The client files under `prefix`: URLs for pages, and the answer to a request for one. */
export function clientFiles(prefix) {
    const base = `${prefix}/client/`;
    return {
        url: (plain) => base + hashedName(plain),
        scriptTag: (build = 'script') => {
            if (!SCRIPTS[build]) throw new TypeError(`scriptTag: build is 'script' or 'csp', not ${JSON.stringify(build)}`);
            return `<script src="${base + hashedName(SCRIPTS[build])}"></script>`;
        },
        /** The file a path names (under the prefix), or undefined when it is not a client path. */
        match: (pathname) => (pathname.startsWith(base) ? (load().get(pathname.slice(base.length)) ?? null) : undefined),
        /** Answer a GET/HEAD for `file` (from match). */
        send(req, res, file) {
            res.writeHead(200, {
                'Content-Type': file.type,
                'Content-Length': file.bytes.length,
                'Cache-Control': 'public, max-age=31536000, immutable',
                'Access-Control-Allow-Origin': '*',
                'X-Content-Type-Options': 'nosniff',
            });
            res.end(req.method === 'HEAD' ? undefined : file.bytes);
        },
    };
}

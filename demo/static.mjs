// static.mjs — the demo's static files: demo/public/ at `/`, the build (dist/) at `/dist/`.
// CORS headers on every file (a page on another origin may import /dist/lifeline.mjs);
// paths are confined to their root.

import fs from 'node:fs';
import path from 'node:path';

const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.mjs': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.json': 'application/json; charset=utf-8',
    '.map': 'application/json; charset=utf-8',
    '.wasm': 'application/wasm',
    '.ts': 'text/plain; charset=utf-8',
    '.txt': 'text/plain; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.ico': 'image/x-icon',
};

/** A handler (req, res) -> Promise that serves a file or answers 404/405 (JSON errors). */
export function staticFiles({ publicDir, distDir }) {
    publicDir = path.resolve(publicDir);
    distDir = path.resolve(distDir);
    const fail = (res, status, code, message, headers = {}) => {
        const body = JSON.stringify({ error: code, message });
        res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
    };
    return async function serveStatic(req, res, pathname) {
        const cors = { 'Access-Control-Allow-Origin': '*' };
        if (req.method === 'OPTIONS') {
            res.writeHead(204, { ...cors, Allow: 'GET, HEAD, OPTIONS' });
            return res.end();
        }
        if (req.method !== 'GET' && req.method !== 'HEAD')
            return fail(res, 405, 'method_not_allowed', `${req.method} not allowed`, { Allow: 'GET, HEAD, OPTIONS' });
        let rel;
        try {
            rel = decodeURIComponent(pathname);
        } catch {
            return fail(res, 400, 'bad_request', 'bad path encoding');
        }
        if (rel.includes('\0') || rel.includes('\\')) return fail(res, 404, 'not_found', 'not found');
        let root = publicDir;
        if (rel === '/dist' || rel.startsWith('/dist/')) {
            root = distDir;
            rel = rel.slice(5);
        }
        if (rel === '' || rel.endsWith('/')) rel += 'index.html';
        const file = path.resolve(root, '.' + path.posix.normalize('/' + rel));
        if (file !== root && !file.startsWith(root + path.sep)) return fail(res, 404, 'not_found', 'not found');
        let st;
        try {
            st = await fs.promises.stat(file);
        } catch {
            return fail(res, 404, 'not_found', 'not found');
        }
        if (!st.isFile()) return fail(res, 404, 'not_found', 'not found');
        const ext = file.endsWith('.d.ts') ? '.ts' : path.extname(file).toLowerCase();
        res.writeHead(200, {
            ...cors,
            'Content-Type': TYPES[ext] ?? 'application/octet-stream',
            'Content-Length': st.size,
            'Cache-Control': 'no-cache',
            'Last-Modified': st.mtime.toUTCString(),
            'X-Content-Type-Options': 'nosniff',
        });
        if (req.method === 'HEAD') return res.end();
        await new Promise((resolve) => {
            const s = fs.createReadStream(file);
            s.on('error', () => (res.destroy(), resolve()));
            s.on('end', resolve);
            res.on('close', () => (s.destroy(), resolve()));
            s.pipe(res);
        });
    };
}

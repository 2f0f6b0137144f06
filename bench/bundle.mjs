// bundle.mjs — a package bundled for the browser the way the benches load and weigh the
// peers (esbuild --bundle --minify, ESM, browser): socket.io-client for the bench pages,
// and the sizes in results.md.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The package's browser bundle, as bytes. */
export async function browserBundle(pkg) {
    const esbuild = await import('esbuild');
    const r = await esbuild.build({
        stdin: { contents: `export * from '${pkg}';`, resolveDir: ROOT, loader: 'js' },
        bundle: true,
        minify: true,
        format: 'esm',
        platform: 'browser',
        write: false,
        logLevel: 'silent',
    });
    return Buffer.from(r.outputFiles[0].contents);
}

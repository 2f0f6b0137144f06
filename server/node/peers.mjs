// peers.mjs — the server's optional peer packages, loaded when a feature needs them.
//
// `lifeline-live` is first a browser client: a plain `npm install lifeline-live` brings no
// server-only package. The Node server needs `ws` (it upgrades WebSockets) and, with
// `redis: url`, the `redis` client; both are optional peer dependencies the app installs
// beside lifeline-live (docs/node.md). A missing one is named in the error, with the
// command that installs it, instead of a bare ERR_MODULE_NOT_FOUND.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * The package `name` (both peers are CommonJS with ESM wrappers, so a synchronous require
 * finds them and createLifeline can fail at once, where the option is given).
 * @param {string} name
 * @param {string} neededFor what needs it, for the error message
 */
export function peer(name, neededFor) {
    try {
        return require(name);
    } catch (err) {
        if (err?.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes(`'${name}'`)) throw err;
        throw new Error(
            `lifeline-live/server: ${neededFor} needs the '${name}' package, which is not installed. Install it beside lifeline-live: npm install ${name}`,
            {
                cause: err,
            },
        );
    }
}

// ESLint (make lint): @eslint/js's recommended rules over every JavaScript module, each with
// the globals of where it runs: the browser for the runtime (js/) and the demo page, Node for
// the rest; the files that drive Chromium hand it functions to run in the page
// (page.evaluate), so they see the browser's globals too. Formatting is Prettier's
// (.prettierrc.json), types are tsc's (tsconfig.json).
import js from '@eslint/js';
import globals from 'globals';

// the runtime and the demo page: the browser's globals and no Node's (js/'s two build scripts
// run in Node)
const PAGE = ['js/**', 'demo/public/**'];
const NODE_IN_JS = ['js/build.mjs', 'js/gen-constants.mjs'];
const DRIVERS = [
    'tests/browser/**',
    'tests/cluster/**',
    'tests/docs/**',
    'tests/js/browser.test.mjs',
    'bench/**',
    'demo/screenshot.mjs',
    'server/flask/tests/browser-example.mjs',
];

export default [
    { ignores: ['node_modules/', 'dist/', 'build/', 'bench/out/', 'js/constants.js', 'server/flask/lifeline_flask/client/'] },
    js.configs.recommended,
    {
        languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
        // `catch {}` is the tree's way to say a step is best effort (kill a process that may be
        // gone, close what may be closed, read storage that may be disabled): still no empty
        // block elsewhere
        rules: { 'no-empty': ['error', { allowEmptyCatch: true }] },
    },
    { ignores: PAGE, languageOptions: { globals: globals.node } },
    { files: NODE_IN_JS, languageOptions: { globals: globals.node } },
    { files: PAGE, ignores: NODE_IN_JS, languageOptions: { globals: globals.browser } },
    { files: DRIVERS, languageOptions: { globals: globals.browser } },
];

// Strict Content-Security-Policy, served for real: pages whose only scripts are files of
// their own origin (no inline script), under the policy each build documents (README
// "Content-Security-Policy"), connecting to the reference server on another origin that
// connect-src names for both its ws: and http: URLs.
//  - the main build under script-src 'self' 'wasm-unsafe-eval' receives;
//  - the CSP build (module and classic script) under script-src 'self' receives;
//  - the main build under script-src 'self' throws the error that names CSP and both ways out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import { skip, useRig, within } from './helpers.mjs';
import { publish } from '../lib/servers.mjs';

const ROOT = new URL('../../', import.meta.url);
const env = useRig();

// What the page runs: the chosen build, one Lifeline, a log the test reads.
const BOOT = `
const q = new URLSearchParams(location.search);
const log = (window.__log = { messages: [], states: [], errors: [], violations: [] });
document.addEventListener('securitypolicyviolation', (e) => log.violations.push(e.violatedDirective + ' ' + e.blockedURI));
try {
    const Lifeline = q.get('build') == 'csp-script' ? window.Lifeline : (await import(q.get('build') == 'csp' ? '/dist/lifeline.csp.mjs' : '/dist/lifeline.mjs')).Lifeline;
    const live = (window.__live = new Lifeline(q.get('url')));
    live.addEventListener('statechange', (e) => log.states.push(e.state + '/' + e.transport + '/' + e.reason));
    live.addEventListener('message', (e) => log.messages.push([e.data, e.cursor, live.transport]));
    live.addEventListener('error', (e) => log.errors.push(e.code));
} catch (e) {
    log.thrown = { name: e.name, message: e.message };
}
window.__ready = true;
`;

let site;
before(async () => {
    if (skip) return;
    const server = http.createServer((req, res) => {
        const u = new URL(req.url, 'http://x');
        const send = (type, body, headers = {}) => {
            res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
            res.end(body);
        };
        if (u.pathname == '/page.html') {
            const live = new URL(env.rig.server.url);
            const script = u.searchParams.get('script'); // the script-src sources after 'self'
            const csp = `default-src 'none'; script-src 'self'${script ? ' ' + script : ''}; connect-src ws://${live.host} http://${live.host}`;
            const classic = u.searchParams.get('build') == 'csp-script' ? '<script src="/dist/lifeline.csp.js"></script>' : '';
            return send(
                'text/html; charset=utf-8',
                `<!doctype html><meta charset="utf-8"><title>csp</title>${classic}<script type="module" src="/boot.mjs"></script>`,
                { 'Content-Security-Policy': csp },
            );
        }
        if (u.pathname == '/boot.mjs') return send('text/javascript', BOOT);
        const m = /^\/dist\/(lifeline(?:\.csp)?\.m?js|lifeline-(?:share|pool)\.mjs)$/.exec(u.pathname);
        if (m) return send('text/javascript', fs.readFileSync(new URL('dist/' + m[1], ROOT)));
        res.writeHead(404).end();
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    site = { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) };
});
after(() => site?.close());

async function open(build, script) {
    const ctx = await env.b.browser.newContext();
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const q = new URLSearchParams({ build, url: env.rig.server.url + '/live/csp-' + build });
    if (script) q.set('script', script);
    await page.goto(`${site.url}/page.html?${q}`, { timeout: 15000 });
    await page.waitForFunction(() => window.__ready === true, null, { timeout: 10000 });
    return { ctx, page, errors, log: () => page.evaluate(() => window.__log) };
}

for (const [build, script] of [
    ['main', "'wasm-unsafe-eval'"],
    ['csp', ''],
    ['csp-script', ''],
])
    test(`${build} build under script-src 'self' ${script}: opens over WebSocket and receives`, { skip, timeout: 30000 }, async () => {
        const { ctx, page, errors, log } = await open(build, script);
        try {
            await page
                .waitForFunction(() => window.__log.thrown || window.__log.states.some((s) => s.startsWith('open/websocket/')), null, { timeout: 10000 })
                .catch(async (e) => assert.fail(`${e.message}: ${JSON.stringify(await log())}`));
            const cursor = await within(publish(env.rig.server.url, { build }, 'csp-' + build), 5000, 'publish');
            await page.waitForFunction(() => window.__log.messages.length >= 1, null, { timeout: 10000 });
            const l = await log();
            assert.equal(l.thrown, undefined);
            assert.deepEqual(l.messages, [[{ build }, cursor, 'websocket']]);
            assert.deepEqual(l.violations, [], 'nothing the policy refused');
            assert.deepEqual(l.errors, []);
            assert.deepEqual(errors, []);
        } finally {
            await ctx.close();
        }
    });

test("main build under script-src 'self': new Lifeline() throws the error naming CSP and both ways out", { skip, timeout: 30000 }, async () => {
    const { ctx, log } = await open('main', '');
    try {
        const l = await log();
        assert.ok(l.thrown, 'the constructor threw');
        assert.match(l.thrown.message, /CSP blocks WebAssembly/);
        assert.match(l.thrown.message, /'wasm-unsafe-eval'/);
        assert.match(l.thrown.message, /lifeline-live\/csp/);
        assert.ok(
            l.violations.some((v) => v.startsWith('script-src')),
            'the policy did refuse: ' + JSON.stringify(l.violations),
        );
        assert.deepEqual(l.states, []);
    } finally {
        await ctx.close();
    }
});

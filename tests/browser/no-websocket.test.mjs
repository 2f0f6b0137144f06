// A server that cannot upgrade says so (issue #24 item 6): Flask under `flask run` (and
// gevent's plain handler) answers polls with Lifeline-WebSocket: none, and holds an upgrade
// a moment, so the poll raced beside the first socket brings the word first. The page then
// polls alone: no `error` event, no error in the console, no probe after the first attempt,
// on the first load and on a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { skip, startRig, launchBrowser, openFixture, waitLog, sleep } from './helpers.mjs';
import { startServer, admin } from '../lib/servers.mjs';

const env = {};
before(async () => {
    if (skip) return;
    env.rig = await startRig();
    env.b = await launchBrowser();
});
after(async () => {
    await env.b?.close();
    await env.rig?.close();
});

for (const mode of ['--flask-run', '--no-websocket']) {
    test(`flask ${mode}: the page polls alone without error events, console errors or probes, first load and reload`, { skip, timeout: 60000 }, async (t) => {
        const flask = await startServer('flask', [mode, '--origins', '*']);
        const ctx = await env.b.browser.newContext();
        try {
            const page = await ctx.newPage();
            const url = flask.url + '/live/test';
            const upgrades = async () => (await admin(flask.url, '/admin/stats')).ws ?? 0;
            for (const load of ['first', 'reload']) {
                // probeMin 300 ms: without the word, probes would follow at 0.3, 0.6, 1.2 s…
                await openFixture(page, env.rig.fixture({ build: 'script', live: [{ tag: 'a', url, opts: { probeMin: 300 } }] }));
                const log = await waitLog(page, (l) => l.a.states.some((s) => s.reason === 'ws_unavailable'), 'polling alone', 15000);
                const before = await upgrades();
                await sleep(2500);
                const after = await getLogOf(page);
                t.diagnostic(`${load}: ${after.a.states.map((s) => `${s.state}/${s.transport}/${s.reason}`).join(' → ')}`);
                assert.deepEqual(after.a.errors, [], `${load}: no error event`);
                assert.deepEqual(page.__console, [], `${load}: no console error`);
                assert.equal(await upgrades(), before, `${load}: no probe once the server said it cannot upgrade`);
                assert.equal(after.a.states.at(-1).state, 'open');
                assert.notEqual(after.a.states.at(-1).transport, 'websocket');
                assert.ok(log.a.states.length > 0);
            }
        } finally {
            await ctx.close();
            await flask.stop();
        }
    });
}

const getLogOf = (page) => page.evaluate(() => ({ ...window.__log }));

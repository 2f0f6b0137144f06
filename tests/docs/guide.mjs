// guide.mjs — what the guide tests share (not a test file): bounded waits, an app that
// serves, the guides' news page open over its WebSocket, and the news it lists.
/* global live -- the guides' page declares it (a top-level const: no window property) */
import assert from 'node:assert/strict';
import { within, sleep } from '../browser/helpers.mjs';

/** Resolve once `cond()` is truthy (checked every 50 ms), or fail after `ms` with `what`. */
export const until = (cond, ms, what) =>
    within(
        (async () => {
            while (!(await cond())) await sleep(50);
        })(),
        ms,
        what,
    );

/** Resolve once `url` answers 200; fail at once when the process serving it exited. */
export const serving = (url, proc, ms, what) =>
    until(
        async () => {
            if (!proc.alive()) throw new Error(`${what}: exited\n${proc.output()}`);
            return (await fetch(url).catch(() => null))?.status == 200;
        },
        ms,
        what,
    );

/** The guide's page in a new context, open over its WebSocket; `problems` collects page errors and console warnings and errors. */
export async function openNewsPage(browser, url) {
    const page = await (await browser.browser.newContext()).newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    // (a resource that failed to load is the page's /favicon.ico, which the guides' apps do
    // not serve: the client's own files failing would leave `live` undefined)
    page.on('console', (m) => ['warning', 'error'].includes(m.type()) && !m.text().startsWith('Failed to load resource') && problems.push(m.text()));
    await page.goto(url);
    await until(async () => (await page.evaluate(() => `${live.state}/${live.transport}`)) == 'open/websocket', 15000, 'the page open over a WebSocket');
    return { page, problems };
}

/** The titles the page lists. */
export const shownNews = (page) => page.evaluate(() => [...document.querySelectorAll('#news li')].map((li) => li.textContent));

/** POST news 1..n-1 to the app (after the guide's own "hello"); resolves to every title, in order. */
export async function publishNews(base, n) {
    const titles = ['hello'];
    for (let i = 1; i < n; i++) {
        titles.push(`news ${i}`);
        const r = await fetch(base + '/news', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ title: `news ${i}` }),
        });
        assert.equal(r.status, 200);
    }
    return titles;
}

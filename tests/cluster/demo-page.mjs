// demo-page.mjs — drives the demo page (demo/public/index.html) in Chromium and checks what a
// person sees; shared by tests/browser/demo.test.mjs (one process) and
// tests/cluster/page.test.mjs (four processes behind nginx). Not a test file itself.
//
//   const page = await openDemo(context, url + '/');            // no console error, a transport shown
//   await streamsOpen(page);                                      // ticker, counter and chat all live
//   await ticks(page);                                            // the ticker's value moves
//   await counterCounts(page, 3);                                 // +1 three times → +3, each acked
//   await chatShows(page, lines);                                 // exactly these chat lines, in order
//   const names = await servedBy(page);                           // processes that answered
import assert from 'node:assert/strict';

export const TRANSPORT_KINDS = ['websocket', 'longpoll', 'poll'];
export const STREAMS = ['ticker', 'counter', 'chat'];

/**
 * Open the page; collects problems (page errors, console errors, HTTP errors other than
 * /live's). Set `page.wsFailuresExpected = true` while a fault refuses WebSockets on purpose:
 * Chromium itself logs each refused handshake as a console error.
 */
export async function openDemo(context, url) {
    const page = await context.newPage();
    page.problems = [];
    page.wsFailuresExpected = false;
    const expected = (text) => page.wsFailuresExpected && /^WebSocket connection to 'ws:\/\/[^']*\/live\/[^']*' failed/.test(text);
    page.on('pageerror', (e) => page.problems.push('pageerror: ' + String(e)));
    page.on('console', (m) => m.type() === 'error' && !expected(m.text()) && page.problems.push('console: ' + m.text()));
    page.on('response', (r) => r.status() >= 400 && page.problems.push(`HTTP ${r.status()} ${r.url()}`));
    page.on('requestfailed', (r) => !/\/live\//.test(r.url()) && page.problems.push(`failed ${r.url()} ${r.failure()?.errorText}`));
    await page.goto(url, { timeout: 30000 });
    await page.waitForFunction((kinds) => kinds.includes(document.getElementById('badge')?.dataset.kind), TRANSPORT_KINDS, { timeout: 30000 });
    return page;
}

/** Every stream's chip says open on a transport (`transport` when given). */
export async function streamsOpen(page, { transport, timeoutMs = 30000 } = {}) {
    await page.waitForFunction(
        ([streams, kinds, want]) =>
            streams.every((s) => {
                const k = document.querySelector(`#streams li[data-stream="${s}"]`)?.dataset.kind;
                return want ? k === want : kinds.includes(k);
            }),
        [STREAMS, TRANSPORT_KINDS, transport],
        { timeout: timeoutMs },
    );
    return page.evaluate(() => [...document.querySelectorAll('#streams li')].map((li) => li.textContent));
}

/** The live value shows a number and then another tick arrives. */
export async function ticks(page, timeoutMs = 30000) {
    await page.waitForFunction(() => /^\d+\.\d\d$/.test(document.getElementById('tick-value').textContent), null, { timeout: timeoutMs });
    const n0 = await page.evaluate(() => window.lifelines.ticker.stats.messages);
    await page.waitForFunction((n) => window.lifelines.ticker.stats.messages > n, n0, { timeout: timeoutMs });
}

/** Click +1 `times` times (each waits for its ack); the shared counter rises by exactly that. */
export async function counterCounts(page, times, timeoutMs = 30000) {
    const before = Number(await page.textContent('#count'));
    for (let i = 0; i < times; i++) {
        await page.click('#inc');
        await page.waitForFunction(() => document.getElementById('inc-status').dataset.kind === 'ok', null, { timeout: timeoutMs });
        await page.evaluate(() => (document.getElementById('inc-status').dataset.kind = ''));
    }
    await page.waitForFunction((n) => Number(document.getElementById('count').textContent) >= n, before + times, { timeout: timeoutMs });
    await new Promise((r) => setTimeout(r, 500)); // a repeat would show up now
    assert.equal(Number(await page.textContent('#count')), before + times, 'the counter rose by exactly the clicks');
}

/** The chat log shows exactly `lines` (["name: text", …]) as its last lines, in order. */
export async function chatShows(page, lines, timeoutMs = 30000) {
    const read = () =>
        page.evaluate(() =>
            [...document.querySelectorAll('#chat-log li:not(.system)')].map(
                (li) => `${li.querySelector('b').textContent}: ${li.querySelector('span').textContent}`,
            ),
        );
    await page
        .waitForFunction((n) => document.querySelectorAll('#chat-log li:not(.system)').length >= n, lines.length, { timeout: timeoutMs })
        .catch(async () => {
            throw new Error(`chat shows ${JSON.stringify(await read())}, want ${JSON.stringify(lines)}`);
        });
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual((await read()).slice(-lines.length), lines);
}

/** Names in the served-by card (the processes that answered this page's requests). */
export const servedBy = (page) => page.evaluate(() => [...document.querySelectorAll('#served-procs li[data-server]')].map((li) => li.dataset.server));

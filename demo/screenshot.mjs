#!/usr/bin/env node
// screenshot.mjs — screenshots of the demo pages in headless Chromium, to look at them.
//
//   node demo/screenshot.mjs [--out DIR] [--url http://127.0.0.1:PORT] [--chromium PATH] [--only NAME,…]
//
//   --out       where the PNGs go (default: <os tmpdir>/lifeline-shots); never the repo.
//   --url       a running demo server (Node or Flask); default: start
//               `node demo/server.mjs --port 0 --tick 1000` here and stop it at the end.
//   --chromium  the browser (default: $CHROMIUM or /usr/bin/chromium).
//   --only      a comma-separated subset of the scenarios below.
//
// Scenarios (each in a fresh browser context, so no remembered fallback leaks between them):
//   ws        fault none: WebSocket, after a +1 and a chat line    desktop + mobile
//   fallback  fault blackhole before load: long polling              desktop + mobile
//   upgrade   the fallback page after fault none: back on WebSocket  desktop
//   remembered  the fallback page reloaded: starts on polling        desktop + mobile
//   refuse    on WebSocket, Refuse, Reconnect: falls back            desktop + mobile
//   blackhole ... then Black hole, Reconnect: still on polling       desktop + mobile
//   stall     on WebSocket, Stall: the silent socket is replaced     desktop + mobile
//   flap      on WebSocket, Flap, Reconnect: flapping → polling      desktop + mobile
//   restart   on WebSocket, Restart server: back at once             desktop + mobile
//   hidden    document.visibilityState faked hidden, ?hiddenGrace=2000 desktop
//   dark      the WebSocket page in the dark colour scheme           mobile
//   script    script.html (the <script src="/dist/lifeline.js"> build) desktop + mobile
// A fault scenario clicks the page's own buttons, as a person would.
// Desktop is 1280×800; mobile 390×844, both the first screen (NAME.png) and the whole page
// (NAME-full.png). Every wait is bounded; the fault
// mode is set back to none at the end. Needs dist/ (make build) and playwright-core.
// Exit status 1 when a page threw or logged an error.

import { spawn } from 'node:child_process';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM as DEBIAN_CHROMIUM, FLAGS } from '../tests/lib/chromium.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const OUT = path.resolve(args.out ?? path.join(os.tmpdir(), 'lifeline-shots'));
const CHROMIUM = args.chromium ?? process.env.CHROMIUM ?? DEBIAN_CHROMIUM;
const ONLY = args.only ? new Set(args.only.split(',')) : null;
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 390, height: 844 };

fs.mkdirSync(OUT, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let problems = 0;
let serverChild = null;
process.on('exit', () => serverChild?.kill('SIGTERM')); // never leave the server behind

async function startServer() {
    const child = spawn(process.execPath, [path.join(HERE, 'server.mjs'), '--port', '0', '--tick', '1000'], {
        stdio: ['ignore', 'pipe', 'inherit'],
    });
    serverChild = child;
    const url = await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('server did not start within 10 s')), 10_000);
        readline.createInterface({ input: child.stdout }).on('line', (line) => {
            const m = /^LISTENING (\S+)/.exec(line);
            if (m) (clearTimeout(t), resolve(m[1]));
        });
        child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    return { url, stop: () => child.kill('SIGTERM') };
}

async function admin(base, route, body) {
    const res = await fetch(base + route, { method: 'POST', body: JSON.stringify(body ?? {}), signal: AbortSignal.timeout(5000) });
    return res.status;
}

/** Wait (bounded) until the page's Lifeline satisfies `pred(state, transport)`. */
async function waitLive(page, pred, ms) {
    try {
        await page.waitForFunction(
            (src) => window.lifeline && new Function('s', 't', `return (${src})(s, t)`)(window.lifeline.state, window.lifeline.transport),
            pred.toString(),
            { timeout: ms, polling: 100 },
        );
        return true;
    } catch {
        const now = await page.evaluate(() => window.lifeline && [window.lifeline.state, window.lifeline.transport]);
        console.log(`  (gave up waiting after ${ms} ms: state/transport ${JSON.stringify(now)})`);
        return false;
    }
}

async function open(browser, base, viewport, file = '/', colorScheme = 'light') {
    const context = await browser.newContext({ viewport, colorScheme, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => (problems++, console.log(`  page error: ${e.message}`)));
    page.on('console', (m) => {
        // A refused WebSocket handshake is logged by the browser itself: expected under faults.
        if (m.type() !== 'error' || /^WebSocket connection to .* failed/.test(m.text())) return;
        problems++;
        console.log(`  console error: ${m.text()}`);
    });
    await page.goto(base + file, { waitUntil: 'load', timeout: 15_000 });
    return { context, page };
}

async function shot(page, name, fullPage = false) {
    const file = path.join(OUT, `${name}.png`);
    await page.evaluate(() => (document.activeElement?.blur(), window.scrollTo(0, 0)));
    await sleep(300);
    await page.screenshot({ path: file, fullPage, timeout: 15_000 });
    const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (sw > iw) (problems++, console.log(`  ${name}: horizontal overflow, ${sw} px wide in a ${iw} px viewport`));
    const summary = await page.evaluate(() => ({
        badge: document.getElementById('badge')?.textContent.replace(/\s+/g, ' ').trim(),
        reason: document.getElementById('reason')?.textContent,
        history: [...document.querySelectorAll('#history li')].slice(0, 6).map((li) => li.textContent.replace(/\s+/g, ' ').trim()),
    }));
    console.log(`${file}  ${summary.badge ?? ''} — ${summary.reason ?? ''}`);
    if (!fullPage) for (const h of summary.history) console.log(`    | ${h}`);
}

const want = (name) => !ONLY || ONLY.has(name);

async function main() {
    const server = args.url ? { url: args.url.replace(/\/$/, ''), stop() {} } : await startServer();
    const base = server.url;
    console.log(`server ${base}, screenshots in ${OUT}`);
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: FLAGS,
        timeout: 30_000,
    });
    try {
        await admin(base, '/admin/fault', { mode: 'none' });

        if (want('ws')) {
            const { context, page } = await open(browser, base, DESKTOP);
            await waitLive(page, (s, t) => s === 'open' && t === 'websocket', 10_000);
            await page.click('#inc');
            await page.click('#inc');
            await page.fill('#chat-text', 'Hello from the screenshot script');
            await page.click('#chat-form button[type=submit]');
            await sleep(6000);
            await shot(page, 'desktop-ws');
            await page.setViewportSize(MOBILE);
            await sleep(800);
            await shot(page, 'mobile-ws');
            await shot(page, 'mobile-ws-full', true);
            await context.close();
        }

        if (want('fallback') || want('upgrade')) {
            await admin(base, '/admin/fault', { mode: 'blackhole' });
            const { context, page } = await open(browser, base, DESKTOP);
            await waitLive(page, (s, t) => s === 'open' && (t === 'longpoll' || t === 'poll'), 15_000);
            await sleep(5000);
            if (want('fallback')) {
                await shot(page, 'desktop-fallback');
                await page.setViewportSize(MOBILE);
                await sleep(800);
                await shot(page, 'mobile-fallback');
                await shot(page, 'mobile-fallback-full', true);
                await page.setViewportSize(DESKTOP);
            }
            if (want('upgrade')) {
                await page.click('button.fault[data-mode="none"]'); // through the page, like a person
                await waitLive(page, (s, t) => s === 'open' && t === 'websocket', 45_000);
                await sleep(4000);
                await shot(page, 'desktop-upgrade');
            }
            await context.close();
            await admin(base, '/admin/fault', { mode: 'none' });
        }

        // The fault buttons, as a person uses them; each shot shows the badge, the reason
        // sentence, the timeline with its fault marks and the "What happened" list.
        const faultScene = async (name, steps) => {
            if (!want(name)) return;
            await admin(base, '/admin/fault', { mode: 'none' });
            const { context, page } = await open(browser, base, DESKTOP);
            await waitLive(page, (s, t) => s === 'open' && t === 'websocket', 10_000);
            await sleep(1500);
            await steps(page);
            await shot(page, `desktop-${name}`);
            await shot(page, `desktop-${name}-full`, true);
            await page.setViewportSize(MOBILE);
            await sleep(800);
            await shot(page, `mobile-${name}`);
            await shot(page, `mobile-${name}-full`, true);
            await context.close();
            await admin(base, '/admin/fault', { mode: 'none' });
        };
        const click = (page, sel) => page.click(sel);
        const fault = (page, mode) => click(page, `button.fault[data-mode="${mode}"]`);
        const reconnect = async (page) => {
            await page.waitForFunction(() => !document.getElementById('reconnect').disabled, null, { timeout: 10_000 }).catch(() => {});
            await click(page, '#reconnect');
        };
        const polling = (s, t) => s === 'open' && (t === 'longpoll' || t === 'poll');
        await faultScene('refuse', async (page) => {
            await fault(page, 'refuse');
            await reconnect(page);
            await waitLive(page, polling, 15_000);
            await sleep(3000);
        });
        await faultScene('blackhole', async (page) => {
            await fault(page, 'refuse');
            await reconnect(page);
            await waitLive(page, polling, 15_000);
            await sleep(2000);
            await fault(page, 'blackhole');
            await reconnect(page);
            await waitLive(page, polling, 15_000);
            await sleep(4000);
        });
        await faultScene('stall', async (page) => {
            await fault(page, 'stall');
            await waitLive(page, (s, t) => s !== 'open' || t !== 'websocket', 20_000);
            await sleep(6000);
        });
        await faultScene('flap', async (page) => {
            await fault(page, 'flap');
            await reconnect(page);
            await waitLive(page, polling, 30_000);
            await sleep(8000); // the flapping path stays suspect: polling, probes spaced out
        });
        await faultScene('restart', async (page) => {
            await click(page, '#restart');
            await sleep(500);
            await waitLive(page, (s, t) => s === 'open' && t === 'websocket', 15_000);
            await sleep(3000);
        });

        if (want('remembered')) {
            await admin(base, '/admin/fault', { mode: 'blackhole' });
            const { context, page } = await open(browser, base, DESKTOP);
            await waitLive(page, (s, t) => s === 'open' && (t === 'longpoll' || t === 'poll'), 15_000);
            await sleep(7000); // past wsTimeout: the black-holed WebSocket failed, the fallback is remembered
            await page.reload({ waitUntil: 'load' }); // the same tab loads again: the fallback is remembered
            await waitLive(page, (s, t) => s === 'open' && (t === 'longpoll' || t === 'poll'), 15_000);
            await sleep(3000);
            await shot(page, 'desktop-remembered');
            await page.setViewportSize(MOBILE);
            await sleep(800);
            await shot(page, 'mobile-remembered');
            await context.close();
            await admin(base, '/admin/fault', { mode: 'none' });
        }

        if (want('hidden')) {
            const { context, page } = await open(browser, base, DESKTOP, '/?hiddenGrace=2000');
            await waitLive(page, (s) => s === 'open', 10_000);
            await sleep(2000);
            await page.evaluate(() => {
                Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
                Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
                document.dispatchEvent(new Event('visibilitychange'));
            });
            await waitLive(page, (s) => s === 'paused', 10_000); // the WebSocket closes after the grace
            await sleep(1000);
            // The page does not redraw its charts while hidden (nobody looks): as it stands.
            await shot(page, 'desktop-hidden');
            await context.close();
        }

        if (want('dark')) {
            const { context, page } = await open(browser, base, MOBILE, '/', 'dark');
            await waitLive(page, (s) => s === 'open', 10_000);
            await sleep(4000);
            await shot(page, 'mobile-dark');
            await context.close();
        }

        if (want('script')) {
            const { context, page } = await open(browser, base, DESKTOP, '/script.html');
            await waitLive(page, (s) => s === 'open', 10_000);
            await sleep(5000);
            await shot(page, 'desktop-script');
            await page.setViewportSize(MOBILE);
            await sleep(800);
            await shot(page, 'mobile-script');
            await context.close();
        }
    } finally {
        await admin(base, '/admin/fault', { mode: 'none' }).catch(() => {});
        await browser.close();
        server.stop();
    }
    if (problems) {
        console.log(`${problems} page error(s)`);
        process.exitCode = 1;
    }
}

const watchdog = setTimeout(() => {
    console.error('screenshot.mjs: gave up after 10 minutes');
    process.exit(2);
}, 600_000);
watchdog.unref();
main().catch((e) => {
    console.error(e);
    process.exit(1);
});

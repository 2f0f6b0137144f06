#!/usr/bin/env node
// start-parts.mjs — what the healthy start's remaining parts cost in Chromium, each alone
// (bench/README.md "The healthy start"; run after `make build`):
//
//   node bench/start-parts.mjs [--pages 12]
//
// In a fresh browser context per page (a blank page of a local origin), medians over the pages:
//   lock cold        the first navigator.locks.request(…, {ifAvailable}) of a page, from the
//                    call to its callback (what the first tab of a group waits for)
//   lock after 10 ms of work   the same request followed by 10 ms of busy main thread: does
//                    its latency overlap work the constructor does? (no: it comes after it)
//   lock warmed      the same request 3 ms (idle) after a navigator.locks.query()
//   wasm decode / compile      js/core-wasm.mjs's decoding of dist/lifeline.mjs's inlined
//                    literal (the same loop), then new WebAssembly.Module on the bytes
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, FLAGS } from '../tests/browser/helpers.mjs';
import { median } from './stats.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--pages');
const PAGES = i > 0 ? Math.max(1, Number(process.argv[i + 1])) : 12;
const literal = fs.readFileSync(path.join(ROOT, 'dist/lifeline.mjs'), 'utf8').match(/\nvar LIFELINE_WASM=('.*');\n$/s)?.[1];
if (!literal) throw new Error('dist/lifeline.mjs has no inlined wasm: run make build');
const decoder = fs.readFileSync(path.join(ROOT, 'js/core-wasm.mjs'), 'utf8').match(/function inlined\(text\) \{[\s\S]*?\n\}/)?.[0];
if (!decoder) throw new Error('js/core-wasm.mjs: inlined() not found');
// the page's module: the shipped decoder over the shipped literal
const module = `//# allFunctionsCalledOnLoad
const enc = new TextEncoder();
${decoder}
export function wasm() {
    const t0 = performance.now(), bytes = inlined(${literal}), t1 = performance.now();
    new WebAssembly.Module(bytes);
    return [t1 - t0, performance.now() - t1];
}
`;
const srv = http.createServer((req, res) => {
    const js = req.url === '/wasm.mjs';
    res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(js ? module : '<!doctype html><meta charset="utf-8"><title>start parts</title>');
});
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${srv.address().port}/`;
const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 20000 });

/** One fresh page: f(arg) evaluated in it. */
async function inPage(f, arg) {
    const ctx = await browser.newContext();
    try {
        const page = await ctx.newPage();
        await page.goto(url);
        return await page.evaluate(f, arg);
    } finally {
        await ctx.close();
    }
}
const lock = (o) =>
    inPage(async ({ busy, warm }) => {
        if (warm) {
            navigator.locks.query();
            await new Promise((r) => setTimeout(r, 3));
        }
        const t0 = performance.now();
        const granted = new Promise((r) => navigator.locks.request('x', { ifAvailable: true }, () => r(performance.now() - t0)));
        while (performance.now() - t0 < busy);
        return granted;
    }, o);

const rows = { 'lock cold': [], 'lock after 10 ms of work': [], 'lock warmed (query 3 ms before)': [], 'wasm decode': [], 'wasm compile': [] };
try {
    for (let n = 0; n < PAGES; n++) {
        // interleaved, so the machine's load falls on every row alike
        rows['lock cold'].push(await lock({ busy: 0, warm: false }));
        rows['lock after 10 ms of work'].push(await lock({ busy: 10, warm: false }));
        rows['lock warmed (query 3 ms before)'].push(await lock({ busy: 0, warm: true }));
        const [decode, compile] = await inPage(async () => (await import('/wasm.mjs')).wasm());
        rows['wasm decode'].push(decode);
        rows['wasm compile'].push(compile);
    }
} finally {
    await browser.close();
    srv.close();
}
console.log(`# The healthy start's parts in Chromium, each alone: ${PAGES} fresh pages each, medians (ms)\n`);
console.log('| part | median | all (sorted) |\n| --- | --- | --- |');
for (const [name, v] of Object.entries(rows))
    console.log(
        `| ${name} | ${median(v).toFixed(1)} | ${[...v]
            .sort((a, b) => a - b)
            .map((x) => x.toFixed(1))
            .join(' ')} |`,
    );

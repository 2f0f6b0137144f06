// The README is a landing page: each of its code blocks is a piece of a guide that a test
// runs as written (docs/flask.md, docs/node.md: tests/docs/*-guide.test.mjs), line for line
// (indentation and blank lines aside), or the set-up commands `make test` itself is. So no
// block of the README can drift from what works. Every docs/ page the README links exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../lib/services.mjs';

const read = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const blocksOf = (md) => [...md.matchAll(/^```(\w*)[^\n]*\n([\s\S]*?)^```$/gm)].map(([, lang, text]) => ({ lang, text }));
const lines = (text) =>
    text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
/** The guides' blocks that their tests run: each guide's first-hour section. */
const tested = ['docs/flask.md', 'docs/node.md'].flatMap((p) => {
    const md = read(p);
    return blocksOf(md.slice(0, md.search(/^## (Reference|Every option)/m))).map((b) => lines(b.text));
});
const within = (needle, hay) => hay.some((_, i) => needle.every((l, j) => hay[i + j] === l));

test('every code block of the README is a run-as-written piece of a guide (or the set-up commands)', () => {
    const readme = read('README.md');
    const blocks = blocksOf(readme);
    assert.ok(blocks.length >= 6, 'the quick starts have their blocks');
    for (const { text } of blocks) {
        const want = lines(text);
        if (want.every((l) => /^make (test|demo)\b/.test(l))) continue; // what .ci/run runs
        assert.ok(
            tested.some((hay) => within(want, hay)),
            `README block not in a tested guide block:\n${text}`,
        );
    }
});

test('every docs/ page the README links exists', () => {
    const links = [...read('README.md').matchAll(/\]\((docs\/[^)]+\.md)\)/g)].map((m) => m[1]);
    assert.ok(links.length >= 8);
    for (const l of new Set(links)) assert.ok(fs.existsSync(path.join(ROOT, l)), l);
});

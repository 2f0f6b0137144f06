// layout.test.mjs — the two server libraries are one design with mirrored files
// (server/DESIGN.md "One design, files mirrored"): every role in the layout table names a
// file that exists on both sides, every source file of either library is in the table or in
// the short list of what only its language needs, and both stores implement the one store
// interface (the same method names on both sides).
//
//   node --test tests/js/layout.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NODE = 'server/node';
const FLASK = 'server/flask/lifeline_flask';
const design = fs.readFileSync(path.join(ROOT, 'server/DESIGN.md'), 'utf8');

/** The layout table's rows: {role, node, flask}. */
function layout() {
    const m = /<!-- layout: begin -->([\s\S]*?)<!-- layout: end -->/.exec(design);
    assert.ok(m, 'server/DESIGN.md has the layout table');
    return m[1]
        .split('\n')
        .filter((line) => line.startsWith('|') && !line.startsWith('| ---') && !line.startsWith('| role'))
        .map((line) => {
            const [role, node, flask] = line
                .split('|')
                .slice(1, 4)
                .map((cell) => cell.trim());
            const file = (cell) => /`([^`]+)`/.exec(cell)?.[1];
            return { role, node: file(node), flask: file(flask) };
        });
}

/** Source files under dir, relative to it (generated client files and caches left out). */
function sources(dir, ext) {
    const out = [];
    const walk = (rel) => {
        for (const e of fs.readdirSync(path.join(ROOT, dir, rel), { withFileTypes: true })) {
            const r = rel ? `${rel}/${e.name}` : e.name;
            if (e.isDirectory()) {
                if (!['client', 'lua', '__pycache__'].includes(e.name)) walk(r);
            } else if (e.name.endsWith(ext)) out.push(r);
        }
    };
    walk('');
    return out.sort();
}

/** What only one language needs: the paragraph under the table names each file. */
function ownFiles() {
    const after = design.slice(design.indexOf('<!-- layout: end -->'));
    const paragraph = after.slice(0, after.indexOf('\n\n', after.indexOf('What only one language needs')));
    return new Set([...paragraph.matchAll(/`([\w./]+\.(?:mjs|py|ts))`/g)].map((m) => m[1]));
}

test('every role of the layout table has its file on both sides', () => {
    const rows = layout();
    assert.ok(rows.length >= 15, `${rows.length} roles`);
    for (const { role, node, flask } of rows) {
        assert.ok(node && fs.existsSync(path.join(ROOT, NODE, node)), `${role}: ${NODE}/${node}`);
        assert.ok(flask && fs.existsSync(path.join(ROOT, FLASK, flask)), `${role}: ${FLASK}/${flask}`);
    }
});

test('where the roles match the file names match (same path, the language extension apart)', () => {
    for (const { role, node, flask } of layout()) {
        if (role.startsWith('public entry')) continue; // index.mjs / extension.py: each ecosystem's name
        assert.equal(node.replace(/\.mjs$/, ''), flask.replace(/\.py$/, ''), role);
    }
});

test('every source file of both libraries is in the table or named as its language own', () => {
    const rows = layout();
    const own = ownFiles();
    const node = new Set(rows.map((r) => r.node));
    const flask = new Set(rows.map((r) => r.flask));
    for (const f of sources(NODE, '.mjs').concat(sources(NODE, '.d.ts'))) assert.ok(node.has(f) || own.has(f), `${NODE}/${f} is in server/DESIGN.md's layout`);
    for (const f of sources(FLASK, '.py')) {
        if (f.endsWith('/__init__.py') && f !== '__init__.py') continue; // a subpackage's marker
        assert.ok(flask.has(f) || own.has(f), `${FLASK}/${f} is in server/DESIGN.md's layout`);
    }
});

test('both languages name the store interface alike (server/DESIGN.md "Store interface")', () => {
    const block = /## Store interface[\s\S]*?```\n([\s\S]*?)```/.exec(design)[1];
    const methods = [...block.matchAll(/^(\w+)\(/gm)].map((m) => m[1]);
    assert.deepEqual(methods, ['append', 'read', 'head', 'wait', 'subscribe', 'health', 'clear', 'close']);
    const text = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');
    for (const store of ['memory', 'redis']) {
        const js = text(`${NODE}/stores/${store}.mjs`) + text(`${NODE}/stores/base.mjs`);
        const py = text(`${FLASK}/stores/${store}.py`) + text(`${FLASK}/stores/base.py`);
        for (const m of methods) {
            assert.match(js, new RegExp(`^    (async )?${m}\\(`, 'm'), `Node ${store} store: ${m}()`);
            assert.match(py, new RegExp(`^    def ${m}\\(self`, 'm'), `Flask ${store} store: ${m}()`);
        }
    }
});

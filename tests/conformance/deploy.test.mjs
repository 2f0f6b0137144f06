// Deployment mistakes the servers can see (server/DESIGN.md, protocol/v1.json cursor case
// `issued_elsewhere`): on the memory store, a cursor of a later epoch than the process's own
// was given out by a sibling process serving the same URLs from its own memory. Its reset
// says why and names the fix; an older epoch (a restart) resets without a word.
import { before } from 'node:test';
import assert from 'node:assert/strict';
import { publish } from '../lib/servers.mjs';
import { forEachServer, poll, ROWS } from './matrix.mjs';

forEachServer(
    'deployment mistakes',
    (t) => {
        let url;
        before(() => (url = t.url));

        t.check("a sibling process's cursor (a later epoch): 410 reset to the head, with a message naming LIFELINE_REDIS_URL", async () => {
            await publish(url, 'one');
            const head = (await poll(url)).body.cursor;
            const [epoch] = head.split('-');
            const sibling = `${BigInt(epoch) + 1000n}-3`;
            const r = await poll(url, { cursor: sibling });
            assert.equal(r.status, 410);
            assert.equal(r.body.type, 'reset');
            assert.equal(r.body.cursor, head);
            assert.match(r.body.message, /another process .* own memory: several processes need a shared store \(set LIFELINE_REDIS_URL\)/);
        });

        t.check('an older epoch (this server restarted): 410 reset to the head, no message', async () => {
            await publish(url, 'one');
            const head = (await poll(url)).body.cursor;
            const [epoch] = head.split('-');
            const r = await poll(url, { cursor: `${BigInt(epoch) - 1000n}-3` });
            assert.equal(r.status, 410);
            assert.deepEqual(r.body, { type: 'reset', cursor: head });
        });
    },
    { rows: ROWS.filter((row) => !row.setup) }, // the memory store: Redis keeps one history for all
);

// Reproductions of library bugs the integration suites found, kept as regression tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, admin } from '../lib/servers.mjs';
import { client, FAST, sleep, waitFor, WebSocket } from './helpers.mjs';

/** A WebSocket whose connection starts `ms` late (its URL, and so its cursor, fixed at construction). */
function lateWebSocket(ms) {
    return class LateWS {
        constructor(url, proto) {
            this.binaryType = 'arraybuffer';
            this.t = setTimeout(() => {
                const w = (this.w = new WebSocket(url, proto));
                w.binaryType = this.binaryType;
                for (const n of ['open', 'message', 'close', 'error']) w['on' + n] = (e) => this['on' + n]?.(e);
            }, ms);
        }
        send(d) {
            this.w?.send(d);
        }
        close(code) {
            clearTimeout(this.t);
            this.w?.close(code);
        }
    };
}

// Found by chaos seed 3423344457 (fixed in wasm: a reset answering a cursor that has moved
// since is stale — ignored, or the socket asks again from the cursor).
test(
    'a WebSocket reset frame answering a stale cursor does not skip messages the polls have not delivered yet',
    {
        timeout: 20000,
    },
    async () => {
        const server = await startServer('node', ['--heartbeat', '1000']);
        let l;
        try {
            const old = await publish(server.url, { epoch: 1 }); // a cursor of the first boot
            await admin(server.url, '/admin/restart', {});
            for (let i = 1; i <= 3; i++) await publish(server.url, { i });
            // the first poll (the race poll) is answered at once; later ones leave 1.5 s late
            let n = 0;
            const slowFetch = async (url, init) => {
                if (n++ > 0) await sleep(1500);
                return fetch(url, init);
            };
            let rec;
            ({ l, rec } = client(`${server.url}/live/test`, { ...FAST, cursor: old, WebSocket: lateWebSocket(800), fetch: slowFetch }));
            await waitFor(
                () => rec.resets.length >= 1,
                3000,
                () => `the poll's reset\n${rec.dump()}`,
            );
            const sent = [];
            for (let i = 4; i <= 6; i++) sent.push(await publish(server.url, { i }));
            await sleep(300);
            // the late socket (cursor of the first boot) now opens and is answered with a reset to the head
            await waitFor(
                () => sent.every((c) => rec.messages.some((m) => m.cursor === c)),
                5000,
                () => `messages 4..6 delivered\n${rec.dump()}`,
            );
            assert.equal(rec.resets.length, 1, `one reset for one restart\n${rec.dump()}`);
        } finally {
            l?.close();
            await server.stop();
        }
    },
);

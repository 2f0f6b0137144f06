// conformance-redis.mjs — the shared conformance suite (tests/conformance/, the Node
// engineer's) run against the Flask server on the Redis store: rows the shared matrix does
// not list (its Redis row is Node's). Each row starts its own redis-server.
//
//   node --test server/flask/tests/conformance-redis.mjs        (make test-python runs it)

import { ROWS } from '../../../tests/conformance/matrix.mjs';
import { startRedis, redisAvailable } from '../../../tests/lib/redis.mjs';

async function withRedis() {
    const r = await startRedis();
    return { args: ['--redis', r.url], stop: () => r.stop(), redis: r };
}

ROWS.splice(
    0,
    ROWS.length,
    { label: 'flask --redis', kind: 'flask', args: [], ws: true, setup: withRedis, needs: redisAvailable },
    { label: 'flask --gunicorn 1 --redis', kind: 'flask', args: ['--gunicorn', '1'], ws: true, setup: withRedis, needs: redisAvailable },
);

await import('../../../tests/conformance/protocol.test.mjs');
await import('../../../tests/conformance/streams.test.mjs');

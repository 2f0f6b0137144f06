#!/usr/bin/env node
// cluster.mjs — `make demo-cluster`: the demo page served by four processes of two languages
// on one Redis, behind nginx doing plain round robin (no sticky sessions):
//
//   redis-server              temp dir, no persistence, stopped on exit
//   Flask under gunicorn      demo/flask/server.py --gunicorn 2 --redis …   (two workers)
//   node-1, node-2            demo/server.mjs --redis … --name node-N      (node-1 ticks)
//   nginx                     127.0.0.1:<port> → the three ports, the gunicorn one weighted 2
//
//   node demo/cluster.mjs [--port 8080] [--tick 2000]
//   REDIS=cluster make demo-cluster      the same on a Redis Cluster (3 primaries + 3 replicas,
//                                        tests/lib/services.mjs startRedisCluster)
//
// Prints one URL; Ctrl-C (or SIGTERM) stops everything (tests/lib/services.mjs kills every
// process group it started and removes the temp dirs on any exit).
import { startCluster, startRedisCluster, clusterMissing } from '../tests/lib/services.mjs';

const arg = (k, d) => {
    const i = process.argv.indexOf('--' + k);
    return i > 0 ? process.argv[i + 1] : d;
};
const port = Number(arg('port', 8080));
const tick = Number(arg('tick', 2000));

const missing = clusterMissing();
if (missing) {
    console.error(`demo-cluster: ${missing}`);
    process.exit(1);
}
console.error('demo-cluster: starting redis-server, gunicorn (2 Flask workers), 2 Node processes, nginx…');
let cluster;
try {
    const redis = process.env.REDIS === 'cluster' ? await startRedisCluster() : undefined;
    cluster = await startCluster({ flaskWorkers: 2, nodeProcesses: 2, tick, port, redis });
} catch (e) {
    console.error(`demo-cluster: could not start: ${e.message}`);
    process.exit(1);
}
for (const m of cluster.members) console.error(`  ${m.label.padEnd(8)} ${m.url}  (pid ${m.pid})`);
console.error(`  redis    ${cluster.redis.url}\n  nginx    ${cluster.url}  (round robin)`);
console.log(`demo-cluster: ${cluster.url}/  (Ctrl-C stops everything)`);

// A member that dies on its own is reported, not restarted: the page shows the others
// carrying on (nginx skips a refused upstream).
const reported = new Set();
setInterval(() => {
    for (const m of cluster.members) {
        if (m.alive() || reported.has(m)) continue;
        reported.add(m);
        console.error(`demo-cluster: ${m.label} (pid ${m.pid}) exited:\n${m.output().slice(-2000)}`);
    }
}, 1000);
process.prependListener('SIGINT', () => console.error('\ndemo-cluster: stopping…'));

// example.mjs — the smallest Node app Lifeline keeps live: `node demo/example.mjs`, open the URL.
import http from 'node:http';
import fs from 'node:fs';
import { createLifeline } from '../server/node/index.mjs'; // in an app: from 'lifeline-live/server'

const live = createLifeline();
// the client: dist/lifeline.mjs, and the module it loads on demand to share one connection among tabs
const client = Object.fromEntries(
    ['lifeline.mjs', 'lifeline-share.mjs', 'lifeline-pool.mjs'].map((f) => ['/' + f, fs.readFileSync(new URL('../dist/' + f, import.meta.url))]),
);
const page = `<!doctype html><meta charset="utf-8"><title>news</title><ul id="news"></ul><script type="module">
import { Lifeline } from '/lifeline.mjs';
new Lifeline('/live/news').addEventListener('message', (e) => news.append(Object.assign(document.createElement('li'), { textContent: e.data.title })));
</script>`;
const server = http.createServer(
    (req, res) =>
        live.handle(req, res) ||
        (client[req.url]
            ? res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(client[req.url])
            : res.writeHead(200, { 'Content-Type': 'text/html' }).end(page)),
);
server.on('upgrade', (req, socket, head) => live.upgrade(req, socket, head) || socket.destroy());
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => console.log(`LISTENING http://127.0.0.1:${server.address().port}`));
setInterval(() => live.publish('news', { title: `It is ${new Date().toISOString()}` }), 1000);

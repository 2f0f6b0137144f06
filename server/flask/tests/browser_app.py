"""The README's example app (example/app.py) with a page around it, for the Chromium test
(browser-example.mjs): `/` is a page that lists /live/news through Lifeline, and
`/lifeline.mjs` the built client. Served as the README says: `gevent` (WebSocket) or
`flask-run` (Werkzeug's threaded server: long polling). Prints one LISTENING line."""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))

PAGE = """<!doctype html><meta charset="utf-8"><title>news</title><ul id="news"></ul>
<script type="module">
import { Lifeline } from '/lifeline.mjs';
const live = new Lifeline('/live/news');
window.live = live;
live.addEventListener('message', (e) =>
  news.append(Object.assign(document.createElement('li'), { textContent: e.data.title })));
</script>"""


def main():
    mode, port = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    spec = importlib.util.spec_from_file_location("example_app", HERE.parent / "example" / "app.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    app = example.app
    app.add_url_rule("/", "page", lambda: PAGE)
    # the client, and the modules it loads on demand (tab sharing, pooling)
    for name in ("lifeline.mjs", "lifeline-share.mjs", "lifeline-pool.mjs"):
        app.add_url_rule(
            "/" + name,
            name,
            lambda name=name: (
                (ROOT / "dist" / name).read_bytes(),
                200,
                {"Content-Type": "text/javascript"},
            ),
        )
    if mode == "gevent":
        from lifeline_flask.gevent_server import make_server

        server = make_server(app, "127.0.0.1", port)
        server.start()
        print(f"LISTENING http://127.0.0.1:{server.server_port}", flush=True)
        server.serve_forever()
    else:
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", port, app, threaded=True)
        print(f"LISTENING http://127.0.0.1:{server.server_port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()

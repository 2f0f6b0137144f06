"""The README's example app: over long polling under Werkzeug's threaded server (`flask
run`) and over WebSocket under gevent."""

import importlib.util
import json
import threading
from pathlib import Path

from wsclient import WsClient
from test_gevent import wait_until

EXAMPLE = Path(__file__).resolve().parents[1] / "example" / "app.py"


def load_example():
    spec = importlib.util.spec_from_file_location("lifeline_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_over_long_polling_under_flask_run(threaded_server):
    example = load_example()
    srv = threaded_server(example.app)
    status, _, body = srv.get_json("/live/news")
    cursor = body["cursor"]
    out = []
    t = threading.Thread(
        target=lambda: out.append(srv.get_json(f"/live/news?cursor={cursor}&wait=20000"))
    )
    t.start()
    wait_until(lambda: example.app.extensions["lifeline"].sessions.count("long_poll") == 1)
    status, _, body = srv.request(
        "POST", "/news", json.dumps({"title": "hi"}), headers={"Content-Type": "application/json"}
    )
    assert status == 200
    t.join(15)
    assert out[0][2]["messages"][0]["data"] == {"title": "hi"}


def test_example_over_websocket_under_gevent(gevent_server):
    example = load_example()
    srv = gevent_server(example.app)
    ws = WsClient(srv.port, "/live/news")
    ws.next_of("hello")
    srv.request(
        "POST", "/news", json.dumps({"title": "live"}), headers={"Content-Type": "application/json"}
    )
    assert ws.next()["data"] == {"title": "live"}
    # the example has no on_send: a send is refused before authorize is asked (spec
    # "ws_send": sends enabled, then authorize)
    ws.send({"type": "send", "id": 1, "data": "no session"})
    assert ws.next()["error"] == "sends_disabled"
    ws.close()

"""Werkzeug's threaded development server, as `flask run` serves an app: polls and long
polls (a thread each, waiting on a threading.Event), no WebSocket."""

import json
import socket
import threading
import time

import pytest
from flask import Flask

from lifeline_flask import Lifeline
from wsclient import HandshakeRefused, WsClient
from test_gevent import wait_until


def test_long_polls_wait_without_blocking_other_requests(threaded_server):
    app = Flask("run")
    live = Lifeline(app)
    srv = threaded_server(app)
    c0 = live.publish("news", 0)
    results = []
    polls = [
        threading.Thread(
            target=lambda: results.append(
                srv.get_json(f"/live/news?cursor={c0}&wait=20000", timeout=30)
            )
        )
        for _ in range(3)
    ]
    for t in polls:
        t.start()
    wait_until(
        lambda: app.extensions["lifeline"].sessions.count("long_poll") == 3,
        what="three held long polls",
    )
    status, _, b = srv.get_json("/live/other")  # answered while they wait
    assert status == 200
    c1 = live.publish("news", "hello")
    for t in polls:
        t.join(15)
    assert [r[0] for r in results] == [200, 200, 200]
    assert all(r[2]["messages"] == [{"cursor": c1, "data": "hello"}] for r in results)


def test_a_send_wakes_a_long_poll(threaded_server):
    app = Flask("run")
    live = Lifeline(app)
    live.on_send(lambda stream, data, request: live.publish(stream, data))
    srv = threaded_server(app)
    c0 = live.publish("chat", 0)
    out = []
    t = threading.Thread(
        target=lambda: out.append(srv.get_json(f"/live/chat?cursor={c0}&wait=20000"))
    )
    t.start()
    wait_until(lambda: app.extensions["lifeline"].sessions.count("long_poll") == 1)
    status, _, body = srv.request("POST", "/live/chat", body=json.dumps({"id": 1, "data": "yo"}))
    assert status == 200 and json.loads(body) == {"ack": 1}
    t.join(15)
    assert out[0][2]["messages"][0]["data"] == "yo"


def test_an_upgrade_gets_an_ordinary_poll_answer(threaded_server):
    app = Flask("run")
    live = Lifeline(app)
    srv = threaded_server(app)
    cursor = live.publish("news", 1)
    with pytest.raises(HandshakeRefused) as e:
        WsClient(srv.port, "/live/news")
    assert e.value.status == 200
    assert json.loads(e.value.body) == {"cursor": cursor, "messages": []}


def test_a_foreign_origin_upgrade_is_refused(threaded_server):
    app = Flask("run")
    Lifeline(app)
    srv = threaded_server(app)
    with pytest.raises(HandshakeRefused) as e:
        WsClient(srv.port, "/live/news", headers={"Origin": "https://evil.example"})
    assert e.value.status == 403


def test_a_vanished_long_poll_client_releases_its_thread_waiter(threaded_server):
    app = Flask("run")
    live = Lifeline(app)
    srv = threaded_server(app)
    c0 = live.publish("news", 0)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(f"GET /live/news?cursor={c0}&wait=25000 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    sessions = app.extensions["lifeline"].sessions
    wait_until(lambda: sessions.count("long_poll") == 1)
    sock.close()
    wait_until(lambda: sessions.count("long_poll") == 0, what="the waiter released")
    assert srv.get_json(f"/live/news?cursor={c0}")[0] == 204


def test_long_poll_max_caps_the_hold(threaded_server):
    app = Flask("run")
    live = Lifeline(app, long_poll_max=300)
    srv = threaded_server(app)
    c0 = live.publish("news", 0)
    t0 = time.monotonic()
    status, headers, _ = srv.get_json(f"/live/news?cursor={c0}&wait=60000", timeout=30)
    assert status == 204 and headers["lifeline-long-poll"] == "300"
    assert time.monotonic() - t0 < 20  # the cap, not the asked 60 s

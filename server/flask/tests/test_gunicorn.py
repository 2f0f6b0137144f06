"""Under gunicorn's stock worker (`-k geventwebsocket.gunicorn.workers.GeventWebSocketWorker`),
as a user deploys an app: the WebSocket with `lifeline.v1`, long polls, a foreign origin,
and a long poll whose client vanishes."""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from redis_server import free_port
from test_gevent import wait_until
from lifeline_flask.protocol import SUBPROTOCOL
from wsclient import WsClient

HERE = Path(__file__).resolve().parent


@pytest.fixture
def gunicorn():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    proc = subprocess.Popen(
        [
            "/usr/bin/python3",
            "-m",
            "gunicorn",
            "-k",
            "geventwebsocket.gunicorn.workers.GeventWebSocketWorker",
            "-w",
            "1",
            "--graceful-timeout",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "gunicorn_app:app",
        ],
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        end = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < end and proc.poll() is None, "gunicorn did not start"
                time.sleep(0.05)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def get_json(port, path):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        conn.close()


def test_stock_worker_serves_websocket_sends_and_polls(gunicorn):
    ws = WsClient(gunicorn, "/live/chat")
    assert ws.protocol == SUBPROTOCOL
    hello = ws.next()
    assert hello["type"] == "hello"
    ws.send({"type": "send", "id": 1, "data": "hi"})
    frames = [ws.next(), ws.next()]
    assert {"type": "ack", "id": 1} in frames
    status, body = get_json(gunicorn, f"/live/chat?cursor={hello['cursor']}")
    assert status == 200 and body["messages"][0]["data"] == "hi"
    ws.close()


def test_stock_worker_foreign_origin_gets_an_error_frame_and_1008(gunicorn):
    ws = WsClient(gunicorn, "/live/chat", headers={"Origin": "https://evil.example"})
    frames, code = ws.expect_close()
    assert frames == [
        {
            "type": "error",
            "code": "forbidden_origin",
            "message": "this origin may not open a WebSocket here",
        }
    ]
    assert code == 1008


def test_stock_worker_releases_a_vanished_long_poll(gunicorn):
    status, body = get_json(gunicorn, "/live/news")
    sock = socket.create_connection(("127.0.0.1", gunicorn), timeout=5)
    sock.sendall(
        f"GET /live/news?cursor={body['cursor']}&wait=25000 HTTP/1.1\r\n" "Host: x\r\n\r\n".encode()
    )
    wait_until(lambda: get_json(gunicorn, "/held")[1]["longpoll"] == 1, what="held")
    sock.close()
    wait_until(lambda: get_json(gunicorn, "/held")[1]["longpoll"] == 0, what="released")

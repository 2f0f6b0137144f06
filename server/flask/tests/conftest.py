"""Fixtures: apps, and real servers on free loopback ports, always stopped.

`gevent_server(app)` serves an app with gevent's WSGIServer and Lifeline's WebSocket
handler from a thread of its own (its own gevent hub), so the test thread can publish from
outside the server's hub (as a CLI command or a worker thread would) and block on sockets.
`threaded_server(app)` serves it with Werkzeug's threaded server, as `flask run` does.
"""

import http.client
import json
import os
import sys
import threading

import pytest
from flask import Flask

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lifeline_flask import Lifeline  # noqa: E402


@pytest.fixture
def app():
    app = Flask("lifeline_test")
    app.config["TESTING"] = True
    return app


@pytest.fixture
def live(app):
    return Lifeline(app)


@pytest.fixture
def client(app, live):
    return app.test_client()


class Server:
    def __init__(self, port, stop):
        self.port = port
        self._stop = stop

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, headers dict lower-cased, body bytes) of one request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get_json(self, path, **kw):
        status, headers, body = self.request("GET", path, **kw)
        return status, headers, (json.loads(body) if body else None)

    def stop(self):
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


@pytest.fixture
def gevent_server():
    started = []

    def start(app, websocket=True):
        from lifeline_flask.gevent_server import make_server

        ready = threading.Event()
        box = {}

        def run():
            import gevent

            server = make_server(app, "127.0.0.1", 0, websocket=websocket)
            server.start()
            box["server"] = server
            box["stopper"] = gevent.get_hub().loop.async_()
            box["stopper"].start(lambda: server.stop(timeout=1))
            ready.set()
            server.serve_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert ready.wait(10), "gevent server did not start"

        def stop():
            box["stopper"].send()
            thread.join(10)

        srv = Server(box["server"].server_port, stop)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def threaded_server():
    started = []

    def start(app):
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop():
            server.shutdown()
            thread.join(10)

        srv = Server(server.server_port, stop)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def redis_server():
    """A started throwaway redis-server (RedisServer), always removed afterwards."""
    from redis_server import RedisServer

    server = RedisServer()
    server.start()
    yield server
    server.remove()

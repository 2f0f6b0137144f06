"""The demo/test server (demo/flask/server.py) as the other suites start it: one LISTENING
line in every run mode (port 0), `Lifeline-Served-By` and `hello.server`, the admin API
loopback-only and same-origin, the --auth-test rule, and plain `flask run`."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from wsclient import WsClient

ROOT = Path(__file__).resolve().parents[3]
SERVER = ROOT / "demo" / "flask" / "server.py"
PYTHON = "/usr/bin/python3"


class Demo:
    def __init__(self, *args, cwd=ROOT, argv=None):
        self.proc = subprocess.Popen(
            argv or [PYTHON, str(SERVER), "--port", "0", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self.lines = []
        end = time.monotonic() + 20
        while time.monotonic() < end:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            self.lines.append(line)
            m = re.match(r"^LISTENING http://127\.0\.0\.1:(\d+)\s*$", line)
            if m:
                self.port = int(m.group(1))
                return
        self.stop()
        raise AssertionError(f"no LISTENING line: {self.lines} {self.proc.stderr.read()[-2000:]}")

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@pytest.fixture
def demo():
    started = []

    def start(*args, **kw):
        d = Demo(*args, **kw)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


@pytest.mark.parametrize("mode", [[], ["--no-websocket"], ["--flask-run"], ["--gunicorn", "1"]])
def test_every_run_mode_prints_one_listening_line_and_serves(demo, mode):
    d = demo("--name", "demo-1", *mode)
    status, headers, body = d.request("POST", "/admin/publish", json.dumps({"data": {"n": 1}}))
    assert status == 200 and headers["lifeline-served-by"] == "demo-1"
    cursor = json.loads(body)["cursor"]
    status, headers, body = d.request("GET", "/live/test?cursor=0")
    assert status == 200 and headers["lifeline-served-by"] == "demo-1"
    assert json.loads(body)["messages"] == [{"cursor": cursor, "data": {"n": 1}}]
    assert d.request("GET", "/")[0] == 200  # demo/public
    assert sum(1 for line in d.lines if line.startswith("LISTENING")) == 1


@pytest.mark.parametrize("mode", [[], ["--gunicorn", "1"]])
def test_the_101_and_hello_name_the_server(demo, mode):
    d = demo("--name", "demo-2", *mode)
    ws = WsClient(d.port, "/live/test")
    assert ws.headers["lifeline-served-by"] == "demo-2"
    assert ws.next()["server"] == "demo-2"
    ws.close()


def test_sends_are_published_to_their_stream_and_the_tick_runs(demo):
    d = demo("--tick", "50")
    status, _, body = d.request("POST", "/live/chat", json.dumps({"id": 1, "data": "hi"}))
    assert status == 200 and json.loads(body) == {"ack": 1}
    assert json.loads(d.request("GET", "/live/chat?cursor=0")[2])["messages"][0]["data"] == "hi"
    end = time.monotonic() + 10
    while time.monotonic() < end:
        status, _, body = d.request("GET", "/live/ticker?cursor=0")
        if status == 200:
            assert json.loads(body)["messages"][0]["data"]["kind"] == "tick"
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no tick")


def test_auth_test_rule(demo):
    d = demo("--auth-test")
    assert d.request("GET", "/live/private-1")[0] == 403
    assert d.request("GET", "/live/private-1", headers={"X-User": "ok"})[0] == 200
    assert d.request("GET", "/live/private-1", headers={"Cookie": "user=ok"})[0] == 200
    status, _, body = d.request("POST", "/live/readonly-1", json.dumps({"id": 1, "data": 1}))
    assert status == 403 and json.loads(body)["error"] == "read_only"
    status, _, body = d.request("GET", "/live/throw-1")
    assert status == 500 and json.loads(body)["error"] == "internal"
    assert d.request("GET", "/live/open")[0] == 200  # the process goes on


def test_no_sends_refuses_every_send(demo):
    d = demo("--no-sends")
    status, _, body = d.request("POST", "/live/chat", json.dumps({"id": 1, "data": 1}))
    assert status == 405 and json.loads(body)["error"] == "sends_disabled"


def test_admin_refuses_a_foreign_origin(demo):
    d = demo()
    status, _, body = d.request(
        "POST", "/admin/restart", "{}", headers={"Origin": "https://evil.example"}
    )
    assert status == 403


def test_flask_run_serves_the_demo_app(demo):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [PYTHON, "-m", "flask", "--app", "server.py", "run", "--port", str(port)],
        cwd=ROOT / "demo" / "flask",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        end = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/live/test")
                r = conn.getresponse()
                assert r.status == 200 and "cursor" in json.loads(r.read())
                conn.close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < end, "flask run did not start"
                time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)

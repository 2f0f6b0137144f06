"""Real servers: gevent's WSGIServer with Lifeline's WebSocket handler, on free loopback
ports (conftest.py). WebSocket sessions, hooks and origins on the upgrade, publishes from
threads and greenlets while long polls and WebSockets wait, and bad input."""

import json
import socket
import threading
import time

import pytest
from flask import Flask

from lifeline_flask import Lifeline, Rejected
from lifeline_flask.protocol import BEAT_QUERY_VALUE, LIMITS, SUBPROTOCOL
from wsclient import HandshakeRefused, WsClient


def wait_until(fn, timeout=15.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def make_app(**options):
    app = Flask("gevent_test")
    live = Lifeline(app, **options)
    calls = []

    @live.authorize
    def authorize(stream, action, request):
        calls.append((stream, action))
        return not stream.startswith("private-") or request.cookies.get("user") == "ok"

    @live.on_send
    def on_send(stream, data, request):
        if stream.startswith("readonly-"):
            raise Rejected("read_only", "read-only stream", 403)
        if data == "boom":
            raise RuntimeError("hook failed")
        live.publish(stream, data)

    return app, live, calls


# ---- sessions -------------------------------------------------------------------------


def test_websocket_hello_catch_up_and_live_messages(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    c1 = live.publish("news", 1)
    ws = WsClient(srv.port, "/live/news?cursor=0")
    assert ws.protocol == SUBPROTOCOL
    hello = ws.next()
    assert hello["type"] == "hello" and hello["cursor"] == c1 and hello["heartbeat"] == 25000
    assert ws.next() == {"type": "msg", "cursor": c1, "data": 1}
    c2 = live.publish("news", {"live": True})  # from this thread, outside the hub
    assert ws.next() == {"type": "msg", "cursor": c2, "data": {"live": True}}
    ws.send({"type": "ping"})
    assert ws.next() == {"type": "pong"}
    ws.close()


def test_websocket_stale_cursor_gets_reset_then_hello(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    head = live.publish("news", 1)
    ws = WsClient(srv.port, "/live/news?cursor=123-9")
    assert ws.next() == {"type": "reset", "cursor": head}
    assert ws.next()["type"] == "hello"
    ws.close()


def test_websocket_heartbeat_pings_an_idle_socket(gevent_server):
    app, live, _ = make_app(heartbeat=1000)
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/news")
    hello = ws.next()
    assert hello["heartbeat"] == 1000 and "beat" not in hello
    ws.sock.settimeout(2.0)
    opcode, payload = ws._frame()  # read without answering: a control ping, unanswered
    assert (opcode, payload) == (0x9, b"")
    # and, written nothing for a heartbeat, the protocol's ping
    assert ws.next() == {"type": "ping"}
    ws.send({"type": "pong"})
    ws.close()


def test_websocket_that_asks_for_beats_gets_them_and_its_empty_frames_are_signs_of_life(
    gevent_server,
):
    app, live, _ = make_app(heartbeat=2600)
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/news?beat=" + BEAT_QUERY_VALUE)
    hello = ws.next()
    assert (hello["heartbeat"], hello["beat"]) == (2600, 2600)
    ws.send_frame("")  # a beat from the client: answered by nothing, not a bad frame
    start = time.monotonic()
    assert ws.next_frame() == (0x1, b"")  # the first gap, beat_first_ms
    assert time.monotonic() - start >= (LIMITS["beat_first_ms"] - 100) / 1000
    live.publish("news", 1)
    assert ws.next()["type"] == "msg"
    ws.send({"type": "ping"})
    assert ws.next() == {"type": "pong"}
    ws.close()


def test_websocket_sends_are_acked_rejected_or_disabled(gevent_server):
    app, live, calls = make_app()
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/chat")
    ws.next_of("hello")
    ws.send({"type": "send", "id": 1, "data": "hi"})
    frames = [ws.next(), ws.next()]
    assert {"type": "ack", "id": 1} in frames
    assert any(f.get("type") == "msg" and f["data"] == "hi" for f in frames)
    assert ("chat", "send") in calls
    ws.close()

    ro = WsClient(srv.port, "/live/readonly-1")
    ro.next_of("hello")
    ro.send({"type": "send", "id": 2, "data": "x"})
    assert ro.next() == {
        "type": "ack",
        "id": 2,
        "error": "read_only",
        "message": "read-only stream",
    }
    ro.send({"type": "ping"})
    assert ro.next() == {"type": "pong"}  # the socket stays open
    ro.close()

    bare = Flask("bare")
    Lifeline(bare)
    srv2 = gevent_server(bare)
    ws = WsClient(srv2.port, "/live/chat")
    ws.next_of("hello")
    ws.send({"type": "send", "id": 3, "data": "x"})
    frame = ws.next()
    assert frame["type"] == "ack" and frame["id"] == 3 and frame["error"] == "sends_disabled"
    ws.close()


def test_websocket_send_refused_by_authorize_gets_a_rejecting_ack(gevent_server):
    app = Flask("x")
    live = Lifeline(app)
    live.authorize(lambda stream, action, request: action == "subscribe")
    live.on_send(lambda stream, data, request: live.publish(stream, data))
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/chat")
    ws.next_of("hello")
    ws.send({"type": "send", "id": 4, "data": "x"})
    frame = ws.next()
    assert frame["type"] == "ack" and frame["id"] == 4 and frame["error"] == "forbidden"
    ws.close()


def test_websocket_hook_that_raises_closes_1011_internal(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/chat")
    ws.next_of("hello")
    ws.send({"type": "send", "id": 1, "data": "boom"})
    frames, code = ws.expect_close()
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "internal"
    assert code == 1011
    ws2 = WsClient(srv.port, "/live/chat")  # the server goes on
    assert ws2.next()["type"] == "hello"
    ws2.close()


def test_authorize_refuses_an_upgrade_with_an_error_frame_and_1008(gevent_server):
    app, live, calls = make_app()
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/private-1")
    frames, code = ws.expect_close()
    assert frames == [
        {"type": "error", "code": "forbidden", "message": "not allowed to subscribe to 'private-1'"}
    ]
    assert code == 1008
    ok = WsClient(srv.port, "/live/private-1", headers={"Cookie": "user=ok"})
    assert ok.next()["type"] == "hello"
    ok.close()


# ---- origins on the upgrade -------------------------------------------------------------


def test_a_foreign_origin_upgrade_is_refused_with_403_and_no_101(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    with pytest.raises(HandshakeRefused) as e:
        WsClient(srv.port, "/live/news", headers={"Origin": "https://evil.example"})
    assert e.value.status == 403
    assert json.loads(e.value.body)["error"] == "forbidden_origin"
    own = WsClient(srv.port, "/live/news", headers={"Origin": f"http://127.0.0.1:{srv.port}"})
    assert own.next()["type"] == "hello"
    own.close()


def test_a_listed_origin_may_open_the_websocket(gevent_server):
    app, live, _ = make_app(origins=["https://app.example"])
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/news", headers={"Origin": "https://app.example"})
    assert ws.next()["type"] == "hello"
    ws.close()


def test_an_upgrade_to_an_invalid_stream_url_is_a_404(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    for path in ("/live", "/live/a/b", "/live/bad%20name"):
        with pytest.raises(HandshakeRefused) as e:
            WsClient(srv.port, path)
        assert e.value.status == 404, path


# ---- publishing from elsewhere while others wait -----------------------------------------


def test_publish_from_a_thread_and_a_greenlet_reaches_waiting_long_polls_and_sockets(gevent_server):
    app, live, _ = make_app()

    @app.get("/publish-in-greenlet")
    def publish_in_greenlet():
        import gevent

        gevent.spawn(live.publish, "news", "from a greenlet").join()
        return "ok"

    srv = gevent_server(app)
    c0 = live.publish("news", 0)
    sockets = [WsClient(srv.port, f"/live/news?cursor={c0}") for _ in range(3)]
    for ws in sockets:
        ws.next_of("hello")
    results = []

    def long_poll():
        results.append(srv.get_json(f"/live/news?cursor={c0}&wait=20000", timeout=30))

    polls = [threading.Thread(target=long_poll) for _ in range(3)]
    for t in polls:
        t.start()
    wait_until(
        lambda: app.extensions["lifeline"].sessions.count("long_poll") == 3,
        what="three held long polls",
    )
    # another request is served while they wait (cooperative waits)
    status, _, _ = srv.get_json("/live/other")
    assert status == 200
    c1 = live.publish("news", "from a thread")
    for t in polls:
        t.join(15)
    assert [r[0] for r in results] == [200, 200, 200]
    assert all(r[2]["messages"] == [{"cursor": c1, "data": "from a thread"}] for r in results)

    # now from a greenlet of the server's own hub (as a view or ticker would)
    assert srv.request("GET", "/publish-in-greenlet")[0] == 200
    for ws in sockets:
        assert ws.next()["data"] == "from a thread"
        assert ws.next()["data"] == "from a greenlet"
        ws.close()


def test_a_long_poll_client_that_vanishes_releases_its_waiter(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    state = app.extensions["lifeline"]
    c0 = live.publish("news", 0)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(f"GET /live/news?cursor={c0}&wait=25000 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    wait_until(lambda: state.sessions.count("long_poll") == 1, what="the long poll held")
    sock.close()
    wait_until(
        lambda: state.sessions.count("long_poll") == 0,
        timeout=15,
        what="the vanished client's waiter released",
    )
    # nothing lost for anyone else
    c1 = live.publish("news", 1)
    status, _, b = srv.get_json(f"/live/news?cursor={c0}")
    assert status == 200 and b["messages"] == [{"cursor": c1, "data": 1}]


def test_long_polls_wait_per_stream(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    ca = live.publish("a", 0)
    out = []
    t = threading.Thread(target=lambda: out.append(srv.get_json(f"/live/a?cursor={ca}&wait=1500")))
    t.start()
    wait_until(lambda: app.extensions["lifeline"].sessions.count("long_poll") == 1)
    live.publish("b", "elsewhere")  # another stream: no answer for `a`
    t.join(10)
    assert out[0][0] == 204


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame,code", [("not json", 1008), ('{"no":"type"}', 1008), ('{"type":"send","id":"x"}', 1008)]
)
def test_bad_frames_get_an_error_frame_and_close_and_others_go_on(gevent_server, frame, code):
    app, live, _ = make_app()
    srv = gevent_server(app)
    other = WsClient(srv.port, "/live/news")
    other.next_of("hello")
    ws = WsClient(srv.port, "/live/news")
    ws.next_of("hello")
    ws.send_frame(frame)
    frames, closed = ws.expect_close()
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "bad_frame"
    assert closed == code
    c = live.publish("news", "still here")
    assert other.next() == {"type": "msg", "cursor": c, "data": "still here"}
    other.close()


def test_binary_frames_close_1003(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/news")
    ws.next_of("hello")
    ws.send_frame(b"\x00\x01", opcode=0x2)
    frames, code = ws.expect_close()
    assert frames[-1]["code"] == "bad_frame" and code == 1003


def test_an_oversized_frame_closes_1009_too_large(gevent_server):
    app, live, _ = make_app(max_body=1000)
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/news")
    ws.next_of("hello")
    ws.send({"type": "send", "id": 1, "data": "x" * 5000})
    frames, code = ws.expect_close()
    assert frames[-1]["code"] == "too_large" and code == 1009
    assert app.extensions["lifeline"].store.head("news").endswith("-0")  # nothing appended


def test_a_bad_websocket_cursor_is_an_error_frame(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/news?cursor=abc")
    frames, code = ws.expect_close()
    assert frames[-1]["code"] == "bad_request" and code == 1008


def test_without_websocket_an_upgrade_gets_a_poll_answer(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app, websocket=False)
    with pytest.raises(HandshakeRefused) as e:
        WsClient(srv.port, "/live/news")
    assert e.value.status == 200
    assert json.loads(e.value.body)["messages"] == []


def test_a_session_that_falls_behind_retention_closes_1013(gevent_server):
    app, live, _ = make_app(retention=2, batch=1)
    srv = gevent_server(app)
    c0 = live.publish("news", 0)
    ws = WsClient(srv.port, f"/live/news?cursor={c0}")
    ws.next_of("hello")
    # the socket's reader is not reading: a burst larger than retention overruns it
    state = app.extensions["lifeline"]
    session = [h for h in state.sessions.all() if h.kind == "websocket"][0]
    session.frozen = True
    for i in range(5):
        live.publish("news", i)
    session.frozen = False
    session.wake()
    frames, code = ws.expect_close()
    assert frames[-1]["code"] == "overflow" and code == 1013

"""WebSocket v2 (many streams over one socket) on gevent's server with Lifeline's handler:
what tests/conformance/v2.test.mjs does not reach from outside — a subscription that falls
behind or loses its history mid-stream (a reset, not a close), the registry (one socket
counted, disconnect counting subscriptions), a restart's drop, and the negotiation."""

import pytest
from flask import Flask

from lifeline_flask import Lifeline
from lifeline_flask.protocol import SUBPROTOCOL, SUBPROTOCOL_V2
from lifeline_flask.session import SUBSCRIPTION, WEBSOCKET
from test_gevent import make_app, wait_until
from wsclient import Closed, WsClient

V2 = f"{SUBPROTOCOL_V2}, {SUBPROTOCOL}"


def open_v2(srv, path, **kw):
    ws = WsClient(srv.port, path, protocol=V2, **kw)
    assert ws.protocol == SUBPROTOCOL_V2
    hello = ws.next()
    assert hello["type"] == "hello" and hello["v"] == 2 and "cursor" not in hello
    return ws


def sessions_of(app, kind):
    return [s for s in app.extensions["lifeline"].sessions.all() if s.kind == kind]


def test_subprotocol_is_chosen_from_the_offer():
    app = Flask("negotiation")
    state = Lifeline(app).state(app)
    assert state.subprotocol("/live/a", "lifeline.v2, lifeline.v1") == SUBPROTOCOL_V2
    assert state.subprotocol("/live/a", "lifeline.v1,lifeline.v2") == SUBPROTOCOL_V2
    assert state.subprotocol("/live/a", "lifeline.v1") == SUBPROTOCOL
    assert state.subprotocol("/live/a", "lifeline.v2x, lifeline.v1") == SUBPROTOCOL
    assert state.subprotocol("/live/a", "") == SUBPROTOCOL
    assert state.subprotocol("/elsewhere", "lifeline.v2") is None
    assert state.subprotocol("/live/not a name", "lifeline.v2") is None


def test_v2_socket_counts_once_and_disconnect_counts_subscriptions(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    ws = open_v2(srv, "/live/a")
    assert ws.next()["type"] == "subd"
    ws.send({"type": "sub", "subs": [[2, "b", None], [3, "a", None]]})
    assert [ws.next()["s"] for _ in range(2)] == [2, 3]
    wait_until(lambda: len(sessions_of(app, SUBSCRIPTION)) == 3, what="three subscriptions")
    assert app.extensions["lifeline"].sessions.count(WEBSOCKET) == 1
    assert live.disconnect("a") == 2  # the subscriptions of `a`, not the socket
    got = sorted((f["type"], f["s"], f["code"]) for f in (ws.next(), ws.next()))
    assert got == [("refused", 1, "revoked"), ("refused", 3, "revoked")]
    cur = live.publish("b", "still")
    assert ws.next() == {"type": "msg", "s": 2, "cursor": cur, "data": "still"}
    wait_until(lambda: len(sessions_of(app, SUBSCRIPTION)) == 1, what="one subscription")
    assert live.disconnect() == 1  # every stream: b's subscription, not the socket
    assert ws.next()["code"] == "revoked"
    ws.send({"type": "ping"})
    assert ws.next() == {"type": "pong"}
    ws.close()
    wait_until(lambda: not app.extensions["lifeline"].sessions.all(), what="all sessions gone")


def test_a_subscription_that_falls_behind_retention_is_reset_and_goes_on(gevent_server):
    app, live, _ = make_app(retention=2, batch=1)
    srv = gevent_server(app)
    c0 = live.publish("news", 0)
    ws = open_v2(srv, f"/live/news?cursor={c0}")
    assert ws.next() == {"type": "subd", "s": 1, "cursor": c0}
    ws.send({"type": "sub", "subs": [[2, "other", None]]})
    assert ws.next()["s"] == 2
    socket_session = sessions_of(app, WEBSOCKET)[0]
    socket_session.frozen = True  # the writer writes nothing: a burst overruns retention
    for i in range(5):
        last = live.publish("news", i)
    socket_session.frozen = False
    socket_session.wake()
    assert ws.next() == {"type": "reset", "s": 1, "cursor": last}
    cur = live.publish("news", "after")
    assert ws.next() == {"type": "msg", "s": 1, "cursor": cur, "data": "after"}
    cur = live.publish("other", "too")
    assert ws.next() == {"type": "msg", "s": 2, "cursor": cur, "data": "too"}
    ws.close()


def test_a_lost_history_resets_every_subscription_and_the_socket_stays(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    live.publish("a", 1)
    b = live.publish("b", 1)
    ws = open_v2(srv, "/live/a")
    ws.next()  # subd 1
    ws.send({"type": "sub", "subs": [[2, "b", b]]})
    assert ws.next() == {"type": "subd", "s": 2, "cursor": b}
    app.extensions["lifeline"].store.clear()  # a new epoch
    resets = sorted((f["type"], f["s"]) for f in (ws.next(), ws.next()))
    assert resets == [("reset", 1), ("reset", 2)]
    cur = live.publish("b", "new")
    assert ws.next() == {"type": "msg", "s": 2, "cursor": cur, "data": "new"}
    ws.close()


def test_a_dropped_subscription_ends_its_socket_as_a_restart_does(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    ws = open_v2(srv, "/live/a")
    ws.next()
    wait_until(lambda: sessions_of(app, SUBSCRIPTION), what="the subscription")
    for session in app.extensions["lifeline"].sessions.all():
        session.drop()
    with pytest.raises((Closed, OSError)):
        while True:
            ws.next()
    wait_until(lambda: not app.extensions["lifeline"].sessions.all(), what="all sessions gone")


def test_after_unsub_and_a_new_sub_of_the_same_id_only_the_new_stream_follows(gevent_server):
    app, live, _ = make_app(batch=1)
    srv = gevent_server(app)
    ws = open_v2(srv, "/live/a")
    ws.next()
    for i in range(50):
        live.publish("old", i)
    ws.send({"type": "sub", "subs": [[2, "old", "0"]]})
    ws.send({"type": "unsub", "s": 2})
    ws.send({"type": "sub", "subs": [[2, "new", None]]})
    frames = []
    while True:
        f = ws.next()
        frames.append(f)
        if f["type"] == "subd" and f["cursor"].endswith("-0"):
            break
    cur = live.publish("new", "n")
    assert ws.next() == {"type": "msg", "s": 2, "cursor": cur, "data": "n"}
    ws.send({"type": "ping"})
    assert ws.next() == {"type": "pong"}  # nothing of `old` after the new subd
    ws.close()


def test_a_v1_offer_is_served_v1_on_the_same_server(gevent_server):
    app, live, _ = make_app()
    srv = gevent_server(app)
    ws = WsClient(srv.port, "/live/a")
    assert ws.protocol == SUBPROTOCOL
    hello = ws.next()
    assert hello["type"] == "hello" and "cursor" in hello and "v" not in hello
    ws.send({"type": "sub", "subs": [[2, "b", None]]})  # not a v1 frame: ignored
    ws.send({"type": "ping"})
    assert ws.next() == {"type": "pong"}
    ws.close()

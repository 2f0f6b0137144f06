"""authorize and on_send over HTTP (Flask's test client), and cross-site safety for POSTs
and polls. The WebSocket side of both is in test_gevent.py."""

import json

import pytest
from flask import Flask

from lifeline_flask import Lifeline, Rejected


def body(resp):
    return json.loads(resp.data)


def send(client, stream, payload, **kw):
    data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return client.post(f"/live/{stream}", data=data, content_type="text/plain;charset=UTF-8", **kw)


@pytest.fixture
def guarded():
    """authorize: `private-*` needs the header user=ok; on_send publishes, `readonly-*`
    rejected; calls recorded."""
    app = Flask("guarded")
    live = Lifeline(app)
    calls = []

    @live.authorize
    def authorize(stream, action, request):
        calls.append((stream, action))
        return not stream.startswith("private-") or request.headers.get("user") == "ok"

    @live.on_send
    def on_send(stream, data, request):
        calls.append((stream, "on_send"))
        if stream.startswith("readonly-"):
            raise Rejected("read_only", f"{stream} is read-only", 403)
        if data == "boom":
            raise RuntimeError("the hook failed")
        live.publish(stream, {"echo": data})

    return app, live, calls


def test_authorize_refuses_a_poll_with_403(guarded):
    app, live, calls = guarded
    c = app.test_client()
    r = c.get("/live/private-1")
    assert r.status_code == 403 and body(r)["error"] == "forbidden"
    assert c.get("/live/private-1", headers={"user": "ok"}).status_code == 200
    assert ("private-1", "subscribe") in calls


def test_authorize_refuses_a_long_poll_before_holding_it(guarded):
    app, live, calls = guarded
    cursor = live.publish("private-1", 1)
    r = app.test_client().get(f"/live/private-1?cursor={cursor}&wait=20000")
    assert r.status_code == 403 and body(r)["error"] == "forbidden"


def test_authorize_is_asked_on_every_poll(guarded):
    app, live, calls = guarded
    c = app.test_client()
    for _ in range(3):
        c.get("/live/open")
    assert calls.count(("open", "subscribe")) == 3


def test_authorize_refuses_a_send_with_403_and_nothing_is_published(guarded):
    app, live, calls = guarded
    c = app.test_client()
    r = send(c, "private-1", {"id": 1, "data": "x"})
    assert r.status_code == 403 and body(r)["error"] == "forbidden"
    assert ("private-1", "send") in calls
    assert c.get("/live/private-1?cursor=0", headers={"user": "ok"}).status_code == 204


def test_on_send_accepts_after_the_hook_ran(guarded):
    app, live, calls = guarded
    c = app.test_client()
    r = send(c, "chat", {"id": 7, "data": "hi"})
    assert r.status_code == 200 and body(r) == {"ack": 7}
    assert body(c.get("/live/chat?cursor=0"))["messages"][0]["data"] == {"echo": "hi"}


def test_rejected_answers_its_status_and_code(guarded):
    app, live, calls = guarded
    r = send(app.test_client(), "readonly-x", {"id": 1, "data": 1})
    assert r.status_code == 403
    assert body(r) == {"error": "read_only", "message": "readonly-x is read-only"}


def test_a_hook_that_raises_is_a_500_internal_and_the_app_goes_on(guarded):
    app, live, calls = guarded
    c = app.test_client()
    r = send(c, "chat", {"id": 1, "data": "boom"})
    assert r.status_code == 500 and body(r)["error"] == "internal"
    assert send(c, "chat", {"id": 2, "data": "fine"}).status_code == 200


def test_an_authorize_hook_that_raises_is_a_500():
    app = Flask("x")
    live = Lifeline(app)

    @live.authorize
    def authorize(stream, action, request):
        raise KeyError("oops")

    r = app.test_client().get("/live/news")
    assert r.status_code == 500 and body(r)["error"] == "internal"


def test_no_on_send_hook_refuses_sends_with_405(client):
    r = send(client, "chat", {"id": 1, "data": "x"})
    assert r.status_code == 405 and body(r)["error"] == "sends_disabled"


def test_rejected_checks_its_arguments():
    assert Rejected().code == "rejected" and Rejected().status == 400
    for status in (200, 408, 429, 500):
        with pytest.raises(ValueError):
            Rejected("x", status=status)


# ---- bad sends ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        '{"id":1',
        "[1,2]",
        '{"data":1}',
        '{"id":-1}',
        '{"id":"1"}',
        '{"id":1.5}',
        '{"id":1,"data":NaN}',
        b"\xff\xfe",
    ],
)
def test_malformed_sends_are_400_and_reach_no_on_send(guarded, payload):
    app, live, calls = guarded
    r = send(app.test_client(), "chat", payload)
    assert r.status_code == 400 and body(r)["error"] == "bad_request"
    # the spec's order (check_order "post"): authorize before the body is read, on_send after
    assert calls == [("chat", "send")]


def test_an_oversized_send_is_413():
    app = Flask("x")
    live = Lifeline(app, max_body=100)
    live.on_send(lambda stream, data, request: None)
    c = app.test_client()
    assert send(c, "chat", {"id": 1, "data": "x" * 200}).status_code == 413
    assert send(c, "chat", {"id": 1, "data": "x" * 50}).status_code == 200


# ---- cross-site safety ----------------------------------------------------------------


def test_a_foreign_origin_may_not_send_by_default(guarded):
    app, live, calls = guarded
    c = app.test_client()
    r = send(c, "chat", {"id": 1, "data": 1}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and body(r)["error"] == "forbidden_origin"
    assert ("chat", "send") not in calls
    same = send(c, "chat", {"id": 2, "data": 1}, headers={"Origin": "http://localhost"})
    assert same.status_code == 200  # the request's own origin
    assert send(c, "chat", {"id": 3, "data": 1}).status_code == 200  # no Origin: not a page


def test_a_listed_origin_may_send_and_read_polls():
    app = Flask("x")
    live = Lifeline(app, origins=["https://app.example"])
    live.on_send(lambda stream, data, request: None)
    c = app.test_client()
    r = send(c, "chat", {"id": 1, "data": 1}, headers={"Origin": "https://app.example"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    p = c.get("/live/chat", headers={"Origin": "https://app.example"})
    assert p.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Lifeline-Long-Poll" in p.headers["Access-Control-Expose-Headers"]
    other = c.get("/live/chat", headers={"Origin": "https://other.example"})
    assert other.status_code == 200  # polls are never refused...
    assert "Access-Control-Allow-Origin" not in other.headers  # ...but not readable


def test_star_allows_every_origin():
    app = Flask("x")
    live = Lifeline(app, origins="*")
    live.on_send(lambda stream, data, request: None)
    c = app.test_client()
    r = send(c, "chat", {"id": 1, "data": 1}, headers={"Origin": "https://any.example"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"


def test_preflight_answers_listed_origins():
    app = Flask("x")
    Lifeline(app, origins=["https://app.example"])
    c = app.test_client()
    r = c.options(
        "/live/chat",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    r = c.options("/live/chat", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Methods" not in r.headers


def test_trust_proxy_takes_the_own_origin_from_forwarded_headers():
    for trust, expected in ((True, 200), (False, 403)):
        app = Flask("x")
        live = Lifeline(app, trust_proxy=trust)
        live.on_send(lambda stream, data, request: None)
        r = send(
            app.test_client(),
            "chat",
            {"id": 1, "data": 1},
            headers={
                "Origin": "https://public.example",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "public.example",
            },
        )
        assert r.status_code == expected


def test_origins_option_is_parsed_and_normalised_as_nodes():
    from lifeline_flask.origin import parse_origins

    assert parse_origins("*") == "*"
    assert parse_origins("https://a.example, *") == "*"
    assert parse_origins("https://A.example:443/, http://b.example:8080") == [
        "https://a.example",
        "http://b.example:8080",
    ]
    assert parse_origins(["HTTP://[::1]:80", "null", " "]) == ["http://[::1]", "null"]
    assert parse_origins(None) == []
    for bad in (5, ["http://a", 5]):
        with pytest.raises(ValueError):
            parse_origins(bad)

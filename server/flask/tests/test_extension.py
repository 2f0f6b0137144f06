"""The extension as a Flask user meets it: init patterns, options, publish, stream URLs,
polls, cursors and retention (Flask's test client)."""

import json
import math
import threading
import time

import pytest
from flask import Flask

from lifeline_flask import Lifeline, MemoryStore


def body(resp):
    return json.loads(resp.data)


# ---- set-up -------------------------------------------------------------------------


def test_constructor_with_app_mounts_streams_and_keeps_state_in_extensions():
    app = Flask("a")
    live = Lifeline(app)
    state = app.extensions["lifeline"]
    assert state.live is live
    assert isinstance(state.store, MemoryStore)
    assert app.test_client().get("/live/news").status_code == 200


def test_init_app_pattern_and_config_keys():
    live = Lifeline()
    app = Flask("b")
    app.config.update(
        LIFELINE_URL_PREFIX="/stream",
        LIFELINE_HEARTBEAT=1000,
        LIFELINE_LONG_POLL_MAX=0,
        LIFELINE_INTERVAL=1500,
        LIFELINE_BATCH=2,
        LIFELINE_RETENTION=3,
        LIFELINE_RETENTION_MS=60000,
        LIFELINE_MAX_BODY=100,
        LIFELINE_ORIGINS="https://a.example, https://b.example",
        LIFELINE_TRUST_PROXY=True,
    )
    live.init_app(app)
    cfg = app.extensions["lifeline"].config
    assert cfg["heartbeat"] == 1000 and cfg["batch"] == 2 and cfg["max_body"] == 100
    assert cfg["origins"] == ["https://a.example", "https://b.example"]
    assert cfg["trust_proxy"] is True
    assert app.extensions["lifeline"].store.retention == 3
    assert app.extensions["lifeline"].store.retention_ms == 60000
    c = app.test_client()
    assert c.get("/live/news").status_code == 404
    r = c.get("/stream/news")
    assert r.status_code == 200
    assert r.headers["Lifeline-Interval"] == "1500"
    assert "Lifeline-Long-Poll" not in r.headers  # long_poll_max 0: no long polls


def test_constructor_options_win_over_config():
    app = Flask("c")
    app.config["LIFELINE_BATCH"] = 7
    Lifeline(app, batch=3)
    assert app.extensions["lifeline"].config["batch"] == 3


def test_bad_options_are_clear_errors():
    with pytest.raises(TypeError, match="unknown options"):
        Lifeline(hearbeat=5)
    for bad in (
        {"batch": 0},
        {"retention": "10"},
        {"url_prefix": "live"},
        {"url_prefix": "/live/"},
        {"origins": 5},
        {"heartbeat": -1},
        {"trust_proxy": "false"},
        {"interval": -1},
        {"retention_ms": 0},
    ):
        with pytest.raises(ValueError):
            Lifeline(Flask("d"), **bad)


def test_no_thread_or_state_is_created_at_import_or_construction():
    before = threading.active_count()
    live = Lifeline()
    assert threading.active_count() == before
    with pytest.raises(RuntimeError, match="not initialised"):
        live.publish("news", 1)


def test_one_lifeline_on_two_apps_keeps_their_streams_apart():
    live = Lifeline()
    a, b = Flask("a"), Flask("b")
    live.init_app(a)
    live.init_app(b)
    with a.app_context():
        live.publish("news", "for a")
    assert body(a.test_client().get("/live/news?cursor=0"))["messages"][0]["data"] == "for a"
    assert b.test_client().get("/live/news?cursor=0").status_code == 204  # nothing there


# ---- publish ------------------------------------------------------------------------


def test_publish_returns_increasing_cursors_and_polls_see_them(client, live):
    c1 = live.publish("news", {"n": 1})
    c2 = live.publish("news", [1, "two", None])
    e1, o1 = map(int, c1.split("-"))
    e2, o2 = map(int, c2.split("-"))
    assert (e1, o1 + 1) == (e2, o2)
    r = client.get("/live/news?cursor=0")
    assert body(r) == {
        "cursor": c2,
        "messages": [{"cursor": c1, "data": {"n": 1}}, {"cursor": c2, "data": [1, "two", None]}],
    }
    assert r.headers["ETag"] == f'"{c2}"'


def test_publish_rejects_what_json_cannot_hold_and_bad_names(live):
    with pytest.raises(TypeError):
        live.publish("news", {"when": object()})
    with pytest.raises(ValueError):
        live.publish("news", math.nan)
    with pytest.raises(ValueError, match="bad stream name"):
        live.publish("bad name", 1)
    with pytest.raises(ValueError):
        live.publish("x" * 201, 1)


def test_publish_from_a_thread_outside_any_app_context(client, live):
    out = []
    t = threading.Thread(target=lambda: out.append(live.publish("news", "from a thread")))
    t.start()
    t.join(5)
    assert body(client.get("/live/news?cursor=0"))["messages"][0] == {
        "cursor": out[0],
        "data": "from a thread",
    }


def test_streams_are_independent(client, live):
    live.publish("a", 1)
    live.publish("a", 2)
    cb = live.publish("b", 3)
    assert cb.endswith("-1")  # offsets count per stream
    assert [m["data"] for m in body(client.get("/live/b?cursor=0"))["messages"]] == [3]


# ---- stream URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/live",
        "/live/a/b",
        "/live/bad%20name",
        "/live/" + "x" * 201,
        "/live/a%2Fb",
        "/live/%C3%A9",
    ],
)
def test_invalid_stream_urls_are_json_404(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert body(r)["error"] == "not_found"
    assert client.post(path, data='{"id":1}').status_code == 404


def test_the_prefix_itself_is_the_poll_of_many_streams_not_a_stream(client):
    # v2 (docs/protocol.md "Polling many streams"): a GET naming no stream is 400, a POST 405
    r = client.get("/live/")
    assert r.status_code == 400 and body(r)["error"] == "bad_request"
    r = client.post("/live/", data='{"id":1}')
    assert r.status_code == 405 and body(r)["error"] == "method_not_allowed"


def test_every_valid_name_is_a_stream(client):
    for name in ["a", "x" * 200, "Room_1.2:3-4", "-", "..", "0"]:
        assert client.get(f"/live/{name}").status_code == 200, name


def test_other_methods_get_405_with_allow(client):
    for method in ("put", "delete", "patch"):
        r = getattr(client, method)("/live/news")
        assert r.status_code == 405
        assert r.headers["Allow"] == "GET, HEAD, POST, OPTIONS"
        assert body(r)["error"] == "method_not_allowed"


def test_paths_outside_the_prefix_are_left_to_the_app(app, live):
    @app.get("/hello")
    def hello():
        return "hi"

    c = app.test_client()
    assert c.get("/hello").data == b"hi"
    assert c.get("/nothing").status_code == 404


# ---- polls and cursors ----------------------------------------------------------------


def test_poll_without_cursor_is_from_now(client, live):
    live.publish("news", 1)
    r = client.get("/live/news")
    assert r.status_code == 200
    assert body(r)["messages"] == [] and body(r)["cursor"].endswith("-1")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Lifeline-Long-Poll"] == "25000"


def test_nothing_new_is_204_and_a_matching_if_none_match_304(client, live):
    c = live.publish("news", 1)
    r = client.get(f"/live/news?cursor={c}")
    assert r.status_code == 204 and r.data == b"" and r.headers["ETag"] == f'"{c}"'
    r = client.get("/live/news", headers={"If-None-Match": f'"{c}"'})
    assert r.status_code == 304


def test_cursor_ahead_or_of_another_epoch_is_a_410_reset(client, live):
    c = live.publish("news", 1)
    epoch, offset = c.split("-")
    for stale in (f"{epoch}-{int(offset) + 1}", f"{int(epoch) - 1}-1", "5"):
        r = client.get(f"/live/news?cursor={stale}")
        assert r.status_code == 410, stale
        assert body(r) == {"type": "reset", "cursor": c}


@pytest.mark.parametrize(
    "query",
    [
        "cursor=abc",
        "cursor=-1",
        "cursor=1-2-3",
        "cursor=99999999999999999999",
        "cursor=",
        "wait=soon",
        "cursor=0&wait=-5",
    ],
)
def test_bad_cursor_or_wait_is_400(client, query):
    r = client.get(f"/live/news?{query}")
    assert r.status_code == 400
    assert body(r)["error"] == "bad_request"


def test_retention_by_count_resets_a_cursor_that_fell_out():
    app = Flask("r")
    live = Lifeline(app, retention=2)
    c1 = live.publish("s", 1)
    live.publish("s", 2)
    live.publish("s", 3)
    c = app.test_client()
    assert [m["data"] for m in body(c.get("/live/s?cursor=0"))["messages"]] == [2, 3]
    assert c.get(f"/live/s?cursor={c1}").status_code == 200  # oldest retained - 1: fine
    epoch = c1.split("-")[0]
    assert c.get(f"/live/s?cursor={epoch}-0").status_code == 410  # fell out of retention


def test_retention_by_age_drops_old_messages():
    clock = [1_000_000]
    store = MemoryStore(retention=100, retention_ms=1000, clock_ms=lambda: clock[0])
    app = Flask("r")
    live = Lifeline(app, store=store)
    first = live.publish("s", "old")
    clock[0] += 600
    live.publish("s", "newer")
    clock[0] += 600
    msgs = body(app.test_client().get("/live/s?cursor=0"))["messages"]
    assert [m["data"] for m in msgs] == ["newer"]
    assert app.test_client().get(f"/live/s?cursor={first}").status_code == 200
    assert app.test_client().get(f"/live/s?cursor={first.split('-')[0]}-0").status_code == 410


def test_batch_caps_a_poll_answer():
    app = Flask("b")
    live = Lifeline(app, batch=2)
    cursors = [live.publish("s", i) for i in range(5)]
    r = body(app.test_client().get("/live/s?cursor=0"))
    assert [m["data"] for m in r["messages"]] == [0, 1] and r["cursor"] == cursors[1]
    r = body(app.test_client().get(f"/live/s?cursor={r['cursor']}"))
    assert [m["data"] for m in r["messages"]] == [2, 3]


def test_long_poll_in_the_test_client_answers_when_a_thread_publishes(client, live):
    c = live.publish("news", 0)
    threading.Timer(0.2, live.publish, ("news", "late")).start()
    t0 = time.monotonic()
    r = client.get(f"/live/news?cursor={c}&wait=10000")
    assert r.status_code == 200
    assert body(r)["messages"][0]["data"] == "late"
    assert time.monotonic() - t0 < 9  # answered by the publish, not the timeout


def test_long_poll_ends_with_204_after_the_wait(client, live):
    c = live.publish("news", 0)
    r = client.get(f"/live/news?cursor={c}&wait=300")
    assert r.status_code == 204


def test_clear_gives_a_new_epoch_and_old_cursors_reset(client, app, live):
    c = live.publish("news", 1)
    app.extensions["lifeline"].store.clear()
    r = client.get(f"/live/news?cursor={c}")
    assert r.status_code == 410
    assert body(r)["cursor"].split("-")[0] != c.split("-")[0]


def test_publish_from_a_cli_command(app, live, client):
    @app.cli.command("announce")
    def announce():
        print(live.publish("news", "from the CLI"))

    result = app.test_cli_runner().invoke(args=["announce"])
    assert result.exit_code == 0, result.output
    cursor = result.output.strip()
    assert body(client.get("/live/news?cursor=0"))["messages"] == [
        {"cursor": cursor, "data": "from the CLI"}
    ]

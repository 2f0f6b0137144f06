"""Hostile-input rules of the Flask half that need no server (issue 20; the wire-level
tests of every rule are tests/conformance/hostile.test.mjs, on both servers)."""

import json

import pytest
from flask import Flask

from lifeline_flask import Lifeline
from lifeline_flask.jsontext import SEND_ID_MAX, dumps, loads, nests_deeper_than, send_id


def test_a_lone_surrogate_is_written_escaped_and_reads_back():
    text = dumps({"s": "a\ud800b", "ok": "é😀"})
    assert "\\ud800" in text and "é😀" in text
    text.encode("utf-8")  # what a raw surrogate would make fail
    assert json.loads(text) == {"s": "a\ud800b", "ok": "é😀"}


def test_nesting_depth_counts_brackets_outside_strings_only():
    assert not nests_deeper_than('{"a":[[1]]}', 3)
    assert nests_deeper_than('{"a":[[1]]}', 2)
    assert not nests_deeper_than('{"a":"[[[[[[[[\\"[["}', 1)
    with pytest.raises(ValueError):
        loads("[" * 65 + "]" * 65, 64)
    assert loads("[" * 64 + "]" * 64, 64) is not None


@pytest.mark.parametrize(
    "value,expected",
    [
        (0, 0),
        (1.0, 1),
        (SEND_ID_MAX, SEND_ID_MAX),
        (SEND_ID_MAX + 1, None),
        (1e30, None),
        (1.5, None),
        (-1, None),
        (True, None),
        ("1", None),
        (None, None),
    ],
)
def test_send_ids_are_integers_up_to_2_53_minus_1(value, expected):
    assert send_id(value) == expected


def test_disconnect_validates_its_arguments_and_ends_nothing_when_idle():
    app = Flask("a")
    live = Lifeline(app)
    assert live.disconnect("news") == 0
    assert live.disconnect(None, where=lambda request: True) == 0
    with pytest.raises(ValueError):
        live.disconnect("bad name")
    with pytest.raises(TypeError):
        live.disconnect("news", where="nope")


def test_methods_on_a_stream_url_are_json_answers():
    app = Flask("a")
    Lifeline(app)
    client = app.test_client()
    trace = client.open("/live/news", method="TRACE")
    assert trace.status_code == 405
    assert trace.get_json()["error"] == "method_not_allowed"
    assert "GET" in trace.headers["Allow"]
    brew = client.open("/live/news", method="BREW")
    assert brew.status_code == 400
    assert client.get("/live/news?" + "&".join(f"p{i}=1" for i in range(1000))).status_code == 200
    assert client.get("/live/news?pad=" + "x" * 8100).status_code == 414

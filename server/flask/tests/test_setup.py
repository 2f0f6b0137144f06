"""A Flask developer's first hour: the client the extension serves (one template tag, no
build step), options from the environment, and several gunicorn workers on the memory
store refused at start with the fix named."""

import json
import os

import pytest
from flask import Flask, render_template_string

from lifeline_flask import Lifeline
from lifeline_flask.extension import gunicorn_workers, resolve_options

CLIENT = os.path.join(os.path.dirname(__file__), "..", "lifeline_flask", "client")
needs_client = pytest.mark.skipif(
    not os.path.exists(os.path.join(CLIENT, "manifest.json")), reason="no built client: make build"
)


def manifest():
    with open(os.path.join(CLIENT, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


@needs_client
def test_one_template_tag_loads_the_served_client_cached_for_a_year():
    app = Flask("a")
    Lifeline(app, url_prefix="/updates")
    with app.test_request_context():
        page = render_template_string("{{ lifeline.script_tag() }}|{{ lifeline.client_url() }}")
    tag, module_url = page.split("|")
    assert tag == f'<script src="/updates/client/{manifest()["lifeline.js"]}"></script>'
    assert module_url == f'/updates/client/{manifest()["lifeline.mjs"]}'
    client = app.test_client()
    resp = client.get(f'/updates/client/{manifest()["lifeline.js"]}')
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    with open(os.path.join(CLIENT, manifest()["lifeline.js"]), "rb") as f:
        assert resp.data == f.read()
    head = client.head(f'/updates/client/{manifest()["lifeline.wasm"]}')
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Type"] == "application/wasm"
    missing = client.get("/updates/client/lifeline.000000000000.js")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


@needs_client
def test_the_served_client_is_the_node_handlers_and_the_builds():
    # one build, two servers: the Flask copy is dist/client/ byte for byte
    dist = os.path.join(os.path.dirname(__file__), "..", "..", "..", "dist", "client")
    for name in os.listdir(CLIENT):
        with open(os.path.join(CLIENT, name), "rb") as a, open(os.path.join(dist, name), "rb") as b:
            assert a.read() == b.read(), name


@needs_client
def test_script_tag_errors_name_what_is_accepted():
    app = Flask("b")
    live = Lifeline(app)
    with app.app_context():
        assert (
            str(live.script_tag("csp"))
            == f'<script src="/live/client/{manifest()["lifeline.csp.js"]}"></script>'
        )
        with pytest.raises(ValueError, match="build is 'script' or 'csp', not 'nope'"):
            live.script_tag("nope")
        with pytest.raises(ValueError, match="no client file 'lifeline.exe'; there are "):
            live.client_url("lifeline.exe")


def test_options_from_the_environment_after_arguments_and_config():
    env = {
        "LIFELINE_HEARTBEAT": "5000",
        "LIFELINE_BATCH": "9",
        "LIFELINE_REDIS_URL": "redis://h:1/0",
        "LIFELINE_ORIGINS": "https://a.example, https://b.example",
        "LIFELINE_TRUST_PROXY": "on",
        "LIFELINE_INTERVAL": "none",
        "LIFELINE_RETENTION": "",
    }
    out = resolve_options({"batch": 3}, {"LIFELINE_HEARTBEAT": 7000}, env)
    assert out["batch"] == 3  # the argument wins
    assert out["heartbeat"] == 7000  # then app.config
    assert out["redis_url"] == "redis://h:1/0"  # then the environment
    assert out["origins"] == ["https://a.example", "https://b.example"]
    assert out["trust_proxy"] is True and out["interval"] is None
    assert out["retention"] == 1000  # empty: unset
    with pytest.raises(ValueError, match=r"^LIFELINE_BATCH must be a whole number, not 'ten'$"):
        resolve_options({}, {}, {"LIFELINE_BATCH": "ten"})
    with pytest.raises(ValueError, match="LIFELINE_TRUST_PROXY must be true or false"):
        resolve_options({}, {}, {"LIFELINE_TRUST_PROXY": "maybe"})


def test_redis_url_from_the_environment_makes_the_redis_store(monkeypatch):
    monkeypatch.setenv("LIFELINE_REDIS_URL", "redis://127.0.0.1:1/0")
    app = Flask("c")
    Lifeline(app)
    assert type(app.extensions["lifeline"].store).__name__ == "RedisStore"
    app.extensions["lifeline"].store.close()


@pytest.mark.parametrize(
    "argv, environ, workers",
    [
        (["/usr/bin/gunicorn", "-w", "4", "app:app"], {}, 4),
        (
            ["/usr/lib/python3/dist-packages/gunicorn/__main__.py", "--workers=3", "app:app"],
            {},
            3,
        ),  # python -m gunicorn
        (["gunicorn", "-w2", "app:app"], {}, 2),
        (["gunicorn", "app:app"], {"WEB_CONCURRENCY": "5"}, 5),
        (["gunicorn", "app:app"], {"GUNICORN_CMD_ARGS": "--bind 127.0.0.1:8000 --workers 6"}, 6),
        (["gunicorn", "app:app"], {}, 1),
    ],
)
def test_gunicorn_workers_from_its_command_line_and_environment(argv, environ, workers):
    assert gunicorn_workers(argv, environ) == workers


def test_several_gunicorn_workers_on_the_memory_store_refuse_to_start(monkeypatch):
    monkeypatch.setattr("sys.argv", ["gunicorn", "-w", "4", "app:app"])
    monkeypatch.delenv("LIFELINE_REDIS_URL", raising=False)
    with pytest.raises(
        RuntimeError,
        match=r"gunicorn runs 4 workers, but the streams are in the "
        r"memory store.*Set LIFELINE_REDIS_URL",
    ):
        Lifeline(Flask("d"))
    Lifeline(
        Flask("e"), redis_url="redis://127.0.0.1:1/0"
    ).state().store.close()  # with Redis: fine
    monkeypatch.setattr("sys.argv", ["gunicorn", "-w", "1", "app:app"])
    Lifeline(Flask("f"))  # one worker: fine

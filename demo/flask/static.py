"""The demo page: demo/public at /, the built library at /dist (make build)."""

from pathlib import Path

from flask import Blueprint, send_from_directory

from lifeline_flask import error_response

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_DIR = ROOT / "demo" / "public"
DIST_DIR = ROOT / "dist"


def make_static():
    bp = Blueprint("demo_static", __name__)

    @bp.get("/")
    def index():
        if (PUBLIC_DIR / "index.html").is_file():
            return send_from_directory(PUBLIC_DIR, "index.html", max_age=0)
        return error_response(404, "not_found", "demo/public/index.html is missing")

    @bp.get("/dist/<path:name>")
    def dist(name):
        return send_from_directory(DIST_DIR, name, max_age=0)

    @bp.get("/<path:name>")
    def public(name):
        return send_from_directory(PUBLIC_DIR, name, max_age=0)

    return bp

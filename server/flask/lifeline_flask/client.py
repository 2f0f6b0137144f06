"""The browser client, served by the extension itself: no build step, no npm, one tag.

The package carries the built client files in ``lifeline_flask/client/`` (package data of
the wheel ``make wheel`` builds; ``make build`` writes them in a checkout), each under a
name that carries a hash of its content, with ``manifest.json`` mapping plain names to
hashed ones (``tools/client-files.mjs``). The extension serves them at
``<prefix>/client/<hashed name>``, cached by browsers for a year, and templates get

    {{ lifeline.script_tag() }}                  <script src="/live/client/lifeline.<hash>.js">
    {{ lifeline.script_tag("csp") }}             the strict-CSP build
    {{ lifeline.client_url("lifeline.mjs") }}    the ES module's URL, to import from

The files are public code: any origin may load them (``Access-Control-Allow-Origin: *``).
"""

import json
import os

from flask import Response
from markupsafe import Markup

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client")
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
}
SCRIPTS = {"script": "lifeline.js", "csp": "lifeline.csp.js"}


class ClientFiles:
    """The built client under one URL prefix."""

    def __init__(self, prefix):
        self.base = prefix + "/client/"
        self._files = None  # hashed name -> (plain name, bytes), read once

    def _load(self):
        if self._files is None:
            self._files = {}
            try:
                with open(os.path.join(DIR, "manifest.json"), encoding="utf-8") as f:
                    manifest = json.load(f)
            except OSError:
                manifest = {}
            for plain, hashed in manifest.items():
                with open(os.path.join(DIR, hashed), "rb") as f:
                    self._files[hashed] = (plain, f.read())
        return self._files

    def url(self, plain):
        """The URL of a plain file name (``lifeline.js``); a clear error when missing."""
        for hashed, (name, _) in self._load().items():
            if name == plain:
                return self.base + hashed
        known = sorted(name for name, _ in self._load().values())
        if known:
            raise ValueError(f"Lifeline: no client file {plain!r}; there are {', '.join(known)}")
        raise RuntimeError(
            "Lifeline: this installation of lifeline_flask has no built client "
            "(lifeline_flask/client/): install the wheel `make wheel` builds, or run "
            "`make build` in a checkout"
        )

    def script_tag(self, build="script"):
        if build not in SCRIPTS:
            raise ValueError(f"Lifeline: script_tag build is 'script' or 'csp', not {build!r}")
        return Markup(f'<script src="{self.url(SCRIPTS[build])}"></script>')

    def response(self, hashed, method):
        """The answer for a request of ``<prefix>/client/<hashed>``, None when unknown."""
        found = self._load().get(hashed)
        if found is None:
            return None
        body = found[1]
        resp = Response(
            b"" if method == "HEAD" else body, content_type=TYPES[os.path.splitext(hashed)[1]]
        )
        resp.headers["Content-Length"] = str(len(body))
        resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        resp.headers["Access-Control-Allow-Origin"] = "*"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

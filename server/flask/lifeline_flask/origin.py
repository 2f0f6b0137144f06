"""Cross-site safety (server/DESIGN.md "Cross-site safety").

A request whose `Origin` is neither its own origin (scheme + Host; with `trust_proxy`,
X-Forwarded-Proto / X-Forwarded-Host) nor listed in `origins` may not open the WebSocket
(403, no 101) nor POST (403 forbidden_origin). A request without `Origin` is allowed (not a
browser page, or a same-origin GET). Polls are never refused for their origin: a foreign
page cannot read the answer unless CORS allows it, which only listed origins get.
"""

from urllib.parse import urlsplit

from .protocol import HEADERS, LIMITS

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(origin):
    """`scheme://host[:port]` as a browser writes an Origin (lower case, no default port, no
    path); a string that is not such a URL (`null`) is kept as it is (as Node's)."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return origin
    if not parts.scheme or not parts.hostname:
        return origin
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def parse_origins(value):
    """The `origins` option (spec: options.origins, the same in Node): '*', a list of
    origins, or a comma-separated string of them; '*' anywhere means every origin. Returns
    '*' or a list of normalised origins; ValueError for anything else."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(o, str) for o in value
    ):
        raise ValueError(
            "Lifeline option origins must be '*', a list of origins, or a "
            f"comma-separated string, not {value!r}"
        )
    items = [o.strip() for o in value if o.strip()]
    if "*" in items:
        return "*"
    return [normalize_origin(o) for o in items]


def own_origin(environ, trust_proxy):
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    if trust_proxy:
        proto = environ.get("HTTP_X_FORWARDED_PROTO")
        fwd_host = environ.get("HTTP_X_FORWARDED_HOST")
        if proto:
            scheme = proto.split(",")[0].strip().lower()
        if fwd_host:
            host = fwd_host.split(",")[0].strip()
    host = host.lower()
    # a default port is not part of an origin as browsers write it
    for default in ((":80", "http"), (":443", "https")):
        if host.endswith(default[0]) and scheme == default[1]:
            host = host[: -len(default[0])]
    return f"{scheme}://{host}"


def listed(origin, origins):
    """Whether `origins` ('*', or a list of normalised origins) lets `origin` in."""
    return origin is not None and (origins == "*" or normalize_origin(origin) in origins)


def origin_allowed(environ, origins, trust_proxy):
    """May this request open a WebSocket or send (POST)?"""
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    return (
        origin != "null" and normalize_origin(origin) == own_origin(environ, trust_proxy)
    ) or listed(origin, origins)


def add_cors(resp, environ, origins):
    """CORS for listed origins (echoed) or all ('*'); no Allow-Origin for others."""
    origin = environ.get("HTTP_ORIGIN")
    if origins == "*":
        resp.headers["Access-Control-Allow-Origin"] = "*"
    elif listed(origin, origins):
        resp.headers["Access-Control-Allow-Origin"] = origin
    # on every answer (the spec's headers): an answer depends on Origin (CORS, POST and
    # upgrade refusals); without Access-Control-Allow-Origin the expose list gives nothing away
    resp.headers.add("Vary", HEADERS["vary"])
    resp.headers["Access-Control-Expose-Headers"] = HEADERS["expose"]
    return resp


def add_preflight(resp, environ, origins):
    """An OPTIONS answer: methods and headers for a listed origin."""
    origin = environ.get("HTTP_ORIGIN")
    if listed(origin, origins):
        resp.headers["Access-Control-Allow-Methods"] = HEADERS["cors_allow_methods"]
        asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        resp.headers["Access-Control-Allow-Headers"] = asked or HEADERS["cors_allow_headers"]
        resp.headers["Access-Control-Max-Age"] = str(LIMITS["preflight_max_age"])
    resp.headers["Allow"] = HEADERS["allow"]
    return add_cors(resp, environ, origins)

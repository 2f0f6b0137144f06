"""Cross-site safety (server/DESIGN.md "Cross-site safety").

A request whose `Origin` is neither its own origin (scheme + Host; with `trust_proxy`,
X-Forwarded-Proto / X-Forwarded-Host) nor listed in `origins` may not open the WebSocket
(403, no 101) nor POST (403 forbidden_origin). A request without `Origin` is allowed (not a
browser page, or a same-origin GET). Polls are never refused for their origin: a foreign
page cannot read the answer unless CORS allows it, which only listed origins get.
"""

from .protocol import HEADERS, LIMITS


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
    """Whether `origins` (a list; '*' = all) lets `origin` in as a foreign origin."""
    return origin is not None and ("*" in origins or origin in origins)


def origin_allowed(environ, origins, trust_proxy):
    """May this request open a WebSocket or send (POST)?"""
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    return origin == own_origin(environ, trust_proxy) or listed(origin, origins)


def add_cors(resp, environ, origins):
    """CORS for listed origins (echoed) or all ('*'); no Allow-Origin for others."""
    origin = environ.get("HTTP_ORIGIN")
    if "*" in origins:
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

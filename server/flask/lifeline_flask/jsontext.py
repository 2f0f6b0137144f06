"""JSON text as the protocol writes and reads it: compact, UTF-8, strict (no NaN).

Two hostile-input rules (issue 20) live here, the same as on Node:
- A lone surrogate (the valid JSON string "\\ud800") is written back escaped, as
  JavaScript's JSON.stringify does, so a stored message always encodes as UTF-8 (written
  raw, it could not be: every poll and frame covering it would fail).
- A document nesting deeper than `max_depth` (`{`/`[`, the outermost is depth 1) is refused
  before it is parsed, so no deep value is ever built.
"""

import json
import re

# The largest send id: 2^53 - 1, the largest integer a JavaScript client holds exactly
# (spec `send_id_max`; Node: Number.isSafeInteger).
SEND_ID_MAX = 9007199254740991

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(obj):
    """Compact JSON text; TypeError for what JSON cannot hold, ValueError for NaN/Infinity."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group()), text)
    return text


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def nests_deeper_than(text, max_depth):
    """Whether JSON text nests deeper than max_depth (`{`/`[` outside strings)."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > max_depth:
                return True
        elif ch == "]" or ch == "}":
            depth -= 1
    return False


def loads(text, max_depth=None):
    """Strict JSON: no NaN/Infinity, at most max_depth deep (the option `max_json_depth`);
    any failure is a ValueError."""
    if max_depth is not None and nests_deeper_than(text, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def send_id(value):
    """A send's id as an int, or None when it is not one: a JSON number whose value is an
    integer in 0..SEND_ID_MAX (`1.0` is 1, as on Node: JSON has one number type)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if is_int(value) and 0 <= value <= SEND_ID_MAX:
        return value
    return None

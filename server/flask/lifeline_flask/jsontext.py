"""JSON text as the protocol writes and reads it: compact, UTF-8, strict (no NaN)."""

import json


def dumps(obj):
    """Compact JSON text; TypeError for what JSON cannot hold, ValueError for NaN/Infinity."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def loads(text):
    """Strict JSON: no NaN/Infinity; any failure (also absurd nesting) is a ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)

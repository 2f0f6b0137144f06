"""Cursors (docs/protocol.md "Cursors"): `<u64>` or `<u64>-<u64>`, ordered as pairs, `7` is `7-0`.

The stores give out `<epoch>-<offset>`: offsets count from 1 per stream, the epoch changes
whenever a stream's history is lost, so a cursor from before is never taken for a new one.
The grammar is the spec's (protocol.py).
"""

from .protocol import CURSOR_PART_MAX, CURSOR_RE

U64_MAX = CURSOR_PART_MAX


def parse_cursor(text):
    """``(epoch, offset)`` of a cursor string; None when it is not a valid cursor."""
    if not isinstance(text, str):
        return None
    m = CURSOR_RE.match(text)
    if not m:
        return None
    hi = int(m.group(1))
    lo = int(m.group(2)) if m.group(2) is not None else 0
    if hi > U64_MAX or lo > U64_MAX:
        return None
    return (hi, lo)


def format_cursor(epoch, offset):
    return f"{epoch}-{offset}"


def is_everything(pair):
    """`0` / `0-0`: every retained message."""
    return pair == (0, 0)

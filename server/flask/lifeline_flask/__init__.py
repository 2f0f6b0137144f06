"""Lifeline for Flask: live streams over WebSocket, long polling and polling.

    from lifeline_flask import Lifeline
    live = Lifeline(app)                      # streams at /live/<name>
    live.publish("news", {"title": "…"})      # -> cursor

See docs/flask.md (the guide and the reference) and server/DESIGN.md for the contract.
"""

from .errors import Rejected, StoreUnavailable, TooManyStreams, error_response
from .extension import Lifeline, LifelineState
from .hooks import TransportHooks
from .stores import MemoryStore, Message, Read, Store

__all__ = [
    "Lifeline",
    "LifelineState",
    "Rejected",
    "StoreUnavailable",
    "TooManyStreams",
    "MemoryStore",
    "RedisStore",
    "Read",
    "Message",
    "Store",
    "TransportHooks",
    "error_response",
]


def __getattr__(name):
    # the Redis store imports redis-py: only when asked for
    if name == "RedisStore":
        from .stores.redis import RedisStore

        return RedisStore
    raise AttributeError(f"module 'lifeline_flask' has no attribute {name!r}")

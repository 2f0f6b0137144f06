"""The transport seam: how a test or demo layer reaches into the transports.

NOT for applications (they use `authorize`, `on_send` and `publish`). The demo/test layer
(demo/flask/) sets ``app.extensions['lifeline'].transport_hooks`` to a subclass to count
requests, shed load, refuse or black-hole upgrades, slow polls down and stall, flap or close
WebSockets, without any fault code in the library. Every method has a no-op default, and
the library calls them at these points:

- ``count(key, n)``            a request by kind (``ws``, ``poll``, ``longpoll``, ``post``,
                               ``options``), an answer by status (``"200"``, ``"101"``…),
                               ``bytesIn`` / ``bytesOut``.
- ``before_poll(stream)`` /    a Response to answer instead (e.g. 429/503 shedding), or None.
  ``before_send(stream)``
- ``upgrade_refusal(environ)`` before a WebSocket handshake: None to go on, or a callable
                               that the view calls (inside the request) for the Response
                               to answer instead; it may block (a black hole).
- ``poll_delay()``             seconds to wait before sending a poll answer.
- ``socket_opened(session)``   a WebSocket was accepted (`session` is its `Session`:
                               see session.py); the hook may close it, freeze it after
                               hello, or schedule a close.
- ``hello_fields()``           extra fields for the `hello` frame (clients ignore them).

What such a layer needs besides, it takes from here (the seam), not from the modules behind:
``Session`` (and ``Held``, its former name), ``cut`` and ``client_socket`` (connected
clients and their sockets: session.py; ``state.sessions`` is the app's registry of them, a
``Sessions``), ``own_origin`` (the request's own origin: origin.py), ``sleep`` and
``spawn`` (a greenlet or a thread, whichever the server runs: concurrency.py). The public
API is ``lifeline_flask``'s, with ``lifeline_flask.protocol`` (the wire spec's constants)
and ``lifeline_flask.gevent_server``.
"""

from .concurrency import sleep, spawn
from .origin import own_origin
from .session import Session, client_socket, cut

# a Session's name before it was one: what a demo layer written against it still imports
Held = Session

__all__ = [
    "TransportHooks",
    "Session",
    "Held",
    "client_socket",
    "cut",
    "own_origin",
    "sleep",
    "spawn",
]


class TransportHooks:
    def count(self, key, n=1):
        pass

    def before_poll(self, stream):
        return None

    def before_send(self, stream):
        return None

    def upgrade_refusal(self, environ):
        return None

    def poll_delay(self):
        return 0

    def socket_opened(self, session):
        pass

    def hello_fields(self):
        return {}

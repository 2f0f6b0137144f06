"""The transports: adapters between a wire and the library (server/DESIGN.md "One design,
files mirrored").

`http.py` serves polls, long polls, POST sends and preflights; `websocket.py` the socket's
frames, its heartbeat and its backpressure. A transport parses its wire, runs its checks in
the spec's order (checks.py), opens a session (session.py) and writes what the session reads;
a send goes through sends.py. A new transport is one more module here.
"""

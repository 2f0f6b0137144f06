"""The smallest Lifeline app: a feed anyone may read and only logged-in users may post to.

    /usr/bin/python3 -m flask --app app.py run                      # long polling
    /usr/bin/python3 app.py                                         # gevent: + WebSocket
    gunicorn -k lifeline_flask.gevent_server.GeventWebSocketWorker -w 1 app:app
(with server/flask on PYTHONPATH, or the package installed)
"""

from flask import Flask, request
from lifeline_flask import Lifeline

app = Flask(__name__)
live = Lifeline(app)  # streams at /live/<name>


@live.authorize
def authorize(stream, action, req):
    return action == "subscribe" or req.cookies.get("session") is not None


@app.post("/news")
def post_news():
    return {"cursor": live.publish("news", request.get_json())}


if __name__ == "__main__":
    from lifeline_flask.gevent_server import serve

    serve(app, "127.0.0.1", 8000)

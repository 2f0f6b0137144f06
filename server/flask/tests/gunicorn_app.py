"""The app test_gunicorn.py serves with gunicorn's stock gevent-websocket worker."""

from flask import Flask

from lifeline_flask import Lifeline

app = Flask(__name__)
live = Lifeline(app)
live.on_send(lambda stream, data, request: live.publish(stream, data))


@app.get("/held")
def held():
    return {"longpoll": app.extensions["lifeline"].sessions.count("long_poll")}

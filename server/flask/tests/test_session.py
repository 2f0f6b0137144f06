"""Sessions (session.py): a connected client reads its stream after its cursor and waits for
news; the registry counts them by kind, subscribes them while open and ends them on
disconnect."""

from lifeline_flask import MemoryStore
from lifeline_flask.hooks import Held, Session
from lifeline_flask.session import LONG_POLL, WEBSOCKET, Sessions


def test_a_session_reads_after_its_cursor_and_is_woken_by_news_while_open():
    store = MemoryStore()
    sessions = Sessions()
    c1 = store.append("s", "1")
    session = Session(WEBSOCKET, "s", None, cursor=c1, store=store)
    with sessions.opened(session):
        assert sessions.count(WEBSOCKET) == 1 and sessions.count(LONG_POLL) == 0
        assert session.read(10).messages == []
        assert session.wait(10) is False
        c2 = store.append("s", '{"n":2}')
        assert session.wait(1000) is True
        r = session.read(10)
        assert [(m.cursor, m.json) for m in r.messages] == [(c2, '{"n":2}')]
        assert session.cursor == c1  # the transport moves it as it writes
    assert sessions.all() == []
    store.append("s", "3")
    assert session.wait(10) is False  # unsubscribed once closed


def test_start_tells_a_reset_the_head_and_where_the_client_is_caught_up():
    store = MemoryStore(retention=1)
    c1 = store.append("s", "1")
    c2 = store.append("s", "2")
    fresh = Session(WEBSOCKET, "s", None, store=store)
    assert fresh.start() == (None, c2, c2) and fresh.cursor == c2
    old = Session(WEBSOCKET, "s", None, cursor="0-0", store=store)
    assert old.start() == (None, c2, c2) and old.cursor == "0-0"  # everything retained
    gone = Session(WEBSOCKET, "s", None, cursor=c1.split("-")[0] + "-0", store=store)
    assert gone.start() == (c2, c2, c2) and gone.cursor == c2  # fell out of retention
    at_head = Session(WEBSOCKET, "s", None, cursor=c2, store=store)
    assert at_head.start() == (None, c2, c2)  # nothing follows: caught up at its own cursor
    empty = Session(WEBSOCKET, "e", None, cursor="0", store=store)
    reset, head, caught_up = empty.start()
    assert (
        reset is None and head != "0" and caught_up == "0"
    )  # an empty stream's head names no message


def test_disconnect_ends_the_sessions_of_a_stream_whose_request_where_accepts():
    sessions = Sessions()
    a = Session(WEBSOCKET, "s", None, request="alice")
    b = Session(LONG_POLL, "s", None, request="bob")
    other = Session(WEBSOCKET, "t", None, request="alice")
    for s in (a, b, other):
        sessions.add(s)
    assert sessions.disconnect("s", lambda r: r == "alice", "bye") == 1
    assert a.revoked == "bye" and a.close_request == (1008, "revoked")
    assert b.revoked is None and other.revoked is None
    assert sessions.disconnect("s", None, "bye") == 1  # a, revoked already, is not counted
    assert b.revoked == "bye" and b.close_request is None  # a long poll answers 403 itself
    assert sessions.disconnect(None, None, "all") == 1 and other.revoked == "all"


def test_held_is_the_former_name_of_session():
    assert Held is Session

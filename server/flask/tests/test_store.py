"""The store interface on the memory store: cursors, retention, JSON text in and out
(Message named tuples), and `wait`, which cooperates with gevent in a greenlet and with
threads otherwise."""

import threading

import pytest

from lifeline_flask import MemoryStore
from lifeline_flask.stores import Message, Read


def test_read_follows_the_cursor_rules():
    s = MemoryStore(retention=3)
    assert s.head("a").endswith("-0")
    assert s.read("a", None, 10).messages == []
    cursors = [s.append("a", str(i)) for i in range(5)]
    r = s.read("a", "0", 10)
    assert [m.json for m in r.messages] == ["2", "3", "4"] and r.cursor == cursors[4]
    assert s.read("a", cursors[1], 1) == Read([Message(cursors[2], "2")], cursors[2], False)
    assert s.read("a", cursors[1], 1).messages[0].cursor == cursors[2]
    assert s.read("a", cursors[0], 10).reset
    assert s.read("a", cursors[4][:-1] + "9", 10).reset  # ahead of the head
    assert s.read("a", "1-1", 10) == (([], cursors[4], True))  # another epoch
    with pytest.raises(ValueError):
        s.read("a", "x", 10)
    with pytest.raises(TypeError, match="JSON text"):
        s.append("a", 5)  # the JSON text, not the data: publish encodes it


def test_wait_in_a_thread():
    s = MemoryStore()
    head = s.head("a")
    assert s.wait("a", head, 50) is False  # ms, as Node's
    threading.Timer(0.1, s.append, ("a", "1")).start()
    assert s.wait("a", head, 10000) is True
    assert s.wait("a", head, 10000) is True  # already behind: at once


def test_wait_in_a_greenlet_lets_other_greenlets_run():
    import gevent

    s = MemoryStore()
    head = s.head("a")
    ticks = []

    def ticker():
        for _ in range(5):
            ticks.append(1)
            gevent.sleep(0.01)
        s.append("a", '"done"')

    waiter = gevent.spawn(s.wait, "a", head, 10000)
    gevent.spawn(ticker)
    assert waiter.get(timeout=10) is True
    assert len(ticks) == 5


def test_subscribers_are_woken_per_stream_and_can_leave():
    s = MemoryStore()
    woken = []
    leave = s.subscribe("a", lambda: woken.append("a"))
    s.subscribe("b", lambda: woken.append("b"))
    s.append("a", "1")
    leave()
    s.append("a", "2")
    assert woken == ["a"]

"""Balanced accepts between gunicorn's gevent workers (``oms.core.serving``, wired up by
``oms/gunicorn.conf.py``): a worker that holds more connections than a sibling leaves the next
one to the siblings for a moment, and takes it anyway if none does.

The server runs here in the test process on gevent's own sockets (nothing is patched), the
siblings' counts written by hand into the shared counts as their workers would write them."""

from __future__ import annotations

import array
import os
import types
from pathlib import Path
from time import monotonic

import gevent
import pytest
from gevent import socket as gsocket
from gevent.pool import Pool

from oms.core import serving
from oms.core.serving import FREE, BalancedServer, balance_accepts, crowded

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_is_crowded_only_next_to_a_live_sibling_with_fewer_connections():
    assert crowded(array.array("i", [3, 2, FREE]), 0)
    assert not crowded(array.array("i", [2, 2, FREE]), 0)
    assert not crowded(array.array("i", [2, 3, FREE]), 0)
    assert not crowded(array.array("i", [5, FREE, FREE]), 0)  # no live sibling
    assert crowded(array.array("i", [5, FREE, 4]), 0)


class _Served:
    """A BalancedServer on a local port whose handler holds each connection until its client
    closes it, recording when each connection was handed to it."""

    def __init__(self, counts: array.array, slot: int) -> None:
        self.accepted_at: list[float] = []
        self.server = BalancedServer(
            ("127.0.0.1", 0), handle=self._hold, spawn=Pool(10), counts=counts, slot=slot
        )
        self.server.start()

    def _hold(self, client, address) -> None:
        self.accepted_at.append(monotonic())
        while client.recv(1):
            pass
        client.close()

    def connect(self) -> tuple[gsocket.socket, float]:
        started = monotonic()
        sock = gsocket.create_connection(("127.0.0.1", self.server.server_port))
        return sock, started

    def wait_accepted(self, count: int) -> None:
        with gevent.Timeout(2):
            while len(self.accepted_at) < count:
                gevent.sleep(0.001)


@pytest.fixture
def served():
    made: list[_Served] = []

    def make(counts: array.array, slot: int = 0) -> _Served:
        made.append(_Served(counts, slot))
        return made[-1]

    yield make
    for one in made:
        one.server.stop(timeout=1)


def test_a_worker_no_busier_than_its_siblings_accepts_at_once_and_counts_the_connection(
    served, monkeypatch
):
    monkeypatch.setattr(serving, "DEFER_LIMIT", 5.0)  # a deferral would show
    counts = array.array("i", [0, 1, FREE])
    one = served(counts)
    sock, started = one.connect()
    one.wait_accepted(1)
    assert one.accepted_at[0] - started < 1.0
    assert list(counts) == [1, 1, FREE]
    sock.close()
    with gevent.Timeout(2):
        while counts[0] != 0:
            gevent.sleep(0.001)


def test_a_crowded_worker_leaves_a_connection_to_its_siblings_then_takes_it_if_none_does(
    served,
):
    counts = array.array("i", [0, 0, FREE])
    one = served(counts)
    counts[0] = 4  # as if this worker held 4 connections and its sibling none
    sock, started = one.connect()
    one.wait_accepted(1)
    waited = one.accepted_at[0] - started
    assert serving.DEFER_LIMIT <= waited < serving.DEFER_LIMIT + 0.5
    assert counts[0] == 5
    sock.close()


def test_a_connection_a_sibling_took_does_not_shorten_the_next_deferral(served, monkeypatch):
    monkeypatch.setattr(serving, "DEFERRAL_GONE", 0.05)
    counts = array.array("i", [4, 0, FREE])
    one = served(counts)
    first, _ = one.connect()
    gevent.sleep(0.01)  # deferred, and taken meanwhile by the sibling:
    sibling = gsocket.socket(fileno=os.dup(one.server.socket.fileno()))
    taken, _ = sibling.accept()
    sibling.close()
    gevent.sleep(0.1)
    second, started = one.connect()
    one.wait_accepted(1)
    assert one.accepted_at[0] - started >= serving.DEFER_LIMIT  # deferred in full again
    for sock in (first, taken, second):
        sock.close()


def test_a_crowded_worker_accepts_again_as_soon_as_a_sibling_catches_up(served, monkeypatch):
    monkeypatch.setattr(serving, "DEFER_LIMIT", 5.0)  # only the sibling can end the wait
    counts = array.array("i", [3, 0, FREE])
    one = served(counts)
    sock, _ = one.connect()
    gevent.sleep(0.05)
    assert one.accepted_at == []  # left to the sibling
    counts[1] = 3  # the sibling took connections of its own
    one.wait_accepted(1)
    assert counts[0] == 4
    sock.close()


def test_balance_accepts_makes_the_worker_serve_its_connections_with_its_own_handler():
    handled = []
    worker = types.SimpleNamespace(
        handle=lambda listener, client, address: handled.append(listener)
    )
    counts = array.array("i", [0, FREE])
    balance_accepts(worker, counts, 0)
    listener = gsocket.socket()
    # As gunicorn's gevent worker calls a server class: the arguments of gevent's WSGI server.
    server = worker.server_class(
        listener, application=None, spawn=Pool(1), log=None, handler_class=None, environ={}
    )
    assert isinstance(server, BalancedServer)
    assert server.max_accept == 1
    server._counted(object(), ("127.0.0.1", 1))
    assert handled == [listener]
    assert list(counts) == [0, FREE]
    listener.close()


@pytest.fixture
def load_config(monkeypatch):
    # A copy of the environment: the file's setdefault of DB_POOL_MAX_SIZE must not outlive
    # the test.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    return _config


def _config() -> dict:
    config: dict = {}
    exec((ROOT / "oms" / "gunicorn.conf.py").read_text(), config)
    return config


def test_the_gunicorn_config_runs_gevent_workers_with_a_pool(load_config, monkeypatch):
    monkeypatch.delenv("DB_POOL_MAX_SIZE", raising=False)
    monkeypatch.delenv("GUNICORN_WORKER_CLASS", raising=False)
    config = load_config()
    assert (config["worker_class"], config["workers"]) == ("gevent", 2)
    assert os.environ["DB_POOL_MAX_SIZE"] == "32"
    assert config["_FREE"] == FREE  # the master marks free slots as the workers read them


def test_the_master_gives_each_worker_its_own_slot_and_takes_it_back_when_it_exits(
    load_config,
):
    config = load_config()
    workers = [types.SimpleNamespace() for _ in range(3)]
    for worker in workers:
        config["pre_fork"](None, worker)
    assert [w.serving_slot for w in workers] == [0, 1, 2]
    counts = workers[0].serving_connections
    assert list(counts[:4]) == [0, 0, 0, FREE]
    counts[1] = 7  # the worker of slot 1 died holding 7 connections
    config["child_exit"](None, workers[1])
    assert list(counts[:4]) == [0, FREE, 0, FREE]
    replacement = types.SimpleNamespace()
    config["pre_fork"](None, replacement)
    assert replacement.serving_slot == 1
    assert counts[1] == 0


def test_a_worker_of_a_reloaded_config_leaves_the_new_slots_alone(load_config):
    old, new = load_config(), load_config()  # a HUP re-reads the file
    worker = types.SimpleNamespace()
    old["pre_fork"](None, worker)
    config_worker = types.SimpleNamespace()
    new["pre_fork"](None, config_worker)
    new["child_exit"](None, worker)  # an old worker exits after the reload
    assert config_worker.serving_connections[0] == 0

"""Balanced accepts for gunicorn's gevent workers (wired up by ``oms/gunicorn.conf.py``).

The workers of one gunicorn server share its listening socket and whichever is first back in
its event loop takes the next connection. A keep-alive client (a channel's integration, a
proxy's upstream connection) then stays with that worker for as long as it is connected,
so the split is decided once, when the clients connect, and it is often lopsided: with 32
clients on 2 workers, splits of 21/11 and 27/5 were measured (``bench/order_intake.py``). A
worker's requests then queue behind each other while the other worker's core idles, and the
clients of the crowded one see the slowest answers.

Each worker here counts the connections it holds in memory shared with its siblings (a slot
each, given out by the master in ``oms/gunicorn.conf.py``) and accepts only while it holds
no more than the least busy sibling; otherwise it leaves the connection to the others for a
moment. A sibling that does not take it within ``DEFER_LIMIT`` (busy, stopped) does not hold
a client up: the connection is taken anyway.

Imported only in a worker, after gevent has patched the process.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from time import monotonic
from typing import Any

from gevent.server import StreamServer

# How often a worker that left a connection to its siblings looks again, and the longest it
# leaves one waiting before taking it anyway.
RETRY_SECONDS = 0.001
DEFER_LIMIT = 0.02
# A deferral not looked at again for this long ended with a sibling taking the connection.
DEFERRAL_GONE = 0.1

FREE = -1


def crowded(counts: Any, slot: int) -> bool:
    """Whether the worker of ``slot`` holds more connections than a live sibling (``counts``:
    connections per worker slot, ``FREE`` for a slot without a worker)."""
    mine = counts[slot]
    return any(count != FREE and count < mine for count in counts)


class BalancedServer(StreamServer):  # type: ignore[misc]  # gevent is untyped
    """gevent's stream server as gunicorn's gevent worker runs it, one connection per accept,
    except that a crowded worker leaves the next connection to its siblings
    (``crowded``) for up to ``DEFER_LIMIT``."""

    def __init__(
        self,
        listener: Any,
        *,
        handle: Callable[..., None],
        spawn: Any,
        counts: Any,
        slot: int,
        **ssl_args: Any,
    ) -> None:
        super().__init__(listener, handle=self._counted, spawn=spawn, **ssl_args)
        self.max_accept = 1  # as gunicorn sets it for more than one worker
        self._handle_connection = handle
        self._counts, self._slot = counts, slot
        self._deferred_since = self._deferred_last = 0.0
        self._retry: Any = None  # the pending look-again timer, held while it runs

    def _counted(self, client: Any, address: Any) -> None:
        counts = self._counts
        counts[self._slot] += 1
        try:
            self._handle_connection(client, address)
        finally:
            counts[self._slot] -= 1

    def do_read(self) -> Any:
        if crowded(self._counts, self._slot):
            now = monotonic()
            if now - self._deferred_last > DEFERRAL_GONE:  # a new connection is waiting
                self._deferred_since = now
            self._deferred_last = now
            if now - self._deferred_since < DEFER_LIMIT:
                self.stop_accepting()
                self._retry = self.loop.timer(RETRY_SECONDS)
                self._retry.start(self._resume)
                return None  # nothing accepted; gevent's loop goes on
        self._deferred_last = 0.0
        return super().do_read()

    def _resume(self) -> None:
        self._retry = None
        if self.started:  # not closed meanwhile
            self.start_accepting()


def balance_accepts(worker: Any, counts: Any, slot: int) -> None:
    """(In the worker, once gevent has patched it: gunicorn's ``post_worker_init``.) Serve
    ``worker``'s listeners with ``BalancedServer``, counting its connections in
    ``counts[slot]``."""

    def server(listener: Any, *, spawn: Any, **kwargs: Any) -> BalancedServer:
        # gunicorn's gevent worker hands a server class the arguments of gevent's WSGI server;
        # this one serves each connection with the worker's own handler instead, as
        # gunicorn's default server does.
        ssl_args = {k: v for k, v in kwargs.items() if k == "ssl_context"}
        return BalancedServer(
            listener,
            handle=partial(worker.handle, listener),
            spawn=spawn,
            counts=counts,
            slot=slot,
            **ssl_args,
        )

    worker.server_class = server

"""Group commit for order intake: concurrent placements in one process share a transaction.

Under a server that runs several requests per process (gunicorn's gevent worker, our
default, or its gthread worker) several requests place orders at the same moment. Each one
alone costs a read, the allocation, one write and a commit; placed together through
``orders_place_many`` those statements are paid once for the group, and each order still
comes back allocated and committed before its response is sent.

There is no extra thread. The first caller to arrive becomes the leader: it takes every
request waiting with the same actor (its own among them), places them in one durable
transaction on its own connection, hands each waiting caller its outcome and, if more
arrived meanwhile, makes the oldest of them the next leader. A caller alone (one client, a
sync worker) leads a group of one.

Each request keeps its own answer: an order refused (unknown SKU, out of stock, wrong total)
fails alone and the rest of its group is placed. If the group's transaction itself fails (a
re-sent external id racing another process, a deadlock, a bug), every request of the group is
placed again on its own, so one bad request never costs the others theirs.

A leader about to take its group first waits for the requests already on their way to
intake in this process (``placement_expected``: entered the API view, not yet queued), as
PostgreSQL's ``commit_delay`` waits only while ``commit_siblings`` other transactions are
active. Without it, a request reaching intake just ahead of its siblings led a group of one
while they queued behind it: under gevent the groups settled into pairs of one and a dozen,
two transactions' round trips and commit waits for each round of requests. It waits while
they keep coming: at most ``GATHER_SECONDS`` for the next one to queue, ``GATHER_LIMIT`` in
all. A worker's requests are read, authenticated and validated one after another (one core),
so a round of 16 reaches intake over ~20 ms. A single 10 ms window from the first arrival
cut about a quarter of the rounds in two (32 clients, ``bench/order_intake.py``), and the
second part waited for the first's whole transaction; waiting while they come, 9 groups in
10 hold the whole round.

A caller may hand in a ``Settlement``: a claim to make first in the transaction that decides
its outcome and rows of its own to write there, told once it commits. The API claims each
request's Idempotency-Key so, all of the group's keys in one statement, and stores the
answers with the orders; a request whose key is taken is answered with the claim's refusal
and places nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Protocol

from django.db import IntegrityError, connection, transaction

from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.errors import ApplicationError

from ..models import Order
from ._common import cache_lines
from .intake import PlaceRequest, _place_many, _resent

MAX_GROUP = 32
# How long a leader waits for the next of the requests on their way, and the longest it waits
# in all (see the module docstring).
GATHER_SECONDS = 0.01
GATHER_LIMIT = 0.05

Outcome = tuple[Order, bool] | ApplicationError | BaseException


class Settlement(Protocol):
    @staticmethod
    def claim_together(settlements: list[Any]) -> list[BaseException | None]:
        """Claim, first thing in the transaction, what each of ``settlements`` (all of this
        class) needs to go on; per settlement, None or the refusal to answer its request
        with (its order is then not placed)."""

    def stage(self, outcome: Outcome, writes: Writes) -> None:
        """Add rows for ``outcome`` to ``writes``, the write that places the group's orders:
        the orders' rows are prepared (as they will be stored) and these go out with them,
        in the same statement and transaction."""

    def committed(self) -> None:
        """The transaction ``stage`` wrote to has committed."""


@dataclass(eq=False, slots=True)
class _Ticket:
    request: PlaceRequest
    actor: Actor
    settlement: Settlement | None = None
    # Looked up per ticket: under gevent, threading.Event is patched after this module may
    # have been imported, and a thread's Event would block every greenlet of the process.
    woken: threading.Event = field(default_factory=lambda: threading.Event())
    lead: bool = False
    outcome: tuple[Order, bool] | None = None
    error: BaseException | None = None

    def answer(self) -> tuple[Order, bool]:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


@dataclass(eq=False, slots=True)
class _Expected:
    """A request on its way to intake; ``arrived`` once it is queued or has given up."""

    arrived: bool = False


_expected: ContextVar[_Expected | None] = ContextVar("placement_expected", default=None)


class _Group:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting: list[_Ticket] = []
        self._leading = False
        self._coming = 0  # requests on their way (``placement_expected``), not yet queued

    @contextmanager
    def expecting(self) -> Iterator[None]:
        expected = _Expected()
        with self._lock:
            self._coming += 1
        token = _expected.set(expected)
        try:
            yield
        finally:
            _expected.reset(token)
            with self._lock:
                self._arrive(expected)

    def _arrive(self, expected: _Expected | None) -> None:
        """(Holding the lock.) ``expected`` is no longer on its way: a gathering leader may
        stop waiting for it."""
        if expected is not None and not expected.arrived:
            expected.arrived = True
            self._coming -= 1
            self._changed.notify_all()

    def place(self, ticket: _Ticket) -> tuple[Order, bool]:
        with self._lock:
            self._waiting.append(ticket)
            self._arrive(_expected.get())
            lead = not self._leading
            self._leading = True
        if not lead:
            ticket.woken.wait()
            if not ticket.lead:
                return ticket.answer()
        try:
            self._lead(ticket)
        finally:
            self._hand_over()
        return ticket.answer()

    def _take(self, leader: _Ticket) -> list[_Ticket]:
        now = monotonic()
        limit = now + GATHER_LIMIT
        deadline = min(limit, now + GATHER_SECONDS)
        with self._lock:
            queued = len(self._waiting)
            while self._coming > 0 and len(self._waiting) < MAX_GROUP:
                left = deadline - monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
                if len(self._waiting) > queued:  # one more joined: the rest may be close
                    queued = len(self._waiting)
                    deadline = min(limit, monotonic() + GATHER_SECONDS)
            group = [t for t in self._waiting if t.actor == leader.actor][:MAX_GROUP]
            taken = set(map(id, group))
            self._waiting = [t for t in self._waiting if id(t) not in taken]
        return group

    def _lead(self, leader: _Ticket) -> None:
        group = self._take(leader)
        try:
            _place_group(group)
        finally:
            for ticket in group:
                if ticket.outcome is None and ticket.error is None:
                    ticket.error = RuntimeError(
                        "The intake group stopped before placing this order."
                    )
                if ticket is not leader:
                    ticket.woken.set()

    def _hand_over(self) -> None:
        with self._lock:
            if not self._waiting:
                self._leading = False
                return
            successor = self._waiting[0]
            successor.lead = True
        successor.woken.set()


def _place_group(group: list[_Ticket]) -> None:
    try:
        outcomes = _place_together(group)
    except Exception as exc:  # noqa: BLE001 - retried alone, or handed to its request
        if len(group) > 1:
            for ticket in group:
                _place_group([ticket])
            return
        (ticket,) = group
        existing = _resent(ticket.request, exc) if isinstance(exc, IntegrityError) else None
        if existing is None:
            ticket.error = exc
        else:  # a concurrent request with the same external id committed first
            ticket.outcome = (existing, False)
        return
    for ticket, outcome in zip(group, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            ticket.error = outcome
        else:
            ticket.outcome = outcome
        if ticket.settlement is not None:
            ticket.settlement.committed()


def _place_together(group: list[_Ticket]) -> list[Outcome]:
    """The group's orders in one durable transaction and one write: the orders' rows, then
    what the settlements add for them (staged once the orders' rows are prepared, so an
    answer shows the order as written)."""
    with transaction.atomic(durable=True):
        refusals = _claim(group)
        placing = [t for t, refusal in zip(group, refusals, strict=True) if refusal is None]
        batch = Writes()
        placed = iter(
            _place_many(requests=[t.request for t in placing], actor=group[0].actor, writes=batch)
            if placing
            else ()
        )
        outcomes: list[Outcome] = [next(placed) if r is None else r for r in refusals]
        for outcome in outcomes:
            if isinstance(outcome, tuple):
                order, created = outcome
                if created:  # answer order.lines.all() from the lines being written
                    cache_lines(order, order._intake_lines)  # type: ignore[attr-defined]

        def settle(writes: Writes) -> None:
            for ticket, outcome, refusal in zip(group, outcomes, refusals, strict=True):
                if ticket.settlement is not None and refusal is None:
                    ticket.settlement.stage(outcome, writes)

        batch.then(settle)
        batch.run()
    return outcomes


def _claim(group: list[_Ticket]) -> list[BaseException | None]:
    """The settlements' claims, one call per settlement class: per ticket, None (claimed, or
    nothing to claim) or its refusal."""
    refusals: list[BaseException | None] = [None] * len(group)
    kinds: dict[type[Settlement], list[int]] = {}
    for index, ticket in enumerate(group):
        if ticket.settlement is not None:
            kinds.setdefault(type(ticket.settlement), []).append(index)
    for kind, indexes in kinds.items():
        answers = kind.claim_together([group[i].settlement for i in indexes])
        for index, refusal in zip(indexes, answers, strict=True):
            refusals[index] = refusal
    return refusals


_groups: list[_Group] = []


def _group() -> _Group:
    """The process's group, made on first use: under gevent its lock and condition must be
    gevent's, patched in after this module may have been imported."""
    if not _groups:
        _groups.append(_Group())
    return _groups[0]


@contextmanager
def placement_expected() -> Iterator[None]:
    """Around a request that will most likely place an order through ``order_place_grouped``
    (the API view's POST, once its body is read, from before authentication): while it is on
    its way, a leader about to start a group waits for it (see ``GATHER_SECONDS``). Leaving
    without placing anything is fine."""
    with _group().expecting():
        yield


def order_place_grouped(
    *, actor: Actor, settlement: Settlement | None = None, **kwargs: Any
) -> tuple[Order, bool]:
    """``order_place_or_get`` for a request handler that may run beside others in this
    process: placed in one transaction with whatever placements are waiting at the same time
    (see the module docstring). Returns (order, created); a new order comes back with its
    lines cached (``order.lines.all()`` costs no query). Refusals raise as
    ``order_place_or_get`` raises them. ``settlement``: rows to write with the outcome.
    Inside a caller's transaction it cannot wait for a group: it places alone (and, intake
    being durable, refuses the nesting)."""
    ticket = _Ticket(PlaceRequest(**kwargs), actor, settlement)
    if connection.in_atomic_block:
        _place_group([ticket])
        return ticket.answer()
    return _group().place(ticket)

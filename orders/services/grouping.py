"""Group commit for order intake: concurrent placements in one process share a transaction.

Under a threaded server (gunicorn's gthread worker) several requests place orders at the
same moment. Each one alone costs a read, the allocation, one write and a commit; placed
together through ``orders_place_many`` those statements are paid once for the group, and
each order still comes back allocated and committed before its response is sent.

There is no extra thread. The first caller to arrive becomes the leader: it takes every
request waiting with the same actor (its own among them), places them in one durable
transaction on its own connection, hands each waiting caller its outcome and, if more
arrived meanwhile, makes the oldest of them the next leader. A caller alone (one client, a
sync worker) leads a group of one: ``order_place_or_get`` with a lock around it.

Each request keeps its own answer: an order refused (unknown SKU, out of stock, wrong total)
fails alone and the rest of its group is placed. If the group's transaction itself fails (a
re-sent external id racing another process, a deadlock, a bug), every request of the group is
placed again on its own, so one bad request never costs the others theirs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

from django.db import connection, transaction

from oms.core.actors import Actor

from ..models import Order
from ._common import cache_lines
from .intake import PlaceRequest, _place_many, order_place_or_get

MAX_GROUP = 32


@dataclass(eq=False, slots=True)
class _Ticket:
    request: PlaceRequest
    actor: Actor
    woken: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    outcome: tuple[Order, bool] | None = None
    error: BaseException | None = None

    def answer(self) -> tuple[Order, bool]:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


class _Group:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._leading = False

    def place(self, ticket: _Ticket) -> tuple[Order, bool]:
        with self._lock:
            self._waiting.append(ticket)
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
        with self._lock:
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
    if len(group) > 1:
        try:
            with transaction.atomic(durable=True):
                outcomes = _place_many(
                    requests=[t.request for t in group], actor=group[0].actor, writes=None
                )
        except Exception:  # noqa: BLE001 - every request is retried alone below
            pass
        else:
            for ticket, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    ticket.error = outcome
                else:
                    ticket.outcome = outcome
            return
    for ticket in group:
        try:
            ticket.outcome = _place_alone(ticket)
        except Exception as exc:  # noqa: BLE001 - handed to the request that sent it
            ticket.error = exc


def _place_alone(ticket: _Ticket) -> tuple[Order, bool]:
    request = ticket.request
    return order_place_or_get(
        actor=ticket.actor,
        **{f.name: getattr(request, f.name) for f in fields(PlaceRequest)},
    )


_GROUP = _Group()


def order_place_grouped(*, actor: Actor, **kwargs: Any) -> tuple[Order, bool]:
    """``order_place_or_get`` for a request handler that may run beside others in this
    process: placed in one transaction with whatever placements are waiting at the same time
    (see the module docstring). Returns (order, created); a new order comes back with its
    lines cached (``order.lines.all()`` costs no query). Refusals raise as
    ``order_place_or_get`` raises them. Inside a caller's transaction it cannot wait for a
    group: it places alone (and, intake being durable, refuses the nesting)."""
    request = PlaceRequest(**kwargs)
    if connection.in_atomic_block:
        return order_place_or_get(actor=actor, prefetch_lines=True, **kwargs)
    order, created = _GROUP.place(_Ticket(request, actor))
    if created and hasattr(order, "_intake_lines"):
        cache_lines(order, order._intake_lines)
    return order, created

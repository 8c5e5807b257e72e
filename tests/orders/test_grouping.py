"""Group commit of concurrent intake (``order_place_grouped``), on real parallel connections."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from inventory import errors
from inventory.models import StockLevel
from oms.core.actors import Actor
from oms.core.errors import Conflict, NotFound, ValidationError
from orders.models import Order, OrderStatus
from orders.services import grouping, order_place_grouped, placement_expected
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import WarehouseFactory
from tests.factories.orders import ADDRESS, stocked_sku

pytestmark = pytest.mark.django_db(transaction=True)


def _xmin(order_id: int) -> int:
    """The id of the transaction that wrote the order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text::bigint FROM orders_order WHERE id = %s", [order_id])
        return cursor.fetchone()[0]


def _run_held(jobs: list[Callable[[], Any]], monkeypatch: Any) -> list[Any]:
    """Run each job in its own thread (its own connection); each result, or the exception it
    raised, in its place. The first job's group is held until every other job waits behind
    it, so they form the next group."""
    release, first = threading.Event(), threading.Event()
    original = grouping._place_group

    def held(group: list[Any]) -> None:
        if not first.is_set():
            first.set()
            assert release.wait(10)
        original(group)

    monkeypatch.setattr(grouping, "_place_group", held)
    results: list[Any] = [None] * len(jobs)

    def run(index: int) -> None:
        try:
            results[index] = jobs[index]()
        except Exception as exc:  # noqa: BLE001 - compared by the tests
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    threads[0].start()
    assert first.wait(10)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while len(grouping._group()._waiting) < len(jobs) - 1:
        assert time.monotonic() < deadline, "the callers never queued"
        time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join(10)
    return results


def _place_concurrently(calls: list[dict[str, Any]], monkeypatch: Any) -> list[Any]:
    """``order_place_grouped`` for each call, concurrently (``_run_held``)."""
    return _run_held(
        [functools.partial(order_place_grouped, **call) for call in calls], monkeypatch
    )


def _call(channel: Any, sku: Any, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "channel": channel,
        "customer": CustomerFactory(),
        "lines": [{"sku": sku.code, "quantity": quantity}],
        "shipping_address": ADDRESS,
        "actor": Actor.for_channel(channel),
        **extra,
    }


def test_waiting_requests_are_placed_in_one_transaction(monkeypatch):
    channel = ChannelFactory()
    sku = stocked_sku(quantity=20, warehouse=WarehouseFactory())
    calls = [_call(channel, sku, external_id=f"G-{i}") for i in range(6)]

    results = _place_concurrently(calls, monkeypatch)

    assert all(isinstance(r, tuple) and r[1] is True for r in results), results
    orders = [order for order, _ in results]
    assert [o.external_id for o in orders] == [f"G-{i}" for i in range(6)]
    # The first led alone; the five that waited behind it share one transaction.
    assert len({_xmin(o.pk) for o in orders[1:]}) == 1
    assert _xmin(orders[0].pk) != _xmin(orders[1].pk)
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]):
        assert order.status == OrderStatus.ALLOCATED
        assert order.events.filter(kind="allocation").count() == 1
    assert StockLevel.objects.get(sku=sku).allocated == 6
    # Each caller got its own order with its lines, answered without another query.
    assert [o.lines.all()[0].sku_code for o in orders] == [sku.code] * 6


def test_a_refused_request_fails_alone_in_its_group(monkeypatch):
    channel = ChannelFactory()
    sku = stocked_sku(quantity=2, warehouse=WarehouseFactory())
    calls = [
        _call(channel, sku),
        _call(channel, sku),
        _call(channel, sku, quantity=5),  # more than is left: out of stock
        {**_call(channel, sku), "lines": [{"sku": "NO-SUCH-SKU", "quantity": 1}]},
    ]

    results = _place_concurrently(calls, monkeypatch)

    assert isinstance(results[0], tuple) and isinstance(results[1], tuple)
    assert isinstance(results[2], Conflict) and results[2].code == errors.OUT_OF_STOCK
    assert isinstance(results[3], ValidationError)
    assert Order.objects.count() == 2
    assert StockLevel.objects.get(sku=sku).allocated == 2


def test_customers_named_by_id_are_read_for_the_group(monkeypatch):
    channel, other = ChannelFactory(), ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    mine = CustomerFactory(source_channel=channel)
    hidden = CustomerFactory(source_channel=other)

    def by_id(customer: Any) -> dict[str, Any]:
        return {**_call(channel, sku), "customer": None, "customer_id": customer.pk}

    calls = [_call(channel, sku), by_id(mine), by_id(hidden), by_id(mine)]

    results = _place_concurrently(calls, monkeypatch)

    assert isinstance(results[2], NotFound)
    assert results[2].fields == {"customer_id": ["Unknown."]}
    assert results[1][0].customer_id == results[3][0].customer_id == mine.pk
    assert _xmin(results[1][0].pk) == _xmin(results[3][0].pk)
    assert not Order.objects.filter(customer=hidden).exists()
    assert StockLevel.objects.get(sku=sku).allocated == 3


def test_a_failed_group_places_each_request_alone(monkeypatch):
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    calls = [_call(channel, sku, external_id=f"F-{i}") for i in range(4)]
    original_many = grouping._place_many
    broken = []

    def place_many(**kwargs: Any) -> Any:
        if len(kwargs["requests"]) > 1:
            broken.append(len(kwargs["requests"]))
            original_many(**kwargs)  # writes, then the transaction fails: nothing stays
            raise RuntimeError("the group's statement failed")
        return original_many(**kwargs)

    monkeypatch.setattr(grouping, "_place_many", place_many)

    results = _place_concurrently(calls, monkeypatch)

    assert broken == [3]
    assert all(isinstance(r, tuple) and r[1] is True for r in results), results
    orders = [order for order, _ in results]
    assert len({_xmin(o.pk) for o in orders}) == 4  # each placed on its own
    assert Order.objects.count() == 4
    assert StockLevel.objects.get(sku=sku).allocated == 4


def test_a_resent_external_id_in_a_group_gets_the_first_order(monkeypatch):
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    first = order_place_grouped(**_call(channel, sku, external_id="R-1"))[0]
    calls = [_call(channel, sku, external_id="R-0"), _call(channel, sku, external_id="R-1")]
    calls.append(_call(channel, sku, external_id="R-2"))

    results = _place_concurrently(calls, monkeypatch)

    assert results[1] == (first, False)
    assert results[0][1] is True and results[2][1] is True
    assert Order.objects.filter(external_id="R-1").count() == 1
    assert StockLevel.objects.get(sku=sku).allocated == 3


def test_requests_of_different_channels_are_not_grouped(monkeypatch):
    web, pos = ChannelFactory(), ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    calls = [_call(web, sku), _call(web, sku), _call(pos, sku), _call(web, sku), _call(pos, sku)]

    results = _place_concurrently(calls, monkeypatch)

    orders = [order for order, _ in results]
    by_channel: dict[int, set[int]] = {}
    for order in orders:
        by_channel.setdefault(order.channel_id, set()).add(_xmin(order.pk))
    # web: the first alone, then its other two together; pos: its two together.
    assert len(by_channel[web.pk]) == 2 and len(by_channel[pos.pk]) == 1
    assert not by_channel[web.pk] & by_channel[pos.pk]
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]):
        placed = order.events.get(payload__to=OrderStatus.PLACED)
        assert placed.actor_channel_id == order.channel_id


def test_inside_a_callers_transaction_it_places_alone_and_refuses_nesting():
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        order_place_grouped(**_call(channel, sku))
    assert grouping._group()._waiting == [] and not grouping._group()._leading
    assert Order.objects.count() == 0


def _post_concurrently(client: Any, bodies: list[tuple[str, dict]], monkeypatch: Any) -> list[Any]:
    """POST each (Idempotency-Key, body) to intake, concurrently (``_run_held``)."""

    def post(key: str, body: dict) -> Any:
        return client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    return _run_held([functools.partial(post, key, body) for key, body in bodies], monkeypatch)


def _record_xmin(key: str) -> tuple[int, str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xmin::text::bigint, state, response_status FROM core_idempotencyrecord "
            "WHERE key = %s",
            [key],
        )
        return cursor.fetchone()


def test_over_http_each_answer_is_stored_in_its_orders_transaction(
    api_client, channel, monkeypatch
):
    sku = stocked_sku(quantity=3, warehouse=WarehouseFactory())
    customer = CustomerFactory(source_channel=channel)

    def body(quantity: int) -> dict:
        line = {"sku": sku.code, "quantity": quantity}
        return {"customer_id": customer.pk, "lines": [line], "shipping_address": ADDRESS}

    requests = [("k-0", body(1)), ("k-1", body(1)), ("k-2", body(5)), ("k-3", body(1))]

    responses = _post_concurrently(api_client, requests, monkeypatch)

    assert [r.status_code for r in responses] == [201, 201, 409, 201]
    assert responses[2].json()["error"]["code"] == errors.OUT_OF_STOCK
    orders = [Order.objects.get(pk=responses[i].json()["id"]) for i in (0, 1, 3)]
    # Each answer committed with the work it reports: the first alone, the followers'
    # orders and all three of their answers (the refusal's too) in one transaction.
    assert _record_xmin("k-0") == (_xmin(orders[0].pk), "complete", 201)
    group = {_xmin(orders[1].pk), _xmin(orders[2].pk)}
    assert len(group) == 1
    assert {_record_xmin(k)[0] for k in ("k-1", "k-2", "k-3")} == group
    assert _record_xmin("k-2")[1:] == ("complete", 409)
    # A retry replays what was stored, body for body.
    for (key, sent), first in zip(requests, responses, strict=True):
        again = api_client.post("/api/v1/orders/", sent, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert again["Idempotent-Replayed"] == "true"
        assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert Order.objects.count() == 3
    assert StockLevel.objects.get(sku=sku).allocated == 3


def test_one_key_twice_in_a_group_places_one_order_and_replays_it(api_client, channel, monkeypatch):
    """The group claims its keys in one statement; of two requests with one key, the one
    that queued first places its order and the other, once the group committed, replays
    its answer, or gets a 409 if its body differs. Which of the two queued first is up to
    the threads."""
    sku = stocked_sku(quantity=20, warehouse=WarehouseFactory())
    customer = CustomerFactory(source_channel=channel)
    body = {
        "customer_id": customer.pk,
        "lines": [{"sku": sku.code, "quantity": 2}],
        "shipping_address": ADDRESS,
    }
    other = {**body, "lines": [{"sku": sku.code, "quantity": 3}]}
    requests = [("k-0", body), ("same", body), ("same", body), ("diff", body), ("diff", other)]

    responses = _post_concurrently(api_client, requests, monkeypatch)

    assert [r.status_code for r in responses[:3]] == [201, 201, 201]
    same = responses[1:3]
    assert same[0].json() == same[1].json()
    assert sorted("Idempotent-Replayed" in r for r in same) == [False, True]
    diff = responses[3:]
    assert sorted(r.status_code for r in diff) == [201, 409]
    (refused,) = [r for r in diff if r.status_code == 409]
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    placed = [responses[0], same[0], next(r for r in diff if r.status_code == 201)]
    assert Order.objects.count() == 3
    allocated = sum(line["allocated_quantity"] for r in placed for line in r.json()["lines"])
    assert StockLevel.objects.get(sku=sku).allocated == allocated
    for key, response in (("same", same[0]), ("diff", placed[2])):
        assert _record_xmin(key) == (_xmin(response.json()["id"]), "complete", 201)


def _lead_while_expecting(
    call: dict[str, Any],
    expected_does: Callable[[], Any],
    monkeypatch: Any,
    *,
    gather_seconds: float = 2.0,
) -> tuple[dict[str, Any], threading.Thread, threading.Thread]:
    """Two threads, not started: one request on its way (inside ``placement_expected``) that
    runs ``expected_does`` once the other, placing ``call``, leads and waits for it. Their
    outcome fills in as they run: ``expected`` (what ``expected_does`` returned), ``order``
    (the leader's) and ``took`` (the leader's seconds in ``order_place_grouped``)."""
    monkeypatch.setattr(grouping, "GATHER_SECONDS", gather_seconds)
    monkeypatch.setattr(grouping, "GATHER_LIMIT", 10 * gather_seconds)  # nobody joins
    on_its_way, leader_waits = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    real_wait = grouping._group()._changed.wait

    def noticed_wait(timeout: float | None = None) -> bool:
        leader_waits.set()
        return real_wait(timeout)

    monkeypatch.setattr(grouping._group()._changed, "wait", noticed_wait)

    def expected() -> None:
        try:
            with placement_expected():
                on_its_way.set()
                assert leader_waits.wait(10)
                outcome["expected"] = expected_does()
        finally:
            connection.close()

    def leader() -> None:
        try:
            assert on_its_way.wait(10)
            started = time.monotonic()
            outcome["order"] = order_place_grouped(**call)[0]
            outcome["took"] = time.monotonic() - started
        finally:
            connection.close()

    return outcome, threading.Thread(target=expected), threading.Thread(target=leader)


def _run(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)


def test_a_leader_waits_for_a_request_on_its_way_and_places_it_too(monkeypatch):
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    late = _call(channel, sku, external_id="LATE")
    outcome, *threads = _lead_while_expecting(
        _call(channel, sku, external_id="FIRST"),
        lambda: order_place_grouped(**late)[0],
        monkeypatch,
    )

    _run(*threads)

    # Without the wait the leader would have placed its order alone, before the other queued.
    assert _xmin(outcome["order"].pk) == _xmin(outcome["expected"].pk)
    assert outcome["took"] < 1.5


def test_a_request_that_leaves_without_placing_does_not_hold_the_leader(monkeypatch):
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    outcome, *threads = _lead_while_expecting(_call(channel, sku), lambda: "left", monkeypatch)

    _run(*threads)

    assert outcome["expected"] == "left"
    assert outcome["took"] < 1.5  # not the 2 s the leader would wait at most
    assert grouping._group()._coming == 0


def test_a_leader_waits_no_longer_than_the_gather_window_when_nobody_joins(monkeypatch):
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    done = threading.Event()
    outcome, expected, leader = _lead_while_expecting(
        _call(channel, sku), lambda: done.wait(10), monkeypatch, gather_seconds=0.2
    )
    expected.start()
    leader.start()
    leader.join(10)  # the leader finishes while the other is still on its way
    done.set()
    expected.join(10)

    assert 0.2 <= outcome["took"] < 1.0  # the window, not the limit (2 s)
    assert Order.objects.count() == 1
    assert grouping._group()._coming == 0


def _staggered(
    first: dict[str, Any],
    later: list[tuple[float, Callable[[], Any]]],
    monkeypatch: Any,
    led: threading.Event | None = None,
) -> dict[str, Any]:
    """Requests on their way (inside ``placement_expected``) while ``first`` is placed: once
    its leader waits, each runs its job after its delay. Returns the leader's ``order`` and
    ``took`` (seconds in ``order_place_grouped``), and each later job's result in ``later``.
    ``led`` is set once the leader's call returns."""
    on_their_way = threading.Barrier(len(later) + 1)
    leader_waits = threading.Event()
    outcome: dict[str, Any] = {"later": [None] * len(later)}
    real_wait = grouping._group()._changed.wait

    def noticed_wait(timeout: float | None = None) -> bool:
        leader_waits.set()
        return real_wait(timeout)

    monkeypatch.setattr(grouping._group()._changed, "wait", noticed_wait)

    def expected(index: int, delay: float, job: Callable[[], Any]) -> None:
        try:
            with placement_expected():
                on_their_way.wait(10)
                assert leader_waits.wait(10)
                time.sleep(delay)
                outcome["later"][index] = job()
        finally:
            connection.close()

    def leader() -> None:
        try:
            on_their_way.wait(10)
            started = time.monotonic()
            outcome["order"] = order_place_grouped(**first)[0]
            outcome["took"] = time.monotonic() - started
        finally:
            if led is not None:
                led.set()
            connection.close()

    threads = [threading.Thread(target=leader)] + [
        threading.Thread(target=expected, args=(i, delay, job))
        for i, (delay, job) in enumerate(later)
    ]
    _run(*threads)
    return outcome


def test_a_leader_keeps_waiting_while_the_requests_on_their_way_keep_joining(monkeypatch):
    monkeypatch.setattr(grouping, "GATHER_SECONDS", 0.3)
    monkeypatch.setattr(grouping, "GATHER_LIMIT", 5.0)
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    second, third = _call(channel, sku), _call(channel, sku)
    outcome = _staggered(
        _call(channel, sku),
        [
            (0.2, lambda: order_place_grouped(**second)[0]),
            # Past the first window, but within one of the request before it.
            (0.4, lambda: order_place_grouped(**third)[0]),
        ],
        monkeypatch,
    )

    orders = [outcome["order"], *outcome["later"]]
    assert len({_xmin(order.pk) for order in orders}) == 1
    assert outcome["took"] < 1.5


def test_a_leader_waits_no_longer_than_the_gather_limit_however_often_requests_join(
    monkeypatch,
):
    monkeypatch.setattr(grouping, "GATHER_SECONDS", 0.3)
    monkeypatch.setattr(grouping, "GATHER_LIMIT", 0.4)
    channel = ChannelFactory()
    sku = stocked_sku(quantity=10, warehouse=WarehouseFactory())
    second = _call(channel, sku)
    led = threading.Event()
    outcome = _staggered(
        _call(channel, sku),
        [
            (0.2, lambda: order_place_grouped(**second)[0]),  # extends the wait to 0.5 s…
            (0.0, lambda: led.wait(10)),  # …and this one stays on its way until it has led
        ],
        monkeypatch,
        led,
    )

    assert 0.4 <= outcome["took"] < 1.5
    assert _xmin(outcome["order"].pk) == _xmin(outcome["later"][0].pk)
    assert grouping._group()._coming == 0

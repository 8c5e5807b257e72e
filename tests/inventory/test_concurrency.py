"""Real parallel PostgreSQL connections racing for stock (threads, each with its own
connection, released at the end)."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from inventory.errors import OutOfStock
from inventory.models import Allocation, Backorder, StockLevel
from inventory.selectors import stock_drift
from inventory.services import AllocationLine, stock_allocate, stock_receive
from oms.core.actors import Actor
from tests.factories.inventory import SkuFactory, WarehouseFactory, stock_on_hand

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run_parallel(count, work):
    """Run ``work(i)`` in ``count`` threads released together; return their outcomes."""
    barrier = threading.Barrier(count)
    outcomes = [None] * count

    def target(i):
        try:
            barrier.wait(timeout=30)
            outcomes[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return outcomes


def test_twenty_workers_race_for_the_last_five_units():
    sku = SkuFactory(allow_backorder=True)
    wh = WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=5)
    actor = Actor.system("race")
    lowest_available = []
    stop = threading.Event()

    def watch():
        # A separate connection sampling the row while the race runs.
        try:
            while not stop.is_set():
                lv = StockLevel.objects.get(sku=sku, warehouse=wh)
                lowest_available.append(lv.on_hand - lv.allocated)
        finally:
            connection.close()

    def work(i):
        with transaction.atomic():
            result = stock_allocate(
                lines=[AllocationLine(f"race:{i}", sku.pk, 1)],
                reference=f"order:{i}",
                allow_backorder=i % 2 == 0,  # half may wait, half are refused
                actor=actor,
            )
        return result

    watcher = threading.Thread(target=watch)
    watcher.start()
    outcomes = run_parallel(20, work)
    stop.set()
    watcher.join()

    unexpected = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, OutOfStock)]
    assert unexpected == []
    allocated = sum(
        o.allocated_quantity(f"race:{i}")
        for i, o in enumerate(outcomes)
        if not isinstance(o, Exception)
    )
    backordered = sum(len(o.backordered) for o in outcomes if not isinstance(o, Exception))
    refused = sum(isinstance(o, OutOfStock) for o in outcomes)
    assert allocated == 5
    assert backordered + refused == 15
    assert refused >= 5  # at least the odd workers that lost (10 odd, at most 5 of them won)
    level = StockLevel.objects.get(sku=sku, warehouse=wh)
    assert (level.on_hand, level.allocated) == (5, 5)
    assert sum(Allocation.objects.filter(sku=sku).values_list("quantity", flat=True)) == 5
    assert Backorder.objects.filter(sku=sku, status="open").count() == backordered
    assert lowest_available and min(lowest_available) >= 0
    assert stock_drift() == []


def test_database_refuses_an_oversell_written_by_raw_sql():
    sku, wh = SkuFactory(), WarehouseFactory()
    level = stock_on_hand(sku=sku, warehouse=wh, quantity=5)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stocklevel SET allocated = on_hand + 1 WHERE id = %s", [level.pk]
        )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE inventory_stocklevel SET on_hand = -1 WHERE id = %s", [level.pk])
    level.refresh_from_db()
    assert (level.on_hand, level.allocated) == (5, 0)


def test_orders_locking_overlapping_skus_in_opposite_order_do_not_deadlock():
    skus = [SkuFactory() for _ in range(6)]
    w1, w2 = WarehouseFactory(priority=1), WarehouseFactory(priority=2)
    for sku in skus:
        stock_on_hand(sku=sku, warehouse=w1, quantity=100)
        stock_on_hand(sku=sku, warehouse=w2, quantity=100)
    actor = Actor.system("deadlock")
    rounds = 5

    def work(i):
        ordered = skus if i % 2 == 0 else list(reversed(skus))
        for r in range(rounds):
            with transaction.atomic():
                stock_allocate(
                    lines=[AllocationLine(f"o{i}-{r}-{s.pk}", s.pk, 1) for s in ordered],
                    reference=f"order:{i}:{r}",
                    actor=actor,
                )
                # Hold the locks a moment so the opposite-order worker is surely waiting.
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_sleep(0.005)")
        return "ok"

    outcomes = run_parallel(10, work)
    assert outcomes == ["ok"] * 10
    total = sum(StockLevel.objects.filter(sku__in=skus).values_list("allocated", flat=True))
    assert total == 10 * rounds * len(skus)
    assert stock_drift() == []


def test_receipt_racing_allocations_keeps_the_ledger_whole():
    sku = SkuFactory(allow_backorder=True)
    wh = WarehouseFactory()
    actor = Actor.system("race")

    def work(i):
        if i % 4 == 0:
            stock_receive(sku=sku, warehouse=wh, quantity=3, actor=actor)
            return "received"
        with transaction.atomic():
            return stock_allocate(
                lines=[AllocationLine(f"l{i}", sku.pk, 2)],
                reference=f"o{i}",
                allow_backorder=True,
                actor=actor,
            )

    outcomes = run_parallel(12, work)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    level = StockLevel.objects.get(sku=sku, warehouse=wh)
    assert level.on_hand == 9  # three receipts of 3
    # 9 requests of 2 = 18 wanted, 9 on hand: every unit ends up allocated.
    assert level.allocated == 9
    assert sum(Backorder.objects.filter(status="open").values_list("quantity", flat=True)) == 9
    assert stock_drift() == []


def test_an_allocation_waiting_for_a_receipt_sees_the_stock_row_it_created():
    """The allocation takes the shared SKU locks in one statement and locks stock rows in the
    next, so a receipt holding the SKU exclusively (here: the first stock of the SKU, a row
    that did not exist when the allocation started) is seen once it commits: the order gets
    the units instead of a backorder."""
    sku = SkuFactory(allow_backorder=True)
    wh = WarehouseFactory()
    actor = Actor.system("race")
    received, release = threading.Event(), threading.Event()

    def receive():
        try:
            with transaction.atomic():
                stock_receive(sku=sku, warehouse=wh, quantity=4, actor=actor)
                received.set()
                assert release.wait(timeout=30)
            return "received"
        finally:
            connection.close()

    def allocate():
        try:
            assert received.wait(timeout=30)
            with transaction.atomic():
                return stock_allocate(
                    lines=[AllocationLine("late", sku.pk, 3)],
                    reference="order:late",
                    allow_backorder=True,
                    actor=actor,
                )
        finally:
            connection.close()

    results: dict[str, object] = {}
    threads = [
        threading.Thread(target=lambda: results.__setitem__("receipt", receive())),
        threading.Thread(target=lambda: results.__setitem__("allocation", allocate())),
    ]
    for t in threads:
        t.start()
    assert received.wait(timeout=30)
    # Wait until the allocation is queued behind the receipt's SKU lock, then commit it.
    for _ in range(300):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if cursor.fetchone()[0]:
                break
        threading.Event().wait(0.05)
    else:
        pytest.fail("the allocation never waited for the receipt's lock")
    release.set()
    for t in threads:
        t.join(timeout=60)
    assert results["receipt"] == "received"
    result = results["allocation"]
    assert result.backordered == [] and result.allocated_quantity("late") == 3
    level = StockLevel.objects.get(sku=sku, warehouse=wh)
    assert (level.on_hand, level.allocated) == (4, 3)
    assert not Backorder.objects.exists()
    assert stock_drift() == []

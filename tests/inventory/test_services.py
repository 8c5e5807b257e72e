import pytest
from django.conf import settings
from django.core import mail
from django.db import connection

from inventory import hooks
from inventory.models import (
    Allocation,
    Backorder,
    BackorderStatus,
    MovementKind,
    StockEvent,
    StockEventKind,
    StockLevel,
    StockMovement,
    TransferStatus,
)
from inventory.services import (
    AllocatedPart,
    AllocationLine,
    BackorderedPart,
    OutOfStock,
    stock_adjust,
    stock_allocate,
    stock_receive,
    stock_release,
    stock_release_lines,
    stock_return,
    stock_ship,
    stock_write_off,
    transfer_cancel,
    transfer_dispatch,
    transfer_receive,
    transfer_request,
)
from oms.core.errors import Conflict, InvalidTransition, ValidationError
from tests.factories.core import ChannelFactory
from tests.factories.inventory import SkuFactory, WarehouseFactory, bundle_sku, stock_on_hand

pytestmark = pytest.mark.django_db


def level(sku, warehouse):
    return StockLevel.objects.get(sku=sku, warehouse=warehouse)


def ledger_sum(sku, warehouse):
    rows = StockMovement.objects.filter(sku=sku, warehouse=warehouse)
    return sum(r.quantity for r in rows), sum(r.allocated_delta for r in rows)


def allocate(system_actor, *lines, **kwargs):
    kwargs.setdefault("reference", "order:1")
    return stock_allocate(
        lines=[AllocationLine(ref, sku.pk, qty) for ref, sku, qty in lines],
        actor=system_actor,
        **kwargs,
    )


# --------------------------------------------------------------------------- receipts etc.


def test_receive_creates_level_and_ledger_row(system_actor):
    sku, wh = SkuFactory(), WarehouseFactory()
    stock_receive(sku=sku, warehouse=wh, quantity=10, actor=system_actor, reference="po:1")
    stock_receive(sku=sku, warehouse=wh, quantity=5, actor=system_actor, reference="po:2")
    lv = level(sku, wh)
    assert (lv.on_hand, lv.allocated) == (15, 0)
    rows = list(StockMovement.objects.filter(sku=sku).order_by("pk"))
    assert [(r.kind, r.quantity, r.on_hand_after, r.reference) for r in rows] == [
        (MovementKind.RECEIPT, 10, 10, "po:1"),
        (MovementKind.RECEIPT, 5, 15, "po:2"),
    ]
    assert rows[0].actor_label == "tests"


def test_receive_refuses_bundles_and_bad_quantities(system_actor):
    wh = WarehouseFactory()
    box = bundle_sku([(SkuFactory(), 1)])
    with pytest.raises(ValidationError):
        stock_receive(sku=box, warehouse=wh, quantity=1, actor=system_actor)
    with pytest.raises(ValidationError):
        stock_receive(sku=SkuFactory(), warehouse=wh, quantity=0, actor=system_actor)
    assert not StockMovement.objects.exists()


def test_adjust_needs_reason_and_cannot_go_below_allocated(system_actor):
    sku, wh = SkuFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=5)
    with pytest.raises(ValidationError) as exc:
        stock_adjust(sku=sku, warehouse=wh, quantity=-1, reason=" ", actor=system_actor)
    assert exc.value.code == "reason_required"
    allocate(system_actor, ("l1", sku, 4))
    with pytest.raises(Conflict):
        stock_adjust(sku=sku, warehouse=wh, quantity=-2, reason="count", actor=system_actor)
    stock_adjust(sku=sku, warehouse=wh, quantity=-1, reason="cycle count", actor=system_actor)
    stock_adjust(sku=sku, warehouse=wh, quantity=3, reason="found a case", actor=system_actor)
    lv = level(sku, wh)
    assert (lv.on_hand, lv.allocated) == (7, 4)
    assert ledger_sum(sku, wh) == (7, 4)
    assert StockMovement.objects.filter(kind=MovementKind.ADJUSTMENT, reason="cycle count").exists()


def test_write_off_refuses_allocated_units(system_actor):
    sku, wh = SkuFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=3)
    allocate(system_actor, ("l1", sku, 2))
    with pytest.raises(Conflict):
        stock_write_off(sku=sku, warehouse=wh, quantity=2, reason="broken", actor=system_actor)
    stock_write_off(sku=sku, warehouse=wh, quantity=1, reason="broken", actor=system_actor)
    assert (level(sku, wh).on_hand, level(sku, wh).allocated) == (2, 2)


# --------------------------------------------------------------------------- allocation


def test_single_warehouse_that_can_ship_everything_wins_over_priority(system_actor):
    a, b = SkuFactory(), SkuFactory()
    first = WarehouseFactory(priority=1)
    second = WarehouseFactory(priority=2)
    stock_on_hand(sku=a, warehouse=first, quantity=10)  # has a, not b
    stock_on_hand(sku=a, warehouse=second, quantity=10)
    stock_on_hand(sku=b, warehouse=second, quantity=10)
    result = allocate(system_actor, ("l1", a, 2), ("l2", b, 3))
    assert result.allocations == [
        AllocatedPart("l1", a.pk, second.pk, 2),
        AllocatedPart("l2", b.pk, second.pk, 3),
    ]
    assert result.backordered == []
    assert (level(a, first).allocated, level(a, second).allocated) == (0, 2)
    assert level(b, second).available == 7


def test_priority_breaks_ties_between_complete_warehouses(system_actor):
    sku = SkuFactory()
    low, high = WarehouseFactory(priority=50), WarehouseFactory(priority=5)
    stock_on_hand(sku=sku, warehouse=low, quantity=10)
    stock_on_hand(sku=sku, warehouse=high, quantity=10)
    result = allocate(system_actor, ("l1", sku, 3))
    assert result.allocations == [AllocatedPart("l1", sku.pk, high.pk, 3)]


def test_split_takes_largest_coverage_first(system_actor):
    a, b, c = SkuFactory(), SkuFactory(), SkuFactory()
    w1 = WarehouseFactory(priority=1)
    w2 = WarehouseFactory(priority=2)
    w3 = WarehouseFactory(priority=3)
    stock_on_hand(sku=a, warehouse=w1, quantity=1)
    stock_on_hand(sku=a, warehouse=w2, quantity=5)
    stock_on_hand(sku=b, warehouse=w2, quantity=5)
    stock_on_hand(sku=c, warehouse=w3, quantity=5)
    result = allocate(system_actor, ("la", a, 5), ("lb", b, 5), ("lc", c, 5))
    # w2 covers 10 units, w3 the last 5: two parcels, w1 never used.
    assert sorted(result.allocations, key=lambda p: p.line_ref) == [
        AllocatedPart("la", a.pk, w2.pk, 5),
        AllocatedPart("lb", b.pk, w2.pk, 5),
        AllocatedPart("lc", c.pk, w3.pk, 5),
    ]
    assert result.warehouse_ids == [w2.pk, w3.pk]


def test_one_line_can_split_across_warehouses(system_actor):
    sku = SkuFactory()
    w1, w2 = WarehouseFactory(priority=1), WarehouseFactory(priority=2)
    stock_on_hand(sku=sku, warehouse=w1, quantity=3)
    stock_on_hand(sku=sku, warehouse=w2, quantity=4)
    result = allocate(system_actor, ("l1", sku, 6))
    assert result.allocations == [
        AllocatedPart("l1", sku.pk, w2.pk, 4),
        AllocatedPart("l1", sku.pk, w1.pk, 2),
    ]
    assert result.allocated_quantity("l1") == 6


def test_out_of_stock_is_all_or_nothing(system_actor):
    a, b = SkuFactory(code="HAVE"), SkuFactory(code="SHORT")
    wh = WarehouseFactory()
    stock_on_hand(sku=a, warehouse=wh, quantity=5)
    stock_on_hand(sku=b, warehouse=wh, quantity=1)
    with pytest.raises(OutOfStock) as exc:
        allocate(system_actor, ("l1", a, 2), ("l2", b, 3))
    assert exc.value.code == "out_of_stock"
    assert exc.value.status_code == 409
    assert exc.value.sku_codes == ["SHORT"]
    assert exc.value.fields["shortfalls"] == {"SHORT": 2}
    assert level(a, wh).allocated == 0 and level(b, wh).allocated == 0
    assert not Allocation.objects.exists()
    assert not StockMovement.objects.filter(kind=MovementKind.ALLOCATION).exists()


def test_out_of_stock_leaves_callers_transaction_usable(system_actor):
    from django.db import transaction

    sku, wh = SkuFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=1)
    with transaction.atomic():
        with pytest.raises(OutOfStock):
            allocate(system_actor, ("l1", sku, 2))
        result = allocate(system_actor, ("l1", sku, 2), allow_backorder=True)
    assert result.backordered == [BackorderedPart("l1", sku.pk, 1)]


def test_backorder_where_sku_allows_it(system_actor):
    ok = SkuFactory(allow_backorder=True)
    strict = SkuFactory(allow_backorder=False)
    wh = WarehouseFactory()
    stock_on_hand(sku=ok, warehouse=wh, quantity=2)
    stock_on_hand(sku=strict, warehouse=wh, quantity=2)
    web = ChannelFactory(allow_backorders=False)
    result = allocate(
        system_actor, ("l1", ok, 5), channel=web, allow_backorder=True, destination_country="US"
    )
    assert result.allocations == [AllocatedPart("l1", ok.pk, wh.pk, 2)]
    assert result.backordered == [BackorderedPart("l1", ok.pk, 3)]
    backorder = Backorder.objects.get()
    assert (backorder.quantity, backorder.status, backorder.channel) == (3, "open", web)
    with pytest.raises(OutOfStock):
        allocate(system_actor, ("l2", strict, 5), channel=web, allow_backorder=True)
    partner = ChannelFactory(allow_backorders=True)
    result = allocate(system_actor, ("l3", strict, 5), channel=partner, allow_backorder=True)
    assert result.backordered == [BackorderedPart("l3", strict.pk, 3)]


def test_warehouse_filters_country_channel_and_active(system_actor):
    sku = SkuFactory()
    web, pos = ChannelFactory(), ChannelFactory()
    eu = WarehouseFactory(country="DE", ships_to_countries=["DE", "FR"], priority=1)
    pos_only = WarehouseFactory(priority=2)
    pos_only.channels.set([pos])
    closed = WarehouseFactory(priority=3, is_active=False)
    anywhere = WarehouseFactory(priority=9)
    for wh in (eu, pos_only, closed, anywhere):
        stock_on_hand(sku=sku, warehouse=wh, quantity=5)
    us_web = allocate(system_actor, ("l1", sku, 1), destination_country="US", channel=web)
    assert us_web.warehouse_ids == [anywhere.pk]
    fr_web = allocate(system_actor, ("l2", sku, 1), destination_country="fr", channel=web)
    assert fr_web.warehouse_ids == [eu.pk]
    us_pos = allocate(system_actor, ("l3", sku, 1), destination_country="US", channel=pos)
    assert us_pos.warehouse_ids == [pos_only.pk]
    assert level(sku, closed).allocated == 0


def test_bundle_allocates_components_from_one_warehouse(system_actor):
    coffee, mug = SkuFactory(), SkuFactory()
    digital = SkuFactory(is_physical=False)
    box = bundle_sku([(coffee, 2), (mug, 1), (digital, 1)])
    w1, w2 = WarehouseFactory(priority=1), WarehouseFactory(priority=2)
    stock_on_hand(sku=coffee, warehouse=w1, quantity=10)
    stock_on_hand(sku=mug, warehouse=w1, quantity=1)
    stock_on_hand(sku=coffee, warehouse=w2, quantity=4)
    stock_on_hand(sku=mug, warehouse=w2, quantity=5)
    result = allocate(system_actor, ("box", box, 3))
    # w1 can make 1 box (one mug), w2 can make 2 (four coffees); all 3 needs both.
    assert sorted(result.allocations, key=lambda p: p.warehouse_id) == [
        AllocatedPart("box", box.pk, w1.pk, 1),
        AllocatedPart("box", box.pk, w2.pk, 2),
    ]
    assert (level(coffee, w1).allocated, level(mug, w1).allocated) == (2, 1)
    assert (level(coffee, w2).allocated, level(mug, w2).allocated) == (4, 2)
    assert not StockLevel.objects.filter(sku=digital).exists()
    assert set(Allocation.objects.values_list("line_sku", flat=True)) == {box.pk}


def test_non_physical_sku_allocates_nothing(system_actor):
    saas = SkuFactory(is_physical=False)
    result = allocate(system_actor, ("l1", saas, 4))
    assert result.allocations == [] and result.backordered == []
    assert not Allocation.objects.exists() and not Backorder.objects.exists()


@pytest.mark.parametrize("lines", [1, 20])
def test_allocate_uses_constant_queries(system_actor, django_assert_max_num_queries, lines):
    skus = [SkuFactory() for _ in range(lines)]
    w1, w2 = WarehouseFactory(priority=1), WarehouseFactory(priority=2)
    for i, sku in enumerate(skus):
        stock_on_hand(sku=sku, warehouse=w1 if i % 2 else w2, quantity=3, reorder_point=3)
    channel = ChannelFactory(allow_backorders=True)
    order = [AllocationLine(f"line:{i}", sku.pk, 2 if i else 4) for i, sku in enumerate(skus)]
    # SKUs with their locks, the stock-row lock, one statement for every write (the stock
    # UPDATE, ledger, allocation, backorder and low-stock INSERTs).
    with django_assert_max_num_queries(3):
        result = stock_allocate(
            lines=order,
            reference="order:Q",
            destination_country="US",
            channel=channel,
            allow_backorder=True,
            actor=system_actor,
        )
    assert result.backordered == [BackorderedPart("line:0", skus[0].pk, 1)]
    assert Allocation.objects.count() == lines
    assert Backorder.objects.get().quantity == 1
    assert StockMovement.objects.filter(kind=MovementKind.ALLOCATION).count() == lines
    assert StockEvent.objects.filter(kind=StockEventKind.LOW_STOCK).count() == lines
    with django_assert_max_num_queries(5):
        stock_ship(
            line_ref=f"line:{lines - 1}",
            warehouse_id=(w1 if (lines - 1) % 2 else w2).pk,
            quantity=2,
            reference="shipment:1",
            actor=system_actor,
        )
    with django_assert_max_num_queries(7):
        stock_release(line_ref="line:0", actor=system_actor, reason="cancelled")


@pytest.mark.parametrize("lines", [1, 20])
def test_allocate_without_shortfall_stays_within_three_queries(
    system_actor, django_assert_max_num_queries, lines
):
    skus = [SkuFactory() for _ in range(lines)]
    w1, w2 = WarehouseFactory(priority=1), WarehouseFactory(priority=2)
    for sku in skus:
        stock_on_hand(sku=sku, warehouse=w1, quantity=1)
        stock_on_hand(sku=sku, warehouse=w2, quantity=5)
    order = [AllocationLine(f"line:{i}", sku.pk, 3) for i, sku in enumerate(skus)]
    with django_assert_max_num_queries(3):
        result = stock_allocate(
            lines=order, reference="order:Q", destination_country="US", actor=system_actor
        )
    assert result.warehouse_ids == [w2.pk]
    assert Allocation.objects.count() == lines


def test_allocate_creates_no_savepoints(system_actor, django_assert_max_num_queries):
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    sku, wh = SkuFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=3)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        allocate(system_actor, ("l1", sku, 1))
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]


# --------------------------------------------------------------------------- release/ship/return


def test_release_partial_then_everything(system_actor):
    sku, wh = SkuFactory(allow_backorder=True), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=4)
    allocate(system_actor, ("l1", sku, 6), allow_backorder=True)
    assert level(sku, wh).allocated == 4
    first = stock_release(line_ref="l1", quantity=3, actor=system_actor, reason="edited")
    # The 2 backordered units go first, then 1 allocated.
    assert (first.backorder_cancelled, first.released) == (2, 1)
    assert level(sku, wh).allocated == 3
    assert Backorder.objects.get().status == BackorderStatus.CANCELLED
    rest = stock_release(line_ref="l1", actor=system_actor, reason="cancelled")
    assert (rest.backorder_cancelled, rest.released) == (0, 3)
    assert level(sku, wh).allocated == 0
    assert ledger_sum(sku, wh) == (4, 0)
    again = stock_release(line_ref="l1", actor=system_actor, reason="cancelled")
    assert (again.released, again.backorder_cancelled) == (0, 0)
    with pytest.raises(Conflict):
        stock_release(line_ref="l1", quantity=1, actor=system_actor, reason="x")


def test_ship_turns_allocation_into_shipment(system_actor):
    sku, wh = SkuFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=5)
    allocate(system_actor, ("l1", sku, 3))
    with pytest.raises(Conflict):
        stock_ship(
            line_ref="l1", warehouse_id=wh.pk, quantity=4, reference="s:1", actor=system_actor
        )
    rows = stock_ship(
        line_ref="l1", warehouse_id=wh.pk, quantity=2, reference="shipment:1", actor=system_actor
    )
    assert [(r.kind, r.quantity, r.allocated_delta) for r in rows] == [("shipment", -2, -2)]
    lv = level(sku, wh)
    assert (lv.on_hand, lv.allocated) == (3, 1)
    allocation = Allocation.objects.get()
    assert (allocation.quantity, allocation.quantity_shipped) == (1, 2)
    assert ledger_sum(sku, wh) == (3, 1)


def test_ship_and_return_a_bundle(system_actor):
    a, b = SkuFactory(), SkuFactory()
    box = bundle_sku([(a, 2), (b, 1)])
    wh = WarehouseFactory()
    stock_on_hand(sku=a, warehouse=wh, quantity=10)
    stock_on_hand(sku=b, warehouse=wh, quantity=10)
    allocate(system_actor, ("box", box, 2))
    stock_ship(line_ref="box", warehouse_id=wh.pk, quantity=1, reference="s:1", actor=system_actor)
    assert (level(a, wh).on_hand, level(a, wh).allocated) == (8, 2)
    assert (level(b, wh).on_hand, level(b, wh).allocated) == (9, 1)
    rows = stock_return(
        sku_id=box.pk, warehouse_id=wh.pk, quantity=1, reference="return:1", actor=system_actor
    )
    assert sorted((r.sku_id, r.kind, r.quantity) for r in rows) == sorted(
        [(a.pk, "return", 2), (b.pk, "return", 1)]
    )
    assert (level(a, wh).on_hand, level(b, wh).on_hand) == (10, 10)


def test_return_without_restock_writes_off(system_actor):
    sku, wh = SkuFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=1)
    rows = stock_return(
        sku_id=sku.pk,
        warehouse_id=wh.pk,
        quantity=2,
        reference="return:2",
        actor=system_actor,
        restock=False,
    )
    assert [(r.kind, r.quantity) for r in rows] == [("return", 2), ("write_off", -2)]
    assert level(sku, wh).on_hand == 1


# --------------------------------------------------------------------------- backorders


@pytest.fixture
def filled_calls():
    calls = []

    def record(line_ref, sku_id, warehouse_id, quantity):
        calls.append((line_ref, sku_id, warehouse_id, quantity))

    hooks.register_backorder_filled(record)
    yield calls
    hooks.backorder_filled.remove(record)


def test_receipt_fills_backorders_first_in_first_out(system_actor, filled_calls):
    sku, wh = SkuFactory(allow_backorder=True), WarehouseFactory()
    allocate(system_actor, ("old", sku, 3), reference="order:1", allow_backorder=True)
    allocate(system_actor, ("new", sku, 2), reference="order:2", allow_backorder=True)
    assert Backorder.objects.filter(status="open").count() == 2
    stock_receive(sku=sku, warehouse=wh, quantity=4, actor=system_actor)
    assert filled_calls == [("old", sku.pk, wh.pk, 3), ("new", sku.pk, wh.pk, 1)]
    old, new = Backorder.objects.order_by("created_at", "id")
    assert (old.status, old.quantity_filled) == ("filled", 3)
    assert (new.status, new.quantity, new.quantity_filled) == ("open", 1, 1)
    lv = level(sku, wh)
    assert (lv.on_hand, lv.allocated) == (4, 4)
    assert ledger_sum(sku, wh) == (4, 4)
    assert Allocation.objects.filter(line_ref="new").get().quantity == 1
    assert StockEvent.objects.filter(kind=StockEventKind.BACKORDER_FILLED).count() == 2


def test_receipt_fills_bundle_backorder_when_all_components_arrive(system_actor, filled_calls):
    a, b = SkuFactory(), SkuFactory()
    box = bundle_sku([(a, 2), (b, 1)], allow_backorder=True)
    wh = WarehouseFactory()
    allocate(system_actor, ("box", box, 2), allow_backorder=True)
    stock_receive(sku=a, warehouse=wh, quantity=4, actor=system_actor)
    assert filled_calls == []
    stock_receive(sku=b, warehouse=wh, quantity=1, actor=system_actor)
    assert filled_calls == [("box", box.pk, wh.pk, 1)]
    assert (level(a, wh).allocated, level(b, wh).allocated) == (2, 1)


def test_receipt_skips_backorders_the_warehouse_cannot_ship(system_actor, filled_calls):
    sku = SkuFactory(allow_backorder=True)
    eu = WarehouseFactory(country="DE", ships_to_countries=["DE"])
    allocate(system_actor, ("us", sku, 1), destination_country="US", allow_backorder=True)
    stock_receive(sku=sku, warehouse=eu, quantity=5, actor=system_actor)
    assert filled_calls == []
    assert Backorder.objects.get().status == "open"


# --------------------------------------------------------------------------- low stock


def test_low_stock_alert_once_when_crossing_reorder_point(
    system_actor, django_capture_on_commit_callbacks
):
    sku, wh = SkuFactory(code="BEANS"), WarehouseFactory(code="us-east")
    stock_on_hand(sku=sku, warehouse=wh, quantity=10, reorder_point=5)
    with django_capture_on_commit_callbacks(execute=True):
        allocate(system_actor, ("l1", sku, 5))  # available 5: not below
    assert not StockEvent.objects.filter(kind="low_stock").exists()
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        allocate(system_actor, ("l2", sku, 1), reference="order:2")
    event = StockEvent.objects.get(kind="low_stock")
    assert event.payload["available"] == 4
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [settings.OMS_INVENTORY_CONTACT_EMAIL]
    assert "BEANS" in mail.outbox[0].body and "us-east" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        allocate(system_actor, ("l3", sku, 1), reference="order:3")
    assert StockEvent.objects.filter(kind="low_stock").count() == 1


def test_low_stock_email_not_sent_when_rolled_back(
    system_actor, django_capture_on_commit_callbacks
):
    from django.db import transaction

    sku, wh = SkuFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=10, reorder_point=5)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            allocate(system_actor, ("l1", sku, 8))
            raise RuntimeError("order failed later")
    assert callbacks == []
    assert mail.outbox == []
    assert level(sku, wh).allocated == 0


# --------------------------------------------------------------------------- transfers


def test_transfer_moves_stock_through_ledger(system_actor, filled_calls):
    sku = SkuFactory(allow_backorder=True)
    src, dst = WarehouseFactory(priority=1), WarehouseFactory(priority=2)
    stock_on_hand(sku=sku, warehouse=src, quantity=10)
    transfer = transfer_request(
        sku=sku, source=src, destination=dst, quantity=4, actor=system_actor
    )
    assert transfer.status == TransferStatus.REQUESTED
    assert level(sku, src).on_hand == 10
    transfer = transfer_dispatch(transfer=transfer, actor=system_actor)
    assert transfer.status == TransferStatus.IN_TRANSIT
    assert level(sku, src).on_hand == 6
    with pytest.raises(InvalidTransition):
        transfer_cancel(transfer=transfer, reason="too late", actor=system_actor)
    transfer = transfer_receive(transfer=transfer, actor=system_actor)
    assert transfer.status == TransferStatus.RECEIVED
    assert level(sku, dst).on_hand == 4
    kinds = list(
        StockMovement.objects.filter(reference=f"transfer:{transfer.pk}")
        .order_by("pk")
        .values_list("kind", "quantity", "warehouse")
    )
    assert kinds == [("transfer_out", -4, src.pk), ("transfer_in", 4, dst.pk)]
    with pytest.raises(InvalidTransition):
        transfer_receive(transfer=transfer, actor=system_actor)
    assert level(sku, dst).on_hand == 4


def test_transfer_dispatch_refused_without_available_stock(system_actor):
    sku = SkuFactory()
    src, dst = WarehouseFactory(), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=src, quantity=3)
    allocate(system_actor, ("l1", sku, 2))
    transfer = transfer_request(
        sku=sku, source=src, destination=dst, quantity=2, actor=system_actor
    )
    with pytest.raises(Conflict):
        transfer_dispatch(transfer=transfer, actor=system_actor)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.REQUESTED
    assert level(sku, src).on_hand == 3
    transfer_cancel(transfer=transfer, reason="not needed", actor=system_actor)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.CANCELLED


def test_release_lines_frees_a_whole_order_in_constant_queries(
    system_actor, django_assert_max_num_queries
):
    skus = [SkuFactory(allow_backorder=True) for _ in range(10)]
    wh = WarehouseFactory()
    for sku in skus:
        stock_on_hand(sku=sku, warehouse=wh, quantity=2)
    allocate(system_actor, *[(f"l{i}", sku, 3) for i, sku in enumerate(skus)], allow_backorder=True)
    with django_assert_max_num_queries(7):
        results = stock_release_lines(
            line_refs=[f"l{i}" for i in range(10)], actor=system_actor, reason="cancelled"
        )
    assert {r.released for r in results.values()} == {2}
    assert {r.backorder_cancelled for r in results.values()} == {1}
    assert set(StockLevel.objects.values_list("allocated", flat=True)) == {0}
    assert not Backorder.objects.filter(status="open").exists()


def test_bundle_allocated_in_two_steps_releases_and_ships_whole_units(system_actor):
    a, b = SkuFactory(), SkuFactory()
    box = bundle_sku([(a, 2), (b, 1)], allow_backorder=True)
    wh = WarehouseFactory()
    stock_on_hand(sku=a, warehouse=wh, quantity=2)
    stock_on_hand(sku=b, warehouse=wh, quantity=1)
    allocate(system_actor, ("box", box, 3), allow_backorder=True)
    stock_receive(sku=a, warehouse=wh, quantity=4, actor=system_actor)
    stock_receive(sku=b, warehouse=wh, quantity=2, actor=system_actor)
    # 1 box at first, then the receipts fill the 2 backordered boxes (two more rows each).
    assert Allocation.objects.filter(sku=a).count() >= 2
    assert (level(a, wh).allocated, level(b, wh).allocated) == (6, 3)
    stock_ship(line_ref="box", warehouse_id=wh.pk, quantity=2, reference="s:1", actor=system_actor)
    result = stock_release(line_ref="box", actor=system_actor, reason="cancel rest")
    assert (result.released, result.backorder_cancelled) == (1, 0)
    assert (level(a, wh).on_hand, level(a, wh).allocated) == (2, 0)
    assert (level(b, wh).on_hand, level(b, wh).allocated) == (1, 0)
    for sku in (a, b):
        assert ledger_sum(sku, wh) == (level(sku, wh).on_hand, level(sku, wh).allocated)


def test_sweep_gives_cancelled_stock_to_waiting_backorders(system_actor, filled_calls):
    from inventory.services import backorders_fill_from_stock
    from inventory.tasks import fill_backorders_from_stock

    sku, wh = SkuFactory(allow_backorder=True), WarehouseFactory()
    stock_on_hand(sku=sku, warehouse=wh, quantity=3)
    allocate(system_actor, ("first", sku, 3), reference="order:1")
    allocate(system_actor, ("waiting", sku, 2), reference="order:2", allow_backorder=True)
    stock_release(line_ref="first", actor=system_actor, reason="cancelled")
    assert level(sku, wh).available == 3
    assert backorders_fill_from_stock(actor=system_actor, sku_ids=[SkuFactory().pk]) == []
    assert fill_backorders_from_stock.delay().get() == 1
    assert filled_calls == [("waiting", sku.pk, wh.pk, 2)]
    assert Backorder.objects.get(line_ref="waiting").status == BackorderStatus.FILLED
    assert (level(sku, wh).allocated, level(sku, wh).available) == (2, 1)
    assert backorders_fill_from_stock(actor=system_actor) == []
    assert ledger_sum(sku, wh) == (3, 2)


def test_line_allocations_selector(system_actor, django_assert_num_queries):
    from inventory.selectors import line_allocations

    a, b = SkuFactory(), SkuFactory()
    box = bundle_sku([(a, 2), (b, 1)])
    w1, w2 = WarehouseFactory(priority=1), WarehouseFactory(priority=2)
    stock_on_hand(sku=a, warehouse=w1, quantity=2)
    stock_on_hand(sku=b, warehouse=w1, quantity=1)
    stock_on_hand(sku=a, warehouse=w2, quantity=10)
    stock_on_hand(sku=b, warehouse=w2, quantity=10)
    # No warehouse has all 11 of ``a``: w2 covers the boxes and 2 plain, w1 the last plain.
    allocate(system_actor, ("box", box, 4), ("plain", a, 3))
    with django_assert_num_queries(1):
        held = line_allocations(line_refs=["box", "plain", "none"])
    assert held == {"box": {w2.pk: 4}, "plain": {w2.pk: 2, w1.pk: 1}}


def test_after_commit_backorder_callbacks_wait_for_the_commit(
    system_actor, django_capture_on_commit_callbacks
):
    from django.db import transaction

    calls = []

    def late(line_ref, sku_id, warehouse_id, quantity):
        calls.append((line_ref, quantity))

    hooks.register_backorder_filled(late, after_commit=True)
    try:
        sku, wh = SkuFactory(allow_backorder=True), WarehouseFactory()
        allocate(system_actor, ("l1", sku, 2), allow_backorder=True)
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(RuntimeError), transaction.atomic():
                stock_receive(sku=sku, warehouse=wh, quantity=2, actor=system_actor)
                assert calls == []
                raise RuntimeError("receipt rolled back")
        assert calls == []
        assert Backorder.objects.get().status == "open"
        with django_capture_on_commit_callbacks(execute=True):
            stock_receive(sku=sku, warehouse=wh, quantity=2, actor=system_actor)
        assert calls == [("l1", 2)]
    finally:
        hooks.backorder_filled_after_commit.remove(late)


def test_receipt_refused_beyond_warehouse_capacity(system_actor):
    wh = WarehouseFactory(capacity_units=10)
    a, b = SkuFactory(), SkuFactory()
    stock_receive(sku=a, warehouse=wh, quantity=6, actor=system_actor)
    with pytest.raises(Conflict) as exc:
        stock_receive(sku=b, warehouse=wh, quantity=5, actor=system_actor)
    assert exc.value.code == "over_capacity"
    assert not StockLevel.objects.filter(sku=b, on_hand__gt=0).exists()
    stock_receive(sku=b, warehouse=wh, quantity=4, actor=system_actor)
    assert sum(StockLevel.objects.filter(warehouse=wh).values_list("on_hand", flat=True)) == 10


def test_the_backorder_sweep_is_scheduled_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    from inventory import tasks

    entry = PeriodicTask.objects.get(name="inventory: fill backorders from freed stock")
    assert entry.task == tasks.fill_backorders_from_stock.name
    assert (entry.interval.every, entry.interval.period) == (15, "minutes")
    assert entry.enabled

"""order_place: validation, server-side totals, all-or-nothing with stock, re-sent external
ids, the query bound."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext

from inventory.errors import OutOfStock
from inventory.models import Allocation, Backorder, StockLevel, StockMovement
from oms.core.errors import ApplicationError
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.services import order_payment_confirm, order_place
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory
from tests.factories.inventory import SkuFactory, WarehouseFactory
from tests.factories.orders import ADDRESS, place_order, stocked_sku
from tests.orders.conftest import level

pytestmark = pytest.mark.django_db


def _place(channel, customer, lines, **kwargs):
    from oms.core.actors import Actor

    return order_place(
        channel=channel,
        customer=customer,
        lines=lines,
        shipping_address=kwargs.pop("shipping_address", ADDRESS),
        actor=Actor.for_channel(channel),
        **kwargs,
    )


def test_place_writes_order_lines_allocation_and_timeline(
    channel, customer, warehouse, allocated_calls
):
    a = stocked_sku(quantity=10, price=2500, warehouse=warehouse)
    b = stocked_sku(quantity=10, price=1000, warehouse=warehouse)
    order = _place(
        channel,
        customer,
        [{"sku": a.code, "quantity": 2}, {"sku": b.code, "quantity": 3, "discount": 500}],
        external_id="WEB-1",
        notes="Leave at the door",
    )
    order.refresh_from_db()
    assert re.fullmatch(r"SO-\d{4}-\d{6}", order.number)
    assert order.status == OrderStatus.ALLOCATED
    assert (order.subtotal, order.discount_total, order.shipping_total, order.tax_total) == (
        8000,
        500,
        0,
        0,
    )
    assert order.total == 7500  # 75.00 net goods ships free
    lines = list(order.lines.order_by("line_no"))
    assert [
        (line.sku_id, line.quantity, line.unit_price, line.allocated_quantity) for line in lines
    ] == [
        (a.pk, 2, 2500, 2),
        (b.pk, 3, 1000, 3),
    ]
    assert [line.total for line in lines] == [5000, 2500]
    assert level(a, warehouse).allocated == 2 and level(b, warehouse).allocated == 3
    assert Allocation.objects.filter(line_ref=lines[0].stock_ref, quantity=2).exists()
    kinds = list(order.events.values_list("kind", "payload__to"))
    assert kinds == [
        ("placed", "placed"),
        ("status_changed", "confirmed"),
        ("allocation", None),
        ("status_changed", "allocated"),
    ]
    assert (
        order.shipping_address["country"] == "US"
        and order.billing_address == order.shipping_address
    )
    assert order.history.count() == 1 and OrderLine.history.filter(order_id=order.pk).count() == 2
    assert allocated_calls == [(order.number, [2, 3])]


def test_numbers_are_unique_and_increasing(channel, customer, warehouse):
    sku = stocked_sku(warehouse=warehouse)
    numbers = [
        place_order(channel=channel, customer=customer, lines=[(sku, 1)]).number for _ in range(3)
    ]
    assert len(set(numbers)) == 3
    assert numbers == sorted(numbers)


def test_shipping_fee_and_delivery_option(channel, customer, warehouse):
    sku = stocked_sku(price=1000, warehouse=warehouse)
    order = _place(channel, customer, [{"sku": sku.code, "quantity": 1}], delivery_option="express")
    assert (order.subtotal, order.shipping_total, order.total) == (1000, 1495, 2495)
    assert order.delivery_lead_time_days == 2


def test_tax_calculator_hook_is_used_and_rounded_per_line(
    channel, customer, warehouse, without_upper_hooks
):
    from decimal import Decimal

    from oms.core.money import Money
    from orders import hooks

    def twenty_percent(*, lines, shipping, currency, address):
        rate = Decimal("0.2")
        return {
            t.line_no: Money(t.net_amount, currency).multiply(rate).amount for t in lines
        }, Money(shipping, currency).multiply(rate).amount

    sku = stocked_sku(price=333, warehouse=warehouse)
    hooks.tax_calculator.register(twenty_percent)
    try:
        order = _place(channel, customer, [{"sku": sku.code, "quantity": 1}])
    finally:
        hooks.tax_calculator.unregister(twenty_percent)
    # 3.33 × 20% = 0.666 → 67; shipping 4.95 × 20% = 0.99
    assert order.lines.get().tax == 67
    assert (order.tax_total, order.total) == (67 + 99, 333 + 495 + 67 + 99)


def _nothing_written(*skus_and_warehouse):
    assert (
        not Order.objects.exists()
        and not OrderLine.objects.exists()
        and not OrderEvent.objects.exists()
    )
    assert not Allocation.objects.exists() and not Backorder.objects.exists()
    assert not StockMovement.objects.exclude(kind="receipt").exists()


def test_out_of_stock_second_line_leaves_no_order_and_no_stock_moved(channel, customer, warehouse):
    plenty = stocked_sku(quantity=50, warehouse=warehouse)
    scarce = stocked_sku(quantity=1, warehouse=warehouse)
    with pytest.raises(OutOfStock) as exc:
        _place(
            channel,
            customer,
            [{"sku": plenty.code, "quantity": 5}, {"sku": scarce.code, "quantity": 2}],
        )
    assert exc.value.code == "out_of_stock" and scarce.code in exc.value.message
    _nothing_written()
    assert level(plenty, warehouse).allocated == 0 and level(scarce, warehouse).allocated == 0


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ({"sku": "NOPE", "quantity": 1}, "unknown_sku"),
        ({"sku": "{sku}", "quantity": 0}, "invalid_quantity"),
        ({"sku": "{sku}", "quantity": -2}, "invalid_quantity"),
        ({"sku": "{sku}", "quantity": 1, "unit_price": 1}, "price_mismatch"),
        ({"sku": "{sku}", "quantity": 1, "discount": 999999}, "invalid_discount"),
    ],
)
def test_a_bad_line_refuses_the_whole_order(channel, customer, warehouse, line, code):
    good = stocked_sku(warehouse=warehouse)
    other = stocked_sku(warehouse=warehouse)
    bad = {k: (v.format(sku=other.code) if isinstance(v, str) else v) for k, v in line.items()}
    with pytest.raises(ApplicationError) as exc:
        _place(channel, customer, [{"sku": good.code, "quantity": 1}, bad])
    assert exc.value.code == code
    _nothing_written()
    assert level(good, warehouse).allocated == 0


def test_inactive_sku_and_missing_price_are_refused(channel, customer, warehouse):
    inactive = stocked_sku(warehouse=warehouse, is_active=False)
    with pytest.raises(ApplicationError) as exc:
        _place(channel, customer, [{"sku": inactive.code, "quantity": 1}])
    assert exc.value.code == "sku_inactive"
    euro_less = stocked_sku(warehouse=warehouse)
    with pytest.raises(ApplicationError) as exc:
        _place(channel, customer, [{"sku": euro_less.code, "quantity": 1}], currency="EUR")
    assert exc.value.code == "no_price"
    _nothing_written()


def test_matching_channel_price_is_accepted(channel, customer, warehouse):
    sku = stocked_sku(price=1234, warehouse=warehouse)
    order = _place(channel, customer, [{"sku": sku.code, "quantity": 1, "unit_price": 1234}])
    assert order.lines.get().unit_price == 1234


def test_subscription_orders_carry_the_plan_price(channel, customer, warehouse):
    sku = stocked_sku(price=1234, warehouse=warehouse)
    order = _place(
        channel,
        customer,
        [{"sku": sku.code, "quantity": 1, "unit_price": 999}],
        origin="subscription",
        subscription_id=42,
        trust_prices=True,
    )
    assert (order.origin, order.subscription_id, order.total) == ("subscription", 42, 999)


def test_wrong_expected_total_is_refused_with_total_mismatch(channel, customer, warehouse):
    sku = stocked_sku(price=1000, warehouse=warehouse)
    with pytest.raises(ApplicationError) as exc:
        _place(channel, customer, [{"sku": sku.code, "quantity": 2}], expected_total=1)
    assert exc.value.code == "total_mismatch" and exc.value.status_code == 409
    assert exc.value.fields["expected_total"]["computed"]["total"] == 2495
    _nothing_written()
    assert (
        _place(channel, customer, [{"sku": sku.code, "quantity": 2}], expected_total=2495).total
        == 2495
    )


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ({**ADDRESS, "country": "XX"}, "invalid_country"),
        ({**ADDRESS, "line1": ""}, "invalid_address"),
        ({"city": "Portland", "country": "US"}, "invalid_address"),
    ],
)
def test_bad_address_is_refused(channel, customer, warehouse, address, code):
    sku = stocked_sku(warehouse=warehouse)
    with pytest.raises(ApplicationError) as exc:
        _place(channel, customer, [{"sku": sku.code, "quantity": 1}], shipping_address=address)
    assert exc.value.code == code
    _nothing_written()


def test_inactive_customer_is_refused(channel, warehouse):
    sku = stocked_sku(warehouse=warehouse)
    with pytest.raises(ApplicationError) as exc:
        _place(channel, CustomerFactory(status="inactive"), [{"sku": sku.code, "quantity": 1}])
    assert exc.value.code == "customer_inactive"


def test_resent_external_id_returns_the_existing_order(channel, customer, warehouse):
    sku = stocked_sku(quantity=10, warehouse=warehouse)
    first = _place(channel, customer, [{"sku": sku.code, "quantity": 2}], external_id="WEB-9")
    again = _place(channel, customer, [{"sku": sku.code, "quantity": 2}], external_id="WEB-9")
    assert again.pk == first.pk
    assert Order.objects.count() == 1 and level(sku, warehouse).allocated == 2
    # Another channel may use the same id for its own order.
    other = _place(
        ChannelFactory(), customer, [{"sku": sku.code, "quantity": 1}], external_id="WEB-9"
    )
    assert other.pk != first.pk and level(sku, warehouse).allocated == 3


def test_backorders_where_the_channel_allows_them(backorder_channel, customer, warehouse):
    sku = stocked_sku(quantity=2, warehouse=warehouse)
    order = _place(backorder_channel, customer, [{"sku": sku.code, "quantity": 5}])
    line = order.lines.get()
    assert order.status == OrderStatus.BACKORDERED
    assert (line.allocated_quantity, line.backordered_quantity) == (2, 3)
    assert Backorder.objects.get(line_ref=line.stock_ref).quantity == 3
    assert level(sku, warehouse).allocated == 2


def test_non_physical_lines_need_no_stock_and_ship_free(channel, customer):
    seat = SkuFactory(is_physical=False, price=900)
    order = _place(channel, customer, [{"sku": seat.code, "quantity": 3}])
    assert (
        order.status == OrderStatus.ALLOCATED and order.shipping_total == 0 and order.total == 2700
    )
    assert not Allocation.objects.exists()


def test_payment_pending_reserves_stock_then_confirmation_allocates(
    channel, customer, warehouse, allocated_calls, system_actor
):
    sku = stocked_sku(quantity=5, warehouse=warehouse)
    order = _place(channel, customer, [{"sku": sku.code, "quantity": 2}], payment_pending=True)
    assert order.status == OrderStatus.PAYMENT_PENDING and level(sku, warehouse).allocated == 2
    assert allocated_calls == []
    order = order_payment_confirm(
        order=order, actor=system_actor, amount=order.total, reference="pi_1"
    )
    assert order.status == OrderStatus.ALLOCATED and len(allocated_calls) == 1
    assert list(order.events.values_list("kind", flat=True))[-3:] == [
        "payment",
        "status_changed",
        "status_changed",
    ]
    assert (
        order_payment_confirm(order=order, actor=system_actor).status == OrderStatus.ALLOCATED
    )  # replay


def test_deleting_a_customer_with_orders_is_refused(channel, customer, warehouse):
    place_order(channel=channel, customer=customer, lines=[(stocked_sku(warehouse=warehouse), 1)])
    with pytest.raises(ProtectedError):
        customer.delete()


def _kinds_of(queries):
    """What each captured statement does, by the first table it touches."""
    kinds = []
    for q in queries:
        sql = q["sql"].strip()
        if sql in ("BEGIN", "COMMIT"):
            kinds.append(sql)
        elif "ids.number" in sql:
            kinds.append("orders read")
        elif "pg_advisory_xact_lock_shared" in sql and "inventory_sku" in sql:
            kinds.append("inventory skus+locks")
        elif "FOR UPDATE" in sql and "inventory_stocklevel" in sql:
            kinds.append("inventory stock lock")
        elif sql.startswith('WITH w0 AS (UPDATE "inventory_stocklevel"') and (
            'INSERT INTO "orders_order"' in sql
        ):
            kinds.append("stock and order writes")
        elif "fulfillment_shipment" in sql and "nextval" in sql:
            kinds.append("fulfillment read")
        elif "billing_taxrate" in sql:
            kinds.append("billing tax rates")
        else:
            kinds.append(sql[:60])
    return kinds


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("line_count", [1, 20])
def test_placing_costs_a_fixed_number_of_queries(
    django_assert_max_num_queries, without_upper_hooks, line_count
):
    """At most 10 round trips for 1 to 20 lines (6 on PostgreSQL): BEGIN, orders' read (SKUs,
    prices, order number, order and line ids, the re-sent check), inventory's 2 reads (SKU
    lookup with the shared SKU locks, the stock-row lock), one statement writing the stock
    UPDATE, the ledger and allocation INSERTs, the order, its lines, both history tables and
    the events, COMMIT. The callbacks of the apps above (billing's tax rates, fulfillment's
    shipments) are set aside here; the next test has them on."""
    channel = ChannelFactory()
    customer = CustomerFactory()
    warehouse = WarehouseFactory()
    skus = [stocked_sku(quantity=5, warehouse=warehouse) for _ in range(line_count)]
    with django_assert_max_num_queries(10) as captured:
        order = _place(
            channel, customer, [{"sku": s.code, "quantity": 2} for s in skus], external_id="Q"
        )
    assert _kinds_of(captured.captured_queries) == [
        "BEGIN",
        "orders read",
        "inventory skus+locks",
        "inventory stock lock",
        "stock and order writes",
        "COMMIT",
    ]
    # Nothing was dropped to get there: every row intake wrote before is still written.
    assert order.lines.count() == line_count and order.status == OrderStatus.ALLOCATED
    lines = list(OrderLine.objects.filter(order=order).order_by("line_no"))
    assert [line.allocated_quantity for line in lines] == [2] * line_count
    assert [level(s, warehouse).allocated for s in skus] == [2] * line_count
    refs = {line.stock_ref for line in lines}
    assert set(StockMovement.objects.values_list("reference", flat=True)) >= refs
    assert set(Allocation.objects.values_list("line_ref", flat=True)) == refs
    assert order.history.filter(history_type="+").count() == 1
    assert OrderLine.history.filter(order_id=order.pk, history_type="+").count() == line_count
    assert order.events.count() == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("line_count", [1, 20])
def test_intake_with_tax_and_shipment_planning_stays_within_the_bound(
    django_assert_max_num_queries, line_count
):
    """With every app's callbacks on: billing reads its tax rates, fulfillment reads what it
    needs to plan the parcels (shipment ids, cut-off times, bins) and adds its rows to
    intake's one write — 8 round trips, and the order has its parcel when intake returns."""
    from fulfillment.models import Shipment, ShipmentLine

    channel = ChannelFactory()
    customer = CustomerFactory()
    warehouse = WarehouseFactory()
    skus = [stocked_sku(quantity=5, warehouse=warehouse) for _ in range(line_count)]
    with django_assert_max_num_queries(10) as captured:
        order = _place(channel, customer, [{"sku": s.code, "quantity": 2} for s in skus])
    assert _kinds_of(captured.captured_queries) == [
        "BEGIN",
        "orders read",
        "billing tax rates",
        "inventory skus+locks",
        "inventory stock lock",
        "fulfillment read",
        "stock and order writes",
        "COMMIT",
    ]
    shipment = Shipment.objects.get(order=order)
    assert shipment.warehouse_id == warehouse.pk and shipment.events.count() == 1
    assert (
        sorted(ShipmentLine.objects.filter(shipment=shipment).values_list("quantity", flat=True))
        == [2] * line_count
    )
    assert shipment.promised_ship_by is not None and shipment.service_level == "standard"


@pytest.mark.django_db(transaction=True)
def test_backorders_bundles_and_low_stock_stay_within_the_bound(
    django_assert_max_num_queries, without_upper_hooks
):
    """The worst case for the budget: 20 lines on a channel allowing backorders, some short,
    one a bundle, stock falling below reorder points. Still at most 10 round trips: the same 6,
    and the low-stock email's read after commit."""
    from django.core import mail

    from inventory.models import BundleComponent, StockEvent, StockEventKind

    channel = ChannelFactory(allow_backorders=True)
    customer = CustomerFactory()
    warehouse = WarehouseFactory()
    skus = [stocked_sku(quantity=3, warehouse=warehouse) for _ in range(19)]
    for sku in skus:
        StockLevel.objects.filter(sku=sku).update(reorder_point=2)
    box = SkuFactory(is_bundle=True, price=9900)
    BundleComponent.objects.create(bundle=box, component=skus[0], quantity=1)
    lines = [{"sku": s.code, "quantity": 5 if i % 4 == 0 else 2} for i, s in enumerate(skus)]
    lines.append({"sku": box.code, "quantity": 1})
    with django_assert_max_num_queries(10) as captured:
        order = _place(channel, customer, lines)
    kinds = _kinds_of(captured.captured_queries)
    assert kinds[:6] == [
        "BEGIN",
        "orders read",
        "inventory skus+locks",
        "inventory stock lock",
        "stock and order writes",
        "COMMIT",
    ]
    # After commit: the low-stock email reads its alerts (an on_commit side effect).
    assert len(kinds) == 7 and "inventory_stockevent" in kinds[6]
    assert len(mail.outbox) == 1
    assert order.status == OrderStatus.BACKORDERED
    short = {s.pk for i, s in enumerate(skus) if i % 4 == 0} | {box.pk}
    assert set(Backorder.objects.values_list("sku_id", flat=True)) == short
    alerts = StockEvent.objects.filter(kind=StockEventKind.LOW_STOCK)
    assert alerts.count() == 19  # every level went from 3 (≥ 2) to ≤ 1 available
    assert all(level(s, warehouse).allocated == 3 for i, s in enumerate(skus) if i % 4 == 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_resend_of_one_external_id_creates_one_order():
    channel = ChannelFactory()
    customer = CustomerFactory()
    sku = stocked_sku(quantity=50, warehouse=WarehouseFactory())
    barrier = threading.Barrier(4)
    results, failures = [], []

    def worker():
        try:
            barrier.wait()
            results.append(
                _place(channel, customer, [{"sku": sku.code, "quantity": 1}], external_id="DUP").pk
            )
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(set(results)) == 1 and Order.objects.count() == 1
    assert level(sku, WarehouseFactory._meta.model.objects.get()).allocated == 1


def test_a_bundle_line_allocates_its_components(channel, customer, warehouse):
    from tests.factories.inventory import bundle_sku

    bean = stocked_sku(quantity=10, warehouse=warehouse)
    filt = stocked_sku(quantity=10, warehouse=warehouse)
    box = bundle_sku([(bean, 2), (filt, 1)])
    order = _place(channel, customer, [{"sku": box.code, "quantity": 3}])
    line = order.lines.get()
    assert order.status == OrderStatus.ALLOCATED and line.allocated_quantity == 3
    assert level(bean, warehouse).allocated == 6 and level(filt, warehouse).allocated == 3
    with pytest.raises(OutOfStock):
        _place(channel, customer, [{"sku": box.code, "quantity": 3}])  # 4 beans left, 6 needed
    assert level(bean, warehouse).allocated == 6


def test_the_portable_path_places_the_same_order(channel, customer, warehouse, monkeypatch):
    """The code SQLite runs (the quick start), exercised here on PostgreSQL: ORM reads, the
    order number from a counter row, order and line ids after MAX(id), no SKU locks, one
    bulk query per table."""
    import inventory.services.allocation
    import inventory.services.ledger
    import oms.core.bulk
    import oms.core.db
    from oms.core.db import Counter
    from orders.models import NUMBER_SEQUENCE
    from orders.services import intake

    for module in (intake, oms.core.db, oms.core.bulk, inventory.services.ledger):
        monkeypatch.setattr(module, "is_postgres", lambda conn=None: False)
    monkeypatch.setattr(inventory.services.allocation, "is_postgres", lambda conn=None: False)
    a = stocked_sku(quantity=10, price=2500, warehouse=warehouse)
    b = stocked_sku(quantity=10, price=1000, warehouse=warehouse)
    before = OrderLine.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with CaptureQueriesContext(connection) as queries:
        order = _place(
            channel,
            customer,
            [{"sku": a.code, "quantity": 2}, {"sku": b.code, "quantity": 3}],
            external_id="PORT-1",
        )
    captured = queries.captured_queries
    assert not any("WITH w0" in q["sql"] or "pg_advisory" in q["sql"] for q in captured)
    counter = Counter.objects.get(name=NUMBER_SEQUENCE).value
    assert order.number.endswith(f"-{counter:06d}")
    lines = list(order.lines.order_by("line_no"))
    assert [line.pk for line in lines] == [before + 1, before + 2]
    assert [(line.sku_id, line.allocated_quantity) for line in lines] == [(a.pk, 2), (b.pk, 3)]
    assert order.status == OrderStatus.ALLOCATED and order.total == 8000
    assert level(a, warehouse).allocated == 2
    assert order.history.count() == 1 and order.events.count() == 4
    assert OrderLine.history.filter(order_id=order.pk).count() == 2
    assert Allocation.objects.filter(line_ref__in=[line.stock_ref for line in lines]).count() == 2
    again = _place(channel, customer, [{"sku": a.code, "quantity": 2}], external_id="PORT-1")
    assert again.pk == order.pk and Order.objects.filter(external_id="PORT-1").count() == 1
    assert Counter.objects.get(name=NUMBER_SEQUENCE).value == counter  # no number spent


def test_the_placed_order_reads_its_lines_like_any_instance(
    channel, customer, warehouse, system_actor, allocated_calls
):
    """The lines handed to the order_allocated callbacks are not left cached on the order
    order_place returns: after the order changes, ``order.lines`` shows the database."""
    from orders.services import order_record_shipment

    a = stocked_sku(quantity=10, warehouse=warehouse)
    b = stocked_sku(quantity=10, warehouse=warehouse)
    order = _place(
        channel, customer, [{"sku": a.code, "quantity": 2}, {"sku": b.code, "quantity": 1}]
    )
    assert allocated_calls == [(order.number, [2, 1])]  # the callback saw them prefetched
    first = order.lines.get(line_no=1)
    order_record_shipment(order=order, quantities={first.pk: 2}, actor=system_actor)
    assert [line.shipped_quantity for line in order.lines.all()] == [2, 0]
    assert order.lines.get(line_no=1).allocated_quantity == 0
    assert order.lines.filter(shipped_quantity=0).get().sku_id == b.pk
    assert order.lines.count() == 2 and order.lines.order_by("-line_no").first().sku_id == b.pk


def test_waived_shipping_is_free_and_stays_free_through_an_edit(
    channel, customer, warehouse, system_actor
):
    from orders.services import order_edit

    sku = stocked_sku(price=1000, warehouse=warehouse)
    charged = _place(
        channel, customer, [{"sku": sku.code, "quantity": 1}], delivery_option="express"
    )
    free = _place(
        channel,
        customer,
        [{"sku": sku.code, "quantity": 1}],
        delivery_option="express",
        waive_shipping=True,
    )
    assert (charged.shipping_total, charged.total, charged.shipping_waived) == (1495, 2495, False)
    free.refresh_from_db()
    assert (free.shipping_total, free.total, free.shipping_waived) == (0, 1000, True)
    placed = free.events.get(kind="placed").payload
    assert placed["shipping_waived"] is True and placed["totals"]["shipping_total"] == 0
    line = free.lines.get()
    free = order_edit(order=free, quantities={line.pk: 2}, actor=system_actor)
    assert (free.shipping_total, free.total) == (0, 2000)
    assert free.history.latest().shipping_waived is True

"""Order intake from any channel: ``order_place``.

One durable transaction writes the order, its lines, their stock allocation and the timeline,
or nothing at all. The query budget on PostgreSQL is fixed whatever the line count: one read
(the SKUs and their prices, the order number and the ids of the order and its lines, the
re-sent check), inventory's allocation (3), then one statement that inserts the order, its
lines, their history rows and the events (``oms.core.bulk``) — with BEGIN and COMMIT, 7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from customers.models import Customer, CustomerStatus
from inventory.models import Sku, SkuPrice
from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.db import is_postgres, next_value
from oms.core.errors import Conflict, ValidationError
from oms.core.models import Channel
from oms.core.money import validate_currency

from .. import errors, pricing
from ..models import (
    NUMBER_SEQUENCE,
    DeliveryOption,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderOrigin,
    OrderStatus,
)
from ._common import (
    clean_address,
    event,
    notify_allocated,
    status_from_lines,
    stock_allocate,
    transition,
)

MAX_LINES = 200
EXTERNAL_ID_CONSTRAINT = "order_external_id_unique_per_channel"


def clean_currency(currency: str) -> str:
    try:
        return validate_currency(currency)
    except ValueError as exc:
        raise ValidationError(
            str(exc), code=errors.INVALID_CURRENCY, fields={"currency": [str(exc)]}
        ) from None


def clean_delivery_option(value: str) -> str:
    if value not in DeliveryOption.values:
        raise ValidationError(
            f"Unknown delivery option '{value}'.",
            code=errors.INVALID_DELIVERY_OPTION,
            fields={"delivery_option": [f"Use one of {', '.join(DeliveryOption.values)}."]},
        )
    return value


def clean_requested_lines(
    lines: list[dict[str, Any]], *, field: str = "lines"
) -> list[dict[str, Any]]:
    """Shape checks for requested lines: a SKU code, a positive integer quantity, optional
    non-negative integer unit_price and discount (minor units)."""
    if not lines:
        raise ValidationError(
            "An order needs at least one line.", code=errors.NO_LINES, fields={field: ["Required."]}
        )
    if len(lines) > MAX_LINES:
        raise ValidationError(
            f"At most {MAX_LINES} lines per order.",
            code=errors.INVALID_QUANTITY,
            fields={field: ["Too many lines."]},
        )
    cleaned = []
    for i, raw in enumerate(lines):
        sku = str(raw.get("sku") or "").strip()
        quantity = raw.get("quantity")
        if not sku:
            raise ValidationError(
                f"{field}[{i}]: a SKU code is required.",
                code=errors.UNKNOWN_SKU,
                fields={field: {i: {"sku": ["Required."]}}},
            )
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise ValidationError(
                f"{field}[{i}]: quantity must be a positive whole number.",
                code=errors.INVALID_QUANTITY,
                fields={field: {i: {"quantity": ["Must be > 0."]}}},
            )
        item: dict[str, Any] = {"sku": sku, "quantity": quantity}
        for money_field in ("unit_price", "discount"):
            value = raw.get(money_field)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(
                    f"{field}[{i}]: {money_field} must be a non-negative integer of minor units.",
                    code=errors.INVALID_DISCOUNT
                    if money_field == "discount"
                    else errors.PRICE_MISMATCH,
                    fields={field: {i: {money_field: ["Minor units, ≥ 0."]}}},
                )
            item[money_field] = value
        cleaned.append(item)
    return cleaned


def load_skus(*, codes: set[str], currency: str) -> dict[str, Any]:
    """SKUs by code with their price in ``currency`` annotated (``price`` None when there is
    none), in one query."""
    price = SkuPrice.objects.filter(sku=OuterRef("pk"), currency=currency).values("amount")[:1]
    rows = (
        Sku.objects.filter(code__in=codes)
        .annotate(price=Subquery(price))
        .only("id", "code", "name", "is_active", "is_physical", "tax_category")
    )
    return {sku.code: sku for sku in rows}


def price_lines(
    *,
    requested: list[dict[str, Any]],
    skus: dict[str, Any],
    currency: str,
    trust_prices: bool,
    first_line_no: int = 1,
    field: str = "lines",
) -> list[pricing.LineAmounts]:
    """Server-side prices from SkuPrice. A channel's unit_price must match ours (a stale or
    tampered price is refused with ``price_mismatch``) unless the caller is trusted (the
    renewal cycle prices from the plan version)."""
    missing = sorted({r["sku"] for r in requested} - set(skus))
    if missing:
        raise ValidationError(
            f"Unknown SKU(s): {', '.join(missing)}.",
            code=errors.UNKNOWN_SKU,
            fields={field: {"unknown": missing}},
        )
    priced = []
    for i, item in enumerate(requested):
        sku = skus[item["sku"]]
        if not sku.is_active:
            raise ValidationError(
                f"SKU {sku.code} is not for sale.",
                code=errors.SKU_INACTIVE,
                fields={field: {i: {"sku": ["Inactive."]}}},
            )
        if trust_prices and "unit_price" in item:
            unit_price = item["unit_price"]
        else:
            if sku.price is None:
                raise ValidationError(
                    f"SKU {sku.code} has no price in {currency}.",
                    code=errors.NO_PRICE,
                    fields={field: {i: {"sku": [f"No {currency} price."]}}},
                )
            unit_price = sku.price
            sent = item.get("unit_price")
            if sent is not None and sent != unit_price:
                raise Conflict(
                    f"SKU {sku.code}: the channel's unit price {sent} differs from ours ({unit_price} {currency}).",
                    code=errors.PRICE_MISMATCH,
                    fields={field: {i: {"unit_price": {"sent": sent, "expected": unit_price}}}},
                )
        discount = item.get("discount", 0)
        if discount > unit_price * item["quantity"]:
            raise ValidationError(
                f"SKU {sku.code}: the discount exceeds the line's value.",
                code=errors.INVALID_DISCOUNT,
                fields={field: {i: {"discount": ["Too large."]}}},
            )
        priced.append(
            pricing.LineAmounts(
                line_no=first_line_no + i,
                sku_id=sku.pk,
                tax_category=sku.tax_category,
                quantity=item["quantity"],
                unit_price=unit_price,
                discount=discount,
            )
        )
    return priced


@dataclass(frozen=True, slots=True)
class SkuRow:
    pk: int
    code: str
    name: str
    is_active: bool
    is_physical: bool
    tax_category: str
    price: int | None


@dataclass(frozen=True, slots=True)
class IntakeRead:
    skus: dict[str, SkuRow]
    number: int
    order_id: int
    line_ids: list[int]
    existing_order_id: int | None


_INTAKE_READ = f"""
SELECT ids.number, ids.order_id, ids.line_ids, ids.existing_order_id,
       s.id, s.code, s.name, s.is_active, s.is_physical, s.tax_category,
       (SELECT p.amount FROM inventory_skuprice p WHERE p.sku_id = s.id AND p.currency = %s)
FROM (
    SELECT nextval('{NUMBER_SEQUENCE}') AS number,
           nextval(pg_get_serial_sequence('orders_order', 'id')) AS order_id,
           ARRAY(SELECT nextval(pg_get_serial_sequence('orders_orderline', 'id'))
                 FROM generate_series(1, %s)) AS line_ids,
           (SELECT o.id FROM orders_order o
             WHERE o.channel_id = %s AND o.external_id = %s) AS existing_order_id
) ids
LEFT JOIN inventory_sku s ON s.code = ANY(%s)
"""


def _intake_read(
    *, codes: set[str], currency: str, line_count: int, channel: Channel, external_id: str | None
) -> IntakeRead:
    """Everything intake reads, in one round trip: the SKUs by code with their price in the
    order currency, the next order number, the order's id and ``line_count`` line ids (so
    allocation can name the lines, and one statement can insert the order, its lines and
    the rows pointing at them, before any of them exists), and the order this channel already placed under
    ``external_id``, if any. Sequences never block a concurrent intake (a counter row would
    be held until commit); numbers are unique and increasing, with gaps where a transaction
    rolled back."""
    if not is_postgres():
        return _intake_read_portable(
            codes=codes,
            currency=currency,
            line_count=line_count,
            channel=channel,
            external_id=external_id,
        )
    with connection.cursor() as cursor:
        cursor.execute(_INTAKE_READ, [currency, line_count, channel.pk, external_id, sorted(codes)])
        rows = cursor.fetchall()
    number, order_id, line_ids, existing = rows[0][0], rows[0][1], list(rows[0][2]), rows[0][3]
    skus = {
        row[5]: SkuRow(
            pk=row[4],
            code=row[5],
            name=row[6],
            is_active=row[7],
            is_physical=row[8],
            tax_category=row[9],
            price=row[10],
        )
        for row in rows
        if row[4] is not None
    }
    return IntakeRead(
        skus=skus,
        number=number,
        order_id=order_id,
        line_ids=line_ids,
        existing_order_id=existing,
    )


def _intake_read_portable(
    *, codes: set[str], currency: str, line_count: int, channel: Channel, external_id: str | None
) -> IntakeRead:
    """``_intake_read`` on databases without sequences (the embedded SQLite quick start), in
    a few ORM queries. The number comes from a counter row named like the PostgreSQL
    sequence. The order id and line ids are taken from MAX(id) + 1 onwards: SQLite has one writer at a time,
    so no other intake can insert lines between this read and this transaction's commit
    (two readers racing for the same ids cannot both commit: the second writer gets
    SQLITE_BUSY, and the primary key would refuse a duplicate anyway)."""
    existing = (
        Order.objects.filter(channel=channel, external_id=external_id)
        .values_list("pk", flat=True)
        .first()
        if external_id is not None
        else None
    )
    skus = {
        sku.code: SkuRow(
            pk=sku.pk,
            code=sku.code,
            name=sku.name,
            is_active=sku.is_active,
            is_physical=sku.is_physical,
            tax_category=sku.tax_category,
            price=sku.price,  # type: ignore[attr-defined]
        )
        for sku in load_skus(codes=codes, currency=currency).values()
    }
    if existing is not None:
        return IntakeRead(skus=skus, number=0, order_id=0, line_ids=[], existing_order_id=existing)
    order_id = (Order.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    first_line_id = (OrderLine.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    return IntakeRead(
        skus=skus,
        number=next_value(NUMBER_SEQUENCE),
        order_id=order_id,
        line_ids=list(range(first_line_id, first_line_id + line_count)),
        existing_order_id=None,
    )


def format_number(value: int, year: int) -> str:
    return f"SO-{year}-{value:06d}"


def order_place(
    *,
    channel: Channel,
    customer: Customer,
    lines: list[dict[str, Any]],
    shipping_address: dict[str, Any],
    actor: Actor,
    billing_address: dict[str, Any] | None = None,
    currency: str | None = None,
    delivery_option: str = DeliveryOption.STANDARD,
    external_id: str | None = None,
    origin: str = OrderOrigin.ONE_OFF,
    subscription_id: int | None = None,
    expected_total: int | None = None,
    payment_pending: bool = False,
    notes: str = "",
    trust_prices: bool = False,
    waive_shipping: bool = False,
) -> Order:
    """Place an order. A channel re-sending an ``external_id`` it already used gets the
    existing order back (nothing new is written or allocated); see ``order_place_or_get``.
    ``waive_shipping``: charge no shipping (a free replacement order); the order remembers
    it, so an edit keeps shipping free."""
    order, _ = order_place_or_get(
        channel=channel,
        customer=customer,
        lines=lines,
        shipping_address=shipping_address,
        actor=actor,
        billing_address=billing_address,
        currency=currency,
        delivery_option=delivery_option,
        external_id=external_id,
        origin=origin,
        subscription_id=subscription_id,
        expected_total=expected_total,
        payment_pending=payment_pending,
        notes=notes,
        trust_prices=trust_prices,
        waive_shipping=waive_shipping,
    )
    return order


def order_place_or_get(
    *, channel: Channel, external_id: str | None = None, **kwargs: Any
) -> tuple[Order, bool]:
    """``order_place`` returning (order, created)."""
    if external_id is not None:
        external_id = str(external_id).strip()[:200] or None
    try:
        return _place(channel=channel, external_id=external_id, **kwargs)
    except IntegrityError as exc:
        # A concurrent request with the same external id committed first.
        if external_id and EXTERNAL_ID_CONSTRAINT in str(exc):
            existing = Order.objects.filter(channel=channel, external_id=external_id).first()
            if existing is not None:
                return existing, False
        raise


def _place_unwrapped(
    *,
    channel: Channel,
    customer: Customer,
    lines: list[dict[str, Any]],
    shipping_address: dict[str, Any],
    actor: Actor,
    billing_address: dict[str, Any] | None = None,
    currency: str | None = None,
    delivery_option: str = DeliveryOption.STANDARD,
    external_id: str | None = None,
    origin: str = OrderOrigin.ONE_OFF,
    subscription_id: int | None = None,
    expected_total: int | None = None,
    payment_pending: bool = False,
    notes: str = "",
    trust_prices: bool = False,
    waive_shipping: bool = False,
) -> tuple[Order, bool]:
    if customer.status != CustomerStatus.ACTIVE:
        raise Conflict(f"Customer {customer.email} is inactive.", code=errors.CUSTOMER_INACTIVE)
    if origin not in OrderOrigin.values:
        raise ValidationError(f"Unknown origin '{origin}'.", fields={"origin": ["Unknown."]})
    if (origin == OrderOrigin.SUBSCRIPTION) != (subscription_id is not None):
        raise ValidationError(
            "A subscription order needs its subscription_id (and only a subscription order has one).",
            fields={"subscription_id": ["Must match the origin."]},
        )
    currency = clean_currency(currency or channel.default_currency)
    delivery_option = clean_delivery_option(delivery_option)
    ship_to = clean_address(shipping_address, field="shipping_address")
    bill_to = (
        clean_address(billing_address, field="billing_address")
        if billing_address
        else dict(ship_to)
    )
    requested = clean_requested_lines(lines)

    read = _intake_read(
        codes={r["sku"] for r in requested},
        currency=currency,
        line_count=len(requested),
        channel=channel,
        external_id=external_id,
    )
    if read.existing_order_id is not None:
        return Order.objects.get(pk=read.existing_order_id), False
    skus = read.skus
    amounts = price_lines(
        requested=requested, skus=skus, currency=currency, trust_prices=trust_prices
    )
    physical = {sku.pk: sku.is_physical for sku in skus.values()}
    totals = pricing.compute_totals(
        lines=amounts,
        currency=currency,
        delivery_option=delivery_option,
        address=ship_to,
        ships=any(physical[a.sku_id] for a in amounts),
        subscription=origin == OrderOrigin.SUBSCRIPTION,
        waive_shipping=waive_shipping,
    )
    if expected_total is not None and expected_total != totals.total:
        raise Conflict(
            f"The channel's total {expected_total} does not match ours ({totals.total} {currency}).",
            code=errors.TOTAL_MISMATCH,
            fields={"expected_total": {"sent": expected_total, "computed": totals.as_dict()}},
        )

    now = timezone.now()
    number, line_ids = read.number, read.line_ids
    order = Order(
        pk=read.order_id,
        number=format_number(number, now.year),
        channel=channel,
        customer=customer,
        external_id=external_id,
        origin=origin,
        subscription_id=subscription_id,
        currency=currency,
        shipping_address=ship_to,
        billing_address=bill_to,
        delivery_option=delivery_option,
        notes=(notes or "").strip(),
        shipping_waived=waive_shipping,
        placed_at=now,
        created_at=now,
        **totals.as_dict(),
    )
    by_id = {sku.pk: sku for sku in skus.values()}
    order_lines = [
        OrderLine(
            pk=line_id,
            order=order,
            line_no=a.line_no,
            sku_id=a.sku_id,
            sku_code=by_id[a.sku_id].code,
            name=by_id[a.sku_id].name[:200],
            is_physical=physical[a.sku_id],
            quantity=a.quantity,
            unit_price=a.unit_price,
            discount=a.discount,
            tax=a.tax,
            total=a.total,
            created_at=now,
        )
        for line_id, a in zip(line_ids, amounts, strict=True)
    ]

    # Allocate before anything is inserted: the rows go in once, in their final state.
    parts = stock_allocate(order=order, lines=order_lines, actor=actor)

    events = [
        transition(
            order,
            OrderStatus.PLACED,
            actor=actor,
            save=False,
            payload={
                "totals": totals.as_dict(),
                "lines": len(order_lines),
                **({"shipping_waived": True} if waive_shipping else {}),
            },
        )
    ]
    if payment_pending:
        events.append(transition(order, OrderStatus.PAYMENT_PENDING, actor=actor, save=False))
    else:
        events.append(transition(order, OrderStatus.CONFIRMED, actor=actor, save=False))
    if parts:
        events.append(
            event(
                order=order, kind=OrderEventKind.ALLOCATION, actor=actor, payload={"parts": parts}
            )
        )
    if not payment_pending:
        events.append(transition(order, status_from_lines(order_lines), actor=actor, save=False))

    # The order, its lines, their history rows and the events: one statement on PostgreSQL.
    writes = Writes()
    writes.insert_with_history(Order, [order], date=now)
    writes.insert_with_history(OrderLine, order_lines, date=now)
    writes.insert(OrderEvent, events)
    writes.run()
    if order.status == OrderStatus.ALLOCATED:
        notify_allocated(order=order, lines=order_lines, actor=actor)
    return order, True


# Intake is a top-level entry point: nobody may nest it in a bigger transaction by accident.
_place = transaction.atomic(durable=True)(_place_unwrapped)


def order_place_nested(**kwargs: Any) -> tuple[Order, bool]:
    """Intake inside a caller's transaction, as a savepoint: only for seeders that already
    run in one (``manage.py demo`` wraps each app's seeder). Everything else uses
    ``order_place``."""
    with transaction.atomic():
        return _place_unwrapped(**kwargs)

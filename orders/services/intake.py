"""Order intake from any channel: ``order_place``.

One durable transaction writes the order, its lines, their stock allocation and the timeline,
or nothing at all. The query budget on PostgreSQL is fixed whatever the line count: one read
(the SKUs and their prices, the order number and the ids of the order and its lines, the
re-sent check), inventory's allocation (3), then one statement that inserts the order, its
lines, their history rows and the events (``oms.core.bulk``) — with BEGIN and COMMIT, 7.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from customers.models import Customer, CustomerStatus
from customers.selectors import customers_visible_to_channel
from inventory.models import Sku, SkuPrice
from oms.core.actors import Actor
from oms.core.bulk import Writes
from oms.core.db import is_postgres, next_values, prepared_cursor
from oms.core.errors import ApplicationError, Conflict, NotFound, ValidationError
from oms.core.models import Channel
from oms.core.money import validate_currency
from oms.core.rows import new_row

from .. import errors, hooks, pricing
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
    status_from_lines,
    stock_allocate_many,
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
    """What a batch of intake reads: the SKUs by code with their price per currency, the
    next order numbers, ids for the orders and their lines, and the orders already placed
    under the requests' (channel, external id)."""

    skus: dict[str, SkuRow]  # price: None (see ``prices``)
    prices: dict[str, dict[str, int]]  # sku code -> currency -> amount
    numbers: list[int]
    order_ids: list[int]
    line_ids: list[int]
    existing: dict[tuple[int, str], int]

    def skus_in(self, currency: str) -> dict[str, SkuRow]:
        return {
            code: replace(row, price=self.prices.get(code, {}).get(currency))
            for code, row in self.skus.items()
        }


_INTAKE_READ = f"""
SELECT ids.numbers, ids.order_ids, ids.line_ids, ids.existing,
       s.id, s.code, s.name, s.is_active, s.is_physical, s.tax_category,
       (SELECT json_object_agg(p.currency, p.amount) FROM inventory_skuprice p
         WHERE p.sku_id = s.id AND p.currency = ANY(%s))
FROM (
    SELECT ARRAY(SELECT nextval('{NUMBER_SEQUENCE}') FROM generate_series(1, %s)) AS numbers,
           ARRAY(SELECT nextval(pg_get_serial_sequence('orders_order', 'id'))
                 FROM generate_series(1, %s)) AS order_ids,
           ARRAY(SELECT nextval(pg_get_serial_sequence('orders_orderline', 'id'))
                 FROM generate_series(1, %s)) AS line_ids,
           (SELECT json_agg(json_build_array(o.channel_id, o.external_id, o.id))
              FROM orders_order o
              JOIN unnest(%s::bigint[], %s::text[]) AS k(channel_id, external_id)
                ON o.channel_id = k.channel_id AND o.external_id = k.external_id) AS existing
) ids
LEFT JOIN inventory_sku s ON s.code = ANY(%s)
"""


def _intake_read(
    *,
    codes: set[str],
    currencies: set[str],
    orders: int,
    lines: int,
    external_ids: set[tuple[int, str]],
) -> IntakeRead:
    """Everything a batch of intake reads, in one round trip, whatever its size: the SKUs
    by code with their prices, ``orders`` order numbers and order ids and ``lines`` line ids
    (so allocation can name the lines, and one statement can insert the orders, their lines
    and the rows pointing at them, before any of them exists), and the orders the channels
    already placed under ``external_ids``. Sequences never block a concurrent intake (a
    counter row would be held until commit); numbers are unique and increasing, with gaps
    where a transaction rolled back or a request turned out to be a re-send."""
    if not is_postgres():
        return _intake_read_portable(
            codes=codes, orders=orders, lines=lines, external_ids=external_ids
        )
    pairs = sorted(external_ids)
    with prepared_cursor() as cursor:
        cursor.execute(
            _INTAKE_READ,
            [
                sorted(currencies),
                orders,
                orders,
                lines,
                [c for c, _ in pairs],
                [e for _, e in pairs],
                sorted(codes),
            ],
        )
        rows = cursor.fetchall()
    numbers, order_ids, line_ids, existing = rows[0][:4]
    skus: dict[str, SkuRow] = {}
    prices: dict[str, dict[str, int]] = {}
    for row in rows:
        if row[4] is None:
            continue
        pk, code, name, is_active, is_physical, tax_category = row[4:10]
        skus[code] = SkuRow(pk, code, name, is_active, is_physical, tax_category, price=None)
        prices[row[5]] = row[10] or {}
    return IntakeRead(
        skus=skus,
        prices=prices,
        numbers=list(numbers),
        order_ids=list(order_ids),
        line_ids=list(line_ids),
        existing={(c, e): pk for c, e, pk in existing or ()},
    )


def _intake_read_portable(
    *, codes: set[str], orders: int, lines: int, external_ids: set[tuple[int, str]]
) -> IntakeRead:
    """``_intake_read`` on databases without sequences (the embedded SQLite quick start), in
    a few ORM queries. Numbers come from a counter row named like the PostgreSQL sequence.
    The order and line ids are taken from MAX(id) + 1 onwards: SQLite has one writer at a
    time, so no other intake can insert between this read and this transaction's commit
    (two readers racing for the same ids cannot both commit: the second writer gets
    SQLITE_BUSY, and the primary key would refuse a duplicate anyway)."""
    existing: dict[tuple[int, str], int] = {}
    for channel_id, external_id in external_ids:
        found = (
            Order.objects.filter(channel_id=channel_id, external_id=external_id)
            .values_list("pk", flat=True)
            .first()
        )
        if found is not None:
            existing[(channel_id, external_id)] = found
    skus = {
        sku.code: SkuRow(
            pk=sku.pk,
            code=sku.code,
            name=sku.name,
            is_active=sku.is_active,
            is_physical=sku.is_physical,
            tax_category=sku.tax_category,
            price=None,
        )
        for sku in Sku.objects.filter(code__in=codes)
    }
    prices: dict[str, dict[str, int]] = defaultdict(dict)
    for code, currency, amount in SkuPrice.objects.filter(sku__code__in=codes).values_list(
        "sku__code", "currency", "amount"
    ):
        prices[code][currency] = amount
    first_order = (Order.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    first_line = (OrderLine.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    return IntakeRead(
        skus=skus,
        prices=dict(prices),
        numbers=next_values(NUMBER_SEQUENCE, orders - len(existing)),
        order_ids=list(range(first_order, first_order + orders)),
        line_ids=list(range(first_line, first_line + lines)),
        existing=existing,
    )


def format_number(value: int, year: int) -> str:
    return f"SO-{year}-{value:06d}"


@dataclass(slots=True)
class PlaceRequest:
    """One order for ``orders_place_many``: ``order_place``'s arguments but the actor."""

    channel: Channel
    customer: Customer | None  # None: ``customer_id`` names one, checked visible to the channel
    lines: list[dict[str, Any]]
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None = None
    currency: str | None = None
    delivery_option: str = DeliveryOption.STANDARD
    external_id: str | None = None
    origin: str = OrderOrigin.ONE_OFF
    subscription_id: int | None = None
    expected_total: int | None = None
    payment_pending: bool = False
    notes: str = ""
    trust_prices: bool = False
    waive_shipping: bool = False
    customer_id: int | None = None


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


def order_place_or_get(*, actor: Actor, **kwargs: Any) -> tuple[Order, bool]:
    """``order_place`` returning (order, created)."""
    request = PlaceRequest(**kwargs)
    try:
        (outcome,) = _place_durable(requests=[request], actor=actor)
    except IntegrityError as exc:
        # A concurrent request with the same external id committed first.
        existing = _resent(request, exc)
        if existing is None:
            raise
        return existing, False
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _resent(request: PlaceRequest, exc: IntegrityError) -> Order | None:
    external_id = _clean_external_id(request.external_id)
    if external_id and EXTERNAL_ID_CONSTRAINT in str(exc):
        return Order.objects.filter(channel=request.channel, external_id=external_id).first()
    return None


def orders_place_many(
    *, requests: list[PlaceRequest], actor: Actor, writes: Writes | None = None
) -> list[tuple[Order, bool] | ApplicationError]:
    """Place several orders at once — the renewal cycle's batch — with the query budget of
    one: a read, the allocation (3), and one write for all of them. Each request gets its
    answer in its place: (order, created), or the error that refused it (nothing of it is
    written; the others go on). Joins the caller's transaction; ``writes``: the caller's
    batch to add the rows to (the caller runs it before committing), else they are written
    here. A concurrent re-send of the same external id raises ``IntegrityError`` for the
    whole batch (the caller may retry it)."""
    with transaction.atomic():
        return _place_many(requests=requests, actor=actor, writes=writes)


@dataclass(slots=True)
class _Draft:
    """A request on its way in."""

    index: int
    request: PlaceRequest
    external_id: str | None
    currency: str = ""
    delivery_option: str = ""
    ship_to: dict[str, str] = field(default_factory=dict)
    bill_to: dict[str, str] = field(default_factory=dict)
    requested: list[dict[str, Any]] = field(default_factory=list)
    order: Order | None = None
    lines: list[OrderLine] = field(default_factory=list)
    totals: Any = None


def _clean_external_id(value: str | None) -> str | None:
    if value is None:
        return None
    return str(value).strip()[:200] or None


def _resolve_customers(requests: list[PlaceRequest]) -> None:
    """Fill in the customer of each request that names it by ``customer_id`` — one read per
    channel for the whole batch. A customer the channel may not see stays None (refused in
    ``_clean_request``)."""
    asking: dict[Channel, list[tuple[int, PlaceRequest]]] = defaultdict(list)
    for request in requests:
        if request.customer is None and request.customer_id is not None:
            asking[request.channel].append((request.customer_id, request))
    for channel, pairs in asking.items():
        found = customers_visible_to_channel(channel=channel, pks=[pk for pk, _ in pairs])
        for pk, request in pairs:
            request.customer = found.get(pk)


def _clean_request(draft: _Draft) -> None:
    request = draft.request
    if request.customer is None:
        raise NotFound(
            f"No customer {request.customer_id} for this channel.",
            fields={"customer_id": ["Unknown."]},
        )
    if request.customer.status != CustomerStatus.ACTIVE:
        raise Conflict(
            f"Customer {request.customer.email} is inactive.", code=errors.CUSTOMER_INACTIVE
        )
    if request.origin not in OrderOrigin.values:
        raise ValidationError(
            f"Unknown origin '{request.origin}'.", fields={"origin": ["Unknown."]}
        )
    if (request.origin == OrderOrigin.SUBSCRIPTION) != (request.subscription_id is not None):
        raise ValidationError(
            "A subscription order needs its subscription_id (and only a subscription order has one).",
            fields={"subscription_id": ["Must match the origin."]},
        )
    draft.currency = clean_currency(request.currency or request.channel.default_currency)
    draft.delivery_option = clean_delivery_option(request.delivery_option)
    draft.ship_to = clean_address(request.shipping_address, field="shipping_address")
    draft.bill_to = (
        clean_address(request.billing_address, field="billing_address")
        if request.billing_address
        else dict(draft.ship_to)
    )
    draft.requested = clean_requested_lines(request.lines)


def _draft_order(
    draft: _Draft, *, skus: dict[str, SkuRow], number: int, order_id: int, line_ids: list[int],
    now: Any,
) -> None:  # fmt: skip
    """Price the request, check the channel's total and build the order and its lines
    (with their ids, not yet allocated or written)."""
    request = draft.request
    amounts = price_lines(
        requested=draft.requested, skus=skus, currency=draft.currency,
        trust_prices=request.trust_prices,
    )  # fmt: skip
    by_id = {sku.pk: sku for sku in skus.values()}
    totals = pricing.compute_totals(
        lines=amounts,
        currency=draft.currency,
        delivery_option=draft.delivery_option,
        address=draft.ship_to,
        ships=any(by_id[a.sku_id].is_physical for a in amounts),
        subscription=request.origin == OrderOrigin.SUBSCRIPTION,
        waive_shipping=request.waive_shipping,
    )
    if request.expected_total is not None and request.expected_total != totals.total:
        raise Conflict(
            f"The channel's total {request.expected_total} does not match ours "
            f"({totals.total} {draft.currency}).",
            code=errors.TOTAL_MISMATCH,
            fields={
                "expected_total": {"sent": request.expected_total, "computed": totals.as_dict()}
            },
        )
    order = new_row(
        Order,
        pk=order_id,
        number=format_number(number, now.year),
        channel=request.channel,
        customer=request.customer,
        external_id=draft.external_id,
        origin=request.origin,
        subscription_id=request.subscription_id,
        currency=draft.currency,
        shipping_address=draft.ship_to,
        billing_address=draft.bill_to,
        delivery_option=draft.delivery_option,
        notes=(request.notes or "").strip(),
        shipping_waived=request.waive_shipping,
        placed_at=now,
        created_at=now,
        **totals.as_dict(),
    )
    draft.order, draft.totals = order, totals
    draft.lines = [
        new_row(
            OrderLine,
            pk=line_id,
            order=order,
            line_no=a.line_no,
            sku_id=a.sku_id,
            sku_code=by_id[a.sku_id].code,
            name=by_id[a.sku_id].name[:200],
            is_physical=by_id[a.sku_id].is_physical,
            quantity=a.quantity,
            unit_price=a.unit_price,
            discount=a.discount,
            tax=a.tax,
            total=a.total,
            created_at=now,
        )
        for line_id, a in zip(line_ids, amounts, strict=True)
    ]


def _place_many(
    *, requests: list[PlaceRequest], actor: Actor, writes: Writes | None
) -> list[tuple[Order, bool] | ApplicationError]:
    outcomes: list[tuple[Order, bool] | ApplicationError | None] = [None] * len(requests)
    drafts: list[_Draft] = []
    sent: set[tuple[int, str]] = set()
    _resolve_customers(requests)
    for index, request in enumerate(requests):
        draft = _Draft(index, request, _clean_external_id(request.external_id))
        try:
            _clean_request(draft)
            key = (request.channel.pk, draft.external_id or "")
            if draft.external_id is not None and key in sent:
                raise Conflict(
                    f"External id {draft.external_id} appears twice in one batch.",
                    code=errors.DUPLICATE_EXTERNAL_ID,
                )
            sent.add(key)
        except ApplicationError as exc:
            outcomes[index] = exc
            continue
        drafts.append(draft)
    if drafts:
        with hooks.batch_scope():
            _place_drafts(drafts, outcomes=outcomes, actor=actor, writes=writes)
    return [o for o in outcomes if o is not None]


def _place_drafts(
    drafts: list[_Draft],
    *,
    outcomes: list[tuple[Order, bool] | ApplicationError | None],
    actor: Actor,
    writes: Writes | None,
) -> None:
    read = _intake_read(
        codes={r["sku"] for d in drafts for r in d.requested},
        currencies={d.currency for d in drafts},
        orders=len(drafts),
        lines=sum(len(d.requested) for d in drafts),
        external_ids={(d.request.channel.pk, d.external_id) for d in drafts if d.external_id},
    )
    resent = {
        d.index: read.existing[(d.request.channel.pk, d.external_id)]
        for d in drafts
        if d.external_id and (d.request.channel.pk, d.external_id) in read.existing
    }
    if resent:
        found = Order.objects.in_bulk(list(resent.values()))
        for index, pk in resent.items():
            outcomes[index] = (found[pk], False)
    now = timezone.now()
    by_currency: dict[str, dict[str, SkuRow]] = {}
    line_ids = iter(read.line_ids)
    fresh: list[_Draft] = []
    n = -1
    for draft in drafts:
        if draft.index in resent:
            continue
        n += 1  # numbers and ids go to the new orders only (re-sends spend none elsewhere)
        ids = [next(line_ids) for _ in draft.requested]
        if draft.currency not in by_currency:
            by_currency[draft.currency] = read.skus_in(draft.currency)
        try:
            _draft_order(
                draft, skus=by_currency[draft.currency], number=read.numbers[n],
                order_id=read.order_ids[n], line_ids=ids, now=now,
            )  # fmt: skip
        except ApplicationError as exc:
            outcomes[draft.index] = exc
            continue
        fresh.append(draft)

    # Allocate before anything is inserted: the rows go in once, in their final state.
    own = writes is None
    batch = Writes() if writes is None else writes
    allocated = stock_allocate_many(
        orders=[(d.order, d.lines) for d in fresh if d.order is not None],
        actor=actor,
        writes=batch,
    )
    placed_orders: list[Order] = []
    placed_lines: list[OrderLine] = []
    events: list[OrderEvent] = []
    announced: list[hooks.PlacedOrder] = []
    for draft, parts in zip(fresh, allocated, strict=True):
        order = draft.order
        assert order is not None
        if isinstance(parts, Exception):
            outcomes[draft.index] = parts
            continue
        events += _intake_events(order, draft, parts, actor=actor)
        placed_orders.append(order)
        placed_lines += draft.lines
        order._intake_lines = draft.lines  # type: ignore[attr-defined]
        outcomes[draft.index] = (order, True)
        if order.status == OrderStatus.ALLOCATED:
            refs = {line.stock_ref: line for line in draft.lines}
            announced.append(
                hooks.PlacedOrder(
                    order=order,
                    lines=draft.lines,
                    allocated=[
                        (refs[p["line_ref"]], p["warehouse_id"], p["quantity"])
                        for p in parts
                        if "warehouse_id" in p
                    ],
                )
            )

    # The orders, their lines, their history rows and the events — with the stock writes
    # and whatever the orders_placed callbacks add — in one statement on PostgreSQL.
    batch.insert_with_history(Order, placed_orders, date=now)
    batch.insert_with_history(OrderLine, placed_lines, date=now)
    batch.insert(OrderEvent, events)
    if announced:
        for callback in hooks.orders_placed:
            callback(placed=announced, actor=actor, writes=batch)
    if own:
        batch.run()


def _intake_events(
    order: Order, draft: _Draft, parts: list[dict[str, Any]], *, actor: Actor
) -> list[OrderEvent]:
    """The order's timeline from intake, moving its status: placed, confirmed (or payment
    pending), the allocation, then allocated or backordered."""
    request = draft.request
    events = [
        transition(
            order,
            OrderStatus.PLACED,
            actor=actor,
            save=False,
            payload={
                "totals": draft.totals.as_dict(),
                "lines": len(draft.lines),
                **({"shipping_waived": True} if request.waive_shipping else {}),
            },
        )
    ]
    if request.payment_pending:
        events.append(transition(order, OrderStatus.PAYMENT_PENDING, actor=actor, save=False))
    else:
        events.append(transition(order, OrderStatus.CONFIRMED, actor=actor, save=False))
    if parts:
        events.append(
            event(
                order=order, kind=OrderEventKind.ALLOCATION, actor=actor, payload={"parts": parts}
            )
        )
    if not request.payment_pending:
        events.append(transition(order, status_from_lines(draft.lines), actor=actor, save=False))
    return events


# Intake is a top-level entry point: nobody may nest it in a bigger transaction by accident.
_place_durable = transaction.atomic(durable=True)(
    lambda *, requests, actor: _place_many(requests=requests, actor=actor, writes=None)
)


def order_place_nested(*, actor: Actor, **kwargs: Any) -> tuple[Order, bool]:
    """Intake inside a caller's transaction, as a savepoint: only for seeders that already
    run in one (``manage.py demo`` wraps each app's seeder). Everything else uses
    ``order_place``."""
    with transaction.atomic():
        (outcome,) = _place_many(requests=[PlaceRequest(**kwargs)], actor=actor, writes=None)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome

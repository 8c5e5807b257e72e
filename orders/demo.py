"""Demo orders: a few hundred orders across the web, POS and partner channels, placed
through intake (so stock, timelines and fulfillment's parcels are real), then some edited,
held, cancelled or left waiting for payment. Idempotent: each order carries an external id,
and an order that exists already is left alone."""

from __future__ import annotations

from typing import Any

from customers.models import Address, AddressKind, Customer
from oms.core.actors import Actor
from oms.core.errors import ApplicationError
from orders.models import Order
from orders.services import order_cancel, order_edit, order_hold, order_note_add
from orders.services.intake import order_place_nested

ORDER = 40

EUROZONE = {"DE", "FR", "NL", "BE", "AT", "IT", "ES", "IE"}
CHANNEL_MIX = ["web", "web", "web", "pos", "partner"]
OPTIONS = ["standard", "standard", "standard", "express", "next_day", "pickup"]
NOTES = ["Leave at the door", "Gift — no invoice in the parcel", "Ring twice", ""]


def _addresses(customers: list[Customer]) -> dict[int, dict[str, str]]:
    rows = Address.objects.filter(
        customer__in=customers, kind=AddressKind.SHIPPING, is_default=True
    )
    return {row.customer_id: row.snapshot() for row in rows}


def seed(ctx: Any) -> None:
    channels = ctx.shared["channels"]
    customers: list[Customer] = ctx.shared["customers"]
    skus = [
        sku
        for sku in ctx.shared["skus"].values()
        if sku.is_active and not sku.code.startswith("CLUB")
    ]
    addresses = _addresses(customers)
    existing = set(
        Order.objects.filter(external_id__startswith="DEMO-").values_list(
            "channel__code", "external_id"
        )
    )
    rng = ctx.rng
    count = 360 * ctx.scale
    placed = refused = 0
    for i in ctx.progress("orders", range(count)):
        code = CHANNEL_MIX[i % len(CHANNEL_MIX)]
        external_id = f"DEMO-{code.upper()}-{i:05d}"
        channel = channels[code]
        # Draw every random number even for existing orders so a re-run is deterministic.
        customer = customers[rng.randrange(len(customers))]
        picks = rng.sample(skus, k=rng.choice([1, 1, 2, 2, 3, 4]))
        quantities = [rng.choice([1, 1, 1, 2, 3]) for _ in picks]
        option = OPTIONS[rng.randrange(len(OPTIONS))]
        note = NOTES[rng.randrange(len(NOTES))]
        fate = rng.random()
        if (code, external_id) in existing:
            continue
        address = addresses.get(customer.pk)
        if address is None:
            continue
        actor = Actor.for_channel(channel)
        try:
            order, _ = order_place_nested(
                channel=channel,
                customer=customer,
                lines=[
                    {"sku": s.code, "quantity": q} for s, q in zip(picks, quantities, strict=True)
                ],
                shipping_address=address,
                currency="EUR" if address["country"] in EUROZONE else "USD",
                delivery_option=option,
                external_id=external_id,
                notes=note,
                payment_pending=fate > 0.95,
                actor=actor,
            )
        except ApplicationError:
            refused += 1  # short stock on a channel without backorders: a real outcome
            continue
        placed += 1
        _after(order, fate, rng, ctx)
    ctx.log(f"{placed} orders placed, {refused} refused (out of stock)")


def _after(order: Order, fate: float, rng: Any, ctx: Any) -> None:
    """Move some orders along, the way operators and customers would."""
    staff = Actor.for_user(ctx.shared["admin"]) if "admin" in ctx.shared else Actor.system("demo")
    try:
        if fate < 0.08:
            order_cancel(order=order, reason="Customer asked to cancel", actor=staff)
        elif fate < 0.12:
            order_hold(order=order, reason="Address check: PO box on express", actor=staff)
        elif fate < 0.18:
            line = order.lines.order_by("line_no").first()
            if line is not None:
                order_edit(
                    order=order,
                    quantities={line.pk: line.quantity + 1},
                    reason="Customer added one more by phone",
                    actor=staff,
                )
        elif fate < 0.22:
            order_note_add(order=order, text="Customer called about delivery time", actor=staff)
    except ApplicationError as exc:
        ctx.log(f"{order.number}: {exc.message}")

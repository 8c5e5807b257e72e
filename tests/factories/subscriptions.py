"""Plans and subscriptions built through the services, so every row is one production makes.

``make_plan(price=1000, items=[(sku, 1)], interval_unit="month", ...)`` and
``make_subscription(plan=..., start_date=..., today=..., renewed=N)`` — ``renewed`` advances
N periods the way the renewal cycle would (so the current period is billed)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from oms.core.actors import Actor
from subscriptions import services
from subscriptions.models import Plan, Subscription
from tests.factories.customers import AddressFactory, CustomerFactory

ACTOR = Actor.system("tests")
_codes = itertools.count(1)


def make_plan(
    *,
    price: int = 1000,
    currency: str = "USD",
    setup_fee: int = 0,
    items: list[tuple[Any, int]] | None = None,
    interval_unit: str = "month",
    interval_count: int = 1,
    trial_days: int = 0,
    min_commitment_cycles: int = 0,
    name: str | None = None,
    extra_prices: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Plan:
    n = next(_codes)
    return services.plan_create(
        code=f"plan-{n}",
        name=name or f"Plan {n}",
        interval_unit=interval_unit,
        interval_count=interval_count,
        prices=[
            {"currency": currency, "amount": price, "setup_fee": setup_fee},
            *(extra_prices or []),
        ],
        items=[{"sku": sku, "quantity": q} for sku, q in (items or [])],
        trial_days=trial_days,
        min_commitment_cycles=min_commitment_cycles,
        actor=ACTOR,
        **kwargs,
    )


def make_subscription(
    *,
    plan: Plan | None = None,
    customer: Any = None,
    start_date: dt.date = dt.date(2026, 1, 1),
    today: dt.date | None = None,
    renewed: int = 0,
    quantity: int = 1,
    **kwargs: Any,
) -> Subscription:
    plan = plan or make_plan()
    customer = customer or CustomerFactory()
    wants_address = "shipping_address" not in kwargs and "shipping_address_ref" not in kwargs
    if wants_address and not customer.addresses.filter(kind="shipping", is_default=True).exists():
        AddressFactory(customer=customer)
    subscription = services.subscription_create(
        customer=customer,
        plan=plan,
        quantity=quantity,
        start_date=start_date,
        today=today or start_date,
        actor=ACTOR,
        **kwargs,
    )
    for _ in range(renewed):
        renew(subscription)
    subscription.refresh_from_db()
    return subscription


def renew(subscription: Subscription) -> Subscription:
    """Advance the next period as the renewal cycle would after invoicing it."""
    subscription.refresh_from_db()
    assert subscription.next_renewal_date is not None
    return services.subscription_advance_period(
        subscription=subscription, period_start=subscription.next_renewal_date, actor=ACTOR
    )

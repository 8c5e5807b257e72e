"""Demo plans (monthly coffee box, every-2-weeks snack box, yearly SaaS club) and ~150
subscriptions in every state, with renewal history up to today. Safe to run twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

from inventory.models import Sku
from oms.core.actors import Actor
from subscriptions import services
from subscriptions.models import Plan, Subscription
from subscriptions.periods import business_today

ORDER = 50

PLANS = [
    # code, name, unit, count, USD, EUR, setup fee USD, trial days, commitment, items
    ("coffee-monthly", "Monthly coffee box", "month", 1, 3900, 3600, 0, 0, 3, [("BOX-MONTHLY", 1)]),
    ("snack-biweekly", "Snack box every 2 weeks", "week", 2, 1900, 1800, 0, 0, 0,
     [("TEA-03", 1), ("SAMPLER-TEA", 1), ("POSTCARD", 1)]),
    ("club-yearly", "Brew Club membership (yearly)", "year", 1, 9900, 9500, 2500, 14, 0, []),
]  # fmt: skip


def _plans() -> list[Plan]:
    actor = Actor.system("demo")
    plans = []
    for code, name, unit, count, usd, eur, setup, trial, commitment, items in PLANS:
        plan = Plan.objects.filter(code=code).first()
        if plan is None:
            skus = {s.code: s for s in Sku.objects.filter(code__in=[c for c, _ in items])}
            plan = services.plan_create(
                code=code,
                name=name,
                interval_unit=unit,
                interval_count=count,
                prices=[
                    {"currency": "USD", "amount": usd, "setup_fee": setup},
                    {"currency": "EUR", "amount": eur, "setup_fee": setup},
                ],
                items=[{"sku": skus[c], "quantity": q} for c, q in items if c in skus],
                trial_days=trial,
                min_commitment_cycles=commitment,
                pay_later=code == "club-yearly",
                actor=actor,
            )
        plans.append(plan)
    return plans


def _catch_up(subscription: Subscription, today: dt.date, actor: Actor) -> Subscription:
    """Advance renewed periods up to (not including) today, as past renewal runs would have."""
    while subscription.next_renewal_date is not None and subscription.next_renewal_date < today:
        subscription = services.subscription_advance_period(
            subscription=subscription, period_start=subscription.next_renewal_date, actor=actor
        )
    return subscription


def seed(ctx: Any) -> None:
    actor = Actor.system("demo")
    plans = _plans()
    customers = ctx.shared.get("customers") or []
    if not customers:
        ctx.log("no demo customers: skipping subscriptions")
        return
    today = business_today()
    channel = ctx.shared.get("channels", {}).get("web")
    count = 150 * ctx.scale
    mug = Sku.objects.filter(code="MUG-STONE").first()
    created = 0
    for i in ctx.progress("subscriptions", range(count)):
        customer = customers[i % len(customers)]
        # Round k gives customer c plan (c + k): every customer gets each plan at most once.
        plan = plans[(i % len(customers) + i // len(customers)) % len(plans)]
        if Subscription.objects.filter(customer=customer, plan_version__plan=plan).exists():
            continue
        state = i % 20
        trial = plan.code == "club-yearly" and state == 19
        age = (
            ctx.rng.randint(0, 10)
            if trial
            else ctx.rng.randint(1, 420 if plan.code == "club-yearly" else 200)
        )
        start = today - dt.timedelta(days=age)
        currency = (
            "EUR" if customer.addresses.filter(country__in=["DE", "FR", "NL"]).exists() else "USD"
        )
        sub = services.subscription_create(
            customer=customer,
            plan=plan,
            currency=currency,
            quantity=2 if state == 18 else 1,
            start_date=start,
            trial_days=None if trial else 0,
            payment_method=f"pm_demo_{i:04d}",
            channel=channel,
            ends_after_cycles=2 if state == 11 else None,
            today=start,
            actor=actor,
        )
        sub = _catch_up(sub, today, actor)
        created += 1
        if not sub.is_live:
            continue
        if state == 12 and sub.status == "active":
            services.subscription_pause(
                subscription=sub, cycles=2, reason="on holiday", actor=actor, today=today
            )
        elif state == 13 and sub.status == "active":
            services.subscription_mark_past_due(
                subscription=sub, reason="card declined", actor=actor
            )
        elif state == 14:
            services.subscription_cancel(
                subscription=sub,
                reason="too much coffee",
                at_period_end=True,
                force=True,
                actor=actor,
                today=today,
            )
        elif state == 15:
            services.subscription_cancel(
                subscription=sub,
                reason="moving abroad",
                refund="none",
                force=True,
                actor=actor,
                today=today,
            )
        elif state == 16 and sub.status == "active":
            services.subscription_skip(subscription=sub, actor=actor)
        elif state == 17 and sub.status == "active" and plan.code != "club-yearly" and mug:
            services.subscription_add_addon(subscription=sub, sku=mug, quantity=1, actor=actor)
        elif state == 18 and sub.status == "active":
            services.subscription_change_quantity(
                subscription=sub, quantity=1, actor=actor, today=today
            )
    ctx.log(f"{created} subscriptions created ({Subscription.objects.count()} in total)")

"""Demo billing: tax rates, then invoices for demo orders and subscription periods, charged
through the in-process gateway (no Stripe needed): most are paid, a few cards decline and
enter dunning, one customer has auto-pay off."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms.core.actors import Actor

ORDER = 60

RATES = [
    ("US sales tax", "US", "", "", "0.0725", False),
    ("OR (no sales tax)", "US", "OR", "", "0", False),
    ("MwSt 19%", "DE", "", "", "0.19", True),
    ("MwSt 7%", "DE", "", "books", "0.07", True),
    ("VAT 20%", "GB", "", "", "0.20", True),
    ("TVA 20%", "FR", "", "", "0.20", True),
    ("BTW 21%", "NL", "", "", "0.21", True),
]


def seed(ctx: Any) -> None:
    from billing.gateway import InProcessGateway, use_gateway
    from billing.models import Invoice, PaymentMethod, TaxRate
    from billing.services import (
        billing_account_update,
        invoice_create_for_order,
        invoice_create_for_period,
        payment_method_save,
    )
    from oms.core.errors import ApplicationError
    from orders.models import Order
    from subscriptions.models import Subscription

    actor = Actor.system("demo")
    for name, country, region, category, rate, inclusive in RATES:
        TaxRate.objects.get_or_create(
            country=country,
            region=region,
            tax_category=category,
            is_active=True,
            defaults={"name": name, "rate": Decimal(rate), "inclusive": inclusive},
        )

    gateway = InProcessGateway()
    customers = ctx.shared.get("customers", [])
    for i, customer in enumerate(customers[: 40 * ctx.scale]):
        if PaymentMethod.objects.filter(customer=customer).exists():
            continue
        number = "4000000000000341" if i % 9 == 4 else "4242424242424242"
        if not customer.stripe_customer_id:
            customer.stripe_customer_id = f"cus_demo_{customer.pk}"
            customer.save(update_fields=["stripe_customer_id"])
        payment_method_save(
            customer=customer, stripe_payment_method_id=gateway.add_card(number), brand="visa",
            last4=number[-4:], exp_month=12, exp_year=2030, actor=actor, retry_dunning=False,
        )  # fmt: skip
    if customers:
        billing_account_update(
            customer=customers[-1], actor=actor, auto_pay=False, notes="Pays by bank transfer"
        )

    with use_gateway(gateway):
        orders = Order.objects.filter(origin="one_off", invoices__isnull=True).exclude(
            status="cancelled"
        )
        for order in ctx.progress("order invoices", list(orders.order_by("pk")[: 40 * ctx.scale])):
            invoice = invoice_create_for_order(order=order, actor=actor)
            _pay_after_commit(invoice, actor, gateway)
        subscriptions = Subscription.objects.filter(status="active", invoices__isnull=True)
        for subscription in ctx.progress(
            "period invoices", list(subscriptions.order_by("pk")[: 30 * ctx.scale])
        ):
            try:
                invoice = invoice_create_for_period(
                    subscription=subscription, period_start=subscription.current_period_start,
                    period_end=subscription.current_period_end, actor=actor,
                )  # fmt: skip
            except ApplicationError as exc:
                ctx.log(f"subscription {subscription.pk}: {exc}")
                continue
            _pay_after_commit(invoice, actor, gateway)
    ctx.log(f"billing: {Invoice.objects.count()} invoices")


def _pay_after_commit(invoice: Any, actor: Actor, gateway: Any) -> None:
    """A charge commits its attempt before calling the gateway, so it cannot run inside the
    seeder's transaction: it runs right after it commits."""
    from billing.services import invoice_pay
    from oms.core.transactions import on_commit

    if invoice.status == "open" and invoice.collection_method == "charge_automatically":
        on_commit(invoice_pay, invoice=invoice, actor=actor, trigger="renewal", gateway=gateway)

"""Billing's own cost per renewal: an invoice for a subscription period plus its charge
(``invoice_create_for_period`` + ``invoice_pay``), N times, sequentially, on PostgreSQL.

Modes: ``inprocess`` (the payment answered in-process: billing's own cost) and
``localstripe`` (the Stripe SDK against an in-memory localstripe on a free port; before it,
the SDK alone charges N times against the same server, for comparison). Prints invoices
per second, queries per invoice+charge, and the rate limiter's wait.

    python bench/billing.py --n 500
    python bench/billing.py --n 2000 --modes inprocess --batch 100   # the batch path
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings.test")
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/oms_bench_billing"


def fresh_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int, gateway: Any, *, stripe: bool) -> list[Any]:
    """N active subscriptions, each with a customer, a card and (for Stripe) a Stripe customer."""
    from billing.services import payment_method_save
    from oms.core.actors import Actor
    from tests.factories.billing import customer_in
    from tests.factories.subscriptions import make_plan, make_subscription

    actor = Actor.system("bench")
    plan = make_plan(price=2500, currency="EUR")
    subscriptions = []
    for i in range(n):
        customer = customer_in("DE", email=f"bench{i}-{time.monotonic_ns()}@example.com")
        if stripe:
            customer.stripe_customer_id = gateway.ensure_customer(
                existing_id=None, email=customer.email, name="", reference=str(customer.pk)
            )
            pm = gateway.client.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {
                        "number": "4242424242424242",
                        "exp_month": 12,
                        "exp_year": 2034,
                        "cvc": "123",
                    },
                }
            ).id
            gateway.attach_payment_method(
                payment_method_id=pm, customer_id=customer.stripe_customer_id
            )
        else:
            customer.stripe_customer_id = f"cus_bench_{customer.pk}"
            pm = gateway.add_card()
        customer.save(update_fields=["stripe_customer_id"])
        payment_method_save(
            customer=customer, stripe_payment_method_id=pm, brand="visa", last4="4242",
            exp_month=12, exp_year=2034, actor=actor, retry_dunning=False,
        )  # fmt: skip
        subscriptions.append(
            make_subscription(
                plan=plan, customer=customer, start_date=dt.date(2026, 11, 1), currency="EUR"
            )
        )
    return subscriptions


def measure(
    subscriptions: list[Any], gateway: Any, batch: int = 0, concurrency: int = 1
) -> dict[str, float]:
    from django.db import connection

    from billing.services import LineInput, invoice_create_for_period, invoice_pay
    from oms.core.actors import Actor

    actor = Actor.system("bench")
    queries = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[0] += 1
        return execute(sql, params, many, context)

    from django.db import transaction

    from billing.services import PeriodInput, invoices_create_for_periods, invoices_pay_batch

    plan_line = [LineInput(kind="plan", description="Plan", unit_amount=2500)]

    paid = 0
    started = time.perf_counter()
    with connection.execute_wrapper(count):
        if batch:
            for start in range(0, len(subscriptions), batch):
                with transaction.atomic():  # as the renewal claim does: one transaction per batch
                    invoices = invoices_create_for_periods(
                        periods=[
                            PeriodInput(
                                sub, sub.current_period_start, sub.current_period_end, plan_line
                            )
                            for sub in subscriptions[start : start + batch]
                        ],
                        actor=actor,
                    )
                items = invoices_pay_batch(
                    invoices=invoices, actor=actor, gateway=gateway, concurrency=concurrency
                )
                paid += sum(
                    1 for item in items if item.attempt and item.attempt.state == "succeeded"
                )
        else:
            for sub in subscriptions:
                invoice = invoice_create_for_period(
                    subscription=sub, period_start=sub.current_period_start, period_end=sub.current_period_end,
                    lines=[LineInput(kind="plan", description="Plan", unit_amount=2500)], actor=actor,
                )  # fmt: skip
                paid += (
                    invoice_pay(
                        invoice=invoice, actor=actor, trigger="renewal", gateway=gateway
                    ).state
                    == "succeeded"
                )
    elapsed = time.perf_counter() - started
    return {
        "n": len(subscriptions), "paid": paid, "seconds": elapsed, "per_second": len(subscriptions) / elapsed,
        "queries_per_invoice": queries[0] / len(subscriptions), "limiter_wait": gateway.limiter.waited_seconds,
    }  # fmt: skip


def sdk_alone(gateway: Any, subscriptions: list[Any]) -> float:
    started = time.perf_counter()
    for i, sub in enumerate(subscriptions):
        gateway.charge_off_session(
            amount=2500, currency="EUR", customer_id=sub.customer.stripe_customer_id,
            payment_method_id=sub.customer.payment_methods.first().stripe_payment_method_id,
            idempotency_key=f"bench-sdk-{i}-{time.monotonic_ns()}", metadata={},
        )  # fmt: skip
    return len(subscriptions) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--modes", default="inprocess,localstripe")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="Gateway calls at once (batch mode)."
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="Charge with invoices_pay_batch in batches of this size (0: one by one).",
    )
    args = parser.parse_args()
    fresh_database(args.database_url)

    from billing.gateway import InProcessGateway, RateLimiter, StripeGateway
    from tests.stripe_server import LocalStripe

    for mode in args.modes.split(","):
        if mode == "inprocess":
            gateway: Any = InProcessGateway(record_calls=False)
            result = measure(
                seed(args.n, gateway, stripe=False), gateway, args.batch, args.concurrency
            )
            print(f"[inprocess]   {result['n']} invoices+charges in {result['seconds']:.2f}s: "
                  f"{result['per_second']:.0f}/s, {result['queries_per_invoice']:.1f} queries each, paid {result['paid']}")  # fmt: skip
        elif mode == "localstripe":
            server = LocalStripe().start()
            try:
                gateway = StripeGateway(
                    api_key="sk_test_bench",
                    api_base=server.url,
                    max_network_retries=0,
                    limiter=RateLimiter(rate=0),
                )
                subscriptions = seed(args.n, gateway, stripe=True)
                alone = sdk_alone(gateway, subscriptions)
                result = measure(subscriptions, gateway, args.batch, args.concurrency)
            finally:
                server.stop()
            print(f"[localstripe] SDK alone {alone:.0f} charges/s; billing {result['per_second']:.0f} invoices+charges/s "
                  f"({100 * result['per_second'] / alone:.0f}% of the SDK alone), "
                  f"{result['queries_per_invoice']:.1f} queries each, paid {result['paid']}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Billing rows built through the services (and a few plain factories for reference data)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory

from billing.models import InvoiceLineKind, PaymentMethod, TaxRate
from billing.services import LineInput, invoice_create
from oms.core.actors import Actor
from tests.factories.customers import AddressFactory, CustomerFactory

ACTOR = Actor.system("tests")


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate

    name = factory.LazyAttribute(lambda o: f"VAT {o.rate * 100:g}%")
    country = "DE"
    region = ""
    tax_category = ""
    rate = Decimal("0.19")
    inclusive = False


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod

    customer = factory.SubFactory(CustomerFactory)
    stripe_payment_method_id = factory.Sequence(lambda n: f"pm_factory_{n}")
    brand = "visa"
    last4 = "4242"
    exp_month = 12
    exp_year = 2034
    is_default = True


def customer_in(country: str = "DE", region: str = "", **kwargs: Any) -> Any:
    customer = CustomerFactory(**kwargs)
    AddressFactory(customer=customer, kind="billing", country=country, region=region)
    return customer


def make_invoice(
    *,
    customer: Any = None,
    amounts: list[int] | None = None,
    currency: str = "EUR",
    finalize: bool = True,
    kind: str = InvoiceLineKind.ITEM,
    tax_category: str = "",
    **kwargs: Any,
) -> Any:
    customer = customer or customer_in()
    lines = [
        LineInput(kind=kind, description=f"Line {i}", unit_amount=a, tax_category=tax_category)
        for i, a in enumerate(amounts or [1000], start=1)
    ]
    return invoice_create(
        customer=customer, currency=currency, lines=lines, actor=ACTOR, finalize=finalize, **kwargs
    )

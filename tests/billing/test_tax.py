"""Tax by the written rule (billing.tax): per line, rounded once, halves away from zero."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.models import InvoiceLineKind
from billing.selectors import TaxResolver
from billing.services import LineInput, invoice_create
from billing.tax import TaxTreatment, line_tax
from tests.factories.billing import ACTOR, TaxRateFactory, customer_in, make_invoice

VAT19 = TaxTreatment(rate=Decimal("0.19"), name="VAT 19%")
VAT19_INCL = TaxTreatment(rate=Decimal("0.19"), inclusive=True, name="VAT 19%")


@pytest.mark.parametrize(
    ("amount", "treatment", "net", "tax", "gross"),
    [
        (1999, VAT19, 1999, 380, 2379),  # 379.81 -> 380
        (1999, VAT19_INCL, 1680, 319, 1999),  # 1999 × 0.19 / 1.19 = 319.168… -> 319
        (119, VAT19_INCL, 100, 19, 119),  # exact: 119 × 0.19 / 1.19 = 19
        (50, TaxTreatment(rate=Decimal("0.07")), 50, 4, 54),  # 3.5 -> 4 (half away from zero)
        (-50, TaxTreatment(rate=Decimal("0.07")), -50, -4, -54),  # -3.5 -> -4
        (1, TaxTreatment(rate=Decimal("0.5")), 1, 1, 2),  # 0.5 -> 1
        (1000, TaxTreatment(), 1000, 0, 1000),  # no rate
        (2500, TaxTreatment(rate=Decimal("0.0825")), 2500, 206, 2706),  # 206.25 -> 206
    ],
)
def test_line_tax_worked_examples(amount, treatment, net, tax, gross):
    assert line_tax(amount=amount, currency="EUR", treatment=treatment) == (
        line_tax(amount=amount, currency="EUR", treatment=treatment).__class__(
            net=net, tax=tax, gross=gross
        )
    )


def test_float_rates_are_refused():
    with pytest.raises(TypeError):
        line_tax(amount=100, currency="EUR", treatment=TaxTreatment(rate=0.19))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(min_value=-(10**9), max_value=10**9),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.3"), places=4),
    inclusive=st.booleans(),
)
def test_line_tax_adds_up_and_credit_mirrors_charge(amount, rate, inclusive):
    treatment = TaxTreatment(rate=rate, inclusive=inclusive)
    lt = line_tax(amount=amount, currency="EUR", treatment=treatment)
    assert lt.net + lt.tax == lt.gross
    assert (lt.gross if inclusive else lt.net) == amount
    mirrored = line_tax(amount=-amount, currency="EUR", treatment=treatment)
    assert mirrored.tax == -lt.tax  # a credit reverses its charge exactly


def test_per_line_rounding_differs_from_invoice_rounding_and_is_what_we_bill(db):
    """Three lines of 0.05 at 10 %: per line 0.005 -> 0.01 each (3 cents); on the sum 0.015
    -> 0.02. The written rule is per line, so the invoice says 3."""
    TaxRateFactory(country="DE", rate=Decimal("0.10"), name="Tax 10%")
    invoice = make_invoice(customer=customer_in("DE"), amounts=[5, 5, 5])
    assert [line.tax for line in invoice.lines.all()] == [1, 1, 1]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (15, 3, 18)
    assert invoice.tax_breakdown == [
        {"name": "Tax 10%", "rate": "0.100000", "inclusive": False, "taxable": 15, "tax": 3}
    ]


def test_resolver_most_specific_rate_wins(db):
    country = TaxRateFactory(country="US", rate=Decimal("0.05"), name="US base")
    region = TaxRateFactory(country="US", region="CA", rate=Decimal("0.0725"), name="CA")
    category = TaxRateFactory(country="US", tax_category="food", rate=Decimal("0"), name="US food")
    resolver = TaxResolver()
    assert resolver.treatment(country="US", region="NY").tax_rate_id == country.pk
    assert resolver.treatment(country="US", region="ca").tax_rate_id == region.pk
    assert resolver.treatment(country="US", region="CA", category="food").tax_rate_id == category.pk
    assert resolver.treatment(country="FR").rate == 0
    assert resolver.treatment(country="US", exempt=True).rate == 0


def test_invoice_breakdown_mixes_rates_and_inclusive_pricing(db):
    TaxRateFactory(country="DE", rate=Decimal("0.19"), inclusive=True, name="MwSt 19%")
    TaxRateFactory(
        country="DE", tax_category="books", rate=Decimal("0.07"), inclusive=True, name="MwSt 7%"
    )
    customer = customer_in("DE")
    invoice = invoice_create(
        customer=customer,
        currency="EUR",
        lines=[
            LineInput(kind=InvoiceLineKind.PLAN, description="Box", unit_amount=2999),
            LineInput(
                kind=InvoiceLineKind.ITEM,
                description="Book",
                unit_amount=1500,
                tax_category="books",
            ),
            LineInput(kind=InvoiceLineKind.DISCOUNT, description="Welcome", unit_amount=-500),
        ],
        actor=ACTOR,
    )
    lines = list(invoice.lines.order_by("position"))
    # 2999 × .19/1.19 = 478.83 -> 479; 1500 × .07/1.07 = 98.13 -> 98; -500 × .19/1.19 = -79.83 -> -80
    assert [(line.net, line.tax, line.total) for line in lines] == [
        (2520, 479, 2999),
        (1402, 98, 1500),
        (-420, -80, -500),
    ]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (3502, 497, 3999)
    assert invoice.tax_breakdown == [
        {"name": "MwSt 19%", "rate": "0.190000", "inclusive": True, "taxable": 2100, "tax": 399},
        {"name": "MwSt 7%", "rate": "0.070000", "inclusive": True, "taxable": 1402, "tax": 98},
    ]


def test_tax_exempt_customer_pays_no_tax(db):
    from billing.services import billing_account_update

    TaxRateFactory(country="DE", rate=Decimal("0.19"))
    customer = customer_in("DE")
    billing_account_update(customer=customer, actor=ACTOR, tax_exempt=True)
    invoice = make_invoice(customer=customer, amounts=[1000])
    assert (invoice.tax, invoice.total) == (0, 1000)

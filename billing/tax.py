"""Tax arithmetic: pure functions, no database.

The written rule
----------------
Tax is computed **per line**, on the line's amount (unit amount × quantity, after the
line's discount), and rounded **once per line** to the nearest minor unit, halves away
from zero — the rule of ``oms.core.money`` (``Money.multiply`` / ``round_minor``):

- exclusive pricing (the price excludes tax): ``tax = round(amount × rate)``,
  ``net = amount``, ``gross = amount + tax``;
- inclusive pricing (the price already contains tax):
  ``tax = round(amount × rate / (1 + rate))`` computed exactly before the one rounding,
  ``net = amount − tax``, ``gross = amount``.

The invoice's tax is the **sum of its line taxes**, so lines, the per-rate breakdown and
the totals always add up to the cent. It can differ by a cent or so from
``rate × invoice subtotal`` (rounding per line rather than per invoice); that is the
known trade-off of per-line rounding, which keeps a line's tax independent of its
neighbours (a credit note for one line reverses exactly that line's tax).

Negative lines (discounts, proration credits) follow the same rule; because halves round
away from zero a credit reverses its charge exactly.

Worked examples (EUR, cents): 19 % exclusive on 1 999 → tax round(379.81) = 380, gross
2 379. 19 % inclusive on 1 999 → tax round(1999 × 0.19 / 1.19) = round(319.168…) = 319,
net 1 680. 20 % exclusive on 2.5 cents is impossible (integer cents); on 1 cent × 50 %
→ round(0.5) = 1 (half away from zero), on −1 cent → −1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from oms.core.money import Money, round_minor

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class TaxTreatment:
    """The rate that applies to a line (a snapshot of a TaxRate, or none)."""

    rate: Decimal = ZERO
    inclusive: bool = False
    name: str = ""
    tax_rate_id: int | None = None

    @classmethod
    def none(cls) -> TaxTreatment:
        return cls()


@dataclass(frozen=True, slots=True)
class LineTax:
    net: int
    tax: int
    gross: int


def line_tax(*, amount: int, currency: str, treatment: TaxTreatment) -> LineTax:
    """Split one line's ``amount`` into net, tax and gross by the written rule."""
    rate = treatment.rate
    if isinstance(rate, float):
        raise TypeError("Tax rates are Decimal, never float.")
    if rate == ZERO:
        return LineTax(net=amount, tax=0, gross=amount)
    if treatment.inclusive:
        tax = round_minor(Decimal(amount) * rate / (1 + rate))
        return LineTax(net=amount - tax, tax=tax, gross=amount)
    tax = Money(amount, currency).multiply(rate).amount
    return LineTax(net=amount, tax=tax, gross=amount + tax)


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    name: str
    rate: Decimal
    inclusive: bool
    taxable: int  # net amount the rate applied to
    tax: int

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "rate": str(self.rate),
            "inclusive": self.inclusive,
            "taxable": self.taxable,
            "tax": self.tax,
        }


def breakdown(rows: Iterable[tuple[TaxTreatment, LineTax]]) -> list[BreakdownRow]:
    """Group line taxes by rate for the invoice: one row per (name, rate, inclusive)."""
    groups: dict[tuple[str, Decimal, bool], list[int]] = {}
    for treatment, lt in rows:
        key = (treatment.name, treatment.rate, treatment.inclusive)
        taxable_tax = groups.setdefault(key, [0, 0])
        taxable_tax[0] += lt.net
        taxable_tax[1] += lt.tax
    return [
        BreakdownRow(name=name, rate=rate, inclusive=inclusive, taxable=taxable, tax=tax)
        for (name, rate, inclusive), (taxable, tax) in sorted(
            groups.items(), key=lambda item: (-item[0][1], item[0][0])
        )
    ]

"""Order totals, computed server-side. Pure functions: no queries.

Rules (written once, tested):
- Line: ``gross = quantity × unit_price``; ``net = gross − discount`` (a channel's promotion
  for the whole line, 0 ≤ discount ≤ gross); ``total = net + tax``.
- Order: ``subtotal = Σ gross``, ``discount_total = Σ discount``, ``tax_total = Σ line tax +
  shipping tax``, ``total = subtotal − discount_total + shipping_total + tax_total``.
- Shipping: a flat fee per delivery option (``SHIPPING_FEES``, in major units of the order's
  currency), waived when the order's net goods value reaches ``FREE_SHIPPING_FROM`` major
  units, when nothing physical ships, or for subscription renewals (the plan price covers it).
- Tax: exclusive, from the registered ``orders.hooks.tax_calculator`` (billing owns rates);
  with none registered tax is 0. A calculator rounds each line's tax once (``Money.multiply``:
  nearest minor unit, halves away from zero); orders never re-rounds a sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oms.core.money import currency_exponent, round_minor

from . import hooks
from .models import DeliveryOption

SHIPPING_FEES: dict[str, Decimal] = {
    DeliveryOption.STANDARD: Decimal("4.95"),
    DeliveryOption.EXPRESS: Decimal("14.95"),
    DeliveryOption.NEXT_DAY: Decimal("24.95"),
    DeliveryOption.PICKUP: Decimal("0"),
    DeliveryOption.DIGITAL: Decimal("0"),
}
FREE_SHIPPING_FROM = Decimal("75")


def to_minor(major: Decimal, currency: str) -> int:
    """A fee in major units as minor units of ``currency`` (4.95 → 5 JPY, by the rule)."""
    return round_minor(major.scaleb(currency_exponent(currency)))


def shipping_fee(
    *, delivery_option: str, currency: str, net_goods: int, ships: bool, subscription: bool
) -> int:
    if not ships or subscription:
        return 0
    if delivery_option == DeliveryOption.STANDARD and net_goods >= to_minor(
        FREE_SHIPPING_FROM, currency
    ):
        return 0
    return to_minor(SHIPPING_FEES.get(delivery_option, Decimal("0")), currency)


@dataclass
class LineAmounts:
    line_no: int
    sku_id: int
    tax_category: str
    quantity: int
    unit_price: int
    discount: int = 0
    tax: int = 0

    @property
    def gross(self) -> int:
        return self.quantity * self.unit_price

    @property
    def net(self) -> int:
        return self.gross - self.discount

    @property
    def total(self) -> int:
        return self.net + self.tax


@dataclass
class Totals:
    subtotal: int = 0
    discount_total: int = 0
    shipping_total: int = 0
    tax_total: int = 0
    lines: list[LineAmounts] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount_total + self.shipping_total + self.tax_total

    def as_dict(self) -> dict[str, int]:
        return {
            "subtotal": self.subtotal,
            "discount_total": self.discount_total,
            "shipping_total": self.shipping_total,
            "tax_total": self.tax_total,
            "total": self.total,
        }


def compute_totals(
    *,
    lines: list[LineAmounts],
    currency: str,
    delivery_option: str,
    address: dict[str, Any],
    ships: bool,
    subscription: bool = False,
    waive_shipping: bool = False,
) -> Totals:
    """Fill each line's tax and return the order's totals. ``waive_shipping``: no shipping
    charge (nor tax on it) whatever the delivery option (free replacement orders)."""
    net_goods = sum(line.net for line in lines)
    shipping = 0
    if not waive_shipping:
        shipping = shipping_fee(
            delivery_option=delivery_option,
            currency=currency,
            net_goods=net_goods,
            ships=ships,
            subscription=subscription,
        )
    shipping_tax = 0
    for calculator in hooks.tax_calculator:
        per_line, shipping_tax = calculator(
            lines=[
                hooks.TaxLine(
                    line_no=line.line_no,
                    sku_id=line.sku_id,
                    tax_category=line.tax_category,
                    net_amount=line.net,
                )
                for line in lines
            ],
            shipping=shipping,
            currency=currency,
            address=address,
        )
        for line in lines:
            line.tax = int(per_line.get(line.line_no, 0))
        break  # one calculator decides; a second registration is a configuration mistake
    else:
        for line in lines:
            line.tax = 0
    return Totals(
        subtotal=sum(line.gross for line in lines),
        discount_total=sum(line.discount for line in lines),
        shipping_total=shipping,
        tax_total=sum(line.tax for line in lines) + int(shipping_tax),
        lines=lines,
    )

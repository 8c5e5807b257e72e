"""Money: integer minor units plus an ISO-4217 currency code. Never floats.

Rounding rule (one rule, everywhere): a product with a Decimal rate is computed exactly and
rounded once, to the nearest minor unit, halves away from zero (ROUND_HALF_UP on the
magnitude), e.g. 0.5 cent -> 1 cent and -0.5 cent -> -1 cent.

Allocation rule: ``allocate`` splits a total across weights by the largest-remainder method;
every part is the floor of its exact share, and the cents left over go one each to the
parts with the largest remainders (earlier parts win ties). The parts always sum exactly
to the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Minor-unit exponents for currencies that do not use two decimals.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def validate_currency(currency: str) -> str:
    code = (currency or "").upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"'{currency}' is not an ISO-4217 currency code.")
    return code


def round_minor(value: Decimal) -> int:
    """The written rounding rule: nearest minor unit, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units (cents)
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int of minor units.")
        object.__setattr__(self, "currency", validate_currency(self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("Money only combines with Money.")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"Cannot combine {self.currency} with {other.currency}.")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __bool__(self) -> bool:
        return self.amount != 0

    def multiply(self, factor: Decimal | int) -> Money:
        """Multiply by an exact Decimal (or int) and round once per the written rule."""
        if isinstance(factor, float):
            raise TypeError("Use Decimal, never float, for money rates.")
        return Money(round_minor(Decimal(self.amount) * Decimal(factor)), self.currency)

    __mul__ = multiply

    def allocate(self, weights: Sequence[int | Decimal]) -> list[Money]:
        """Split this amount across ``weights`` without losing or creating a minor unit."""
        if not weights:
            raise ValueError("allocate needs at least one weight.")
        dec = [Decimal(w) for w in weights]
        if any(w < 0 for w in dec):
            raise ValueError("Weights must not be negative.")
        total_weight = sum(dec)
        if total_weight == 0:
            raise ValueError("Weights must not all be zero.")
        sign = -1 if self.amount < 0 else 1
        magnitude = abs(self.amount)
        exact = [Decimal(magnitude) * w / total_weight for w in dec]
        parts = [int(e) for e in exact]  # floor: all non-negative
        leftover = magnitude - sum(parts)
        order = sorted(range(len(dec)), key=lambda i: (-(exact[i] - parts[i]), i))
        for i in order[:leftover]:
            parts[i] += 1
        return [Money(sign * p, self.currency) for p in parts]

    def format(self) -> str:
        exp = currency_exponent(self.currency)
        value = Decimal(self.amount).scaleb(-exp)
        return f"{value:,.{exp}f} {self.currency}"

    def __str__(self) -> str:
        return self.format()

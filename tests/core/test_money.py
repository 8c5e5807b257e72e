from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.core.money import CurrencyMismatch, Money, round_minor


def test_add_and_subtract_in_the_same_currency():
    assert Money(1050, "USD") + Money(250, "USD") == Money(1300, "USD")
    assert Money(1050, "USD") - Money(2000, "USD") == Money(-950, "USD")


def test_mixing_currencies_is_refused():
    with pytest.raises(CurrencyMismatch):
        Money(100, "USD") + Money(100, "EUR")


def test_amounts_must_be_integer_minor_units():
    with pytest.raises(TypeError):
        Money(10.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(100, "USD").multiply(1.5)  # type: ignore[arg-type]


def test_currency_code_is_validated_and_upper_cased():
    assert Money(1, "eur").currency == "EUR"
    with pytest.raises(ValueError):
        Money(1, "EURO")


@pytest.mark.parametrize(
    ("amount", "factor", "expected"),
    [
        (1000, Decimal("0.19"), 190),  # exact
        (999, Decimal("0.075"), 75),  # 74.925 -> 75
        (1, Decimal("0.5"), 1),  # half rounds away from zero
        (-1, Decimal("0.5"), -1),  # ... on both sides
        (3, Decimal("0.5"), 2),  # 1.5 -> 2 (not banker's 2 by luck: 2.5 below)
        (5, Decimal("0.5"), 3),  # 2.5 -> 3, banker's rounding would give 2
        (1999, Decimal("1") / Decimal("3"), 666),  # 666.33 -> 666
    ],
)
def test_multiply_rounds_once_half_away_from_zero(amount, factor, expected):
    assert Money(amount, "USD").multiply(factor) == Money(expected, "USD")


def test_round_minor_written_rule():
    assert round_minor(Decimal("2.5")) == 3
    assert round_minor(Decimal("-2.5")) == -3
    assert round_minor(Decimal("2.4999")) == 2


def test_allocate_worked_example_gives_leftover_cents_to_largest_remainders():
    # 100 cents over three equal parts: 33.33 each; the one left-over cent goes to the first.
    assert [m.amount for m in Money(100, "USD").allocate([1, 1, 1])] == [34, 33, 33]
    # 1000 over 70/20/10 is exact.
    assert [m.amount for m in Money(1000, "EUR").allocate([70, 20, 10])] == [700, 200, 100]
    # negative totals (credits) split the same way, signs preserved.
    assert [m.amount for m in Money(-100, "USD").allocate([1, 1, 1])] == [-34, -33, -33]


def test_allocate_refuses_meaningless_weights():
    with pytest.raises(ValueError):
        Money(100, "USD").allocate([])
    with pytest.raises(ValueError):
        Money(100, "USD").allocate([0, 0])
    with pytest.raises(ValueError):
        Money(100, "USD").allocate([1, -1])


@given(
    total=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_allocate_never_loses_or_creates_a_cent(total, weights):
    parts = Money(total, "USD").allocate(weights)
    assert len(parts) == len(weights)
    assert sum(p.amount for p in parts) == total
    total_weight = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(total) * weight / total_weight
        # every part is within one minor unit of its exact share
        assert abs(Decimal(part.amount) - exact) < 1
        if weight == 0:
            assert part.amount == 0


@given(
    weights=st.lists(
        st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False), min_size=1, max_size=10
    ).filter(lambda ws: sum(ws) > 0),
    total=st.integers(min_value=0, max_value=10**9),
)
def test_allocate_with_decimal_weights_sums_exactly(weights, total):
    assert sum(p.amount for p in Money(total, "JPY").allocate(weights)) == total


@given(a=st.integers(-(10**15), 10**15), b=st.integers(-(10**15), 10**15))
def test_add_subtract_roundtrip(a, b):
    assert (Money(a, "USD") + Money(b, "USD")) - Money(b, "USD") == Money(a, "USD")


def test_format_uses_currency_exponent():
    assert Money(123456, "USD").format() == "1,234.56 USD"
    assert Money(1234, "JPY").format() == "1,234 JPY"

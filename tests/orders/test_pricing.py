"""The totals rules in orders.pricing (pure functions, no database)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import pricing

line = st.builds(
    lambda qty, price, share: (qty, price, share),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=200_000),
    st.integers(min_value=0, max_value=100),
)


# Billing's registered tax calculator reads rates from the database: set aside here.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(line, min_size=1, max_size=20),
    option=st.sampled_from(list(pricing.SHIPPING_FEES)),
    currency=st.sampled_from(["USD", "EUR", "JPY", "KWD"]),
    ships=st.booleans(),
    subscription=st.booleans(),
)
def test_totals_add_up_and_never_go_negative(
    without_upper_hooks, lines, option, currency, ships, subscription
):
    amounts = [
        pricing.LineAmounts(
            line_no=i + 1,
            sku_id=i + 1,
            tax_category="standard",
            quantity=qty,
            unit_price=price,
            discount=qty * price * share // 100,
        )
        for i, (qty, price, share) in enumerate(lines)
    ]
    totals = pricing.compute_totals(
        lines=amounts,
        currency=currency,
        delivery_option=option,
        address={"country": "US"},
        ships=ships,
        subscription=subscription,
    )
    assert totals.subtotal == sum(q * p for q, p, _ in lines)
    assert totals.total == sum(a.total for a in amounts) + totals.shipping_total
    assert totals.total == (
        totals.subtotal - totals.discount_total + totals.shipping_total + totals.tax_total
    )
    assert min(totals.as_dict().values()) >= 0
    if not ships or subscription:
        assert totals.shipping_total == 0


def test_shipping_fees_in_minor_units_per_currency_and_free_over_the_threshold():
    fee = pricing.shipping_fee
    common = {"ships": True, "subscription": False}
    assert fee(delivery_option="express", currency="USD", net_goods=1000, **common) == 1495
    assert fee(delivery_option="express", currency="JPY", net_goods=1000, **common) == 15
    assert fee(delivery_option="express", currency="KWD", net_goods=1000, **common) == 14950
    assert fee(delivery_option="standard", currency="USD", net_goods=7499, **common) == 495
    assert fee(delivery_option="standard", currency="USD", net_goods=7500, **common) == 0
    assert fee(delivery_option="express", currency="USD", net_goods=99999, **common) == 1495
    assert fee(delivery_option="pickup", currency="USD", net_goods=1, **common) == 0

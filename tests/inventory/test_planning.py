"""Properties of the warehouse-choice strategy (a pure function: no database)."""

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from inventory.services import plan_allocation

SKUS = [1, 2, 3, 4]
WAREHOUSES = [10, 20, 30]

parts = st.one_of(
    st.sampled_from(SKUS).map(lambda s: ((s, 1),)),  # a plain SKU
    st.lists(
        st.tuples(st.sampled_from(SKUS), st.integers(1, 3)),
        min_size=1,
        max_size=3,
        unique_by=lambda p: p[0],
    ).map(lambda ps: tuple(sorted(ps))),  # a bundle
)
needs_strategy = st.lists(st.tuples(parts, st.integers(1, 6)), min_size=1, max_size=5).map(
    lambda items: [(i, p, units) for i, (p, units) in enumerate(items)]
)
avail_strategy = st.dictionaries(
    st.tuples(st.sampled_from(WAREHOUSES), st.sampled_from(SKUS)), st.integers(0, 12)
)


def can_ship_all(needs, avail, warehouse):
    left = dict(avail)
    for _, ps, units in needs:
        for sku, per in ps:
            left[(warehouse, sku)] = left.get((warehouse, sku), 0) - per * units
    return all(v >= 0 for (w, _), v in left.items() if w == warehouse)


@settings(max_examples=300, deadline=None)
@given(needs=needs_strategy, avail=avail_strategy)
def test_plan_never_overallocates_and_accounts_for_every_unit(needs, avail):
    original = dict(avail)
    plan, short = plan_allocation(needs, dict(avail), list(WAREHOUSES))
    used = defaultdict(int)
    for index, ps, units in needs:
        placed = sum(u for _, u in plan.get(index, []))
        assert placed + short.get(index, 0) == units
        for warehouse, u in plan.get(index, []):
            assert u > 0
            for sku, per in ps:
                used[(warehouse, sku)] += per * u  # whole bundle units from one warehouse
    for key, amount in used.items():
        assert amount <= original.get(key, 0)


@settings(max_examples=300, deadline=None)
@given(needs=needs_strategy, avail=avail_strategy)
def test_one_parcel_from_the_first_warehouse_that_can_ship_everything(needs, avail):
    plan, short = plan_allocation(needs, dict(avail), list(WAREHOUSES))
    able = [w for w in WAREHOUSES if can_ship_all(needs, avail, w)]
    if able:
        assert short == {}
        assert {w for placements in plan.values() for w, _ in placements} == {able[0]}
    else:
        assert len({w for placements in plan.values() for w, _ in placements}) != 1 or short

"""Hypothesis stateful test: random receipts, allocations, releases, shipments, transfers,
returns, adjustments, write-offs and backorder sweeps never break the ledger invariant (on hand = sum of ledger, allocated = sum of
allocation deltas = sum of live allocations) nor 0 ≤ allocated ≤ on hand."""

from collections import defaultdict

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from inventory.errors import OutOfStock
from inventory.models import Allocation, StockLevel, StockMovement
from inventory.services import (
    AllocationLine,
    backorders_fill_from_stock,
    stock_adjust,
    stock_allocate,
    stock_receive,
    stock_release,
    stock_return,
    stock_ship,
    stock_write_off,
    transfer_dispatch,
    transfer_receive,
    transfer_request,
)
from oms.core.actors import Actor
from oms.core.errors import ApplicationError
from tests.factories.inventory import SkuFactory, WarehouseFactory, bundle_sku

ACTOR = Actor.system("hypothesis")


class StockMachine(RuleBasedStateMachine):
    lines = Bundle("lines")

    def __init__(self):
        super().__init__()
        # Each example runs in its own savepoint, rolled back in teardown.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.skus = [SkuFactory(allow_backorder=i == 0) for i in range(3)]
        self.box = bundle_sku([(self.skus[0], 2), (self.skus[1], 1)], allow_backorder=True)
        self.warehouses = [WarehouseFactory(priority=i) for i in range(2)]
        self.on_hand = defaultdict(int)  # the model: (sku_id, warehouse_id) -> units
        self.counter = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ----------------------------------------------------------------- rules

    @rule(sku=st.integers(0, 2), wh=st.integers(0, 1), qty=st.integers(1, 8))
    def receive(self, sku, wh, qty):
        stock_receive(sku=self.skus[sku], warehouse=self.warehouses[wh], quantity=qty, actor=ACTOR)
        self.on_hand[(self.skus[sku].pk, self.warehouses[wh].pk)] += qty

    @rule(
        target=lines,
        picks=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 5)), min_size=1, max_size=3),
        backorder=st.booleans(),
    )
    def allocate(self, picks, backorder):
        self.counter += 1
        order_lines = []
        for i, (sku, qty) in enumerate(picks):
            sku_obj = self.box if sku == 3 else self.skus[sku]
            order_lines.append(AllocationLine(f"o{self.counter}-{i}", sku_obj.pk, qty))
        try:
            stock_allocate(
                lines=order_lines,
                reference=f"order:{self.counter}",
                allow_backorder=backorder,
                actor=ACTOR,
            )
        except OutOfStock:
            pass  # refused: releasing it later is a no-op
        return order_lines[0].line_ref

    @rule(line=consumes(lines), partial=st.booleans())
    def release(self, line, partial):
        try:
            stock_release(line_ref=line, quantity=1 if partial else None, actor=ACTOR, reason="t")
        except ApplicationError as exc:
            assert partial and exc.code == "not_allocated"

    @rule(line=lines, qty=st.integers(1, 3))
    def ship(self, line, qty):
        rows = list(Allocation.objects.filter(line_ref=line, quantity__gt=0))
        if not rows:
            return
        warehouse_id = rows[0].warehouse_id
        try:
            written = stock_ship(
                line_ref=line, warehouse_id=warehouse_id, quantity=qty, reference="s", actor=ACTOR
            )
        except ApplicationError as exc:
            assert exc.code == "not_allocated"
            return
        for movement in written:
            self.on_hand[(movement.sku_id, movement.warehouse_id)] += movement.quantity

    @rule(sku=st.integers(0, 2), src=st.integers(0, 1), qty=st.integers(1, 5))
    def transfer(self, sku, src, qty):
        source, destination = self.warehouses[src], self.warehouses[1 - src]
        transfer = transfer_request(
            sku=self.skus[sku], source=source, destination=destination, quantity=qty, actor=ACTOR
        )
        try:
            transfer_dispatch(transfer=transfer, actor=ACTOR)
        except ApplicationError as exc:
            assert exc.code == "insufficient_stock"
            return
        self.on_hand[(self.skus[sku].pk, source.pk)] -= qty
        transfer_receive(transfer=transfer, actor=ACTOR)
        self.on_hand[(self.skus[sku].pk, destination.pk)] += qty

    @rule(sku=st.integers(0, 3), wh=st.integers(0, 1), qty=st.integers(1, 3), restock=st.booleans())
    def return_goods(self, sku, wh, qty, restock):
        sku_obj = self.box if sku == 3 else self.skus[sku]
        stock_return(
            sku_id=sku_obj.pk,
            warehouse_id=self.warehouses[wh].pk,
            quantity=qty,
            reference="r",
            actor=ACTOR,
            restock=restock,
        )
        if restock:
            parts = [(self.skus[0], 2), (self.skus[1], 1)] if sku == 3 else [(sku_obj, 1)]
            for part, per in parts:
                self.on_hand[(part.pk, self.warehouses[wh].pk)] += per * qty

    @rule(sku=st.integers(0, 2), wh=st.integers(0, 1), qty=st.integers(-5, 5).filter(bool))
    def adjust(self, sku, wh, qty):
        try:
            stock_adjust(
                sku=self.skus[sku],
                warehouse=self.warehouses[wh],
                quantity=qty,
                reason="count",
                actor=ACTOR,
            )
        except ApplicationError as exc:
            assert qty < 0 and exc.code == "insufficient_stock"
            return
        self.on_hand[(self.skus[sku].pk, self.warehouses[wh].pk)] += qty

    @rule(sku=st.integers(0, 2), wh=st.integers(0, 1), qty=st.integers(1, 4))
    def write_off(self, sku, wh, qty):
        try:
            stock_write_off(
                sku=self.skus[sku],
                warehouse=self.warehouses[wh],
                quantity=qty,
                reason="broken",
                actor=ACTOR,
            )
        except ApplicationError as exc:
            assert exc.code == "insufficient_stock"
            return
        self.on_hand[(self.skus[sku].pk, self.warehouses[wh].pk)] -= qty

    @rule()
    def sweep_backorders(self):
        backorders_fill_from_stock(actor=ACTOR)

    # ----------------------------------------------------------------- invariants

    @invariant()
    def ledger_matches_balances(self):
        ledger = {
            (r["sku_id"], r["warehouse_id"]): (r["q"], r["a"])
            for r in StockMovement.objects.values("sku_id", "warehouse_id")
            .order_by()
            .annotate(q=Sum("quantity"), a=Sum("allocated_delta"))
        }
        live = {
            (r["sku_id"], r["warehouse_id"]): r["q"]
            for r in Allocation.objects.values("sku_id", "warehouse_id")
            .order_by()
            .annotate(q=Sum("quantity"))
        }
        for level in StockLevel.objects.all():
            key = (level.sku_id, level.warehouse_id)
            assert 0 <= level.allocated <= level.on_hand
            assert (level.on_hand, level.allocated) == ledger.get(key, (0, 0))
            assert level.allocated == live.get(key, 0)
            assert level.on_hand == self.on_hand[key]


@pytest.mark.django_db
@pytest.mark.slow
def test_ledger_invariant_under_random_operations():
    run_state_machine_as_test(
        StockMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )

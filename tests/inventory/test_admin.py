import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from inventory.models import StockLevel, StockMovement, Transfer, TransferStatus
from inventory.services import AllocationLine, stock_allocate
from tests.factories.inventory import SkuFactory, WarehouseFactory, bundle_sku, stock_on_hand

pytestmark = pytest.mark.django_db

MODELS = [
    "product",
    "sku",
    "warehouse",
    "stocklevel",
    "stockmovement",
    "allocation",
    "backorder",
    "transfer",
    "stockevent",
]


@pytest.fixture
def stock(system_actor):
    sku = SkuFactory(code="ADM-1")
    bundle_sku([(sku, 2)], code="ADM-BOX")
    wh = WarehouseFactory(code="main")
    level = stock_on_hand(sku=sku, warehouse=wh, quantity=10, reorder_point=8)
    stock_allocate(lines=[AllocationLine("l1", sku.pk, 4)], reference="o:1", actor=system_actor)
    return level


@pytest.mark.parametrize("model", MODELS)
def test_changelists_open(admin_client, stock, model):
    response = admin_client.get(reverse(f"admin:inventory_{model}_changelist"))
    assert response.status_code == 200
    if model == "sku":
        assert reverse("admin:inventory_sku_forecast").encode() in response.content


def test_change_pages_open(admin_client, stock):
    for model, pk in [
        ("sku", stock.sku_id),
        ("stocklevel", stock.pk),
        ("warehouse", stock.warehouse_id),
    ]:
        assert (
            admin_client.get(reverse(f"admin:inventory_{model}_change", args=[pk])).status_code
            == 200
        )


def test_below_reorder_point_filter(admin_client, stock):
    other = stock_on_hand(
        sku=SkuFactory(code="PLENTY"), warehouse=stock.warehouse, quantity=50, reorder_point=5
    )
    url = reverse("admin:inventory_stocklevel_changelist")
    response = admin_client.get(url, {"stock": "below"})
    shown = list(response.context["cl"].result_list)
    assert shown == [stock]
    assert other not in shown


def test_adjust_action_needs_a_reason_then_writes_the_ledger(admin_client, stock):
    url = reverse("admin:inventory_stocklevel_changelist")
    data = {
        "action": "action_adjust_stock",
        ACTION_CHECKBOX_NAME: [stock.pk],
        "apply": "1",
        "quantity": "-2",
        "reason": "",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form again, with an error
    assert not StockMovement.objects.filter(kind="adjustment").exists()
    data["reason"] = "cycle count"
    response = admin_client.post(url, data, follow=True)
    assert response.status_code == 200
    movement = StockMovement.objects.get(kind="adjustment")
    assert (movement.quantity, movement.reason, movement.actor_label) == (
        -2,
        "cycle count",
        "admin",
    )
    stock.refresh_from_db()
    assert stock.on_hand == 8


def test_adjust_below_allocated_is_reported_not_applied(admin_client, stock):
    url = reverse("admin:inventory_stocklevel_changelist")
    data = {
        "action": "action_adjust_stock",
        ACTION_CHECKBOX_NAME: [stock.pk],
        "apply": "1",
        "quantity": "-9",
        "reason": "lost",
    }
    response = admin_client.post(url, data, follow=True)
    assert any("Not enough stock" in str(m) for m in response.context["messages"])
    stock.refresh_from_db()
    assert stock.on_hand == 10


def test_transfer_action_requests_and_dispatches(admin_client, stock):
    dest = WarehouseFactory(code="dest")
    url = reverse("admin:inventory_stocklevel_changelist")
    data = {
        "action": "action_transfer_to_another_warehouse",
        ACTION_CHECKBOX_NAME: [stock.pk],
        "apply": "1",
        "destination": dest.pk,
        "quantity": "3",
        "reason": "rebalance",
        "dispatch_now": "on",
    }
    admin_client.post(url, data, follow=True)
    transfer = Transfer.objects.get()
    assert transfer.status == TransferStatus.IN_TRANSIT
    assert StockLevel.objects.get(pk=stock.pk).on_hand == 7
    admin_client.post(
        reverse("admin:inventory_transfer_changelist"),
        {
            "action": "action_mark_received",
            ACTION_CHECKBOX_NAME: [transfer.pk],
            "apply": "1",
            "reason": "arrived",
        },
        follow=True,
    )
    assert StockLevel.objects.get(sku=stock.sku, warehouse=dest).on_hand == 3


def test_receive_action_on_sku(admin_client, stock):
    url = reverse("admin:inventory_sku_changelist")
    data = {
        "action": "action_receive_stock",
        ACTION_CHECKBOX_NAME: [stock.sku_id],
        "apply": "1",
        "warehouse": stock.warehouse_id,
        "quantity": "5",
        "reference": "PO-7",
        "reason": "",
    }
    admin_client.post(url, data, follow=True)
    assert StockMovement.objects.filter(kind="receipt", reference="PO-7", quantity=5).exists()


def test_backorder_fill_action(admin_client, stock, system_actor):
    from inventory.models import Backorder
    from inventory.services import stock_release

    waiting = SkuFactory(code="WAIT", allow_backorder=True)
    stock_on_hand(sku=waiting, warehouse=stock.warehouse, quantity=1)
    stock_allocate(lines=[AllocationLine("a", waiting.pk, 1)], reference="o:a", actor=system_actor)
    stock_allocate(
        lines=[AllocationLine("b", waiting.pk, 1)],
        reference="o:b",
        allow_backorder=True,
        actor=system_actor,
    )
    stock_release(line_ref="a", actor=system_actor, reason="cancelled")
    backorder = Backorder.objects.get(line_ref="b")
    admin_client.post(
        reverse("admin:inventory_backorder_changelist"),
        {
            "action": "action_fill_from_available_stock",
            ACTION_CHECKBOX_NAME: [backorder.pk],
            "apply": "1",
            "reason": "sweep",
        },
        follow=True,
    )
    backorder.refresh_from_db()
    assert backorder.status == "filled"


def test_forecast_page_lists_short_skus(admin_client, stock):
    import datetime

    from django.utils import timezone

    from inventory import hooks

    def provider(start, end):
        return [(stock.sku_id, timezone.localdate() + datetime.timedelta(days=3), 50)]

    hooks.register_renewal_demand(provider)
    try:
        response = admin_client.get(
            reverse("admin:inventory_sku_forecast"), {"days": "10", "short": "1"}
        )
    finally:
        hooks.renewal_demand.remove(provider)
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(r.code, r.demand, r.shortfall) for r in rows] == [("ADM-1", 50, 44)]
    assert b"ADM-1" in response.content

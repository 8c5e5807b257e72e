import pytest

from inventory.models import StockMovement
from inventory.services import AllocationLine, stock_allocate
from oms.core.models import ChannelKind
from tests.factories.core import ChannelFactory
from tests.factories.inventory import (
    SkuFactory,
    SkuPriceFactory,
    WarehouseFactory,
    bundle_sku,
    stock_on_hand,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def warehouse_client(channel_client):
    return channel_client(ChannelFactory(code="wms", kind=ChannelKind.WAREHOUSE))


@pytest.fixture
def catalog(system_actor):
    us = WarehouseFactory(code="us", priority=1)
    eu = WarehouseFactory(code="eu", priority=2, country="DE")
    coffee = SkuFactory(code="COFFEE", price__amount=1500)
    SkuPriceFactory(sku=coffee, currency="EUR", amount=1400)
    mug = SkuFactory(code="MUG")
    stock_on_hand(sku=coffee, warehouse=us, quantity=10)
    stock_on_hand(sku=coffee, warehouse=eu, quantity=3)
    stock_on_hand(sku=mug, warehouse=us, quantity=2)
    box = bundle_sku([(coffee, 2), (mug, 1)], code="BOX")
    SkuFactory(code="APP", is_physical=False)
    stock_allocate(lines=[AllocationLine("l1", coffee.pk, 4)], reference="o", actor=system_actor)
    return {"us": us, "eu": eu, "coffee": coffee, "mug": mug, "box": box}


def by_code(response):
    return {row["code"]: row for row in response.json()["results"]}


def test_sku_list_shows_availability_per_warehouse(api_client, catalog):
    response = api_client.get("/api/v1/skus/")
    assert response.status_code == 200
    rows = by_code(response)
    coffee = rows["COFFEE"]
    assert coffee["available"] == 9
    assert coffee["stock"] == [
        {"warehouse": "us", "on_hand": 10, "allocated": 4, "available": 6},
        {"warehouse": "eu", "on_hand": 3, "allocated": 0, "available": 3},
    ]
    assert sorted((p["currency"], p["amount"]) for p in coffee["prices"]) == [
        ("EUR", 1400),
        ("USD", 1500),
    ]
    # 6 coffee and 2 mugs at us make 2 boxes; eu has no mugs.
    assert rows["BOX"]["available"] == 2
    assert [s["warehouse"] for s in rows["BOX"]["stock"]] == ["us"]
    assert rows["APP"]["available"] is None and rows["APP"]["stock"] is None


def test_sku_list_hides_warehouses_not_serving_the_channel(api_client, channel, catalog):
    catalog["eu"].channels.set([ChannelFactory()])
    coffee = by_code(api_client.get("/api/v1/skus/"))["COFFEE"]
    assert [s["warehouse"] for s in coffee["stock"]] == ["us"]
    assert coffee["available"] == 6


def test_sku_detail_and_filters(api_client, catalog):
    assert api_client.get("/api/v1/skus/MUG/").json()["available"] == 2
    assert api_client.get("/api/v1/skus/NOPE/").json()["error"]["code"] == "unknown_sku"
    assert list(by_code(api_client.get("/api/v1/skus/", {"code": "MUG"}))) == ["MUG"]


def test_sku_list_query_count_is_bounded(api_client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):
        small = api_client.get("/api/v1/skus/")
    for i in range(20):
        sku = SkuFactory()
        stock_on_hand(sku=sku, warehouse=catalog["us"], quantity=i + 1)
        bundle_sku([(sku, 1), (catalog["mug"], 1)])
    with django_assert_max_num_queries(9):
        big = api_client.get("/api/v1/skus/", {"page_size": 100})
    assert len(big.json()["results"]) > len(small.json()["results"])


def test_receipt_is_idempotent(warehouse_client, catalog):
    body = {"sku": "MUG", "warehouse": "us", "quantity": 5, "reference": "PO-1"}
    first = warehouse_client.post(
        "/api/v1/stock/receipts/", body, format="json", HTTP_IDEMPOTENCY_KEY="rcpt-1"
    )
    assert first.status_code == 201
    assert first.json()["on_hand"] == 7
    again = warehouse_client.post(
        "/api/v1/stock/receipts/", body, format="json", HTTP_IDEMPOTENCY_KEY="rcpt-1"
    )
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert StockMovement.objects.filter(kind="receipt", reference="PO-1").count() == 1


def test_receipt_refused_for_non_warehouse_channels(api_client, catalog):
    response = api_client.post(
        "/api/v1/stock/receipts/", {"sku": "MUG", "warehouse": "us", "quantity": 5}, format="json"
    )
    assert response.status_code == 403
    assert (
        not StockMovement.objects.filter(sku=catalog["mug"], kind="receipt")
        .exclude(reason="test stock")
        .exists()
    )


def test_receipt_unknown_sku_and_bundle(warehouse_client, catalog):
    response = warehouse_client.post(
        "/api/v1/stock/receipts/", {"sku": "X", "warehouse": "us", "quantity": 1}, format="json"
    )
    assert response.status_code == 404
    response = warehouse_client.post(
        "/api/v1/stock/receipts/", {"sku": "BOX", "warehouse": "us", "quantity": 1}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_stockable"


def test_adjustment_needs_reason_and_respects_allocations(warehouse_client, catalog):
    url = "/api/v1/stock/adjustments/"
    response = warehouse_client.post(
        url, {"sku": "COFFEE", "warehouse": "us", "quantity": -1}, format="json"
    )
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]
    response = warehouse_client.post(
        url, {"sku": "COFFEE", "warehouse": "us", "quantity": -7, "reason": "count"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_stock"
    response = warehouse_client.post(
        url, {"sku": "COFFEE", "warehouse": "us", "quantity": -2, "reason": "count"}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["on_hand"], response.json()["available"]) == (8, 4)
    assert (
        StockMovement.objects.filter(kind="adjustment", reason="count", actor_label="wms").count()
        == 1
    )


def test_movement_list_filters_and_bounded_queries(
    warehouse_client, catalog, django_assert_max_num_queries
):
    url = "/api/v1/stock/movements/"
    with django_assert_max_num_queries(6):
        response = warehouse_client.get(url, {"sku": "COFFEE"})
    rows = response.json()["results"]
    assert {r["sku"] for r in rows} == {"COFFEE"}
    assert {r["kind"] for r in rows} == {"receipt", "allocation"}
    allocation = warehouse_client.get(url, {"kind": "allocation"}).json()["results"]
    assert [(r["sku"], r["allocated_delta"], r["reference"]) for r in allocation] == [
        ("COFFEE", 4, "l1")
    ]
    assert {
        r["warehouse"] for r in warehouse_client.get(url, {"warehouse": "eu"}).json()["results"]
    } == {"eu"}
    assert (
        warehouse_client.get(url, {"created_after": "2999-01-01T00:00:00Z"}).json()["results"] == []
    )
    page = warehouse_client.get(url, {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]


def test_movement_list_refused_for_web_channels(api_client, catalog):
    assert api_client.get("/api/v1/stock/movements/").status_code == 403


def test_receipt_refused_at_a_warehouse_reserved_for_other_channels(warehouse_client, catalog):
    catalog["us"].channels.set([ChannelFactory(code="other-wms", kind=ChannelKind.WAREHOUSE)])
    response = warehouse_client.post(
        "/api/v1/stock/receipts/", {"sku": "MUG", "warehouse": "us", "quantity": 1}, format="json"
    )
    assert response.status_code == 403
    assert catalog["mug"].stock_levels.get(warehouse=catalog["us"]).on_hand == 2

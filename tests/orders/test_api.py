"""Channel API: place (with Idempotency-Key), retrieve, list, cancel, edit, notes, isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework import serializers

from customers.models import Customer, CustomerReference
from oms.core.api.serializers import ReusedFieldsMixin
from oms.core.models import IdempotencyRecord
from orders.api.serializers import OrderPlaceSerializer, OrderSerializer
from orders.models import Order
from tests.factories.core import ChannelFactory
from tests.factories.customers import CustomerFactory
from tests.factories.orders import ADDRESS, place_order, stocked_sku
from tests.orders.conftest import level

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku(warehouse):
    return stocked_sku(quantity=20, price=1500, warehouse=warehouse)


def _xmin(table: str, pk: int) -> int:
    """The id of the transaction that wrote the row."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text::bigint FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _body(sku, **extra):
    return {
        "external_id": "WEB-100",
        "customer": {"email": "Buyer@Example.com", "external_id": "C-1", "first_name": "Bea"},
        "lines": [{"sku": sku.code, "quantity": 2}],
        "shipping_address": ADDRESS,
        **extra,
    }


def test_place_creates_the_customer_and_the_order(api_client, channel, sku, warehouse):
    response = api_client.post("/api/v1/orders/", _body(sku), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "allocated" and body["number"].startswith("SO-")
    assert body["total"] == 3495 and body["lines"][0]["allocated_quantity"] == 2
    assert body["customer"]["email"] == "Buyer@Example.com"
    customer = Customer.objects.get(pk=body["customer"]["id"])
    assert CustomerReference.objects.filter(
        customer=customer, channel=channel, external_id="C-1"
    ).exists()
    assert level(sku, warehouse).allocated == 2


@pytest.mark.django_db(transaction=True)
def test_a_post_is_expected_at_intake_until_it_arrives(api_client, sku, warehouse, monkeypatch):
    from orders.services import grouping

    seen = []
    real = grouping._Group.place

    def place(group, ticket):
        seen.append(group._coming)  # still on its way when it reaches the queue
        return real(group, ticket)

    monkeypatch.setattr(grouping._Group, "place", place)
    assert api_client.post("/api/v1/orders/", _body(sku), format="json").status_code == 201
    assert api_client.post("/api/v1/orders/", {"lines": []}, format="json").status_code == 400
    assert seen == [1]  # the 400 never reached intake, and left nobody waiting for it
    assert grouping._group()._coming == 0


def test_an_order_body_over_the_upload_limit_is_413_with_a_message(api_client, sku, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api_client.post("/api/v1/orders/", _body(sku, notes="n" * 500), format="json")
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": "The request body is over 100 bytes.",
        "fields": {},
    }
    assert not Order.objects.exists()


def test_resent_external_id_answers_200_with_the_same_order(api_client, sku, warehouse):
    first = api_client.post("/api/v1/orders/", _body(sku), format="json")
    again = api_client.post("/api/v1/orders/", _body(sku), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1 and level(sku, warehouse).allocated == 2


def test_idempotency_key_replays_the_first_answer(api_client, sku, warehouse):
    body = _body(sku, external_id=None)
    body.pop("external_id")
    first = api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1 and level(sku, warehouse).allocated == 2


@pytest.mark.django_db(transaction=True)
def test_idempotency_key_is_claimed_in_the_orders_transaction(api_client, sku, warehouse, channel):
    """Intake claims the key inside the transaction that places the order (not in a commit
    of its own before it): the claim and the stored answer commit with the order."""
    body = _body(sku, external_id=None)
    body.pop("external_id")
    claims: list[bool] = []

    def spy(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "core_idempotencyrecord"'):
            claims.append(connection.in_atomic_block)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        first = api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-t")
    assert first.status_code == 201 and claims == [True]
    record = IdempotencyRecord.objects.get(channel=channel, key="k-t")
    assert (record.state, record.response_status) == ("complete", 201)
    assert record.response_body == first.json()
    assert _xmin("core_idempotencyrecord", record.pk) == _xmin("orders_order", first.json()["id"])


def test_same_key_with_another_order_is_409_and_places_nothing(api_client, sku, warehouse):
    body = _body(sku, external_id=None)
    body.pop("external_id")
    api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    body["lines"][0]["quantity"] = 1
    again = api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1 and level(sku, warehouse).allocated == 2


def test_a_refusal_before_intake_is_stored_and_replayed(api_client, sku, channel):
    """A body the serializer refuses never reaches intake's transaction: its key is claimed
    and the 400 stored after the answer, and a retry replays it."""
    body = {"lines": [], "shipping_address": ADDRESS}
    first = api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    again = api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert first.status_code == again.status_code == 400
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    record = IdempotencyRecord.objects.get(channel=channel, key="k-4")
    assert (record.state, record.response_status) == ("complete", 400)


def test_a_server_error_in_intake_leaves_the_key_free(api_client, sku, warehouse, monkeypatch):
    """The claim rolls back with the failed transaction: nothing is stored, and a retry
    places the order."""
    from orders.services import grouping

    real = grouping._place_many

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    body = _body(sku, external_id=None)
    body.pop("external_id")
    monkeypatch.setattr(grouping, "_place_many", broken)
    with pytest.raises(RuntimeError, match="on fire"):
        api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    assert not IdempotencyRecord.objects.exists() and Order.objects.count() == 0

    monkeypatch.setattr(grouping, "_place_many", real)
    retry = api_client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert Order.objects.count() == 1 and level(sku, warehouse).allocated == 2


def test_tampered_total_is_refused_with_a_clear_error(api_client, sku, warehouse):
    response = api_client.post("/api/v1/orders/", _body(sku, expected_total=100), format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "total_mismatch" and "3495" in error["message"]
    assert not Order.objects.exists() and level(sku, warehouse).allocated == 0


def test_stale_price_is_refused(api_client, sku):
    body = _body(sku, lines=[{"sku": sku.code, "quantity": 1, "unit_price": 1}])
    response = api_client.post("/api/v1/orders/", body, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "price_mismatch"


def test_out_of_stock_is_409_and_writes_nothing(api_client, sku, warehouse):
    response = api_client.post(
        "/api/v1/orders/", _body(sku, lines=[{"sku": sku.code, "quantity": 99}]), format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "out_of_stock"
    assert not Order.objects.exists() and level(sku, warehouse).allocated == 0


def test_bad_input_is_400(api_client, sku):
    missing = api_client.post("/api/v1/orders/", {"lines": []}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid"
    both = _body(sku, customer_id=1)
    assert api_client.post("/api/v1/orders/", both, format="json").status_code == 400
    bad_country = _body(sku, shipping_address={**ADDRESS, "country": "QQ"})
    response = api_client.post("/api/v1/orders/", bad_country, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_country"


def test_customer_id_must_be_visible_to_the_channel(api_client, channel, sku):
    stranger = CustomerFactory(source_channel=ChannelFactory())
    body = _body(sku)
    body.pop("customer")
    response = api_client.post(
        "/api/v1/orders/", {**body, "customer_id": stranger.pk}, format="json"
    )
    assert response.status_code == 404 and not Order.objects.exists()
    own = CustomerFactory(source_channel=channel)
    response = api_client.post("/api/v1/orders/", {**body, "customer_id": own.pk}, format="json")
    assert response.status_code == 201 and response.json()["customer"]["id"] == own.pk


def test_a_channel_sees_only_its_own_orders(api_client, channel, channel_client, sku):
    other = ChannelFactory()
    theirs = place_order(channel=other, lines=[(sku, 1)])
    mine = place_order(channel=channel, lines=[(sku, 1)])
    assert api_client.get(f"/api/v1/orders/{theirs.pk}/").status_code == 404
    assert (
        api_client.post(
            f"/api/v1/orders/{theirs.pk}/cancel/", {"reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert (
        api_client.post(
            f"/api/v1/orders/{theirs.pk}/edit/", {"delivery_option": "express"}, format="json"
        ).status_code
        == 404
    )
    listed = [o["id"] for o in api_client.get("/api/v1/orders/").json()["results"]]
    assert listed == [mine.pk]
    assert Order.objects.get(pk=theirs.pk).status == "allocated"
    assert [o["id"] for o in channel_client(other).get("/api/v1/orders/").json()["results"]] == [
        theirs.pk
    ]


def test_retrieve_has_lines_and_timeline(api_client, channel, sku):
    order = place_order(channel=channel, lines=[(sku, 2)])
    body = api_client.get(f"/api/v1/orders/{order.pk}/").json()
    assert body["lines"][0]["sku"] == sku.code
    assert [e["kind"] for e in body["events"]][:2] == ["placed", "status_changed"]


def test_order_output_is_what_drf_writes_with_fresh_fields(api_client, channel, sku, monkeypatch):
    """The order serializers reuse their fields across instances (ReusedFieldsMixin);
    byte for byte, they answer what DRF answers building the fields for each instance."""
    place_order(
        channel=channel,
        lines=[(sku, 2)],
        external_id="OUT-1",
        billing_address={**ADDRESS, "company": "Engines Ltd"},
        notes="Leave at the door",
    )
    body = {
        "customer_id": CustomerFactory(source_channel=channel).pk,
        "lines": [{"sku": sku.code, "quantity": 1, "discount": 100}],
        "shipping_address": ADDRESS,
        "delivery_option": "express",
    }
    placed = api_client.post("/api/v1/orders/", body, format="json")
    assert placed.status_code == 201, placed.json()
    urls = ["/api/v1/orders/", *(f"/api/v1/orders/{o.pk}/" for o in Order.objects.all())]
    reused = [api_client.get(url).content for url in urls]

    monkeypatch.setattr(ReusedFieldsMixin, "fields", serializers.Serializer.fields)
    assert [api_client.get(url).content for url in urls] == reused
    order = Order.objects.get(pk=placed.json()["id"])
    assert OrderSerializer(order).data == placed.json()


@pytest.mark.parametrize(
    "body",
    [
        {"customer_id": 1, "lines": [{"sku": " A-1 ", "quantity": 2}], "shipping_address": ADDRESS},
        {
            "external_id": "  X  ",
            "customer": {"email": "a@example.com", "external_id": "C", "locale": "de"},
            "currency": "eur",
            "lines": [{"sku": "A", "quantity": "3", "unit_price": 5, "discount": 0}] * 3,
            "shipping_address": {**ADDRESS, "phone": ""},
            "billing_address": ADDRESS,
            "delivery_option": "express",
            "notes": " n ",
            "expected_total": 10,
            "payment_pending": "true",
            "ignored": 1,
        },
        {"customer_id": 1, "customer": {"email": "a@example.com"}, "lines": []},
        {"customer": {"email": "nope"}, "lines": [{"sku": "", "quantity": 0}] * 201},
        {"lines": "x", "shipping_address": {"line1": None}, "delivery_option": "teleport"},
        {"lines": [{"quantity": -1, "sku": "x" * 65}], "billing_address": [], "notes": None},
        [],
    ],
)
def test_order_input_is_what_drf_validates_with_fresh_fields(body, monkeypatch):
    def validate():
        data = OrderPlaceSerializer(data=body)
        valid = data.is_valid()
        return valid, data.errors, data.validated_data if valid else None

    reused = validate()
    monkeypatch.setattr(ReusedFieldsMixin, "fields", serializers.Serializer.fields)
    assert validate() == reused


def test_list_filters(api_client, channel, sku):
    a = place_order(
        channel=channel,
        lines=[(sku, 1)],
        external_id="A-1",
        customer=CustomerFactory(email="x@example.com"),
    )
    b = place_order(channel=channel, lines=[(sku, 1)], external_id="B-1")
    api_client.post(f"/api/v1/orders/{b.pk}/cancel/", {"reason": "test"}, format="json")

    def ids(query):
        return [o["id"] for o in api_client.get(f"/api/v1/orders/?{query}").json()["results"]]

    assert ids("external_id=A-1") == [a.pk]
    assert ids("status=cancelled") == [b.pk]
    assert set(ids("status=cancelled&status=allocated")) == {a.pk, b.pk}
    assert ids("customer_email=X@EXAMPLE.COM") == [a.pk]
    assert ids("created_after=2999-01-01T00:00:00Z") == []


def test_list_and_retrieve_have_bounded_queries(
    api_client, channel, django_assert_max_num_queries, warehouse
):
    skus = [stocked_sku(quantity=50, warehouse=warehouse) for _ in range(3)]
    for _ in range(3):
        place_order(channel=channel, lines=[(s, 1) for s in skus])
    with django_assert_max_num_queries(6) as small:
        api_client.get("/api/v1/orders/")
    for _ in range(12):
        place_order(channel=channel, lines=[(s, 1) for s in skus])
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(api_client.get("/api/v1/orders/").json()["results"]) == 15
    order = Order.objects.filter(channel=channel).first()
    with django_assert_max_num_queries(6):
        api_client.get(f"/api/v1/orders/{order.pk}/")


def test_cancel_via_api(api_client, channel, sku, warehouse):
    order = place_order(channel=channel, lines=[(sku, 3)])
    assert (
        api_client.post(f"/api/v1/orders/{order.pk}/cancel/", {}, format="json").status_code == 400
    )
    response = api_client.post(
        f"/api/v1/orders/{order.pk}/cancel/", {"reason": "duplicate"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert level(sku, warehouse).allocated == 0
    again = api_client.post(
        f"/api/v1/orders/{order.pk}/cancel/", {"reason": "again"}, format="json"
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize("method", ["post", "patch"])
def test_edit_via_api(api_client, channel, sku, warehouse, method):
    order = place_order(channel=channel, lines=[(sku, 1)])
    line = order.lines.get()
    url = f"/api/v1/orders/{order.pk}/edit/" if method == "post" else f"/api/v1/orders/{order.pk}/"
    response = getattr(api_client, method)(
        url, {"quantities": [{"line_id": line.pk, "quantity": 4}], "reason": "more"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["lines"][0]["quantity"] == 4 and level(sku, warehouse).allocated == 4
    assert response.json()["events"][-1]["kind"] == "edited"
    empty = getattr(api_client, method)(url, {}, format="json")
    assert empty.status_code == 400


def test_note_via_api(api_client, channel, sku):
    order = place_order(channel=channel, lines=[(sku, 1)])
    response = api_client.post(
        f"/api/v1/orders/{order.pk}/notes/", {"text": "Call first"}, format="json"
    )
    assert response.status_code == 201 and response.json()["kind"] == "note"


@pytest.mark.django_db(transaction=True)
def test_placing_over_http_has_a_fixed_query_count(
    api_client, channel, django_assert_max_num_queries, without_upper_hooks, warehouse
):
    """Authentication 1 (+1 to note the key's use, at most once a minute), Idempotency-Key
    claim 1 (INSERT … ON CONFLICT, first in intake's transaction), customer visibility 1,
    intake 6 (see test_intake), the completion riding in intake's own write statement; the
    response reads the lines intake just wrote from memory = 10, for 1 or 10 lines. The
    callbacks of billing and fulfillment are theirs to count."""
    skus = [stocked_sku(quantity=50, warehouse=warehouse) for _ in range(10)]
    customer = CustomerFactory(source_channel=channel)
    for n, key in ((1, "a"), (10, "b")):
        body = {
            "customer_id": customer.pk,
            "lines": [{"sku": s.code, "quantity": 1} for s in skus[:n]],
            "shipping_address": ADDRESS,
        }
        with django_assert_max_num_queries(10):
            response = api_client.post(
                "/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=key
            )
        assert response.status_code == 201 and len(response.json()["lines"]) == n


def test_inline_customer_without_external_id_reuses_the_email_or_creates_one(
    api_client, channel, sku
):
    known = CustomerFactory(email="known@example.com")
    body = _body(sku)
    body.pop("external_id")
    body["customer"] = {"email": "KNOWN@example.com"}
    response = api_client.post("/api/v1/orders/", body, format="json")
    assert response.status_code == 201 and response.json()["customer"]["id"] == known.pk
    body["customer"] = {"email": "fresh@example.com", "first_name": "Fresh"}
    response = api_client.post("/api/v1/orders/", body, format="json")
    created = Customer.objects.get(email="fresh@example.com")
    assert response.json()["customer"]["id"] == created.pk and created.source_channel == channel

"""Idempotency-Key on POST: replay, 409 on a different body, one piece of work under races."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from customers.models import Customer
from oms.core.models import IdempotencyRecord
from oms.core.services import api_key_create
from tests.factories.core import ChannelFactory


def _body(n: int = 1) -> dict:
    return {"email": f"idem{n}@example.com", "first_name": "Ida"}


@pytest.mark.django_db
def test_retry_replays_the_first_response(api_client):
    first = api_client.post(
        "/api/v1/customers/", _body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = api_client.post(
        "/api/v1/customers/", _body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_409(api_client):
    api_client.post("/api/v1/customers/", _body(1), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = api_client.post(
        "/api/v1/customers/", _body(2), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert list(Customer.objects.values_list("email", flat=True)) == ["idem1@example.com"]


@pytest.mark.django_db
def test_keys_are_scoped_per_channel(channel_client):
    a, b = channel_client(ChannelFactory()), channel_client(ChannelFactory())
    assert (
        a.post(
            "/api/v1/customers/", _body(1), format="json", HTTP_IDEMPOTENCY_KEY="same"
        ).status_code
        == 201
    )
    assert (
        b.post(
            "/api/v1/customers/", _body(2), format="json", HTTP_IDEMPOTENCY_KEY="same"
        ).status_code
        == 201
    )
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_a_4xx_answer_is_stored_and_replayed(api_client):
    bad = {"email": "nope"}
    first = api_client.post("/api/v1/customers/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    again = api_client.post("/api/v1/customers/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()


@pytest.mark.django_db
def test_without_a_key_each_post_is_new_work(api_client):
    api_client.post("/api/v1/customers/", _body(1), format="json")
    response = api_client.post("/api/v1/customers/", _body(1), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_email"
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_overlong_key_is_400(api_client):
    response = api_client.post(
        "/api/v1/customers/", _body(), format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
    )
    assert response.status_code == 400
    assert Customer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_create_one_customer():
    channel = ChannelFactory()
    _, secret = api_key_create(channel=channel, name="race")
    barrier = threading.Barrier(6)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        try:
            barrier.wait()
            response = client.post(
                "/api/v1/customers/", _body(7), format="json", HTTP_IDEMPOTENCY_KEY="race-key"
            )
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Customer.objects.filter(email="idem7@example.com").count() == 1
    assert [code for code, _ in results] == [201] * 6
    ids = {body["id"] for _, body in results}
    assert len(ids) == 1
    assert IdempotencyRecord.objects.get(channel=channel, key="race-key").state == "complete"


@pytest.mark.django_db
def test_a_server_error_frees_the_key_for_a_retry(api_client, monkeypatch):
    from customers import services

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    real = services.customer_create
    monkeypatch.setattr(services, "customer_create", broken)
    with pytest.raises(RuntimeError):
        api_client.post("/api/v1/customers/", _body(), format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    assert not IdempotencyRecord.objects.exists()

    monkeypatch.setattr(services, "customer_create", real)
    retry = api_client.post(
        "/api/v1/customers/", _body(), format="json", HTTP_IDEMPOTENCY_KEY="k-5"
    )
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_claim_and_completion_store_what_a_retry_replays(channel):
    from oms.core.services import idempotency_begin, idempotency_complete

    claim = {"channel": channel, "key": "k-6", "method": "POST", "path": "/x/", "request_hash": "h"}
    record, created = idempotency_begin(**claim)
    assert created and record.pk
    again, created = idempotency_begin(**claim)
    assert not created and again.pk == record.pk and again.state == "in_progress"

    body = {"id": 1, "when": "2030-01-02T03:04:05Z", "lines": [{"n": "é"}], "none": None}
    idempotency_complete(record=record, status=201, body=body)
    stored = IdempotencyRecord.objects.get(pk=record.pk)
    assert (stored.state, stored.response_status, stored.response_body) == ("complete", 201, body)
    assert stored.created_at <= stored.updated_at


@pytest.mark.django_db
def test_an_empty_answer_is_stored_as_null(channel):
    from oms.core.services import idempotency_begin, idempotency_complete

    record, _ = idempotency_begin(
        channel=channel, key="k-7", method="POST", path="/", request_hash="h"
    )
    idempotency_complete(record=record, status=204, body=None)
    assert IdempotencyRecord.objects.filter(pk=record.pk, response_body__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_claims_wait_for_a_concurrent_claim_in_key_order_without_deadlock():
    """Claims made inside transactions hold their keys until commit. B claims [k2, k1] while
    A holds k1: B queues on k1 first (keys go in order) holding nothing, so A can still
    claim k2 and commit; B then finds both taken. Inserted in the order given, B would hold
    k2 while waiting for k1, and A's claim of k2 would deadlock."""
    from django.db import transaction

    from oms.core.services import idempotency_claim_many
    from tests.concurrency import backend_pid, race, wait_until_blocked

    channel = ChannelFactory()

    def record(key: str) -> IdempotencyRecord:
        return IdempotencyRecord(
            channel=channel, key=key, method="POST", path="/x/", request_hash="h"
        )

    b_backend: list[int] = []
    results: dict[str, list[bool]] = {}
    holding = threading.Event()

    def a() -> None:
        with transaction.atomic():
            results["a1"] = idempotency_claim_many(records=[record("k1")])
            holding.set()
            wait_until_blocked(b_backend, "second claimer")
            results["a2"] = idempotency_claim_many(records=[record("k2")])

    def b() -> None:
        b_backend.append(backend_pid())
        assert holding.wait(10)
        results["b"] = idempotency_claim_many(records=[record("k2"), record("k1")])

    assert race({"a": a, "b": b}) == {"a": "ok", "b": "ok"}
    assert results == {"a1": [True], "a2": [True], "b": [False, False]}
    assert IdempotencyRecord.objects.filter(channel=channel).count() == 2

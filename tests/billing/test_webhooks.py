"""Stripe webhooks at /billing/stripe/webhook/, signed with the real scheme: signature
checks, exactly-once processing under concurrent duplicate deliveries, out-of-order events
(the handler re-reads the PaymentIntent from Stripe), and the other event types."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client

from billing.models import (
    AttemptState,
    BillingEvent,
    BillingEventKind,
    InvoiceStatus,
    PaymentAttempt,
    PaymentMethod,
    Refund,
    WebhookEvent,
)
from billing.services import invoice_pay
from tests.billing.conftest import WEBHOOK_SECRET
from tests.billing.stripe_helpers import CARD_DECLINE, CARD_OK, create_card, save_card
from tests.factories.billing import ACTOR, customer_in, make_invoice
from tests.stripe_server import event_payload, sign_payload

URL = "/billing/stripe/webhook/"


def deliver(
    client: Client, payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
):
    return client.post(
        URL, data=payload, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(payload, secret, timestamp=timestamp),
    )  # fmt: skip


def pi_event(gateway, pi_id: str, type_: str, event_id: str, **override) -> str:
    obj = gateway.client.v1.payment_intents.retrieve(pi_id).to_dict()
    obj.update(override)
    return event_payload(event_id=event_id, type=type_, obj=obj)


def _paid_invoice(gateway):
    customer = customer_in("DE")
    save_card(gateway, customer, CARD_OK)
    invoice = make_invoice(customer=customer, amounts=[2000])
    attempt = invoice_pay(invoice=invoice, actor=ACTOR)
    assert attempt.state == AttemptState.SUCCEEDED
    return invoice, attempt


def test_bad_or_stale_signature_is_refused_and_changes_nothing(db, stripe_gateway, client):
    invoice, attempt = _paid_invoice(stripe_gateway)
    payload = pi_event(
        stripe_gateway,
        attempt.stripe_payment_intent_id,
        "payment_intent.payment_failed",
        "evt_bad_1",
    )
    events_before = BillingEvent.objects.count()

    forged = deliver(client, payload, secret="whsec_someone_else")
    stale = deliver(client, payload, timestamp=int(time.time()) - 3600)
    unsigned = client.post(URL, data=payload, content_type="application/json")
    tampered = client.post(
        URL, data=payload.replace("2000", "1"), content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(payload, WEBHOOK_SECRET),
    )  # fmt: skip

    assert [r.status_code for r in (forged, stale, unsigned, tampered)] == [400, 400, 400, 400]
    assert forged.json()["error"]["code"] == "bad_signature"
    assert WebhookEvent.objects.count() == 0
    assert BillingEvent.objects.count() == events_before


def test_same_event_twice_is_stored_and_processed_once(
    db, stripe_gateway, client, django_capture_on_commit_callbacks
):
    invoice, attempt = _paid_invoice(stripe_gateway)
    payload = pi_event(
        stripe_gateway, attempt.stripe_payment_intent_id, "payment_intent.succeeded", "evt_dup_1"
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(client, payload)
        second = deliver(client, payload)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    record = WebhookEvent.objects.get()
    assert record.processed_at is not None and record.process_attempts == 1


@pytest.fixture
def lost_success(transactional_db, stripe_settings, stripe_gateway, monkeypatch):
    """Stripe charged, but the worker died before recording it or even the PI id."""
    import billing.services.payments as payments

    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    invoice = make_invoice(customer=customer, amounts=[3300])
    monkeypatch.setattr(
        payments,
        "payment_attempt_complete",
        lambda **kw: (_ for _ in ()).throw(SystemExit("killed")),
    )
    with pytest.raises(SystemExit):
        invoice_pay(invoice=invoice, actor=ACTOR)
    monkeypatch.undo()
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert attempt.state == AttemptState.PENDING and attempt.stripe_payment_intent_id is None
    pi = next(
        p for p in stripe_gateway.client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if p.metadata.to_dict().get("oms_attempt_key") == attempt.idempotency_key
    )  # fmt: skip
    return invoice, attempt, pi.id


def test_concurrent_duplicate_deliveries_take_effect_once(lost_success, stripe_gateway):
    """Two deliveries of one event at the same moment, on two real connections: one row,
    one payment recorded, the invoice paid once (found through the metadata key)."""
    invoice, attempt, pi_id = lost_success
    payload = pi_event(stripe_gateway, pi_id, "payment_intent.succeeded", "evt_concurrent_1")
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def post() -> None:
        try:
            barrier.wait()
            answers.append(deliver(Client(), payload).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert answers == [200, 200, 200, 200]
    assert WebhookEvent.objects.filter(stripe_event_id="evt_concurrent_1").count() == 1
    assert WebhookEvent.objects.get().processed_at is not None
    attempt.refresh_from_db()
    invoice.refresh_from_db()
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.SUCCEEDED, pi_id)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 3300)
    assert (
        BillingEvent.objects.filter(
            invoice=invoice, kind=BillingEventKind.PAYMENT_SUCCEEDED
        ).count()
        == 1
    )


def test_out_of_order_events_end_in_stripes_current_state(
    db, stripe_gateway, client, django_capture_on_commit_callbacks
):
    """succeeded, then a stale payment_failed and requires_action: the handler re-reads the
    PaymentIntent, which says succeeded, so the invoice stays paid once."""
    invoice, attempt = _paid_invoice(stripe_gateway)
    pi = attempt.stripe_payment_intent_id
    stale_fail = pi_event(
        stripe_gateway, pi, "payment_intent.payment_failed", "evt_ooo_2",
        status="requires_payment_method", last_payment_error={"code": "card_declined"},
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, pi_event(stripe_gateway, pi, "payment_intent.succeeded", "evt_ooo_1"))
        deliver(client, stale_fail)
        deliver(
            client,
            pi_event(
                stripe_gateway,
                pi,
                "payment_intent.requires_action",
                "evt_ooo_3",
                status="requires_action",
            ),
        )
    attempt.refresh_from_db()
    invoice.refresh_from_db()
    assert attempt.state == AttemptState.SUCCEEDED
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 2000)
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 3
    assert (
        BillingEvent.objects.filter(invoice=invoice, kind=BillingEventKind.PAYMENT_FAILED).count()
        == 0
    )


def test_failure_event_arriving_first_does_not_override_a_real_failure_or_success(
    db, stripe_gateway, client, django_capture_on_commit_callbacks
):
    """A decline recorded by the caller, then the failed event: nothing changes twice."""
    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_DECLINE)
    invoice = make_invoice(customer=customer, amounts=[900])
    with django_capture_on_commit_callbacks(execute=True):
        attempt = invoice_pay(invoice=invoice, actor=ACTOR)
        deliver(
            client,
            pi_event(
                stripe_gateway,
                attempt.stripe_payment_intent_id,
                "payment_intent.payment_failed",
                "evt_f_1",
            ),
        )
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.FAILED
    assert (
        BillingEvent.objects.filter(invoice=invoice, kind=BillingEventKind.PAYMENT_FAILED).count()
        == 1
    )
    assert invoice.dunning_case.failures == 1


def test_setup_intent_succeeded_saves_the_card_and_detached_removes_it(
    db, stripe_gateway, client, django_capture_on_commit_callbacks
):
    from billing.services import setup_intent_create

    customer = customer_in("DE")
    si = setup_intent_create(customer=customer)
    pm_id = create_card(stripe_gateway, CARD_OK)
    confirmed = stripe_gateway.client.v1.setup_intents.confirm(
        si.id, params={"payment_method": pm_id}
    ).to_dict()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(
            client, event_payload(event_id="evt_si_1", type="setup_intent.succeeded", obj=confirmed)
        )
    pm = PaymentMethod.objects.get(stripe_payment_method_id=pm_id)
    assert (pm.customer_id, pm.is_default, pm.last4, pm.exp_year) == (
        customer.pk,
        True,
        "4242",
        2034,
    )

    detached = {"id": pm_id, "object": "payment_method", "customer": None}
    with django_capture_on_commit_callbacks(execute=True):
        deliver(
            client, event_payload(event_id="evt_pm_1", type="payment_method.detached", obj=detached)
        )
    pm.refresh_from_db()
    assert pm.detached_at is not None and not pm.is_default


def test_dashboard_refund_and_dispute_are_recorded(
    db, stripe_gateway, client, django_capture_on_commit_callbacks
):
    invoice, attempt = _paid_invoice(stripe_gateway)
    stripe_gateway.refund(
        payment_intent_id=attempt.stripe_payment_intent_id, amount=500, idempotency_key="dash-1"
    )
    charge = {
        "id": attempt.stripe_charge_id or "ch_x",
        "object": "charge",
        "payment_intent": attempt.stripe_payment_intent_id,
        "amount_refunded": 500,
    }
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, event_payload(event_id="evt_ref_1", type="charge.refunded", obj=charge))
        deliver(
            client, event_payload(event_id="evt_ref_2", type="charge.refunded", obj=charge)
        )  # a replay
        deliver(
            client,
            event_payload(
                event_id="evt_dp_1", type="charge.dispute.created",
                obj={"id": "dp_1", "object": "dispute", "payment_intent": attempt.stripe_payment_intent_id, "amount": 2000, "reason": "fraudulent"},
            ),
        )  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.amount_refunded == 500
    assert list(
        Refund.objects.filter(invoice=invoice).values_list("amount", "external", "state")
    ) == [(500, True, "succeeded")]
    assert BillingEvent.objects.filter(invoice=invoice, kind=BillingEventKind.DISPUTE).count() == 1


def test_localstripe_delivers_signed_webhooks_to_our_endpoint(live_server, settings):
    """End to end: localstripe itself signs and POSTs payment_intent.succeeded to the live
    endpoint; the event is verified, stored once and processed (a no-op: already paid)."""
    from billing.gateway import reset_gateway
    from tests.stripe_server import LocalStripe

    server = LocalStripe().start()  # its own instance: the webhook registration dies with it
    try:
        settings.STRIPE_API_BASE, settings.STRIPE_API_KEY = server.url, "sk_test_live"
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.OMS_STRIPE_MAX_NETWORK_RETRIES = 0
        reset_gateway()
        server.register_webhook(name="oms", url=f"{live_server.url}{URL}", secret=WEBHOOK_SECRET)
        from billing.gateway import get_gateway

        invoice, attempt = _paid_invoice(get_gateway())
        deadline = time.monotonic() + 15
        record = None
        while time.monotonic() < deadline and record is None:
            record = WebhookEvent.objects.filter(
                type="payment_intent.succeeded",
                object_id=attempt.stripe_payment_intent_id,
                processed_at__isnull=False,
            ).first()
            time.sleep(0.2)
        assert record is not None, "localstripe did not deliver the webhook"
        assert record.error == ""
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, 2000)
        assert (
            BillingEvent.objects.filter(
                invoice=invoice, kind=BillingEventKind.PAYMENT_SUCCEEDED
            ).count()
            == 1
        )
    finally:
        server.stop()
        reset_gateway()


def test_a_failed_event_keeps_its_error_and_is_retried(
    db, client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from billing.services import webhook_retry_unprocessed
    from billing.services import webhooks as webhook_services

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    calls: list[str] = []

    def flaky(obj, gateway):
        calls.append(obj["id"])
        if len(calls) == 1:
            raise RuntimeError("Stripe was unreachable")

    monkeypatch.setitem(webhook_services.HANDLERS, "charge.dispute.created", flaky)
    payload = event_payload(
        event_id="evt_flaky_1",
        type="charge.dispute.created",
        obj={"id": "dp_flaky", "object": "dispute"},
    )
    from billing.gateway import InProcessGateway, use_gateway

    with use_gateway(InProcessGateway()), django_capture_on_commit_callbacks(execute=True):
        assert deliver(client, payload).status_code == 200  # acknowledged: we have it
    record = WebhookEvent.objects.get(stripe_event_id="evt_flaky_1")
    assert (
        record.processed_at is None
        and "unreachable" in record.error
        and record.process_attempts == 1
    )

    with use_gateway(InProcessGateway()):
        assert webhook_retry_unprocessed(older_than_seconds=0) == 1
    record.refresh_from_db()
    assert (
        record.processed_at is not None and record.error == "" and calls == ["dp_flaky", "dp_flaky"]
    )
    assert webhook_retry_unprocessed(older_than_seconds=0) == 0

"""Channel API (own customers only, bounded queries), the admin console and its actions, the
printable invoice page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from billing.models import AttemptState, BillingAccount, InvoiceStatus, PaymentAttempt
from billing.notifications import invoice_token
from billing.services import invoice_pay
from tests.billing.stripe_helpers import CARD_OK, save_card
from tests.factories.billing import ACTOR, customer_in, make_invoice
from tests.factories.core import ChannelFactory


def _own_customer(channel, country="DE"):
    customer = customer_in(country)
    customer.source_channel = channel
    customer.save(update_fields=["source_channel"])
    return customer


def test_channel_sees_only_its_customers_invoices(db, channel, api_client):
    mine = make_invoice(customer=_own_customer(channel), amounts=[1000, 250])
    other = make_invoice(customer=_own_customer(ChannelFactory()), amounts=[999])

    listing = api_client.get("/api/v1/invoices/")
    assert listing.status_code == 200
    assert [row["number"] for row in listing.json()["results"]] == [mine.number]
    row = listing.json()["results"][0]
    assert (row["total"], row["amount_due"], row["status"], len(row["lines"])) == (
        1250,
        1250,
        "open",
        2,
    )

    assert api_client.get(f"/api/v1/invoices/{mine.pk}/").json()["number"] == mine.number
    missing = api_client.get(f"/api/v1/invoices/{other.pk}/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api_client.get("/api/v1/invoices/", {"status": "paid"}).json()["results"] == []


def test_invoice_and_payment_lists_have_bounded_queries(
    db, channel, api_client, django_assert_max_num_queries
):
    from billing.gateway import InProcessGateway

    gateway = InProcessGateway()
    for _ in range(6):
        customer = _own_customer(channel)
        gateway_pm = gateway.add_card(CARD_OK)
        from billing.services import payment_method_save

        payment_method_save(customer=customer, stripe_payment_method_id=gateway_pm, brand="visa", last4="4242",
                            exp_month=1, exp_year=2035, actor=ACTOR, retry_dunning=False)  # fmt: skip
        invoice = make_invoice(customer=customer, amounts=[500, 600, 700])
        invoice_pay(invoice=invoice, actor=ACTOR, gateway=gateway)

    with django_assert_max_num_queries(10):
        invoices = api_client.get("/api/v1/invoices/")
    with django_assert_max_num_queries(6):
        payments = api_client.get("/api/v1/payments/")
    assert len(invoices.json()["results"]) == 6
    assert {p["state"] for p in payments.json()["results"]} == {"succeeded"}
    assert payments.json()["results"][0]["card"] == "visa 4242"
    one = payments.json()["results"][0]["id"]
    assert api_client.get(f"/api/v1/payments/{one}/").json()["id"] == one


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    client.force_login(user)
    return client


def test_admin_pages_render(staff_client, stripe_gateway):
    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    invoice = make_invoice(customer=customer, amounts=[1500])
    attempt = invoice_pay(invoice=invoice, actor=ACTOR)
    for url in (
        reverse("admin:billing_invoice_changelist"),
        reverse("admin:billing_invoice_change", args=[invoice.pk]),
        reverse("admin:billing_paymentattempt_changelist"),
        reverse("admin:billing_paymentattempt_change", args=[attempt.pk]),
        reverse("admin:billing_webhookevent_changelist"),
        reverse("admin:billing_dunningcase_changelist"),
        reverse("admin:billing_taxrate_changelist"),
        reverse("admin:billing_billingaccount_add"),
    ):
        assert staff_client.get(url).status_code == 200, url
    page = staff_client.get(
        reverse("admin:billing_invoice_change", args=[invoice.pk])
    ).content.decode()
    assert attempt.stripe_payment_intent_id in page


def test_admin_refund_action_refunds_through_the_service(staff_client, stripe_gateway):
    customer = customer_in("DE")
    save_card(stripe_gateway, customer, CARD_OK)
    invoice = make_invoice(customer=customer, amounts=[1500])
    invoice_pay(invoice=invoice, actor=ACTOR)
    response = staff_client.post(
        reverse("admin:billing_invoice_changelist"),
        {
            "action": "action_refund",
            "_selected_action": [invoice.pk],
            "apply": "1",
            "amount": "400",
            "reason": "Broken lid",
        },
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.amount_refunded == 400
    assert invoice.events.filter(
        kind="refund_created", actor_kind="user", actor_label="ops"
    ).exists()


def test_admin_retry_now_and_void_actions(staff_client, stripe_gateway):
    customer = customer_in("DE")
    invoice = make_invoice(customer=customer, amounts=[800])
    changelist = reverse("admin:billing_invoice_changelist")
    # No card yet: the retry is recorded as a failed attempt and reported.
    staff_client.post(
        changelist,
        {"action": "action_retry_payment_now", "_selected_action": [invoice.pk], "apply": "1"},
    )
    assert PaymentAttempt.objects.get(invoice=invoice).decline_code == "no_payment_method"
    save_card(stripe_gateway, customer, CARD_OK)
    staff_client.post(
        changelist,
        {"action": "action_retry_payment_now", "_selected_action": [invoice.pk], "apply": "1"},
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert PaymentAttempt.objects.filter(invoice=invoice, state=AttemptState.SUCCEEDED).count() == 1

    other = make_invoice(customer=customer, amounts=[100])
    staff_client.post(
        changelist,
        {
            "action": "action_void_invoices",
            "_selected_action": [other.pk],
            "apply": "1",
            "reason": "Duplicate",
        },
    )
    other.refresh_from_db()
    assert other.status == InvoiceStatus.VOID


def test_admin_billing_account_flags_go_through_the_service(staff_client):
    customer = customer_in("DE")
    staff_client.post(
        reverse("admin:billing_billingaccount_add"),
        {
            "customer": customer.pk,
            "auto_pay": "",
            "no_dunning": "on",
            "written_off": "",
            "tax_exempt": "",
            "notes": "VIP",
        },
    )
    account = BillingAccount.objects.get(customer=customer)
    assert (account.auto_pay, account.no_dunning) == (False, True)
    from billing.models import BillingEvent

    assert BillingEvent.objects.filter(customer_id=customer.pk, kind="account_updated").exists()


def test_printable_invoice_for_staff_and_by_signed_link(staff_client, client, db):
    invoice = make_invoice(amounts=[1234])
    page = staff_client.get(reverse("billing:invoice-print", args=[invoice.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert invoice.number in html and "@media print" in html and "12.34 EUR" in html
    client.logout()
    assert (
        client.get(reverse("billing:invoice-print", args=[invoice.pk])).status_code == 302
    )  # staff only
    assert (
        client.get(reverse("billing:invoice-public", args=[invoice_token(invoice.pk)])).status_code
        == 200
    )
    assert client.get(reverse("billing:invoice-public", args=["forged-token"])).status_code == 404

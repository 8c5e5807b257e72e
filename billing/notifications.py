"""Customer emails from billing. Called after commit (``oms.core.transactions.on_commit``)
with ids, so a rolled-back change never sends mail. Links carry a signed token instead of
requiring a login: the portal page they open shows one invoice and what to do about it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from . import conf
from .models import Invoice, PaymentAttempt

logger = logging.getLogger(__name__)

SALT = "billing.portal"


def invoice_token(invoice_id: int) -> str:
    return signing.dumps({"invoice": invoice_id}, salt=SALT)


def invoice_from_token(token: str, *, max_age_days: int = 90) -> int | None:
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age_days * 86400)
    except signing.BadSignature:
        return None
    return int(data["invoice"]) if isinstance(data, dict) and "invoice" in data else None


def customer_card_token(customer_id: int) -> str:
    return signing.dumps({"customer": customer_id}, salt=SALT)


def customer_from_card_token(token: str, *, max_age_days: int = 60) -> int | None:
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age_days * 86400)
    except signing.BadSignature:
        return None
    return int(data["customer"]) if isinstance(data, dict) and "customer" in data else None


def _absolute(path: str) -> str:
    return settings.OMS_PUBLIC_URL.rstrip("/") + path


def links(invoice_id: int) -> dict[str, str]:
    token = invoice_token(invoice_id)
    return {
        "invoice_url": _absolute(reverse("billing:invoice-public", args=[token])),
        "pay_url": _absolute(reverse("billing:pay", args=[token])),
        "card_url": _absolute(reverse("billing:card", args=[token])),
    }


def _send(template: str, *, invoice: Invoice, subject: str, **context: object) -> None:
    body = render_to_string(
        f"billing/email/{template}.txt",
        {
            "invoice": invoice,
            "customer": invoice.customer,
            "seller": conf.get("OMS_INVOICE_SELLER"),
            **links(invoice.pk),
            **context,
        },
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invoice.customer.email])


def _invoice(invoice_id: int) -> Invoice:
    return Invoice.objects.select_related("customer").get(pk=invoice_id)


def send_invoice_email(invoice_id: int) -> None:
    invoice = _invoice(invoice_id)
    lines = list(invoice.lines.order_by("position", "id"))
    _send("invoice", invoice=invoice, subject=f"Invoice {invoice.number}", lines=lines)


def send_payment_failed_email(invoice_id: int, attempt_id: int) -> None:
    invoice = _invoice(invoice_id)
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    case = getattr(invoice, "dunning_case", None) if hasattr(invoice, "dunning_case") else None
    _send(
        "payment_failed",
        invoice=invoice,
        subject=f"Payment for {invoice.number} failed — please update your card",
        attempt=attempt,
        next_retry_at=case.next_retry_at if case else None,
    )


def send_action_required_email(invoice_id: int, attempt_id: int) -> None:
    invoice = _invoice(invoice_id)
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    _send(
        "action_required",
        invoice=invoice,
        subject=f"Your bank needs you to confirm the payment for {invoice.number}",
        attempt=attempt,
    )


def send_dunning_exhausted_email(invoice_id: int) -> None:
    invoice = _invoice(invoice_id)
    case = invoice.dunning_case
    _send(
        "dunning_exhausted",
        invoice=invoice,
        subject=f"We could not collect {invoice.number}",
        case=case,
    )


def send_payment_receipt_email(invoice_id: int, attempt_id: int) -> None:
    invoice = _invoice(invoice_id)
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    _send(
        "receipt",
        invoice=invoice,
        subject=f"Payment received for {invoice.number}",
        attempt=attempt,
    )


def send_dispute_alert(invoice_id: int, dispute_id: str) -> None:
    invoice = _invoice(invoice_id)
    to = getattr(settings, "OMS_BILLING_ALERT_EMAIL", settings.DEFAULT_FROM_EMAIL)
    send_mail(
        f"Dispute {dispute_id} on {invoice.number}",
        f"A payment for invoice {invoice.number} ({invoice.customer.email}) is disputed: {dispute_id}.",
        settings.DEFAULT_FROM_EMAIL,
        [to],
    )


def send_card_expiring_email(payment_method_id: int) -> None:
    from .models import PaymentMethod

    pm = PaymentMethod.objects.select_related("customer").get(pk=payment_method_id)
    url = _absolute(reverse("billing:customer-card", args=[customer_card_token(pm.customer_id)]))
    body = render_to_string(
        "billing/email/card_expiring.txt", {"customer": pm.customer, "card": pm, "card_url": url}
    )
    send_mail(
        f"Your card ending {pm.last4} expires soon",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [pm.customer.email],
    )

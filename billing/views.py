"""Pages: the Stripe webhook endpoint, the printable invoice (staff, or by signed link), and
the customer pages the emails link to (confirm a payment the bank wants authenticated,
update the card)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from oms.core.errors import ApplicationError

from . import conf, notifications, selectors
from .gateway import GatewayError
from .models import AttemptState, Invoice
from .services import SignatureError, setup_intent_create, webhook_receive


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, store once, answer at once; the processing runs after commit."""
    signature = request.headers.get("Stripe-Signature", "")
    try:
        record, created = webhook_receive(payload=request.body, signature=signature)
    except SignatureError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=400)
    return JsonResponse({"received": True, "id": record.stripe_event_id, "duplicate": not created})


def _invoice_context(invoice: Invoice) -> dict[str, object]:
    return {
        "invoice": invoice,
        "seller": conf.get("OMS_INVOICE_SELLER"),
        "lines": list(invoice.lines.all()),
    }


@staff_member_required
def invoice_print(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        invoice = selectors.invoice_detail(pk=pk)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice") from None
    return render(request, "billing/invoice.html", _invoice_context(invoice))


def _from_token(token: str) -> Invoice:
    invoice_id = notifications.invoice_from_token(token)
    if invoice_id is None:
        raise Http404("This link is not valid (or has expired).")
    try:
        return selectors.invoice_detail(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice") from None


def invoice_public(request: HttpRequest, token: str) -> HttpResponse:
    return render(request, "billing/invoice.html", _invoice_context(_from_token(token)))


def pay(request: HttpRequest, token: str) -> HttpResponse:
    """What the customer must do about an unpaid invoice. When the bank wants the customer
    present (3-D Secure), Stripe.js confirms the PaymentIntent here; the result reaches us
    by webhook (payment_intent.succeeded)."""
    invoice = _from_token(token)
    attempts = list(invoice.payment_attempts.all())
    pending_action = next(
        (a for a in reversed(attempts) if a.state == AttemptState.REQUIRES_ACTION), None
    )
    return render(
        request,
        "billing/pay.html",
        {
            "invoice": invoice,
            "attempt": pending_action,
            "last_attempt": attempts[-1] if attempts else None,
            "card_url": notifications.links(invoice.pk)["card_url"],
            "publishable_key": conf.get("STRIPE_PUBLISHABLE_KEY"),
            "stripe_js_url": _stripe_js_url(),
        },
    )


def card(request: HttpRequest, token: str) -> HttpResponse:
    """Save a new card (a SetupIntent confirmed with Stripe.js). Stripe then sends
    setup_intent.succeeded; we save the card and retry unpaid invoices at once."""
    invoice = _from_token(token)
    setup_intent = None
    error = ""
    try:
        setup_intent = setup_intent_create(customer=invoice.customer)
    except (GatewayError, ApplicationError) as exc:
        error = str(exc)
    return render(
        request,
        "billing/card.html",
        {
            "invoice": invoice,
            "setup_intent": setup_intent,
            "error": error,
            "publishable_key": conf.get("STRIPE_PUBLISHABLE_KEY"),
            "stripe_js_url": _stripe_js_url(),
        },
    )


def customer_card(request: HttpRequest, token: str) -> HttpResponse:
    """The same card form for a customer without an unpaid invoice (expiring-card email)."""
    from customers.models import Customer

    customer_id = notifications.customer_from_card_token(token)
    customer = Customer.objects.filter(pk=customer_id).first() if customer_id else None
    if customer is None:
        raise Http404("This link is not valid (or has expired).")
    setup_intent = None
    error = ""
    try:
        setup_intent = setup_intent_create(customer=customer)
    except (GatewayError, ApplicationError) as exc:
        error = str(exc)
    return render(
        request,
        "billing/card.html",
        {
            "invoice": None,
            "setup_intent": setup_intent,
            "error": error,
            "publishable_key": conf.get("STRIPE_PUBLISHABLE_KEY"),
            "stripe_js_url": _stripe_js_url(),
        },
    )


def _stripe_js_url() -> str:
    from django.conf import settings

    return getattr(settings, "STRIPE_JS_URL", "https://js.stripe.com/v3/")

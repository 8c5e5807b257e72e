"""Portal pages. Every view resolves the customer from the login (``customer_required``)
and reads only that customer's rows; writes go through the owning app's services."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from billing import notifications as billing_notifications
from billing.models import Invoice, InvoiceStatus
from billing.selectors import payment_method_default
from customers import services as customer_services
from customers.models import Customer
from fulfillment import services as fulfillment_services
from oms.core.actors import Actor
from oms.core.errors import ApplicationError
from oms.core.money import Money
from orders.models import Order
from subscriptions.models import LIVE_STATUSES, PlanVersion, Subscription, SubscriptionStatus
from subscriptions.periods import describe_interval
from subscriptions.selectors import Outcome, upcoming_renewal
from subscriptions.services import ChangePreview

from . import selectors
from .accounts import customer_required
from .changes import CHANGES, available_changes
from .forms import AddressForm, ProfileForm, ReturnForm, add_service_errors


def _customer(request: HttpRequest) -> Customer:
    return request.customer  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


@customer_required
def home(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    addresses = list(selectors.portal_addresses(customer=customer))
    subscriptions = [
        _summary(s)
        for s in selectors.portal_subscriptions(customer=customer)
        if s.status in LIVE_STATUSES
    ]
    return render(
        request,
        "portal/home.html",
        {
            "customer": customer,
            "addresses": addresses,
            "subscriptions": subscriptions,
            "nav": "home",
        },
    )


@customer_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                customer_services.customer_update(
                    customer=customer,
                    actor=_actor(request),
                    **form.cleaned_data,
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Your details were saved.")
                return redirect("portal:home")
    else:
        form = ProfileForm(
            initial={f: getattr(customer, f) for f in ("first_name", "last_name", "phone")}
        )
    return render(
        request, "portal/form_page.html", {"form": form, "title": "Your details", "nav": "home"}
    )


@customer_required
@require_http_methods(["GET", "POST"])
def address_add(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    next_url = _safe_next(request)
    if request.method == "POST":
        form = AddressForm(request.POST)
        if form.is_valid():
            try:
                address = customer_services.address_add(
                    customer=customer,
                    kind=form.cleaned_data["kind"],
                    data=form.address_data(),
                    make_default=form.cleaned_data["make_default"],
                    actor=_actor(request),
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Address added: {address}.")
                return redirect(next_url or "portal:home")
    else:
        form = AddressForm(initial={"kind": request.GET.get("kind") or "shipping"})
    return render(
        request,
        "portal/form_page.html",
        {"form": form, "title": "Add an address", "nav": "home", "next": next_url},
    )


@customer_required
@require_POST
def address_set_default(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer(request)
    address = selectors.portal_address_get(customer=customer, pk=pk)
    if address is None:
        raise Http404("No such address.")
    customer_services.address_set_default(address=address, actor=_actor(request))
    messages.success(request, f"Default {address.get_kind_display().lower()} address: {address}.")
    return redirect("portal:home")


def _safe_next(request: HttpRequest) -> str:
    """Only a path inside the portal may be a return target (no open redirects)."""
    value = request.POST.get("next") or request.GET.get("next") or ""
    return value if value.startswith("/portal/") and "//" not in value else ""


# --------------------------------------------------------------------------- subscriptions


def _money(amount: int, currency: str) -> Money:
    return Money(amount, currency)


def _subscription_or_404(request: HttpRequest, pk: int) -> Subscription:
    subscription = selectors.portal_subscription_get(customer=_customer(request), pk=pk)
    if subscription is None:
        raise Http404("No such subscription.")
    return subscription


def _summary(subscription: Subscription) -> dict[str, Any]:
    """What the list and detail pages show for one subscription (no extra queries when the
    subscription came from ``portal_subscriptions``)."""
    periods = selectors.upcoming_periods(subscription)
    upcoming = upcoming_renewal(subscription)
    version = subscription.plan_version
    price = next((p for p in version.prices.all() if p.currency == subscription.currency), None)
    return {
        "subscription": subscription,
        "plan": version.plan,
        "cadence": describe_interval(subscription.interval_unit, subscription.interval_count),
        "periods": periods,
        "next_delivery": selectors.next_delivery(periods),
        "upcoming": upcoming,
        "upcoming_total": _money(upcoming.total, subscription.currency) if upcoming else None,
        "upcoming_lines": [
            (line, _money(line.amount, subscription.currency)) for line in upcoming.lines
        ]
        if upcoming
        else [],
        "per_period": _money(price.amount * subscription.quantity, subscription.currency)
        if price
        else None,
    }


@customer_required
def subscription_list(request: HttpRequest) -> HttpResponse:
    subscriptions = [
        _summary(s) for s in selectors.portal_subscriptions(customer=_customer(request))
    ]
    return render(
        request,
        "portal/subscription_list.html",
        {"subscriptions": subscriptions, "nav": "subscriptions"},
    )


@customer_required
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription_or_404(request, pk)
    context = _summary(subscription)
    outcomes = {p.outcome for p in context["periods"]}
    offered = [
        slug
        for slug in available_changes(subscription)
        if not (slug == "unskip" and Outcome.SKIP not in outcomes)
        and not (slug == "skip" and not outcomes & Outcome.BILLED)
    ]
    context.update(
        nav="subscriptions",
        changes=[CHANGES[slug] for slug in offered],
        events=selectors.portal_subscription_events(subscription=subscription),
    )
    return render(request, "portal/subscription_detail.html", context)


def _fingerprint(preview: ChangePreview) -> str:
    """What the customer saw on the confirm page. If the subscription changed in between
    (another tab, an operator, the renewal run), the confirm shows the new preview again
    instead of applying something the customer never saw."""
    seen = [
        preview.action,
        str(preview.effective_date),
        str(preview.next_renewal_date),
        preview.status_after,
        preview.summary,
        [(line.kind, line.amount) for line in preview.lines],
    ]
    return hashlib.sha256(repr(seen).encode()).hexdigest()[:32]


@customer_required
@require_http_methods(["GET", "POST"])
def subscription_change(request: HttpRequest, pk: int, change: str) -> HttpResponse:
    spec = CHANGES.get(change)
    if spec is None:
        raise Http404("No such change.")
    subscription = _subscription_or_404(request, pk)
    detail_url = reverse("portal:subscription", args=[subscription.pk])
    if request.method == "POST":
        form = spec.form_class(request.POST, subscription=subscription)
    elif not spec.form_class.base_fields:
        # Nothing to ask (resume, reactivate): straight to the preview.
        form = spec.form_class({}, subscription=subscription)
    else:
        form = spec.form_class(subscription=subscription)
    context: dict[str, Any] = {
        "spec": spec,
        "form": form,
        "subscription": subscription,
        "plan": subscription.plan_version.plan,
        "nav": "subscriptions",
        "detail_url": detail_url,
    }
    if not form.is_bound or not form.is_valid():
        return render(request, "portal/change_form.html", context)
    kwargs = form.service_kwargs()
    try:
        preview = spec.preview(subscription=subscription, **kwargs)
    except ApplicationError as exc:
        add_service_errors(form, exc)
        return render(request, "portal/change_form.html", context)
    fingerprint = _fingerprint(preview)
    if request.method == "POST" and request.POST.get("confirm") == fingerprint:
        try:
            spec.apply(
                subscription=subscription,
                actor=_actor(request),
                **kwargs,
                **spec.apply_extra(form),
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
            return render(request, "portal/change_form.html", context)
        messages.success(request, spec.done)
        return redirect(detail_url)
    if request.method == "POST" and "confirm" in request.POST:
        messages.warning(request, "Your subscription changed meanwhile; please check again.")
    context.update(
        preview=preview,
        fingerprint=fingerprint,
        lines=[(line, _money(line.amount, preview.currency)) for line in preview.lines],
        due_now=_money(preview.amount_due_now, preview.currency),
        status_before=subscription.get_status_display(),
        status_after=SubscriptionStatus(preview.status_after).label,
        details=_detail_rows(subscription, preview),
    )
    return render(request, "portal/change_confirm.html", context)


def _detail_rows(subscription: Subscription, preview: ChangePreview) -> list[tuple[str, str, str]]:
    """Before → after rows for the confirm page, from the preview's details."""
    rows = []
    d = preview.details
    if "new_period_total" in d:
        rows.append(
            (
                "Per delivery",
                str(_money(d["old_period_total"], preview.currency)),
                str(_money(d["new_period_total"], preview.currency)),
            )
        )
    if "quantity" in d and d["quantity"] != subscription.quantity:
        rows.append(("Quantity", str(subscription.quantity), str(d["quantity"])))
    if "interval_unit" in d:
        rows.append(
            (
                "Frequency",
                describe_interval(subscription.interval_unit, subscription.interval_count),
                describe_interval(d["interval_unit"], d["interval_count"]),
            )
        )
    if preview.action == "change_address":
        before, after = d.get("from") or {}, d.get("to") or {}
        rows.append(("Ship to", _one_line(before), _one_line(after)))
    if "swap" in d:
        rows.append(("Item", d["swap"]["from_sku_code"], d["swap"]["to_sku_code"]))
    if "addon" in d:
        addon = d["addon"]
        rows.append(
            (
                "Next invoice",
                "",
                f"+ {_money(d['amount_at_renewal'], preview.currency)} "
                f"({addon['quantity']} × {addon['sku_code']})",
            )
        )
    if "plan_version_id" in d and d["plan_version_id"] != subscription.plan_version_id:
        new = PlanVersion.objects.select_related("plan").get(pk=d["plan_version_id"])
        rows.append(("Plan", subscription.plan_version.plan.name, new.plan.name))
    return rows


def _one_line(address: dict[str, Any]) -> str:
    parts = [address.get(k, "") for k in ("line1", "postal_code", "city", "country")]
    return ", ".join(p for p in parts if p) or "—"


# --------------------------------------------------------------------------- orders


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "order": order,
        "total": _money(order.total, order.currency),
        "lines": [(line, _money(line.total, order.currency)) for line in order.lines.all()],
        "shipments": list(order.shipments.all()),
    }


@customer_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = [_order_row(o) for o in selectors.portal_orders(customer=_customer(request))[:100]]
    return render(request, "portal/order_list.html", {"orders": orders, "nav": "orders"})


@customer_required
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = selectors.portal_order_get(customer=_customer(request), pk=pk)
    if order is None:
        raise Http404("No such order.")
    context = _order_row(order)
    context.update(
        nav="orders",
        returns=list(order.returns.all()),
        can_return=bool(selectors.portal_returnable_lines(order=order)),
        amounts=[
            (label, _money(value, order.currency))
            for label, value in (
                ("Subtotal", order.subtotal),
                ("Discount", -order.discount_total),
                ("Shipping", order.shipping_total),
                ("Tax", order.tax_total),
            )
            if value or label == "Subtotal"
        ],
    )
    return render(request, "portal/order_detail.html", context)


@customer_required
@require_http_methods(["GET", "POST"])
def order_return(request: HttpRequest, pk: int) -> HttpResponse:
    order = selectors.portal_order_get(customer=_customer(request), pk=pk)
    if order is None:
        raise Http404("No such order.")
    returnable = selectors.portal_returnable_lines(order=order)
    if not returnable:
        messages.info(request, "Nothing on this order can be returned right now.")
        return redirect("portal:order", pk=order.pk)
    form = ReturnForm(request.POST or None, returnable=returnable)
    if request.method == "POST" and form.is_valid():
        try:
            rma = fulfillment_services.return_request_create(
                order=order,
                lines=form.return_lines(),
                reason=form.cleaned_data["reason"],
                resolution=form.cleaned_data["resolution"],
                customer_note=form.cleaned_data["customer_note"],
                actor=_actor(request),
            )
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"Return requested (RMA {rma.pk}); we will email you the next steps."
            )
            return redirect("portal:order", pk=order.pk)
    return render(
        request,
        "portal/form_page.html",
        {
            "form": form,
            "title": f"Return items from order {order.number}",
            "nav": "orders",
            "next": reverse("portal:order", args=[order.pk]),
            "submit_label": "Request the return",
        },
    )


# --------------------------------------------------------------------------- invoices


def _invoice_row(invoice: Invoice) -> dict[str, Any]:
    token = billing_notifications.invoice_token(invoice.pk)
    payable = invoice.status == InvoiceStatus.OPEN and invoice.amount_due > 0
    return {
        "invoice": invoice,
        "total": _money(invoice.total, invoice.currency),
        "due": _money(invoice.amount_due, invoice.currency),
        "payable": payable,
        "view_url": reverse("billing:invoice-public", args=[token]),
        "pay_url": reverse("billing:pay", args=[token]) if payable else "",
    }


@customer_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    invoices = [_invoice_row(i) for i in selectors.portal_invoices(customer=customer)[:100]]
    card = payment_method_default(customer_id=customer.pk)
    latest = invoices[0]["invoice"] if invoices else None
    return render(
        request,
        "portal/invoice_list.html",
        {
            "invoices": invoices,
            "card": card,
            # Billing's card page hangs off an invoice link; the latest invoice will do.
            "card_url": reverse(
                "billing:card", args=[billing_notifications.invoice_token(latest.pk)]
            )
            if latest
            else "",
            "nav": "invoices",
        },
    )


@customer_required
def invoice_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable invoice is billing's page, reached by a signed link; the portal only
    checks the invoice is this customer's before handing one out."""
    invoice = selectors.portal_invoice_get(customer=_customer(request), pk=pk)
    if invoice is None:
        raise Http404("No such invoice.")
    return redirect(_invoice_row(invoice)["view_url"])


@customer_required
def invoice_pay(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = selectors.portal_invoice_get(customer=_customer(request), pk=pk)
    if invoice is None:
        raise Http404("No such invoice.")
    row = _invoice_row(invoice)
    if not row["payable"]:
        messages.info(request, f"Invoice {invoice.number} has nothing left to pay.")
        return redirect("portal:invoices")
    return redirect(row["pay_url"])

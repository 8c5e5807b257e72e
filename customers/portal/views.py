"""Portal pages. Every view resolves the customer from the login (``customer_required``)
and reads only that customer's rows; writes go through the owning app's services."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from customers import services as customer_services
from oms.core.errors import ApplicationError

from . import selectors
from .accounts import customer_required
from .forms import AddressForm, ProfileForm, add_service_errors


@customer_required
def home(request: HttpRequest) -> HttpResponse:
    customer = request.customer  # type: ignore[attr-defined]
    addresses = list(selectors.portal_addresses(customer=customer))
    return render(
        request,
        "portal/home.html",
        {"customer": customer, "addresses": addresses, "nav": "home"},
    )


@customer_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest) -> HttpResponse:
    customer = request.customer  # type: ignore[attr-defined]
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                customer_services.customer_update(
                    customer=customer,
                    actor=request.actor,
                    **form.cleaned_data,  # type: ignore[attr-defined]
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
    customer = request.customer  # type: ignore[attr-defined]
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
                    actor=request.actor,  # type: ignore[attr-defined]
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
    customer = request.customer  # type: ignore[attr-defined]
    address = selectors.portal_address_get(customer=customer, pk=pk)
    if address is None:
        raise Http404("No such address.")
    customer_services.address_set_default(address=address, actor=request.actor)  # type: ignore[attr-defined]
    messages.success(request, f"Default {address.get_kind_display().lower()} address: {address}.")
    return redirect("portal:home")


def _safe_next(request: HttpRequest) -> str:
    """Only a path inside the portal may be a return target (no open redirects)."""
    value = request.POST.get("next") or request.GET.get("next") or ""
    return value if value.startswith("/portal/") and "//" not in value else ""

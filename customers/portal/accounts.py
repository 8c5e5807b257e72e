"""Who is the customer behind a request: the portal's one way to resolve identity."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from customers.models import Customer, CustomerStatus
from oms.core.actors import Actor


def customer_for_user(user: Any) -> Customer | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Customer.objects.filter(user_id=user.pk).first()


def customer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then the login must belong to an active customer. The view receives
    ``request.customer`` and ``request.actor`` (the customer as actor)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        customer = customer_for_user(request.user)
        if customer is None or customer.status != CustomerStatus.ACTIVE:
            return render(request, "portal/no_customer.html", status=403)
        request.customer = customer  # type: ignore[attr-defined]
        request.actor = Actor.for_customer(customer)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper

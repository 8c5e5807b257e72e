"""Writes the portal needs that the customers app does not offer: linking a login to a
customer (the portal's identity) and inviting a customer to the portal."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from customers.models import Customer, CustomerEvent, CustomerEventKind
from oms.core.actors import Actor
from oms.core.errors import Conflict, ValidationError
from oms.core.transactions import on_commit

PORTAL_USER_TAKEN = "portal_user_taken"
PORTAL_ALREADY_LINKED = "portal_already_linked"


@transaction.atomic
def portal_user_link(*, customer: Customer, user: AbstractBaseUser, actor: Actor) -> Customer:
    """Make ``user`` the login of ``customer``. A login belongs to at most one customer and a
    customer has at most one login (the OneToOne column enforces it; we say so first)."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.user_id == user.pk:
        return customer
    if customer.user_id is not None:
        raise Conflict(
            f"{customer.email} already has a portal login.",
            code=PORTAL_ALREADY_LINKED,
            fields={"user": ["This customer already has a login."]},
        )
    if Customer.objects.filter(user_id=user.pk).exists():
        raise Conflict(
            f"The login {user.get_username()} belongs to another customer.",
            code=PORTAL_USER_TAKEN,
            fields={"user": ["Already linked to another customer."]},
        )
    customer.user_id = user.pk
    try:
        with transaction.atomic():
            customer.save(update_fields=["user", "updated_at"])
    except IntegrityError:  # lost a race for the same login
        raise Conflict(
            f"The login {user.get_username()} belongs to another customer.",
            code=PORTAL_USER_TAKEN,
            fields={"user": ["Already linked to another customer."]},
        ) from None
    CustomerEvent.objects.create(
        customer=customer,
        kind=CustomerEventKind.UPDATED,
        message="Portal login linked.",
        payload={"changes": {"user": {"from": None, "to": user.pk}}},
        **actor.as_fields(),
    )
    return customer


def _send_invitation(customer_id: int) -> None:
    customer = Customer.objects.select_related("user").get(pk=customer_id)
    user = customer.user
    if user is None:
        return
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    send_mail(
        subject="Your customer portal",
        message=(
            f"Hello {customer.full_name or customer.email},\n\n"
            "You can now manage your subscriptions, orders and invoices online.\n"
            f"Choose a password here: {settings.OMS_PUBLIC_URL}{path}\n"
        ),
        from_email=None,
        recipient_list=[customer.email],
    )


@transaction.atomic
def portal_user_invite(
    *, customer: Customer, actor: Actor, password: str | None = None, send_email: bool = True
) -> AbstractBaseUser:
    """Create a login for ``customer`` (username = email) and link it. Without ``password``
    the login starts unusable and the customer sets one through the emailed link."""
    if customer.user_id is not None:
        raise Conflict(
            f"{customer.email} already has a portal login.",
            code=PORTAL_ALREADY_LINKED,
            fields={"user": ["This customer already has a login."]},
        )
    user_model = get_user_model()
    username = customer.email.strip().lower()
    if user_model.objects.filter(username__iexact=username).exists():
        raise Conflict(
            f"A login named {username} already exists; link it instead.",
            code=PORTAL_USER_TAKEN,
            fields={"user": ["A login with this email exists."]},
        )
    if password is not None and not password:
        raise ValidationError("An empty password.", fields={"password": ["Required."]})
    user = user_model.objects.create_user(username=username, email=customer.email)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    portal_user_link(customer=customer, user=user, actor=actor)
    if send_email:
        on_commit(_send_invitation, customer.pk)
    return user

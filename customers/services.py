"""Writes for customers: create, update, upsert by a channel's reference, addresses,
deactivation and notes. Every change leaves a CustomerEvent."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from oms.core.actors import Actor
from oms.core.countries import is_country_code
from oms.core.errors import Conflict, ValidationError
from oms.core.models import Channel
from oms.core.transitions import check_transition

from . import errors
from .models import (
    CUSTOMER_TRANSITIONS,
    Address,
    AddressKind,
    Customer,
    CustomerEvent,
    CustomerEventKind,
    CustomerReference,
    CustomerStatus,
)

UPDATABLE_FIELDS = ("email", "first_name", "last_name", "phone", "locale")
ADDRESS_FIELDS = (
    "name",
    "company",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)


def _event(
    *,
    customer: Customer,
    kind: str,
    actor: Actor,
    message: str = "",
    payload: dict[str, Any] | None = None,
) -> CustomerEvent:
    return CustomerEvent.objects.create(
        customer=customer, kind=kind, message=message, payload=payload or {}, **actor.as_fields()
    )


def _clean_email(email: str, *, exclude_pk: int | None = None) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError(
            f"'{email}' is not a valid email address.",
            code=errors.INVALID_EMAIL,
            fields={"email": ["Enter a valid email address."]},
        ) from None
    clash = Customer.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise Conflict(
            f"A customer with email {email} already exists.",
            code=errors.DUPLICATE_EMAIL,
            fields={"email": ["Already in use."]},
        )
    return email


def _save_unique(obj: Customer, **kwargs: Any) -> None:
    """Save, turning a lost race on the case-insensitive email index into the same 409."""
    try:
        with transaction.atomic():
            obj.save(**kwargs)
    except IntegrityError:
        raise Conflict(
            f"A customer with email {obj.email} already exists.",
            code=errors.DUPLICATE_EMAIL,
            fields={"email": ["Already in use."]},
        ) from None


def _clean_address(data: dict[str, Any]) -> dict[str, Any]:
    cleaned = {f: (data.get(f) or "").strip() for f in ADDRESS_FIELDS}
    cleaned["country"] = cleaned["country"].upper()
    problems: dict[str, list[str]] = {}
    if not is_country_code(cleaned["country"]):
        problems["country"] = [f"'{data.get('country')}' is not an ISO 3166-1 alpha-2 code."]
    for required in ("line1", "city"):
        if not cleaned[required]:
            problems[required] = ["Required."]
    if problems:
        code = errors.INVALID_COUNTRY if "country" in problems else "invalid_address"
        first = next(iter(problems))
        raise ValidationError(f"{first}: {problems[first][0]}", code=code, fields=problems)
    return cleaned


@transaction.atomic
def customer_create(
    *,
    email: str,
    actor: Actor,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    locale: str = "en",
    channel: Channel | None = None,
    external_id: str | None = None,
    addresses: list[dict[str, Any]] | None = None,
) -> Customer:
    customer = Customer(
        email=_clean_email(email),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone=phone.strip(),
        locale=locale or "en",
        source_channel=channel,
    )
    _save_unique(customer)
    _event(
        customer=customer,
        kind=CustomerEventKind.CREATED,
        actor=actor,
        payload={"email": customer.email},
    )
    if external_id:
        if channel is None:
            raise ValidationError(
                "An external id needs a channel.", fields={"external_id": ["No channel."]}
            )
        customer_reference_add(
            customer=customer, channel=channel, external_id=external_id, actor=actor
        )
    for address in addresses or []:
        address_add(
            customer=customer,
            kind=address.get("kind", AddressKind.SHIPPING),
            data=address,
            make_default=address.get("is_default", True),
            actor=actor,
        )
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, actor: Actor, **changes: Any) -> Customer:
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            f"Cannot update {', '.join(sorted(unknown))}.",
            fields={f: ["Not editable."] for f in unknown},
        )
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if "email" in changes:
        changes["email"] = _clean_email(changes["email"], exclude_pk=customer.pk)
    diff = {}
    for field, value in changes.items():
        old = getattr(customer, field)
        if old != value:
            diff[field] = {"from": old, "to": value}
            setattr(customer, field, value)
    if diff:
        _save_unique(customer)
        _event(
            customer=customer,
            kind=CustomerEventKind.UPDATED,
            actor=actor,
            payload={"changes": diff},
        )
    return customer


@transaction.atomic
def customer_reference_add(
    *, customer: Customer, channel: Channel, external_id: str, actor: Actor
) -> CustomerReference:
    existing = CustomerReference.objects.filter(channel=channel, external_id=external_id).first()
    if existing is not None:
        if existing.customer_id == customer.pk:
            return existing
        raise Conflict(
            f"Channel {channel.code} already uses external id {external_id} for another customer.",
            code=errors.DUPLICATE_REFERENCE,
            fields={"external_id": ["Already in use on this channel."]},
        )
    reference = CustomerReference.objects.create(
        customer=customer, channel=channel, external_id=external_id
    )
    _event(
        customer=customer,
        kind=CustomerEventKind.REFERENCE_ADDED,
        actor=actor,
        payload={"channel": channel.code, "external_id": external_id},
    )
    return reference


@transaction.atomic
def customer_upsert_by_reference(
    *, channel: Channel, external_id: str, email: str, actor: Actor, **fields: Any
) -> tuple[Customer, bool]:
    """Find the customer by this channel's id (else by email, linking the id), update the
    given fields, or create one. Returns (customer, created)."""
    reference = (
        CustomerReference.objects.select_related("customer")
        .filter(channel=channel, external_id=external_id)
        .first()
    )
    customer = (
        reference.customer
        if reference
        else Customer.objects.filter(email__iexact=(email or "").strip()).first()
    )
    if customer is None:
        addresses = fields.pop("addresses", None)
        created = customer_create(
            email=email,
            actor=actor,
            channel=channel,
            external_id=external_id,
            addresses=addresses,
            **fields,
        )
        return created, True
    fields.pop("addresses", None)
    changes = {
        k: v
        for k, v in {"email": email, **fields}.items()
        if k in UPDATABLE_FIELDS and v is not None
    }
    customer = customer_update(customer=customer, actor=actor, **changes)
    if reference is None:
        customer_reference_add(
            customer=customer, channel=channel, external_id=external_id, actor=actor
        )
    return customer, False


@transaction.atomic
def address_add(
    *, customer: Customer, kind: str, data: dict[str, Any], actor: Actor, make_default: bool = False
) -> Address:
    if kind not in AddressKind.values:
        raise ValidationError(
            f"Unknown address kind '{kind}'.", fields={"kind": ["Use shipping or billing."]}
        )
    cleaned = _clean_address(data)
    Customer.objects.select_for_update().get(pk=customer.pk)  # serialise default changes
    has_default = Address.objects.filter(customer=customer, kind=kind, is_default=True).exists()
    address = Address.objects.create(customer=customer, kind=kind, is_default=False, **cleaned)
    _event(
        customer=customer,
        kind=CustomerEventKind.ADDRESS_ADDED,
        actor=actor,
        payload={"address_id": address.pk, "kind": kind, **cleaned},
    )
    if make_default or not has_default:
        address = address_set_default(address=address, actor=actor)
    return address


@transaction.atomic
def address_set_default(*, address: Address, actor: Actor) -> Address:
    Customer.objects.select_for_update().get(pk=address.customer_id)
    Address.objects.filter(
        customer_id=address.customer_id, kind=address.kind, is_default=True
    ).exclude(pk=address.pk).update(is_default=False)
    Address.objects.filter(pk=address.pk).update(is_default=True)
    address.is_default = True
    _event(
        customer=address.customer,
        kind=CustomerEventKind.DEFAULT_ADDRESS_SET,
        actor=actor,
        payload={"address_id": address.pk, "kind": address.kind},
    )
    return address


def _set_status(
    *, customer: Customer, target: str, actor: Actor, kind: str, reason: str
) -> Customer:
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    check_transition(
        CUSTOMER_TRANSITIONS, entity="Customer", current=customer.status, target=target
    )
    previous = customer.status
    customer.status = target
    customer.save(update_fields=["status", "updated_at"])
    _event(
        customer=customer,
        kind=kind,
        actor=actor,
        message=reason,
        payload={"from": previous, "to": target},
    )
    return customer


@transaction.atomic
def customer_deactivate(*, customer: Customer, reason: str, actor: Actor) -> Customer:
    """Customers are never hard-deleted once they have orders or subscriptions (those rows
    PROTECT them); deactivation is the way to retire one."""
    if not reason.strip():
        raise ValidationError("A reason is required.", fields={"reason": ["Required."]})
    return _set_status(
        customer=customer,
        target=CustomerStatus.INACTIVE,
        actor=actor,
        kind=CustomerEventKind.DEACTIVATED,
        reason=reason,
    )


@transaction.atomic
def customer_reactivate(*, customer: Customer, actor: Actor, reason: str = "") -> Customer:
    return _set_status(
        customer=customer,
        target=CustomerStatus.ACTIVE,
        actor=actor,
        kind=CustomerEventKind.REACTIVATED,
        reason=reason,
    )


@transaction.atomic
def customer_note_add(*, customer: Customer, text: str, actor: Actor) -> CustomerEvent:
    if not text.strip():
        raise ValidationError("A note needs text.", fields={"text": ["Required."]})
    return _event(customer=customer, kind=CustomerEventKind.NOTE, actor=actor, message=text.strip())

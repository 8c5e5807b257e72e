"""Carrier accounts and bin locations (reference data the operators keep)."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from inventory.models import Sku, Warehouse
from oms.core.errors import Conflict, ValidationError

from .. import errors
from ..carriers import adapter_kinds
from ..models import BinLocation, Carrier


@transaction.atomic
def carrier_create(
    *,
    code: str,
    name: str,
    adapter: str = "manual",
    base_url: str = "",
    api_key: str = "",
    webhook_secret: str = "",
    tracking_url_template: str = "",
    service_levels: list[str] | None = None,
) -> Carrier:
    code = slugify(code)
    if not code:
        raise ValidationError("A carrier needs a code.", fields={"code": ["Required."]})
    if adapter not in adapter_kinds():
        raise ValidationError(
            f"Unknown carrier adapter '{adapter}'.",
            code=errors.UNKNOWN_CARRIER,
            fields={"adapter": adapter_kinds()},
        )
    if adapter == "http" and not base_url:
        raise ValidationError(
            "The HTTP adapter needs a base URL.", fields={"base_url": ["Required."]}
        )
    if tracking_url_template and "{tracking_number}" not in tracking_url_template:
        raise ValidationError(
            "The tracking URL template must contain {tracking_number}.",
            fields={"tracking_url_template": ["Missing {tracking_number}."]},
        )
    if Carrier.objects.filter(code=code).exists():
        raise Conflict(f"A carrier with code '{code}' exists.", code="duplicate_carrier")
    return Carrier.objects.create(
        code=code,
        name=name or code,
        adapter=adapter,
        base_url=base_url,
        api_key=api_key,
        webhook_secret=webhook_secret,
        tracking_url_template=tracking_url_template,
        service_levels=list(service_levels or []),
    )


@transaction.atomic
def bin_location_set(*, warehouse: Warehouse, sku: Sku, code: str) -> BinLocation:
    """Where ``sku`` sits in ``warehouse``. New shipment lines snapshot it for picking."""
    code = (code or "").strip().upper()
    if not code:
        raise ValidationError("A bin needs a code.", fields={"code": ["Required."]})
    location, _ = BinLocation.objects.update_or_create(
        warehouse=warehouse, sku=sku, defaults={"code": code}
    )
    return location

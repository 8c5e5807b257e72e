"""Catalog and warehouse writes: products, SKUs, prices, bundle contents, warehouses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from oms.core.countries import is_country_code
from oms.core.errors import Conflict, ValidationError
from oms.core.models import Channel
from oms.core.money import validate_currency

from ..models import BundleComponent, Product, Sku, SkuPrice, Warehouse


@transaction.atomic
def product_create(*, name: str, description: str = "") -> Product:
    return Product.objects.create(name=name.strip(), description=description)


@transaction.atomic
def sku_create(
    *,
    product: Product,
    code: str,
    name: str,
    prices: Mapping[str, int] | None = None,
    **fields: Any,
) -> Sku:
    code = code.strip()
    if Sku.objects.filter(code=code).exists():
        raise Conflict(
            f"SKU {code} already exists.", code="duplicate_sku", fields={"code": ["Taken."]}
        )
    sku = Sku.objects.create(product=product, code=code, name=name, **fields)
    for currency, amount in (prices or {}).items():
        sku_set_price(sku=sku, currency=currency, amount=amount)
    return sku


@transaction.atomic
def sku_set_price(*, sku: Sku, currency: str, amount: int) -> SkuPrice:
    try:
        currency = validate_currency(currency)
    except ValueError as exc:
        raise ValidationError(str(exc), fields={"currency": [str(exc)]}) from None
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationError(
            "A price is a non-negative integer of minor units.", fields={"amount": ["Invalid."]}
        )
    price, _ = SkuPrice.objects.update_or_create(
        sku=sku, currency=currency, defaults={"amount": amount}
    )
    return price


@transaction.atomic
def bundle_set_components(*, bundle: Sku, components: Iterable[tuple[Sku, int]]) -> Sku:
    """Replace a bundle's contents. Bundles do not nest (a component is never a bundle)."""
    components = list(components)
    for component, quantity in components:
        if component.is_bundle or component.pk == bundle.pk:
            raise ValidationError(
                f"{component.code} cannot be a bundle component.",
                fields={"components": ["Bundles do not nest."]},
            )
        if quantity < 1:
            raise ValidationError(
                "Component quantities are at least 1.", fields={"components": ["Invalid quantity."]}
            )
    Sku.objects.filter(pk=bundle.pk).update(is_bundle=True)
    bundle.is_bundle = True
    BundleComponent.objects.filter(bundle=bundle).delete()
    BundleComponent.objects.bulk_create(
        [BundleComponent(bundle=bundle, component=c, quantity=q) for c, q in components]
    )
    return bundle


@transaction.atomic
def warehouse_create(
    *,
    code: str,
    name: str,
    country: str,
    priority: int = 100,
    ships_to_countries: Iterable[str] = (),
    channels: Iterable[Channel] = (),
    **fields: Any,
) -> Warehouse:
    countries = [c.upper() for c in [country, *ships_to_countries]]
    bad = [c for c in countries if not is_country_code(c)]
    if bad:
        raise ValidationError(f"Not ISO 3166-1 codes: {', '.join(bad)}.", fields={"country": bad})
    warehouse = Warehouse.objects.create(
        code=code,
        name=name,
        country=countries[0],
        priority=priority,
        ships_to_countries=countries[1:],
        **fields,
    )
    channels = list(channels)
    if channels:
        warehouse.channels.set(channels)
    return warehouse

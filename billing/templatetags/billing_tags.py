from django import template

from oms.core.money import Money

register = template.Library()


@register.filter
def money(amount: int | None, currency: str) -> str:
    """Minor units → '1,234.56 EUR'."""
    if amount is None:
        return ""
    return Money(int(amount), currency).format()


@register.filter
def percent(rate: object) -> str:
    from decimal import Decimal

    value = (Decimal(str(rate)) * 100).normalize()
    return f"{value:f}%"

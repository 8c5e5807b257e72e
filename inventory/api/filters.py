import django_filters

from inventory.models import MovementKind, Sku, StockMovement


class SkuFilter(django_filters.FilterSet):
    code = django_filters.CharFilter(field_name="code")
    is_active = django_filters.BooleanFilter(field_name="is_active")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Sku
        fields = ("code", "is_active", "updated_after")


class MovementFilter(django_filters.FilterSet):
    sku = django_filters.CharFilter(field_name="sku__code", label="SKU code")
    warehouse = django_filters.CharFilter(field_name="warehouse__code", label="Warehouse code")
    kind = django_filters.ChoiceFilter(choices=MovementKind.choices)
    reference = django_filters.CharFilter(field_name="reference")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = StockMovement
        fields = ("sku", "warehouse", "kind", "reference", "created_after", "created_before")

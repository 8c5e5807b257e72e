import django_filters

from orders.models import Order, OrderStatus


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    external_id = django_filters.CharFilter(field_name="external_id")
    customer_email = django_filters.CharFilter(field_name="customer__email", lookup_expr="iexact")
    number = django_filters.CharFilter(field_name="number")

    class Meta:
        model = Order
        fields = (
            "status",
            "created_after",
            "created_before",
            "external_id",
            "customer_email",
            "number",
        )

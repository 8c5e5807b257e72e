import django_filters

from customers.models import Customer


class CustomerFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    reference = django_filters.CharFilter(
        field_name="references__external_id", label="Channel reference"
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    status = django_filters.CharFilter(field_name="status")

    class Meta:
        model = Customer
        fields = ("email", "reference", "created_after", "created_before", "status")

import django_filters

from billing.models import AttemptState, Invoice, InvoiceStatus, PaymentAttempt


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=InvoiceStatus.choices)
    customer = django_filters.NumberFilter(field_name="customer_id")
    subscription = django_filters.NumberFilter(field_name="subscription_id")
    order = django_filters.NumberFilter(field_name="order_id")
    number = django_filters.CharFilter(field_name="number")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Invoice
        fields = (
            "status",
            "customer",
            "subscription",
            "order",
            "number",
            "created_after",
            "created_before",
        )


class PaymentFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=AttemptState.choices)
    invoice = django_filters.NumberFilter(field_name="invoice_id")
    customer = django_filters.NumberFilter(field_name="invoice__customer_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = PaymentAttempt
        fields = ("state", "invoice", "customer", "created_after", "created_before")

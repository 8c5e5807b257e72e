import django_filters

from subscriptions.models import Subscription, SubscriptionStatus


class SubscriptionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SubscriptionStatus.choices)
    plan = django_filters.CharFilter(field_name="plan_version__plan__code", label="Plan code")
    customer = django_filters.NumberFilter(field_name="customer_id")
    next_renewal_after = django_filters.DateFilter(
        field_name="next_renewal_date", lookup_expr="gte"
    )
    next_renewal_before = django_filters.DateFilter(
        field_name="next_renewal_date", lookup_expr="lte"
    )

    class Meta:
        model = Subscription
        fields = ("status", "plan", "customer", "next_renewal_after", "next_renewal_before")

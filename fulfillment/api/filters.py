import django_filters

from fulfillment.models import ReturnRequest, Shipment
from fulfillment.statuses import ReturnStatus, ShipmentStatus


class ShipmentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ShipmentStatus.choices)
    order = django_filters.CharFilter(field_name="order__number", label="Order number")
    order_id = django_filters.NumberFilter(field_name="order_id")
    tracking_number = django_filters.CharFilter(field_name="tracking_number")
    warehouse = django_filters.CharFilter(field_name="warehouse__code")

    class Meta:
        model = Shipment
        fields = ("status", "order", "order_id", "tracking_number", "warehouse")


class ReturnFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ReturnStatus.choices)
    order_id = django_filters.NumberFilter(field_name="order_id")

    class Meta:
        model = ReturnRequest
        fields = ("status", "order_id")

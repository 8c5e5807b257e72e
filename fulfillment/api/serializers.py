from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fulfillment import selectors
from fulfillment.models import ReturnLine, ReturnRequest, Shipment, ShipmentLine, TrackingEvent
from fulfillment.statuses import (
    Disposition,
    ExceptionReason,
    ItemCondition,
    ReturnReason,
    ReturnResolution,
    ReturnStatus,
    ShipmentStatus,
)

# --------------------------------------------------------------------------- shipments


class ShipmentLineSerializer(serializers.ModelSerializer):
    order_line_id = serializers.IntegerField()
    line_no = serializers.IntegerField(source="order_line.line_no")
    sku = serializers.CharField(source="order_line.sku_code")

    class Meta:
        model = ShipmentLine
        fields = ("order_line_id", "line_no", "sku", "quantity")


class ShipmentSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="__str__", read_only=True)
    order = serializers.CharField(source="order.number")
    warehouse = serializers.CharField(source="warehouse.code")
    carrier = serializers.CharField(source="carrier.code", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=ShipmentStatus.choices)
    exception_reason = serializers.ChoiceField(choices=ExceptionReason.choices, allow_blank=True)
    is_late = serializers.SerializerMethodField()
    lines = ShipmentLineSerializer(many=True)

    class Meta:
        model = Shipment
        fields = (
            "id",
            "number",
            "order_id",
            "order",
            "warehouse",
            "carrier",
            "service_level",
            "status",
            "exception_reason",
            "tracking_number",
            "tracking_url",
            "weight_grams",
            "length_mm",
            "width_mm",
            "height_mm",
            "promised_ship_by",
            "promised_delivery",
            "is_late",
            "shipped_at",
            "delivered_at",
            "lines",
            "created_at",
            "updated_at",
        )

    @extend_schema_field(serializers.BooleanField())
    def get_is_late(self, obj: Shipment) -> bool:
        return selectors.shipment_is_late(obj, timezone.now())


class PromiseShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(source="__str__")
    warehouse = serializers.CharField(source="warehouse.code")
    status = serializers.ChoiceField(choices=ShipmentStatus.choices)
    promised_ship_by = serializers.DateTimeField(allow_null=True)
    promised_delivery = serializers.DateField(allow_null=True)
    is_late = serializers.SerializerMethodField()

    @extend_schema_field(serializers.BooleanField())
    def get_is_late(self, obj: Shipment) -> bool:
        return selectors.shipment_is_late(obj, timezone.now())


class DeliveryPromiseSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    order = serializers.CharField()
    delivery_option = serializers.CharField()
    lead_time_days = serializers.IntegerField(help_text="Business days from dispatch.")
    promised_delivery = serializers.DateField(
        allow_null=True, help_text="The latest promised delivery of the order's live parcels."
    )
    shipments = PromiseShipmentSerializer(many=True)


class TrackingEventInputSerializer(serializers.Serializer):
    event_id = serializers.CharField(max_length=200, help_text="The carrier's id for this scan.")
    tracking_number = serializers.CharField(max_length=100)
    status = serializers.CharField(
        max_length=40,
        help_text=(
            "One of shipped, in_transit, out_for_delivery, delivered, exception, "
            "returned_to_sender, info, or a common carrier word (picked_up, failed_attempt…)."
        ),
    )
    occurred_at = serializers.DateTimeField()
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    exception_reason = serializers.ChoiceField(
        choices=ExceptionReason.choices, required=False, allow_blank=True
    )


class TrackingPostSerializer(serializers.Serializer):
    carrier = serializers.SlugField(help_text="The carrier code the tracking numbers belong to.")
    events = TrackingEventInputSerializer(many=True, min_length=1, max_length=200)


class TrackingResultSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    result = serializers.ChoiceField(choices=["applied", "recorded", "duplicate", "rejected"])
    shipment_id = serializers.IntegerField(allow_null=True)
    note = serializers.CharField(allow_blank=True)


class TrackingResponseSerializer(serializers.Serializer):
    results = TrackingResultSerializer(many=True)


class TrackingEventSerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="carrier_event_id")

    class Meta:
        model = TrackingEvent
        fields = (
            "event_id",
            "tracking_number",
            "status",
            "exception_reason",
            "occurred_at",
            "description",
            "location",
            "applied",
            "note",
        )


# --------------------------------------------------------------------------- returns


class ReturnLineSerializer(serializers.ModelSerializer):
    order_line_id = serializers.IntegerField()
    line_no = serializers.IntegerField(source="order_line.line_no")
    sku = serializers.CharField(source="order_line.sku_code")
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    condition = serializers.ChoiceField(choices=ItemCondition.choices)
    disposition = serializers.ChoiceField(choices=Disposition.choices)

    class Meta:
        model = ReturnLine
        fields = (
            "id",
            "order_line_id",
            "line_no",
            "sku",
            "quantity",
            "received_quantity",
            "reason",
            "condition",
            "disposition",
        )


class ReturnSerializer(serializers.ModelSerializer):
    number = serializers.CharField(source="__str__", read_only=True)
    order = serializers.CharField(source="order.number")
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=ReturnStatus.choices)
    resolution = serializers.ChoiceField(choices=ReturnResolution.choices)
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    replacement_order = serializers.CharField(
        source="replacement_order.number", allow_null=True, default=None
    )
    lines = ReturnLineSerializer(many=True)

    class Meta:
        model = ReturnRequest
        fields = (
            "id",
            "number",
            "order_id",
            "order",
            "status",
            "resolution",
            "reason",
            "customer_note",
            "warehouse",
            "tracking_number",
            "label_url",
            "instructions",
            "refund_amount",
            "replacement_order",
            "lines",
            "approved_at",
            "received_at",
            "inspected_at",
            "resolved_at",
            "created_at",
            "updated_at",
        )


class ReturnLineInputSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(min_value=1, help_text="The order line's number.")
    quantity = serializers.IntegerField(min_value=1)
    reason = serializers.ChoiceField(choices=ReturnReason.choices, required=False)
    condition = serializers.ChoiceField(choices=ItemCondition.choices, required=False)


class ReturnCreateSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    resolution = serializers.ChoiceField(
        choices=ReturnResolution.choices, default=ReturnResolution.REFUND
    )
    customer_note = serializers.CharField(required=False, allow_blank=True, default="")
    lines = ReturnLineInputSerializer(many=True, min_length=1)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class EmptySerializer(serializers.Serializer):
    pass


class ReturnLabelSerializer(serializers.Serializer):
    carrier = serializers.SlugField(required=False, help_text="Buy a return label from it.")
    tracking_number = serializers.CharField(required=False, allow_blank=True, default="")
    instructions = serializers.CharField(required=False, allow_blank=True, default="")


class ReceivedLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=0)


class ReturnReceiveSerializer(serializers.Serializer):
    lines = ReceivedLineSerializer(
        many=True, required=False, help_text="Units that arrived; omit when everything did."
    )


class InspectedLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(min_value=1)
    condition = serializers.ChoiceField(choices=ItemCondition.choices)
    disposition = serializers.ChoiceField(
        choices=[Disposition.RESTOCK, Disposition.WRITE_OFF], required=False
    )


class ReturnInspectSerializer(serializers.Serializer):
    lines = InspectedLineSerializer(many=True, required=False)


class ReturnRefundSerializer(serializers.Serializer):
    amount = serializers.IntegerField(
        min_value=0, required=False, help_text="Minor units; default: the returned units' value."
    )


def line_ids_by_no(return_request: ReturnRequest) -> dict[int, int]:
    """Return line id per order line number, from the prefetched lines."""
    return {row.order_line.line_no: row.pk for row in return_request.lines.all()}

from __future__ import annotations

from rest_framework import serializers

from oms.core.api.serializers import ReusedFieldsMixin
from orders.models import DeliveryOption, Order, OrderEvent, OrderLine


class OrderAddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, min_length=2, help_text="ISO 3166-1 alpha-2")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64, help_text="SKU code.")
    quantity = serializers.IntegerField(min_value=1)
    unit_price = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="Minor units. Optional: checked against our price (409 price_mismatch).",
    )
    discount = serializers.IntegerField(
        min_value=0, required=False, help_text="The channel's promotion for the line, minor units."
    )


class InlineCustomerSerializer(serializers.Serializer):
    email = serializers.EmailField()
    external_id = serializers.CharField(
        max_length=200, required=False, help_text="The channel's customer id (upserts by it)."
    )
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    locale = serializers.CharField(max_length=16, required=False)


class OrderPlaceSerializer(ReusedFieldsMixin, serializers.Serializer):
    external_id = serializers.CharField(
        max_length=200, required=False, help_text="Your order id; re-sending it returns the order."
    )
    customer_id = serializers.IntegerField(required=False, help_text="A customer you can see.")
    customer = InlineCustomerSerializer(required=False, help_text="Or the customer inline.")
    currency = serializers.CharField(
        max_length=3, min_length=3, required=False, help_text="Default: the channel's currency."
    )
    lines = OrderLineInputSerializer(many=True, allow_empty=False, max_length=200)
    shipping_address = OrderAddressSerializer()
    billing_address = OrderAddressSerializer(required=False)
    delivery_option = serializers.ChoiceField(
        choices=DeliveryOption.choices, default=DeliveryOption.STANDARD
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    expected_total = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="Your computed total (minor units); a different total is refused (409 total_mismatch).",
    )
    payment_pending = serializers.BooleanField(default=False)

    def validate(self, attrs: dict) -> dict:
        if ("customer_id" in attrs) == ("customer" in attrs):
            raise serializers.ValidationError(
                {"customer": ["Send exactly one of customer_id or customer."]}
            )
        return attrs


class OrderLineQuantitySerializer(serializers.Serializer):
    line_id = serializers.IntegerField()
    quantity = serializers.IntegerField(min_value=0, help_text="0 removes the line.")


class OrderEditSerializer(serializers.Serializer):
    quantities = OrderLineQuantitySerializer(many=True, required=False)
    add_lines = OrderLineInputSerializer(many=True, required=False)
    remove_lines = serializers.ListField(child=serializers.IntegerField(), required=False)
    shipping_address = OrderAddressSerializer(required=False)
    billing_address = OrderAddressSerializer(required=False)
    delivery_option = serializers.ChoiceField(choices=DeliveryOption.choices, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs: dict) -> dict:
        if not set(attrs) - {"reason"}:
            raise serializers.ValidationError("Nothing to change.")
        return attrs


class OrderReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OrderNoteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000)


class OrderLineSerializer(ReusedFieldsMixin, serializers.ModelSerializer):
    sku = serializers.CharField(source="sku_code")

    class Meta:
        model = OrderLine
        fields = (
            "id",
            "line_no",
            "sku",
            "name",
            "quantity",
            "unit_price",
            "discount",
            "tax",
            "total",
            "allocated_quantity",
            "backordered_quantity",
            "shipped_quantity",
            "returned_quantity",
            "cancelled_quantity",
        )


class OrderEventSerializer(ReusedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ("id", "created_at", "kind", "actor_kind", "actor_label", "message", "payload")


class OrderCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class OrderSerializer(ReusedFieldsMixin, serializers.ModelSerializer):
    customer = OrderCustomerSerializer()
    shipping_address = OrderAddressSerializer()
    billing_address = OrderAddressSerializer()
    delivery_lead_time_days = serializers.IntegerField()
    lines = OrderLineSerializer(many=True)

    class Meta:
        model = Order
        fields = (
            "id",
            "number",
            "status",
            "external_id",
            "origin",
            "subscription_id",
            "customer",
            "currency",
            "subtotal",
            "discount_total",
            "shipping_total",
            "tax_total",
            "total",
            "shipping_address",
            "billing_address",
            "delivery_option",
            "delivery_lead_time_days",
            "notes",
            "placed_at",
            "created_at",
            "updated_at",
            "lines",
        )


class OrderDetailSerializer(OrderSerializer):
    events = OrderEventSerializer(many=True, help_text="The timeline, oldest first.")

    class Meta(OrderSerializer.Meta):
        fields = (*OrderSerializer.Meta.fields, "events")

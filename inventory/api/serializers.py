from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import MovementKind, Sku, StockLevel, StockMovement
from inventory.selectors import sku_availability


class PriceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units (cents).")


class WarehouseStockSerializer(serializers.Serializer):
    warehouse = serializers.CharField(source="warehouse_code")
    on_hand = serializers.IntegerField()
    allocated = serializers.IntegerField()
    available = serializers.IntegerField()


class SkuSerializer(serializers.ModelSerializer):
    product = serializers.CharField(source="product.name")
    prices = PriceSerializer(many=True, read_only=True)
    stock = serializers.SerializerMethodField(
        help_text="Per warehouse serving this channel; empty list when no stock anywhere, "
        "null for SKUs that need no stock. Bundles: whole bundles the components make."
    )
    available = serializers.SerializerMethodField(
        help_text="Total available over those warehouses; null when unlimited."
    )

    class Meta:
        model = Sku
        fields = (
            "id",
            "code",
            "name",
            "product",
            "is_active",
            "is_physical",
            "is_bundle",
            "allow_backorder",
            "tax_category",
            "barcode",
            "weight_grams",
            "length_mm",
            "width_mm",
            "height_mm",
            "prices",
            "available",
            "stock",
            "created_at",
            "updated_at",
        )

    def _stock(self, obj: Sku) -> Any:
        # Computed once per SKU for both fields (from the selector's prefetches).
        cache = self.__dict__.setdefault("_availability", {})
        if obj.pk not in cache:
            cache[obj.pk] = sku_availability(obj)
        return cache[obj.pk]

    @extend_schema_field(WarehouseStockSerializer(many=True, allow_null=True))
    def get_stock(self, obj: Sku) -> Any:
        stock = self._stock(obj)
        return None if stock is None else WarehouseStockSerializer(stock, many=True).data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_available(self, obj: Sku) -> int | None:
        stock = self._stock(obj)
        return None if stock is None else sum(max(s.available, 0) for s in stock)


class StockLevelSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    warehouse = serializers.CharField(source="warehouse.code")
    available = serializers.IntegerField()

    class Meta:
        model = StockLevel
        fields = (
            "sku",
            "warehouse",
            "on_hand",
            "allocated",
            "available",
            "reorder_point",
            "safety_stock",
            "updated_at",
        )


class ReceiptInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64, help_text="SKU code.")
    warehouse = serializers.CharField(max_length=32, help_text="Warehouse code.")
    quantity = serializers.IntegerField(min_value=1)
    reference = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True, help_text="PO / ASN number."
    )
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class AdjustmentInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64, help_text="SKU code.")
    warehouse = serializers.CharField(max_length=32, help_text="Warehouse code.")
    quantity = serializers.IntegerField(help_text="Change in units on hand, e.g. 5 or -3.")
    reason = serializers.CharField(max_length=500)
    reference = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    def validate_quantity(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("An adjustment must change stock.")
        return value


class MovementSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="sku.code")
    warehouse = serializers.CharField(source="warehouse.code")
    kind = serializers.ChoiceField(choices=MovementKind.choices)

    class Meta:
        model = StockMovement
        fields = (
            "id",
            "created_at",
            "kind",
            "sku",
            "warehouse",
            "quantity",
            "allocated_delta",
            "on_hand_after",
            "allocated_after",
            "reason",
            "reference",
            "actor_kind",
            "actor_label",
        )

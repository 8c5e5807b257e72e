"""Channel API for inventory: SKUs with availability (every channel), and for warehouse
systems (channels of kind ``warehouse``) receipts, adjustments and the ledger."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from inventory import selectors, services
from inventory.models import Sku, StockLevel, StockMovement, Warehouse
from oms.core.actors import Actor
from oms.core.api.views import ChannelAPIView
from oms.core.errors import Forbidden, NotFound
from oms.core.models import ChannelKind

from .filters import MovementFilter, SkuFilter
from .serializers import (
    AdjustmentInputSerializer,
    MovementSerializer,
    ReceiptInputSerializer,
    SkuSerializer,
    StockLevelSerializer,
)


class WarehouseChannelMixin:
    """Stock writes and the ledger belong to warehouse systems (channels of kind warehouse);
    a warehouse that lists channels accepts only those."""

    channel: Any

    def require_warehouse_channel(self) -> None:
        if self.channel.kind != ChannelKind.WAREHOUSE:
            raise Forbidden(
                "Only warehouse-system channels may do this.", code="warehouse_channel_required"
            )

    def resolve(self, *, sku_code: str, warehouse_code: str) -> tuple[Sku, Warehouse]:
        sku = Sku.objects.filter(code=sku_code).first()
        if sku is None:
            raise NotFound(f"No SKU {sku_code}.", code="unknown_sku", fields={"sku": ["Unknown."]})
        warehouse = Warehouse.objects.filter(code=warehouse_code).first()
        if warehouse is None:
            raise NotFound(f"No warehouse {warehouse_code}.", fields={"warehouse": ["Unknown."]})
        allowed = set(warehouse.channels.values_list("pk", flat=True))
        if allowed and self.channel.pk not in allowed:
            raise Forbidden(f"This channel does not serve warehouse {warehouse_code}.")
        return sku, warehouse


def _level_data(level: StockLevel) -> dict[str, Any]:
    fresh = StockLevel.objects.select_related("sku", "warehouse").get(pk=level.pk)
    return StockLevelSerializer(fresh).data


class SkuListView(ChannelAPIView, ListAPIView):
    serializer_class = SkuSerializer
    filterset_class = SkuFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Sku.objects.none()
        return selectors.sku_list_with_availability(channel=self.channel)

    @extend_schema(summary="SKUs with prices and availability per warehouse")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class SkuDetailView(ChannelAPIView):
    @extend_schema(responses=SkuSerializer, summary="One SKU with availability, by code")
    def get(self, request: Request, code: str) -> Response:
        sku = selectors.sku_list_with_availability(channel=self.channel).filter(code=code).first()
        if sku is None:
            raise NotFound(f"No SKU {code}.", code="unknown_sku")
        return Response(SkuSerializer(sku).data)


class StockReceiptView(WarehouseChannelMixin, ChannelAPIView):
    @extend_schema(
        request=ReceiptInputSerializer,
        responses={201: StockLevelSerializer},
        summary="Record goods received (fills waiting backorders first)",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_warehouse_channel()
        data = ReceiptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        sku, warehouse = self.resolve(sku_code=payload["sku"], warehouse_code=payload["warehouse"])
        level = services.stock_receive(
            sku=sku,
            warehouse=warehouse,
            quantity=payload["quantity"],
            reference=payload["reference"],
            reason=payload["reason"],
            actor=Actor.for_channel(self.channel),
        )
        return Response(_level_data(level), status=status.HTTP_201_CREATED)


class StockAdjustmentView(WarehouseChannelMixin, ChannelAPIView):
    @extend_schema(
        request=AdjustmentInputSerializer,
        responses={201: StockLevelSerializer},
        summary="Correct stock on hand (a count) with a reason",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_warehouse_channel()
        data = AdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        sku, warehouse = self.resolve(sku_code=payload["sku"], warehouse_code=payload["warehouse"])
        level = services.stock_adjust(
            sku=sku,
            warehouse=warehouse,
            quantity=payload["quantity"],
            reason=payload["reason"],
            reference=payload["reference"],
            actor=Actor.for_channel(self.channel),
        )
        return Response(_level_data(level), status=status.HTTP_201_CREATED)


class MovementListView(WarehouseChannelMixin, ChannelAPIView, ListAPIView):
    serializer_class = MovementSerializer
    filterset_class = MovementFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return StockMovement.objects.none()
        self.require_warehouse_channel()
        return selectors.movement_list()

    @extend_schema(summary="The stock movement ledger, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

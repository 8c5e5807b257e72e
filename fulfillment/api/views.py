from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from fulfillment import errors, selectors, services
from fulfillment.carriers import CarrierError
from fulfillment.carriers.normalize import update_from_dict
from fulfillment.models import ReturnRequest, Shipment, TrackingSource
from oms.core.actors import Actor
from oms.core.api.views import ChannelAPIView
from oms.core.errors import NotFound, ValidationError
from orders.models import Order

from .filters import ReturnFilter, ShipmentFilter
from .serializers import (
    DeliveryPromiseSerializer,
    EmptySerializer,
    ReasonSerializer,
    ReturnCreateSerializer,
    ReturnInspectSerializer,
    ReturnLabelSerializer,
    ReturnReceiveSerializer,
    ReturnRefundSerializer,
    ReturnSerializer,
    ShipmentSerializer,
    TrackingPostSerializer,
    TrackingResponseSerializer,
    line_ids_by_no,
)

# --------------------------------------------------------------------------- shipments


class ShipmentListView(ChannelAPIView, ListAPIView):
    serializer_class = ShipmentSerializer
    filterset_class = ShipmentFilter

    def get_queryset(self) -> Any:
        if self.is_schema_generation:
            return Shipment.objects.none()
        return selectors.shipment_list_for_channel(channel=self.channel)

    @extend_schema(summary="List this channel's shipments")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OrderShipmentListView(ChannelAPIView, ListAPIView):
    serializer_class = ShipmentSerializer

    def get_queryset(self) -> Any:
        if self.is_schema_generation:
            return Shipment.objects.none()
        order_pk = self.kwargs["pk"]
        if not Order.objects.filter(channel=self.channel, pk=order_pk).exists():
            raise NotFound(f"No order {order_pk} for this channel.")
        return selectors.shipment_list_for_channel(channel=self.channel).filter(order_id=order_pk)

    @extend_schema(summary="List an order's shipments")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ShipmentDetailView(ChannelAPIView):
    @extend_schema(responses=ShipmentSerializer, summary="Retrieve a shipment")
    def get(self, request: Request, pk: int) -> Response:
        shipment = selectors.shipment_get_for_channel(channel=self.channel, pk=pk)
        if shipment is None:
            raise NotFound(f"No shipment {pk} for this channel.")
        return Response(ShipmentSerializer(shipment).data)


class OrderDeliveryPromiseView(ChannelAPIView):
    @extend_schema(responses=DeliveryPromiseSerializer, summary="An order's delivery promise")
    def get(self, request: Request, pk: int) -> Response:
        order = Order.objects.filter(channel=self.channel, pk=pk).first()
        if order is None:
            raise NotFound(f"No order {pk} for this channel.")
        shipments = [
            s
            for s in selectors.shipment_list_for_channel(channel=self.channel)
            .filter(order=order)
            .order_by("pk")
            if s.status != "cancelled"
        ]
        promised = [s.promised_delivery for s in shipments if s.promised_delivery]
        return Response(
            DeliveryPromiseSerializer(
                {
                    "order_id": order.pk,
                    "order": order.number,
                    "delivery_option": order.delivery_option,
                    "lead_time_days": order.delivery_lead_time_days,
                    "promised_delivery": max(promised) if promised else None,
                    "shipments": shipments,
                }
            ).data
        )


class TrackingEventPostView(ChannelAPIView):
    """A channel or its 3PL posts carrier scans for this channel's shipments. Each scan is
    stored once per carrier event id and moves its shipment forward only; scans for
    tracking numbers that are not this channel's are rejected and not stored."""

    @extend_schema(
        request=TrackingPostSerializer,
        responses={200: TrackingResponseSerializer},
        summary="Post tracking events",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = TrackingPostSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        carrier = selectors.carrier_get(code=data.validated_data["carrier"])
        if carrier is None:
            raise NotFound(
                f"No carrier '{data.validated_data['carrier']}'.",
                code=errors.UNKNOWN_CARRIER,
                fields={"carrier": ["Unknown."]},
            )
        events = data.validated_data["events"]
        own = dict(
            selectors.shipment_list_for_channel(channel=self.channel)
            .filter(carrier=carrier, tracking_number__in={e["tracking_number"] for e in events})
            .values_list("tracking_number", "pk")
        )
        results: list[dict[str, Any]] = []
        updates = []
        for item in events:
            if item["tracking_number"] not in own:
                results.append(
                    {
                        "event_id": item["event_id"],
                        "result": "rejected",
                        "shipment_id": None,
                        "note": "no shipment of this channel has that tracking number",
                    }
                )
                continue
            raw = {**item, "occurred_at": item["occurred_at"].isoformat()}
            try:
                updates.append(update_from_dict(raw))
            except CarrierError as exc:
                results.append(
                    {
                        "event_id": item["event_id"],
                        "result": "rejected",
                        "shipment_id": None,
                        "note": str(exc),
                    }
                )
        recorded = services.tracking_events_record_many(
            carrier=carrier,
            updates=updates,
            source=TrackingSource.API,
            actor=Actor.for_channel(self.channel),
        )
        for event, created in recorded:
            results.append(
                {
                    "event_id": event.carrier_event_id,
                    "result": "duplicate"
                    if not created
                    else ("applied" if event.applied else "recorded"),
                    "shipment_id": event.shipment_id,
                    "note": event.note,
                }
            )
        return Response({"results": results})


# --------------------------------------------------------------------------- returns


def _reload(view: ChannelAPIView, return_request: ReturnRequest) -> dict[str, Any]:
    fresh = selectors.return_get_for_channel(channel=view.channel, pk=return_request.pk)
    return ReturnSerializer(fresh).data


class ReturnListCreateView(ChannelAPIView, ListAPIView):
    serializer_class = ReturnSerializer
    filterset_class = ReturnFilter

    def get_queryset(self) -> Any:
        if self.is_schema_generation:
            return ReturnRequest.objects.none()
        return selectors.return_list_for_channel(channel=self.channel)

    @extend_schema(summary="List this channel's returns")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ReturnCreateSerializer,
        responses={201: ReturnSerializer},
        summary="Request a return (RMA)",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ReturnCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        order = (
            Order.objects.filter(channel=self.channel, pk=payload["order_id"])
            .prefetch_related("lines")
            .first()
        )
        if order is None:
            raise NotFound(
                f"No order {payload['order_id']} for this channel.",
                fields={"order_id": ["Unknown."]},
            )
        by_no = {line.line_no: line for line in order.lines.all()}
        missing = sorted({item["line_no"] for item in payload["lines"]} - set(by_no))
        if missing:
            raise ValidationError(
                f"Order {order.number} has no line(s) {missing}.",
                code=errors.UNKNOWN_LINE,
                fields={"lines": missing},
            )
        return_request = services.return_request_create(
            order=order,
            lines=[
                {
                    "order_line": by_no[item["line_no"]],
                    "quantity": item["quantity"],
                    "reason": item.get("reason"),
                    "condition": item.get("condition"),
                }
                for item in payload["lines"]
            ],
            reason=payload["reason"],
            resolution=payload["resolution"],
            customer_note=payload["customer_note"],
            actor=Actor.for_channel(self.channel),
        )
        return Response(_reload(self, return_request), status=status.HTTP_201_CREATED)


class ReturnDetailView(ChannelAPIView):
    @extend_schema(responses=ReturnSerializer, summary="Retrieve a return")
    def get(self, request: Request, pk: int) -> Response:
        return_request = selectors.return_get_for_channel(channel=self.channel, pk=pk)
        if return_request is None:
            raise NotFound(f"No return {pk} for this channel.")
        return Response(ReturnSerializer(return_request).data)


class ReturnActionView(ChannelAPIView):
    """One step of a return; subclasses name the input and call one service."""

    input_serializer: type[serializers.Serializer] = EmptySerializer

    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        raise NotImplementedError

    def handle_post(self, request: Request, pk: int) -> Response:
        return_request = selectors.return_get_for_channel(channel=self.channel, pk=pk)
        if return_request is None:
            raise NotFound(f"No return {pk} for this channel.")
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.apply(return_request, dict(data.validated_data), Actor.for_channel(self.channel))
        return Response(_reload(self, return_request))


def _action(name: str, summary: str, serializer: type[serializers.Serializer]) -> Any:
    def decorate(cls: type[ReturnActionView]) -> type[ReturnActionView]:
        cls.input_serializer = serializer

        @extend_schema(request=serializer, responses={200: ReturnSerializer}, summary=summary)
        def post(self: ReturnActionView, request: Request, *args: Any, **kwargs: Any) -> Response:
            return ChannelAPIView.post(self, request, *args, **kwargs)

        cls.post = post  # type: ignore[method-assign]
        cls.__doc__ = summary
        return cls

    return decorate


def _by_line_no(
    return_request: ReturnRequest, items: list[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    ids = line_ids_by_no(return_request)
    unknown = sorted({item["line_no"] for item in items} - set(ids))
    if unknown:
        raise ValidationError(
            f"{return_request} has no line(s) for order line(s) {unknown}.",
            code=errors.UNKNOWN_LINE,
            fields={"lines": unknown},
        )
    return {ids[item["line_no"]]: item for item in items}


@_action("approve", "Approve a return", EmptySerializer)
class ReturnApproveView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        return services.return_approve(return_request=return_request, actor=actor)


@_action("reject", "Reject a return", ReasonSerializer)
class ReturnRejectView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        return services.return_reject(
            return_request=return_request, reason=data["reason"], actor=actor
        )


@_action("cancel", "Cancel a return", ReasonSerializer)
class ReturnCancelView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        return services.return_cancel(
            return_request=return_request, reason=data["reason"], actor=actor
        )


@_action("send-label", "Send the return label or instructions", ReturnLabelSerializer)
class ReturnSendLabelView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        carrier = None
        if data.get("carrier"):
            carrier = selectors.carrier_get(code=data["carrier"])
            if carrier is None:
                raise NotFound(f"No carrier '{data['carrier']}'.", code=errors.UNKNOWN_CARRIER)
        return services.return_send_label(
            return_request=return_request,
            carrier=carrier,
            tracking_number=data["tracking_number"],
            instructions=data["instructions"],
            actor=actor,
        )


@_action("receive", "Record the returned parcel's arrival", ReturnReceiveSerializer)
class ReturnReceiveView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        quantities = None
        if data.get("lines"):
            given = _by_line_no(return_request, data["lines"])
            quantities = {
                line_id: given[line_id]["quantity"] if line_id in given else 0
                for line_id in line_ids_by_no(return_request).values()
            }
        return services.return_receive(
            return_request=return_request, quantities=quantities, actor=actor
        )


@_action("inspect", "Record the returned goods' condition", ReturnInspectSerializer)
class ReturnInspectView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        lines = {
            line_id: {k: v for k, v in item.items() if k in ("condition", "disposition")}
            for line_id, item in _by_line_no(return_request, data.get("lines") or []).items()
        }
        return services.return_inspect(return_request=return_request, lines=lines, actor=actor)


@_action("restock", "Restock or write off the returned goods", EmptySerializer)
class ReturnRestockView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        return services.return_restock(return_request=return_request, actor=actor)


@_action("refund", "Refund the return", ReturnRefundSerializer)
class ReturnRefundView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        return services.return_refund(
            return_request=return_request, amount=data.get("amount"), actor=actor
        )


@_action("replace", "Send a free replacement", EmptySerializer)
class ReturnReplaceView(ReturnActionView):
    def apply(self, return_request: ReturnRequest, data: dict[str, Any], actor: Actor) -> Any:
        return services.return_replace(return_request=return_request, actor=actor)

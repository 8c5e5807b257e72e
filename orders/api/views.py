from __future__ import annotations

import contextlib
from typing import Any

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from customers import services as customer_services
from customers.models import Customer
from oms.core.actors import Actor
from oms.core.api.idempotency import Answer, KeyTaken
from oms.core.api.views import ChannelAPIView
from oms.core.bulk import Writes
from oms.core.errors import NotFound
from orders import selectors, services
from orders.models import Order

from .filters import OrderFilter
from .serializers import (
    OrderDetailSerializer,
    OrderEditSerializer,
    OrderEventSerializer,
    OrderNoteSerializer,
    OrderPlaceSerializer,
    OrderReasonSerializer,
    OrderSerializer,
)


def _customer_for(view: ChannelAPIView, data: dict[str, Any], actor: Actor) -> Customer | None:
    """The order's customer when it comes inline: upserted by the channel's customer id or
    found by email, else created. Runs before (and outside) the intake transaction: a refused
    order leaves at most an up-to-date customer. None for ``customer_id``: intake reads it
    (one read for all the orders it places together) and refuses one the channel cannot
    see with a 404."""
    if "customer_id" in data:
        return None
    inline = dict(data["customer"])
    email = inline.pop("email")
    external_id = inline.pop("external_id", None)
    if external_id:
        customer, _ = customer_services.customer_upsert_by_reference(
            channel=view.channel, external_id=external_id, email=email, actor=actor, **inline
        )
        return customer
    existing = Customer.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing
    return customer_services.customer_create(
        email=email, channel=view.channel, actor=actor, **inline
    )


class OrderListPlaceView(ChannelAPIView, ListAPIView):
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    # Intake claims each Idempotency-Key in the transaction that places its order, all of a
    # group's keys in one statement (``_StoredAnswer.claim_together``).
    claims_idempotency_key = True

    def get_queryset(self) -> Any:
        if self.is_schema_generation:
            return Order.objects.none()
        return selectors.order_list_for_channel(channel=self.channel)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        # From before authentication on, an intake group about to start in this process
        # waits a moment for this request to join it (``placement_expected``). The body is
        # read first: a slow client's upload never holds a group up. (One over the upload
        # limit is refused before it is read, by the API's error handler: 413.)
        with contextlib.suppress(RequestDataTooBig):
            request.body  # noqa: B018
        with services.placement_expected():
            return super().dispatch(request, *args, **kwargs)

    @extend_schema(summary="List this channel's orders")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=OrderPlaceSerializer,
        responses={201: OrderSerializer, 200: OrderSerializer},
        summary="Place an order",
        description=(
            "Validates SKUs, prices, quantities and addresses, computes totals server-side, "
            "writes the order and allocates stock in one transaction. Re-sending an "
            "external_id returns the existing order with 200. Errors: unknown_sku, "
            "sku_inactive, no_price, price_mismatch (409), total_mismatch (409), "
            "out_of_stock (409), invalid_country, invalid_address."
        ),
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = OrderPlaceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = dict(data.validated_data)
        actor = Actor.for_channel(self.channel)
        customer = _customer_for(self, payload, actor)
        # Grouped: placed in one transaction with the requests this process is taking at
        # the same moment (threaded workers), each still answered only once committed; the
        # Idempotency-Key's answer is stored in that transaction too.
        answer = self.idempotency
        order, created = services.order_place_grouped(
            channel=self.channel,
            customer=customer,
            customer_id=payload.get("customer_id"),
            actor=actor,
            external_id=payload.get("external_id"),
            currency=payload.get("currency"),
            lines=[dict(line) for line in payload["lines"]],
            shipping_address=dict(payload["shipping_address"]),
            billing_address=dict(payload["billing_address"])
            if "billing_address" in payload
            else None,
            delivery_option=payload["delivery_option"],
            notes=payload["notes"],
            expected_total=payload.get("expected_total"),
            payment_pending=payload["payment_pending"],
            settlement=None if answer is None else _StoredAnswer(self, answer),
        )
        if answer is not None and answer.response is not None:
            return answer.response
        return self.placed_response(order, created)

    def placed_response(self, order: Order, created: bool) -> Response:
        if not created:
            order = selectors.order_list_for_channel(channel=self.channel).get(pk=order.pk)
        return Response(
            OrderSerializer(order).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class _StoredAnswer:
    """Intake's settlement for an Idempotency-Key: the key is claimed first in the
    transaction that places or refuses the order, and the response, success or refusal, is
    rendered and stored in it."""

    def __init__(self, view: OrderListPlaceView, answer: Answer) -> None:
        self.view, self.answer = view, answer

    @staticmethod
    def claim_together(settlements: list[_StoredAnswer]) -> list[BaseException | None]:
        claimed = Answer.claim_together([s.answer for s in settlements])
        return [None if ok else KeyTaken() for ok in claimed]

    def stage(self, outcome: Any, writes: Writes) -> None:
        if isinstance(outcome, Exception):
            response = self.view.handle_exception(outcome)
        else:
            response = self.view.placed_response(*outcome)
        self.answer.stage(response, writes)

    def committed(self) -> None:
        self.answer.committed()


class _OrderMixin:
    """Finds the caller's order (a mixin: ChannelAPIView decides per concrete view whether it
    takes POST, so an intermediate base must not subclass it)."""

    channel: Any

    def _order(self, pk: int) -> Order:
        order = selectors.order_get_for_channel(channel=self.channel, pk=pk)
        if order is None:
            raise NotFound(f"No order {pk} for this channel.")
        return order

    def _detail(self, order: Order) -> Response:
        return Response(OrderDetailSerializer(self._order(order.pk)).data)


class OrderDetailView(_OrderMixin, ChannelAPIView):
    @extend_schema(
        responses=OrderDetailSerializer, summary="Retrieve an order with lines and timeline"
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(OrderDetailSerializer(self._order(pk)).data)

    @extend_schema(
        request=OrderEditSerializer,
        responses=OrderDetailSerializer,
        summary="Edit an order before it ships (same as POST …/edit/)",
    )
    def patch(self, request: Request, pk: int) -> Response:
        return _edit(self, request, pk)


def _edit(view: Any, request: Request, pk: int) -> Response:
    order = view._order(pk)
    data = OrderEditSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    changes = dict(data.validated_data)
    if "quantities" in changes:
        changes["quantities"] = {q["line_id"]: q["quantity"] for q in changes["quantities"]}
    if "add_lines" in changes:
        changes["add_lines"] = [dict(line) for line in changes["add_lines"]]
    for key in ("shipping_address", "billing_address"):
        if key in changes:
            changes[key] = dict(changes[key])
    order = services.order_edit(order=order, actor=Actor.for_channel(view.channel), **changes)
    return view._detail(order)


class OrderEditView(_OrderMixin, ChannelAPIView):
    @extend_schema(
        request=OrderEditSerializer,
        responses=OrderDetailSerializer,
        summary="Edit an order before it ships",
        description=(
            "Change quantities (0 removes a line), add or remove lines, change addresses or "
            "the delivery option. Changed lines are re-allocated; the diff is on the "
            "timeline. 409 order_not_editable once shipping started; 409 out_of_stock when "
            "the new quantities cannot be allocated (the order is left unchanged)."
        ),
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, pk: int) -> Response:
        return _edit(self, request, pk)


class OrderCancelView(_OrderMixin, ChannelAPIView):
    @extend_schema(
        request=OrderReasonSerializer,
        responses=OrderDetailSerializer,
        summary="Cancel an order",
        description="Releases its stock; what was paid is refunded. 409 once shipping started.",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, pk: int) -> Response:
        order = self._order(pk)
        data = OrderReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_cancel(
            order=order, reason=data.validated_data["reason"], actor=Actor.for_channel(self.channel)
        )
        return self._detail(order)


class OrderNoteView(_OrderMixin, ChannelAPIView):
    @extend_schema(
        request=OrderNoteSerializer,
        responses={201: OrderEventSerializer},
        summary="Add a note to the timeline",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, pk: int) -> Response:
        order = self._order(pk)
        data = OrderNoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.order_note_add(
            order=order, text=data.validated_data["text"], actor=Actor.for_channel(self.channel)
        )
        return Response(OrderEventSerializer(note).data, status=status.HTTP_201_CREATED)

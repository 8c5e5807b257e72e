"""Channel API for subscriptions: create (Idempotency-Key), list, retrieve with the upcoming
renewal, and one endpoint per change with a side-effect-free ``preview/`` twin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from customers.models import Address
from customers.selectors import customer_get_for_channel
from oms.core.actors import Actor
from oms.core.api.views import ChannelAPIView
from oms.core.errors import NotFound, ValidationError
from subscriptions import selectors, services
from subscriptions.models import Plan, PlanVersion, Subscription, SubscriptionEvent
from subscriptions.services import ChangePreview
from subscriptions.services._common import jsonable

from . import serializers as s
from .filters import SubscriptionFilter


def _get(view: ChannelAPIView, pk: int) -> Subscription:
    subscription = selectors.subscription_get_for_channel(channel=view.channel, pk=pk)
    if subscription is None:
        raise NotFound(f"No subscription {pk} for this channel.")
    return subscription


def _detail(view: ChannelAPIView, pk: int) -> dict[str, Any]:
    qs = selectors.with_renewal_data(selectors.subscription_list_for_channel(channel=view.channel))
    subscription = qs.filter(pk=pk).first()
    if subscription is None:
        raise NotFound(f"No subscription {pk} for this channel.")
    preview = selectors.upcoming_renewal(subscription)
    return s.SubscriptionDetailSerializer(subscription, context={"upcoming_renewal": preview}).data


def _plan(code: str) -> Plan:
    plan = Plan.objects.filter(code=code).first()
    if plan is None:
        raise ValidationError(f"Unknown plan '{code}'.", fields={"plan": ["Unknown plan."]})
    return plan


def preview_data(preview: ChangePreview) -> dict[str, Any]:
    return {
        "action": preview.action,
        "subscription_id": preview.subscription_id,
        "effective_date": preview.effective_date,
        "summary": preview.summary,
        "currency": preview.currency,
        "status_after": preview.status_after,
        "next_renewal_date": preview.next_renewal_date,
        "scheduled": preview.scheduled,
        "lines": [asdict(line) for line in preview.lines],
        "amount_due_now": preview.amount_due_now,
        "details": jsonable(preview.details),
    }


# --- plans, list, create, retrieve -------------------------------------------------------


class PlanListView(ChannelAPIView, ListAPIView):
    serializer_class = s.PlanSerializer

    def get_queryset(self) -> QuerySet[Plan]:
        versions = PlanVersion.objects.order_by("-version").prefetch_related("prices", "items__sku")
        return selectors.plan_list().prefetch_related(Prefetch("versions", queryset=versions))

    @extend_schema(summary="List the plans open to new subscribers")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _create_kwargs(view: ChannelAPIView, data: dict[str, Any]) -> dict[str, Any]:
    customer = customer_get_for_channel(channel=view.channel, pk=data["customer_id"])
    if customer is None:
        raise NotFound(f"No customer {data['customer_id']} for this channel.")
    address_ref = None
    if "shipping_address_id" in data:
        address_ref = Address.objects.filter(
            pk=data["shipping_address_id"], customer=customer
        ).first()
        if address_ref is None:
            raise ValidationError(
                "Unknown address.", fields={"shipping_address_id": ["Not this customer's."]}
            )
    return {
        "customer": customer,
        "plan": _plan(data["plan"]),
        "currency": data.get("currency"),
        "quantity": data["quantity"],
        "start_date": data.get("start_date"),
        "trial_days": data.get("trial_days"),
        "shipping_address": data.get("shipping_address"),
        "shipping_address_ref": address_ref,
    }


class SubscriptionListCreateView(ChannelAPIView, ListAPIView):
    serializer_class = s.SubscriptionSerializer
    filterset_class = SubscriptionFilter

    def get_queryset(self) -> QuerySet[Subscription]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no channel
            return Subscription.objects.none()
        return selectors.subscription_list_for_channel(channel=self.channel)

    @extend_schema(summary="List subscriptions")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.SubscriptionCreateSerializer,
        responses={201: s.SubscriptionDetailSerializer},
        summary="Create a subscription",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.SubscriptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.subscription_create(
            **_create_kwargs(self, data.validated_data),
            payment_method=data.validated_data["payment_method"],
            channel=self.channel,
            actor=Actor.for_channel(self.channel),
        )
        return Response(_detail(self, subscription.pk), status=status.HTTP_201_CREATED)


class SubscriptionCreatePreviewView(ChannelAPIView):
    @extend_schema(
        request=s.SubscriptionCreateSerializer,
        responses=s.SubscriptionCreatePreviewSerializer,
        summary="Preview a subscription (nothing is written)",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.SubscriptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preview = services.preview_subscription_create(**_create_kwargs(self, data.validated_data))
        body = {**asdict(preview), "first_renewal_total": preview.first_renewal_total}
        return Response(s.SubscriptionCreatePreviewSerializer(body).data)


class SubscriptionDetailView(ChannelAPIView):
    @extend_schema(
        responses=s.SubscriptionDetailSerializer,
        summary="Retrieve a subscription with its upcoming renewal",
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail(self, pk))


class SubscriptionEventListView(ChannelAPIView, ListAPIView):
    """The subscription's timeline, newest first."""

    serializer_class = s.SubscriptionEventSerializer

    def get_queryset(self) -> QuerySet[SubscriptionEvent]:
        if getattr(self, "swagger_fake_view", False):
            return SubscriptionEvent.objects.none()
        return selectors.subscription_events(subscription=_get(self, self.kwargs["pk"]))

    @extend_schema(summary="A subscription's timeline")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# --- one endpoint per change, each with a preview twin ---------------------------------------


@dataclass(frozen=True)
class ChangeSpec:
    slug: str
    summary: str
    input: type[serializers.Serializer]
    apply: Callable[..., Subscription]
    preview: Callable[..., ChangePreview]
    kwargs: Callable[[Subscription, dict[str, Any]], dict[str, Any]]
    service_only: tuple[str, ...] = ()  # arguments the preview does not take


def _address_kwargs(sub: Subscription, data: dict[str, Any]) -> dict[str, Any]:
    ref = None
    if "address_id" in data:
        ref = Address.objects.filter(pk=data["address_id"], customer_id=sub.customer_id).first()
        if ref is None:
            raise ValidationError(
                "Unknown address.", fields={"address_id": ["Not this customer's."]}
            )
    return {"address": data.get("address"), "address_ref": ref}


def _change_plan_kwargs(sub: Subscription, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "plan": _plan(data["plan"]),
        "quantity": data.get("quantity"),
        "policy": data.get("policy"),
    }


SPECS = [
    ChangeSpec("change-plan", "Change the plan (and quantity)", s.SubscriptionChangePlanSerializer,
               services.subscription_change_plan, services.preview_subscription_change_plan, _change_plan_kwargs),
    ChangeSpec("change-quantity", "Change the quantity", s.SubscriptionChangeQuantitySerializer,
               services.subscription_change_quantity, services.preview_subscription_change_quantity,
               lambda sub, d: {"quantity": d["quantity"], "policy": d.get("policy")}),
    ChangeSpec("change-frequency", "Change how often it renews", s.SubscriptionChangeFrequencySerializer,
               services.subscription_change_frequency, services.preview_subscription_change_frequency,
               lambda sub, d: dict(d)),
    ChangeSpec("reschedule", "Move the next renewal date", s.SubscriptionRescheduleSerializer,
               services.subscription_reschedule, services.preview_subscription_reschedule, lambda sub, d: dict(d)),
    ChangeSpec("send-now", "Renew now (next renewal today)", s.SubscriptionEmptySerializer,
               services.subscription_send_now, services.preview_subscription_send_now, lambda sub, d: {}),
    ChangeSpec("change-address", "Change the shipping address", s.SubscriptionChangeAddressSerializer,
               services.subscription_change_address, services.preview_subscription_change_address, _address_kwargs),
    ChangeSpec("change-payment-method", "Change the payment method", s.SubscriptionChangePaymentMethodSerializer,
               services.subscription_change_payment_method, services.preview_subscription_change_payment_method,
               lambda sub, d: dict(d)),
    ChangeSpec("skip", "Skip one period (default: the next)", s.SubscriptionPeriodSerializer,
               services.subscription_skip, services.preview_subscription_skip, lambda sub, d: dict(d)),
    ChangeSpec("unskip", "Undo a skip", s.SubscriptionPeriodSerializer,
               services.subscription_unskip, services.preview_subscription_unskip, lambda sub, d: dict(d)),
    ChangeSpec("swap-item", "Swap an item in one box", s.SubscriptionSwapItemSerializer,
               services.subscription_swap_item, services.preview_subscription_swap_item, lambda sub, d: dict(d)),
    ChangeSpec("add-addon", "Add a one-time add-on to one box", s.SubscriptionAddAddonSerializer,
               services.subscription_add_addon, services.preview_subscription_add_addon, lambda sub, d: dict(d)),
    ChangeSpec("pause", "Pause for N cycles or until a date", s.SubscriptionPauseSerializer,
               services.subscription_pause, services.preview_subscription_pause, lambda sub, d: dict(d),
               service_only=("reason",)),
    ChangeSpec("resume", "Resume a paused subscription", s.SubscriptionReasonSerializer,
               services.subscription_resume, services.preview_subscription_resume, lambda sub, d: dict(d),
               service_only=("reason",)),
    ChangeSpec("cancel", "Cancel now or at period end (reason required)", s.SubscriptionCancelSerializer,
               services.subscription_cancel, services.preview_subscription_cancel, lambda sub, d: dict(d)),
    ChangeSpec("reactivate", "Undo a pending cancellation", s.SubscriptionReasonSerializer,
               services.subscription_reactivate, services.preview_subscription_reactivate, lambda sub, d: dict(d),
               service_only=("reason",)),
]  # fmt: skip


class SubscriptionChangeView(ChannelAPIView):
    spec: ChangeSpec

    def _kwargs(self, request: Request, pk: int) -> tuple[Subscription, dict[str, Any]]:
        subscription = _get(self, pk)
        data = self.spec.input(data=request.data)
        data.is_valid(raise_exception=True)
        return subscription, self.spec.kwargs(subscription, dict(data.validated_data))

    def _preview(self, subscription: Subscription, kwargs: dict[str, Any]) -> ChangePreview:
        preview_kwargs = {k: v for k, v in kwargs.items() if k not in self.spec.service_only}
        return self.spec.preview(subscription=subscription, **preview_kwargs)

    def handle_post(self, request: Request, pk: int) -> Response:
        subscription, kwargs = self._kwargs(request, pk)
        preview = self._preview(subscription, kwargs)
        self.spec.apply(subscription=subscription, actor=Actor.for_channel(self.channel), **kwargs)
        return Response({"subscription": _detail(self, pk), "change": preview_data(preview)})


class SubscriptionChangePreviewView(SubscriptionChangeView):
    def handle_post(self, request: Request, pk: int) -> Response:
        subscription, kwargs = self._kwargs(request, pk)
        return Response(preview_data(self._preview(subscription, kwargs)))


def _camel(slug: str) -> str:
    return "".join(part.title() for part in slug.split("-"))


def build_change_views() -> list[tuple[ChangeSpec, type[ChannelAPIView], type[ChannelAPIView]]]:
    built = []
    for spec in SPECS:
        name = _camel(spec.slug)
        apply_view = extend_schema_view(
            post=extend_schema(
                request=spec.input,
                responses=s.SubscriptionChangeResultSerializer,
                summary=spec.summary,
            )
        )(type(f"Subscription{name}View", (SubscriptionChangeView,), {"spec": spec}))
        preview_view = extend_schema_view(
            post=extend_schema(
                request=spec.input,
                responses=s.SubscriptionChangePreviewSerializer,
                summary=f"Preview: {spec.summary.lower()} (nothing is written)",
            )
        )(type(f"Subscription{name}PreviewView", (SubscriptionChangePreviewView,), {"spec": spec}))
        built.append((spec, apply_view, preview_view))
    return built


CHANGE_VIEWS = build_change_views()

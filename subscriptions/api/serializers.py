from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.api.serializers import AddressInputSerializer
from subscriptions.models import (
    Plan,
    PlanVersion,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from subscriptions.periods import IntervalUnit
from subscriptions.selectors import Outcome
from subscriptions.services import POLICIES

# Channels act for customers: they may defer a change to the end of the term, but only
# operators (the console) may apply a downgrade immediately (a credit) or waive proration.
CHANNEL_POLICIES = [p for p in POLICIES if p == "end_of_term"]
POLICY_HELP = (
    "Default: an upgrade applies now with proration, a downgrade at the end of the term. "
    "'end_of_term' defers any change to the next renewal."
)

OUTCOME_CHOICES = [(o, o.replace("_", " ")) for o in Outcome.ALL]


class SubPlanPriceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.IntegerField(help_text="Per period and unit, minor units.")
    setup_fee = serializers.IntegerField()


class SubPlanItemSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    sku_code = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()


class PlanVersionSerializer(serializers.ModelSerializer):
    prices = SubPlanPriceSerializer(many=True)
    items = SubPlanItemSerializer(many=True)

    class Meta:
        model = PlanVersion
        fields = (
            "id",
            "version",
            "interval_unit",
            "interval_count",
            "trial_days",
            "prices",
            "items",
        )


class PlanSerializer(serializers.ModelSerializer):
    current_version = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = (
            "id",
            "code",
            "name",
            "description",
            "min_commitment_cycles",
            "pay_later",
            "current_version",
        )

    def get_current_version(self, obj: Plan) -> dict[str, Any] | None:
        versions = list(obj.versions.all())  # prefetched, newest first
        return PlanVersionSerializer(versions[0]).data if versions else None


class SubscriptionRenewalItemSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    sku_code = serializers.CharField()
    quantity = serializers.IntegerField()
    kind = serializers.CharField(help_text="plan, swap or addon")


class SubscriptionAmountLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units; negative is a credit.")


class SubscriptionRenewalPreviewSerializer(serializers.Serializer):
    renewal_date = serializers.DateField()
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Exclusive: the next period starts on it.")
    outcome = serializers.ChoiceField(choices=OUTCOME_CHOICES)
    currency = serializers.CharField()
    items = SubscriptionRenewalItemSerializer(many=True)
    lines = SubscriptionAmountLineSerializer(many=True)
    total = serializers.IntegerField()


class SubscriptionSerializer(serializers.ModelSerializer):
    customer_id = serializers.IntegerField()
    plan = serializers.CharField(source="plan_version.plan.code")
    plan_version = serializers.IntegerField(source="plan_version.version")

    class Meta:
        model = Subscription
        fields = (
            "id", "customer_id", "plan", "plan_version", "plan_version_id", "quantity", "currency", "status",
            "interval_unit", "interval_count", "billing_anchor", "current_period_start", "current_period_end",
            "next_renewal_date", "trial_end", "cycles_completed", "cancel_at_period_end", "cancel_reason",
            "paused_until", "shipping_address", "payment_method", "created_at", "updated_at",
        )  # fmt: skip


class SubscriptionDetailSerializer(SubscriptionSerializer):
    upcoming_renewal = serializers.SerializerMethodField()

    class Meta(SubscriptionSerializer.Meta):
        fields = (*SubscriptionSerializer.Meta.fields, "upcoming_renewal")

    @extend_schema_field(SubscriptionRenewalPreviewSerializer(allow_null=True))
    def get_upcoming_renewal(self, obj: Subscription) -> dict[str, Any] | None:
        preview = self.context.get("upcoming_renewal")
        return SubscriptionRenewalPreviewSerializer(preview).data if preview is not None else None


class SubscriptionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubscriptionEvent
        fields = ("id", "created_at", "kind", "actor_kind", "actor_label", "message", "payload")


class SubscriptionChangePreviewSerializer(serializers.Serializer):
    action = serializers.CharField()
    subscription_id = serializers.IntegerField()
    effective_date = serializers.DateField()
    summary = serializers.CharField()
    currency = serializers.CharField()
    status_after = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    next_renewal_date = serializers.DateField(allow_null=True)
    scheduled = serializers.BooleanField(help_text="True when the change waits for a period start.")
    lines = SubscriptionAmountLineSerializer(
        many=True, help_text="Money charged (+) or credited (−) now."
    )
    amount_due_now = serializers.IntegerField()
    details = serializers.DictField(child=serializers.JSONField())


class SubscriptionChangeResultSerializer(serializers.Serializer):
    subscription = SubscriptionDetailSerializer()
    change = SubscriptionChangePreviewSerializer()


class SubscriptionCreatePreviewSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    currency = serializers.CharField()
    quantity = serializers.IntegerField()
    start_date = serializers.DateField()
    trial_end = serializers.DateField(allow_null=True)
    first_renewal_date = serializers.DateField()
    first_period_start = serializers.DateField()
    first_period_end = serializers.DateField()
    lines = SubscriptionAmountLineSerializer(many=True)
    first_renewal_total = serializers.IntegerField()


# --- inputs -------------------------------------------------------------------------------


class SubscriptionShippingAddressInputSerializer(AddressInputSerializer):
    kind = None  # type: ignore[assignment]
    is_default = None  # type: ignore[assignment]


class SubscriptionCreateSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    plan = serializers.SlugField(help_text="Plan code; the plan's current version is used.")
    currency = serializers.CharField(max_length=3, min_length=3, required=False)
    quantity = serializers.IntegerField(min_value=1, default=1)
    start_date = serializers.DateField(required=False, help_text="Default: today (business date).")
    trial_days = serializers.IntegerField(
        min_value=0, required=False, help_text="Default: the plan's."
    )
    shipping_address = SubscriptionShippingAddressInputSerializer(required=False)
    shipping_address_id = serializers.IntegerField(required=False)
    payment_method = serializers.CharField(max_length=255, required=False, default="")


class SubscriptionChangePlanSerializer(serializers.Serializer):
    plan = serializers.SlugField(help_text="Code of the plan to switch to (its current version).")
    quantity = serializers.IntegerField(min_value=1, required=False)
    policy = serializers.ChoiceField(
        choices=CHANNEL_POLICIES,
        required=False,
        help_text=POLICY_HELP,
    )


class SubscriptionChangeQuantitySerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1)
    policy = serializers.ChoiceField(
        choices=CHANNEL_POLICIES, required=False, help_text=POLICY_HELP
    )


class SubscriptionChangeFrequencySerializer(serializers.Serializer):
    interval_unit = serializers.ChoiceField(choices=IntervalUnit.choices)
    interval_count = serializers.IntegerField(min_value=1, max_value=365)
    at_next_renewal = serializers.BooleanField(default=False)


class SubscriptionRescheduleSerializer(serializers.Serializer):
    next_renewal_date = serializers.DateField()


class SubscriptionEmptySerializer(serializers.Serializer):
    pass


class SubscriptionChangeAddressSerializer(serializers.Serializer):
    address = SubscriptionShippingAddressInputSerializer(required=False)
    address_id = serializers.IntegerField(required=False)


class SubscriptionChangePaymentMethodSerializer(serializers.Serializer):
    payment_method = serializers.CharField(max_length=255)


class SubscriptionPeriodSerializer(serializers.Serializer):
    period_start = serializers.DateField(required=False, help_text="Default: the next renewal.")


class SubscriptionSwapItemSerializer(SubscriptionPeriodSerializer):
    from_sku = serializers.CharField(max_length=64)
    to_sku = serializers.CharField(max_length=64)


class SubscriptionAddAddonSerializer(SubscriptionPeriodSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, default=1)


class SubscriptionPauseSerializer(serializers.Serializer):
    cycles = serializers.IntegerField(min_value=1, required=False)
    until = serializers.DateField(required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("cycles" in attrs) == ("until" in attrs):
            raise serializers.ValidationError("Give either cycles or until.")
        return attrs


class SubscriptionReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class SubscriptionCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Required: churn reasons are reported.")
    at_period_end = serializers.BooleanField(default=False)
    refund = serializers.ChoiceField(choices=("prorated", "none"), default="prorated")

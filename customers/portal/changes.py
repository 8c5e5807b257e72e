"""The self-service changes a customer can make to a subscription. Each is a form (what the
customer chooses), the subscriptions app's ``preview_*`` function (what will happen and what
it costs, shown on a confirm page) and its service (applied once the customer confirms).

The form's cleaned data becomes the keyword arguments of both calls (``kwargs``), so the
confirm page previews exactly what the service will be asked to do."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django import forms

from customers.models import AddressKind
from subscriptions import services as sub_services
from subscriptions.models import Subscription, SubscriptionStatus
from subscriptions.periods import describe_interval
from subscriptions.selectors import Outcome

from . import selectors

FREQUENCIES = [
    ("week", 1),
    ("week", 2),
    ("week", 3),
    ("week", 4),
    ("month", 1),
    ("month", 2),
    ("month", 3),
]
CANCEL_REASONS = [
    ("too_expensive", "It is too expensive"),
    ("too_much", "I have too much product"),
    ("quality", "I am not happy with the quality"),
    ("switching", "I am switching to something else"),
    ("moving", "I am moving"),
    ("other", "Another reason"),
]


class SubscriptionForm(forms.Form):
    """A form that knows the subscription it changes (for its choices)."""

    def __init__(self, *args: Any, subscription: Subscription, **kwargs: Any) -> None:
        self.subscription = subscription
        super().__init__(*args, **kwargs)
        self.setup()

    def setup(self) -> None:
        pass

    def service_kwargs(self) -> dict[str, Any]:
        return {}


def _choices(form: forms.Form, name: str) -> forms.ChoiceField:
    return cast(forms.ChoiceField, form.fields[name])


def _date_choices(periods: list[selectors.UpcomingPeriod]) -> list[tuple[str, str]]:
    return [(p.date.isoformat(), p.date.strftime("%A %-d %B %Y")) for p in periods]


class SkipForm(SubscriptionForm):
    period_start = forms.ChoiceField(label="Which delivery?")

    def setup(self) -> None:
        periods = [
            p
            for p in selectors.upcoming_periods(self.subscription, count=4)
            if p.outcome in Outcome.BILLED
        ]
        _choices(self, "period_start").choices = _date_choices(periods)

    def service_kwargs(self) -> dict[str, Any]:
        return {"period_start": dt.date.fromisoformat(self.cleaned_data["period_start"])}


class UnskipForm(SkipForm):
    period_start = forms.ChoiceField(label="Which skipped delivery?")

    def setup(self) -> None:
        periods = [
            p
            for p in selectors.upcoming_periods(self.subscription, count=6)
            if p.outcome == Outcome.SKIP
        ]
        _choices(self, "period_start").choices = _date_choices(periods)


class PauseForm(SubscriptionForm):
    cycles = forms.TypedChoiceField(
        label="Pause for",
        coerce=int,
        choices=[(n, f"{n} cycle{'s' if n > 1 else ''}") for n in range(1, 7)],
        initial=1,
    )
    reason = forms.CharField(max_length=500, required=False, label="Anything we should know?")

    def service_kwargs(self) -> dict[str, Any]:
        return {"cycles": self.cleaned_data["cycles"]}


class SwapForm(SubscriptionForm):
    from_sku = forms.TypedChoiceField(label="Instead of", coerce=int)
    to_sku = forms.TypedChoiceField(label="Send me", coerce=int)

    def setup(self) -> None:
        version = self.subscription.plan_version
        _choices(self, "from_sku").choices = [
            (item.sku_id, f"{item.sku.name} ({item.sku.code})") for item in version.items.all()
        ]
        _choices(self, "to_sku").choices = [
            (sku.pk, f"{sku.name} ({sku.code})")
            for sku in selectors.swap_candidates(subscription=self.subscription)
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("from_sku") and data.get("from_sku") == data.get("to_sku"):
            self.add_error("to_sku", "Choose a different product.")
        return data

    def service_kwargs(self) -> dict[str, Any]:
        return {"from_sku": self.cleaned_data["from_sku"], "to_sku": self.cleaned_data["to_sku"]}


class FrequencyForm(SubscriptionForm):
    frequency = forms.ChoiceField(label="Deliver")

    def setup(self) -> None:
        s = self.subscription
        _choices(self, "frequency").choices = [
            (f"{unit}:{count}", describe_interval(unit, count).capitalize())
            for unit, count in FREQUENCIES
            if (unit, count) != (s.interval_unit, s.interval_count)
        ]

    def service_kwargs(self) -> dict[str, Any]:
        unit, count = self.cleaned_data["frequency"].split(":")
        return {"interval_unit": unit, "interval_count": int(count)}


class AddressForm(SubscriptionForm):
    address = forms.TypedChoiceField(label="Ship to", coerce=int, widget=forms.RadioSelect)

    def setup(self) -> None:
        addresses = selectors.portal_addresses(customer=self.subscription.customer).filter(
            kind=AddressKind.SHIPPING
        )
        self.addresses = {a.pk: a for a in addresses}
        _choices(self, "address").choices = [
            (a.pk, f"{a.name + ', ' if a.name else ''}{a}") for a in addresses
        ]
        current = self.subscription.shipping_address_ref_id
        if current in self.addresses:
            self.fields["address"].initial = current

    def service_kwargs(self) -> dict[str, Any]:
        return {"address_ref": self.addresses[self.cleaned_data["address"]]}


class QuantityForm(SubscriptionForm):
    quantity = forms.IntegerField(min_value=1, max_value=50, label="Boxes per delivery")

    def setup(self) -> None:
        self.fields["quantity"].initial = self.subscription.quantity

    def service_kwargs(self) -> dict[str, Any]:
        return {"quantity": self.cleaned_data["quantity"]}


class CancelForm(SubscriptionForm):
    reason = forms.ChoiceField(label="Why are you cancelling?", choices=CANCEL_REASONS)
    details = forms.CharField(
        label="Tell us more",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    when = forms.ChoiceField(
        label="When",
        widget=forms.RadioSelect,
        choices=[
            ("period_end", "At the end of the current period (no refund, nothing more billed)"),
            ("now", "Now (unused time is refunded as the plan's terms allow)"),
        ],
        initial="period_end",
    )

    def setup(self) -> None:
        s = self.subscription
        if s.cancel_at_period_end or s.status not in (
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.TRIALING,
        ):
            # Paused, past due or already ending: only an immediate cancellation is possible.
            _choices(self, "when").choices = [self.fields["when"].choices[1]]  # type: ignore[attr-defined]
            self.fields["when"].initial = "now"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("reason") == "other" and not (data.get("details") or "").strip():
            self.add_error("details", "Please tell us the reason.")
        return data

    def service_kwargs(self) -> dict[str, Any]:
        label = dict(CANCEL_REASONS)[self.cleaned_data["reason"]]
        details = (self.cleaned_data.get("details") or "").strip()
        reason = label if not details else f"{label}: {details}"
        return {"reason": reason, "at_period_end": self.cleaned_data["when"] == "period_end"}


class RescheduleForm(SubscriptionForm):
    next_renewal_date = forms.DateField(
        label="Next delivery on", widget=forms.DateInput(attrs={"type": "date"})
    )

    def setup(self) -> None:
        self.fields["next_renewal_date"].initial = self.subscription.next_renewal_date

    def service_kwargs(self) -> dict[str, Any]:
        return {"next_renewal_date": self.cleaned_data["next_renewal_date"]}


class AddonForm(SubscriptionForm):
    sku = forms.TypedChoiceField(label="Add to my next box", coerce=int)
    quantity = forms.IntegerField(min_value=1, max_value=10, initial=1)

    def setup(self) -> None:
        _choices(self, "sku").choices = [
            (sku.pk, f"{sku.name} ({sku.code})")
            for sku in selectors.swap_candidates(subscription=self.subscription)
        ]

    def service_kwargs(self) -> dict[str, Any]:
        # Never a customer-chosen price: the service prices the SKU in the currency.
        return {"sku": self.cleaned_data["sku"], "quantity": self.cleaned_data["quantity"]}


class PlanForm(SubscriptionForm):
    plan = forms.TypedChoiceField(label="Switch to", coerce=int, widget=forms.RadioSelect)

    def setup(self) -> None:
        self.plans = {
            plan.pk: plan for plan in selectors.plans_for_switch(subscription=self.subscription)
        }
        _choices(self, "plan").choices = [(pk, plan.name) for pk, plan in self.plans.items()]

    def service_kwargs(self) -> dict[str, Any]:
        return {"plan": self.plans[self.cleaned_data["plan"]]}


class EmptyForm(SubscriptionForm):
    pass


@dataclass(frozen=True)
class ChangeSpec:
    slug: str
    title: str
    confirm_label: str
    form_class: type[SubscriptionForm]
    preview: Callable[..., sub_services.ChangePreview]
    apply: Callable[..., Subscription]
    done: str
    danger: bool = False
    # Extra keyword arguments only the service takes (the preview does not).
    apply_extra: Callable[[SubscriptionForm], dict[str, Any]] = lambda form: {}


CHANGES: dict[str, ChangeSpec] = {
    spec.slug: spec
    for spec in [
        ChangeSpec(
            "skip",
            "Skip a delivery",
            "Skip this delivery",
            SkipForm,
            sub_services.preview_subscription_skip,
            sub_services.subscription_skip,
            "Skipped: nothing is billed or shipped on that date.",
        ),
        ChangeSpec(
            "unskip",
            "Undo a skip",
            "Deliver it after all",
            UnskipForm,
            sub_services.preview_subscription_unskip,
            sub_services.subscription_unskip,
            "The delivery is back on.",
        ),
        ChangeSpec(
            "pause",
            "Pause deliveries",
            "Pause",
            PauseForm,
            sub_services.preview_subscription_pause,
            sub_services.subscription_pause,
            "Your subscription is paused.",
            apply_extra=lambda form: {"reason": form.cleaned_data.get("reason", "")},
        ),
        ChangeSpec(
            "resume",
            "Resume deliveries",
            "Resume now",
            EmptyForm,
            sub_services.preview_subscription_resume,
            sub_services.subscription_resume,
            "Welcome back: your subscription is active again.",
        ),
        ChangeSpec(
            "swap",
            "Swap an item in the next box",
            "Swap it",
            SwapForm,
            sub_services.preview_subscription_swap_item,
            sub_services.subscription_swap_item,
            "Swapped for your next box.",
        ),
        ChangeSpec(
            "addon",
            "Add something to the next box",
            "Add it",
            AddonForm,
            sub_services.preview_subscription_add_addon,
            sub_services.subscription_add_addon,
            "Added to your next box.",
        ),
        ChangeSpec(
            "reschedule",
            "Change the next delivery date",
            "Move my delivery",
            RescheduleForm,
            sub_services.preview_subscription_reschedule,
            sub_services.subscription_reschedule,
            "Your next delivery date is changed.",
        ),
        ChangeSpec(
            "plan",
            "Change plan",
            "Change plan",
            PlanForm,
            sub_services.preview_subscription_change_plan,
            sub_services.subscription_change_plan,
            "Your plan is changed.",
        ),
        ChangeSpec(
            "frequency",
            "Change how often",
            "Change frequency",
            FrequencyForm,
            sub_services.preview_subscription_change_frequency,
            sub_services.subscription_change_frequency,
            "Frequency changed.",
        ),
        ChangeSpec(
            "address",
            "Change the delivery address",
            "Use this address",
            AddressForm,
            sub_services.preview_subscription_change_address,
            sub_services.subscription_change_address,
            "Delivery address changed.",
        ),
        ChangeSpec(
            "quantity",
            "Change quantity",
            "Change quantity",
            QuantityForm,
            sub_services.preview_subscription_change_quantity,
            sub_services.subscription_change_quantity,
            "Quantity changed.",
        ),
        ChangeSpec(
            "cancel",
            "Cancel subscription",
            "Cancel my subscription",
            CancelForm,
            sub_services.preview_subscription_cancel,
            sub_services.subscription_cancel,
            "Your subscription is cancelled.",
            danger=True,
        ),
        ChangeSpec(
            "reactivate",
            "Keep my subscription",
            "Keep it",
            EmptyForm,
            sub_services.preview_subscription_reactivate,
            sub_services.subscription_reactivate,
            "Your cancellation is withdrawn; deliveries continue.",
        ),
    ]
}


def available_changes(subscription: Subscription) -> list[str]:
    """The change slugs to offer on the subscription page (the services still guard)."""
    rules = sub_services.CHANGE_RULES
    status = subscription.status
    ending = subscription.cancel_at_period_end
    slugs = {
        "skip": "skip",
        "unskip": "unskip",
        "pause": "pause",
        "resume": "resume",
        "swap": "swap_item",
        "addon": "add_addon",
        "reschedule": "reschedule",
        "frequency": "change_frequency",
        "plan": "change_plan",
        "address": "change_address",
        "quantity": "change_quantity",
        "cancel": "cancel_now",
        "reactivate": "reactivate",
    }
    offered = []
    for slug, rule in slugs.items():
        if status not in rules[rule]:
            continue
        if slug == "reactivate" and not ending:
            continue
        if ending and slug not in ("address", "cancel", "reactivate"):
            continue
        offered.append(slug)
    if not subscription.plan_version.items.all() and "swap" in offered:
        offered.remove("swap")
    return offered

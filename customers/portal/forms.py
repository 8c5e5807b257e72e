from __future__ import annotations

from typing import Any

from django import forms

from customers.models import AddressKind
from fulfillment.statuses import ReturnReason, ReturnResolution
from oms.core.errors import ApplicationError


def add_service_errors(form: forms.Form, exc: ApplicationError) -> None:
    """Show a refused service call on the form: per field where the service names a field
    the form has, else as a form-wide error."""
    placed = False
    for field, messages in (exc.fields or {}).items():
        if field in form.fields:
            for message in messages if isinstance(messages, list) else [messages]:
                form.add_error(field, str(message))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    phone = forms.CharField(max_length=40, required=False)


class AddressForm(forms.Form):
    kind = forms.ChoiceField(choices=AddressKind.choices, initial=AddressKind.SHIPPING)
    name = forms.CharField(max_length=200, required=False)
    company = forms.CharField(max_length=200, required=False)
    line1 = forms.CharField(max_length=200, label="Address line 1")
    line2 = forms.CharField(max_length=200, required=False, label="Address line 2")
    postal_code = forms.CharField(max_length=20, required=False)
    city = forms.CharField(max_length=100)
    region = forms.CharField(max_length=100, required=False, label="State / region")
    country = forms.CharField(
        max_length=2,
        min_length=2,
        help_text="Two-letter code, e.g. US, DE, GB.",
        widget=forms.TextInput(attrs={"size": 3, "autocomplete": "country"}),
    )
    phone = forms.CharField(max_length=40, required=False)
    make_default = forms.BooleanField(required=False, label="Make this my default address")

    def address_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("kind")
        data.pop("make_default")
        return data


class ReturnForm(forms.Form):
    """One quantity field per returnable line (``qty_<line id>``), then why and what the
    customer would like instead."""

    reason = forms.ChoiceField(choices=ReturnReason.choices, label="Why are you returning it?")
    resolution = forms.ChoiceField(
        choices=ReturnResolution.choices,
        widget=forms.RadioSelect,
        initial=ReturnResolution.REFUND,
        label="What would you like?",
    )
    customer_note = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Anything we should know?",
    )

    def __init__(self, *args: Any, returnable: list[tuple[Any, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_fields = []
        for line, units in returnable:
            name = f"qty_{line.pk}"
            self.fields[name] = forms.IntegerField(
                min_value=0,
                max_value=units,
                initial=0,
                label=f"{line.name or line.sku_code} ({line.sku_code}) — up to {units}",
            )
            self.line_fields.append((name, line))
        # Quantities first, then the questions.
        self.order_fields([name for name, _ in self.line_fields] + ["reason", "resolution"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(name) for name, _ in self.line_fields):
            raise forms.ValidationError("Choose at least one item to return.")
        return data

    def return_lines(self) -> list[dict[str, Any]]:
        return [
            {"order_line": line.pk, "quantity": self.cleaned_data[name]}
            for name, line in self.line_fields
            if self.cleaned_data.get(name)
        ]

from __future__ import annotations

from typing import Any

from django import forms

from customers.models import AddressKind
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

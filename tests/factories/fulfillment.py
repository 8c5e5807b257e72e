"""Carrier factories and helpers for fulfillment tests."""

from __future__ import annotations

import factory

from fulfillment.models import Carrier, CarrierAdapterKind


class CarrierFactory(factory.django.DjangoModelFactory):
    """A manual carrier (the operator types tracking numbers)."""

    class Meta:
        model = Carrier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"carrier-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    adapter = CarrierAdapterKind.MANUAL
    tracking_url_template = "https://track.example/{tracking_number}"
    webhook_secret = ""


class HttpCarrierFactory(CarrierFactory):
    adapter = CarrierAdapterKind.HTTP
    base_url = "http://127.0.0.1:9"
    api_key = "carrier-api-key"
    webhook_secret = factory.Sequence(lambda n: f"whsec-{n}")
    tracking_url_template = ""

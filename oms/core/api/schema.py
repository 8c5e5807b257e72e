"""OpenAPI: Bearer auth, the Idempotency-Key header on every POST, the shared error shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ChannelKeyScheme(OpenApiAuthenticationExtension):
    target_class = "oms.core.api.authentication.ChannelKeyAuthentication"
    name = "ChannelKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "description": "A channel API key."}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.JSONField())  # type: ignore[assignment]


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Retries with the same key replay the first response; a different body is a 409.",
)


class ChannelAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        params = list(super().get_override_parameters())
        if self.method == "POST":
            params.append(IDEMPOTENCY_PARAMETER)
        return params

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies = super()._get_response_bodies(direction)
        error = self._get_response_for_code(ErrorSerializer, "4XX")
        bodies.setdefault("4XX", error)
        return bodies

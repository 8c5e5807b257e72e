from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oms.core.models import Channel

from .idempotency import Answer, run_idempotent


class ChannelAPIView(APIView):
    """Base for channel endpoints: knows its channel; every POST goes through Idempotency-Key
    handling and then ``handle_post``. A view without ``handle_post`` does not accept POST."""

    # While a POST runs: its Idempotency-Key's pending answer (None without a key), for a
    # handler that stores it with its own writes (``oms.core.api.idempotency.Answer``).
    idempotency: Answer | None = None
    # True: the handler claims the key itself, in the transaction of its work
    # (``oms.core.api.idempotency``, "claim late").
    claims_idempotency_key = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.handle_post is ChannelAPIView.handle_post:
            cls.http_method_names = [m for m in cls.http_method_names if m != "post"]

    @property
    def channel(self) -> Channel:
        return self.request.user.channel  # type: ignore[union-attr]

    @property
    def is_schema_generation(self) -> bool:
        """True while drf-spectacular inspects the view (there is no channel then)."""
        return getattr(self, "swagger_fake_view", False)

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return run_idempotent(
            request=request, view=self, handler=lambda: self.handle_post(request, *args, **kwargs)
        )

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotImplementedError


class PingSerializer(serializers.Serializer):
    channel = serializers.CharField()
    kind = serializers.CharField()


class PingView(ChannelAPIView):
    """A trivial authenticated endpoint: the channel the key belongs to."""

    @extend_schema(responses=PingSerializer, summary="Who am I: the caller's channel")
    def get(self, request: Request) -> Response:
        return Response({"channel": self.channel.code, "kind": self.channel.kind})

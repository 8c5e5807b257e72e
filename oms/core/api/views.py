from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oms.core.models import Channel

from .idempotency import run_idempotent


class ChannelAPIView(APIView):
    """Base for channel endpoints: knows its channel; every POST goes through Idempotency-Key
    handling and then ``handle_post``."""

    @property
    def channel(self) -> Channel:
        return self.request.user.channel  # type: ignore[union-attr]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return run_idempotent(
            request=request, view=self, handler=lambda: self.handle_post(request, *args, **kwargs)
        )

    def handle_post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotImplementedError


class PingView(ChannelAPIView):
    """A trivial authenticated endpoint: the channel the key belongs to."""

    def get(self, request: Request) -> Response:
        return Response({"channel": self.channel.code, "kind": self.channel.kind})

"""`Authorization: Bearer <channel API key>`: every API request knows its channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import authentication, exceptions

from oms.core.models import ApiKey, Channel
from oms.core.selectors import api_key_get_active
from oms.core.services import api_key_touch


@dataclass(frozen=True)
class ChannelPrincipal:
    """What ``request.user`` is for a channel request."""

    channel: Channel
    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False

    @property
    def pk(self) -> int:
        return self.channel.pk

    def __str__(self) -> str:
        return f"channel:{self.channel.code}"


class ChannelKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[ChannelPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword:
            raise exceptions.AuthenticationFailed(
                "Send the channel API key as 'Authorization: Bearer <key>'."
            )
        api_key = api_key_get_active(secret=parts[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if not api_key.channel.is_active:
            raise exceptions.PermissionDenied("This channel is deactivated.")
        api_key_touch(api_key=api_key)
        return ChannelPrincipal(channel=api_key.channel, api_key=api_key), api_key

    def authenticate_header(self, request: Any) -> str:
        return self.keyword


def request_channel(request: Any) -> Channel:
    return request.user.channel

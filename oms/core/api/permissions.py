from typing import Any

from rest_framework.permissions import BasePermission

from .authentication import ChannelPrincipal


class IsChannel(BasePermission):
    message = "A channel API key is required."

    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.user, ChannelPrincipal)

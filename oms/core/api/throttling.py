from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from .authentication import ChannelPrincipal


class ChannelRateThrottle(SimpleRateThrottle):
    """A request budget per channel (shared across workers when the cache is Redis)."""

    scope = "channel"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if isinstance(request.user, ChannelPrincipal):
            return self.cache_format % {"scope": self.scope, "ident": request.user.channel.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

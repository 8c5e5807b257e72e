from __future__ import annotations

from .models import ApiKey, Channel, IdempotencyRecord
from .services import hash_api_key


def api_key_get_active(*, secret: str) -> ApiKey | None:
    """The key matching ``secret`` with its channel, or None. Revoked keys are returned too so
    the caller can say *revoked* rather than *unknown*."""
    return ApiKey.objects.select_related("channel").filter(hashed_key=hash_api_key(secret)).first()


def idempotency_get(*, channel: Channel, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(channel=channel, key=key).first()

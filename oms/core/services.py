"""Writes for the platform: channels, API keys and idempotency records."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from .errors import Conflict, ValidationError
from .models import ApiKey, Channel, ChannelKind, IdempotencyRecord

API_KEY_PREFIX = "oms_"


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def channel_create(
    *,
    code: str,
    name: str,
    kind: str = ChannelKind.WEB,
    allow_backorders: bool = False,
    default_currency: str = "USD",
) -> Channel:
    code = slugify(code)
    if not code:
        raise ValidationError("A channel needs a code.", fields={"code": ["Required."]})
    if kind not in ChannelKind.values:
        raise ValidationError(f"Unknown channel kind '{kind}'.", fields={"kind": ["Unknown."]})
    if Channel.objects.filter(code=code).exists():
        raise Conflict(f"A channel with code '{code}' exists.", code="duplicate_channel")
    return Channel.objects.create(
        code=code,
        name=name,
        kind=kind,
        allow_backorders=allow_backorders,
        default_currency=default_currency.upper(),
    )


@transaction.atomic
def api_key_create(*, channel: Channel, name: str, created_by: Any = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret. The secret is never stored or shown again."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        channel=channel,
        name=name or "API key",
        prefix=secret[:12],
        hashed_key=hash_api_key(secret),
        created_by=created_by,
    )
    return key, secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
    return key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use at most once a minute, so authentication stays one read per request."""
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def idempotency_begin(
    *, channel: Channel, key: str, method: str, path: str, request_hash: str
) -> tuple[IdempotencyRecord, bool]:
    """Claim ``key`` for this channel. Returns (record, created). A concurrent claimer blocks
    on the unique index until the first commits, then sees the existing record."""
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                channel=channel, key=key, method=method, path=path, request_hash=request_hash
            )
            return record, True
    except IntegrityError:
        return IdempotencyRecord.objects.get(channel=channel, key=key), False


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.COMPLETE,
        response_status=status,
        response_body=body,
        updated_at=timezone.now(),
    )


def idempotency_abandon(*, record: IdempotencyRecord) -> None:
    """The request failed with a server error: free the key so a retry can run."""
    IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS
    ).delete()

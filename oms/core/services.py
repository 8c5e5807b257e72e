"""Writes for the platform: channels, API keys and idempotency records."""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from .bulk import Writes
from .db import is_postgres, prepared_cursor
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
    """Claim ``key`` for this channel. Returns (record, created); when the key is taken, the
    record holding it. The claim is visible to concurrent requests at once (it commits on its
    own unless a caller's transaction is open); a concurrent claimer blocks on the unique
    index until the first commits, then sees the existing record."""
    record = IdempotencyRecord(
        channel=channel, key=key, method=method, path=path, request_hash=request_hash
    )
    # A key released (a 5xx) between our failed claim and our read is free again: retry.
    for _ in range(3):
        if idempotency_claim_many(records=[record]) == [True]:  # commits at once in autocommit
            return record, True
        existing = IdempotencyRecord.objects.filter(channel=channel, key=key).first()
        if existing is not None:
            return existing, False
    raise Conflict(
        "A request with this Idempotency-Key keeps failing; retry shortly.",
        code="idempotency_in_progress",
    )


@functools.cache
def _claim_sql() -> str:
    """The claim of many keys, in the order given (``WITH ORDINALITY``): the response
    columns stay NULL until completion."""
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(c)
        for c in (
            "created_at", "updated_at", "state", "channel_id", "key", "method", "path",
            "request_hash",
        )
    )  # fmt: skip
    return (
        f"INSERT INTO {quote(IdempotencyRecord._meta.db_table)} ({columns}) "
        "SELECT %s::timestamptz, %s::timestamptz, %s, c, k, m, p, h "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], "
        "%s::varchar[]) WITH ORDINALITY AS v(c, k, m, p, h, n) ORDER BY n "
        f"ON CONFLICT ({quote('channel_id')}, {quote('key')}) DO NOTHING "
        f"RETURNING {quote('id')}, {quote('channel_id')}, {quote('key')}"
    )


def idempotency_claim_many(*, records: list[IdempotencyRecord]) -> list[bool]:
    """Claim each record's (channel, key), in progress, unless it is taken; per record,
    whether it claimed. Runs in the caller's transaction when one is open (the claims then
    commit or roll back with its work), else commits at once.

    A claim waits for a concurrent transaction that claimed the same key, then is refused if
    that one committed. The keys go in (channel, key) order, so two transactions claiming
    overlapping keys queue rather than deadlock. Of two records with one key, the first
    claims. On PostgreSQL one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` for all;
    elsewhere one savepoint each."""
    if not records:
        return []
    now = timezone.now()
    firsts: dict[tuple[int, str], IdempotencyRecord] = {}
    for record in records:
        firsts.setdefault((record.channel_id, record.key), record)
    ordered = sorted(firsts.values(), key=lambda r: (r.channel_id, r.key))
    for record in ordered:
        record.created_at = record.updated_at = now
        record.state = IdempotencyRecord.State.IN_PROGRESS
        record.pk, record._state.adding = None, True  # a claim rolled back left its id
    claimed: set[int] = set()
    if not is_postgres():
        for record in ordered:
            try:
                with transaction.atomic():
                    record.save(force_insert=True)
                claimed.add(id(record))
            except IntegrityError:
                pass
        return [id(record) in claimed for record in records]
    with prepared_cursor() as cursor:  # one text for any number of keys: planned once
        cursor.execute(
            _claim_sql(),
            [
                now,
                now,
                IdempotencyRecord.State.IN_PROGRESS.value,
                [r.channel_id for r in ordered],
                [r.key for r in ordered],
                [r.method for r in ordered],
                [r.path for r in ordered],
                [r.request_hash for r in ordered],
            ],
        )
        ids = {(channel_id, key): pk for pk, channel_id, key in cursor.fetchall()}
    for record in ordered:
        pk = ids.get((record.channel_id, record.key))
        if pk is not None:
            record.pk = pk
            record._state.adding = False
            claimed.add(id(record))
    return [id(record) in claimed for record in records]


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    """Store the answer to replay, in one UPDATE: ``body`` is the response's data (anything
    DjangoJSONEncoder writes, the field's encoder); None is stored as SQL NULL."""
    writes = Writes()
    idempotency_complete_staged(record=record, status=status, body=body, writes=writes)
    writes.run()


def idempotency_complete_staged(
    *, record: IdempotencyRecord, status: int, body: Any, writes: Writes
) -> None:
    """``idempotency_complete`` as part of the caller's write batch (``oms.core.bulk``), so
    the answer commits in the same transaction as the work it reports: there is no moment
    when the work is done and its key still says in progress."""
    record.state = IdempotencyRecord.State.COMPLETE
    record.response_status = status
    record.response_body = body
    record.updated_at = timezone.now()
    writes.update(
        IdempotencyRecord, [record], ["state", "response_status", "response_body", "updated_at"]
    )


def idempotency_abandon(*, record: IdempotencyRecord) -> None:
    """The request failed with a server error: free the key so a retry can run."""
    IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS
    ).delete()

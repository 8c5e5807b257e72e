"""Idempotency-Key on every POST (the Stripe rule).

The first response for (channel, key) is stored and replayed for a retry. The same key with a
different request is a 409. Two concurrent requests with one key do the work once: the second
waits for the first to finish and replays its answer. Server errors free the key again so a
retry can run; 4xx answers are stored like successes (the retry would fail the same way).

A handler whose work ends in one write batch can store the answer in that batch
(``view.idempotency``, an ``Answer``): the answer then commits with the work it reports, in the
same transaction, and costs no statement of its own."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from rest_framework.response import Response

from oms.core.bulk import Writes
from oms.core.errors import Conflict, ValidationError
from oms.core.models import IdempotencyRecord
from oms.core.selectors import idempotency_get
from oms.core.services import (
    idempotency_abandon,
    idempotency_begin,
    idempotency_complete,
    idempotency_complete_staged,
)

HEADER = "Idempotency-Key"
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05


def _request_hash(request: Any) -> str:
    body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    raw = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _await_completion(record: IdempotencyRecord) -> IdempotencyRecord:
    deadline = time.monotonic() + WAIT_SECONDS
    current: IdempotencyRecord | None = record
    while current is not None and current.state == IdempotencyRecord.State.IN_PROGRESS:
        if time.monotonic() > deadline:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                code="idempotency_in_progress",
            )
        time.sleep(POLL_SECONDS)
        current = idempotency_get(channel=record.channel, key=record.key)
    if current is None:
        # The first attempt failed with a server error and released the key.
        raise Conflict(
            "The first request with this Idempotency-Key failed; retry it.",
            code="idempotency_retry",
        )
    return current


@dataclass(eq=False)
class Answer:
    """The claimed key of the request being handled, for a handler that stores the answer
    itself: ``stage`` adds it to the handler's write batch, ``committed`` says that batch
    committed. Then ``response`` is the answer, and nothing is left to store."""

    record: IdempotencyRecord
    response: Response | None = None
    stored: bool = False
    _staged: Response | None = None

    def stage(self, response: Response, writes: Writes) -> None:
        """Store ``response`` with ``writes`` (a server error is not stored: the key is
        freed instead, by ``run_idempotent``)."""
        if response.status_code >= 500:
            return
        idempotency_complete_staged(
            record=self.record, status=response.status_code, body=response.data, writes=writes
        )
        self._staged = response

    def committed(self) -> None:
        """The batch that ``stage`` wrote to has committed."""
        if self._staged is not None:
            self.response, self.stored = self._staged, True


def run_idempotent(*, request: Any, view: Any, handler: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    key = key.strip()
    if not key or len(key) > 255:
        raise ValidationError(
            "Idempotency-Key must be 1 to 255 characters.", fields={HEADER: ["Invalid length."]}
        )
    channel = request.user.channel
    request_hash = _request_hash(request)
    record, created = idempotency_begin(
        channel=channel,
        key=key,
        method=request.method,
        path=request.path,
        request_hash=request_hash,
    )
    if not created:
        if record.request_hash != request_hash:
            raise Conflict(
                "This Idempotency-Key was used with a different request.",
                code="idempotency_key_reused",
            )
        return _replay(_await_completion(record))

    answer = view.idempotency = Answer(record)
    try:
        try:
            response = handler()
        except Exception as exc:  # noqa: BLE001 - turned into the response DRF would send
            response = view.handle_exception(exc)
    except BaseException:
        if not answer.stored:
            idempotency_abandon(record=record)
        raise
    finally:
        view.idempotency = None
    if answer.stored:
        return response
    if response.status_code >= 500:
        idempotency_abandon(record=record)
        return response
    idempotency_complete(record=record, status=response.status_code, body=response.data)
    return response

"""Idempotency-Key on every POST (the Stripe rule).

The first response for (channel, key) is stored and replayed for a retry. The same key with a
different request is a 409. Two concurrent requests with one key do the work once: the second
waits for the first to finish and replays its answer. Server errors free the key again so a
retry can run; 4xx answers are stored like successes (the retry would fail the same way).

A handler whose work ends in one write batch can store the answer in that batch
(``view.idempotency``, an ``Answer``): the answer then commits with the work it reports, in the
same transaction, and costs no statement of its own.

A view whose handler does its work in one transaction can also claim the key there
(``claims_idempotency_key = True``; order intake does): the handler claims through
``Answer.claim_together`` — many requests' keys in one statement — before its work, so the
claim costs neither a statement nor a commit of its own and commits or rolls back with the
work. A concurrent request with the same key waits on the first one's claim, then replays
its answer. If the handler answers without claiming (a refusal before its transaction), the
key is claimed and the answer stored after it, the usual way."""

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
    idempotency_claim_many,
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


class KeyTaken(Exception):  # noqa: N818 - a signal, not an error shown to anyone
    """Raised to the handler's caller when ``Answer.claim_together`` found the key taken: the
    request replays the answer of the one that holds it."""


def _answer_existing(existing: IdempotencyRecord, request_hash: str) -> Response:
    if existing.request_hash != request_hash:
        raise Conflict(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
        )
    return _replay(_await_completion(existing))


@dataclass(eq=False)
class Answer:
    """The key of the request being handled, for a handler that stores the answer itself:
    ``stage`` adds it to the handler's write batch, ``committed`` says that batch committed.
    Then ``response`` is the answer, and nothing is left to store. The key is claimed
    already, or (``late``) the handler claims it with ``claim_together`` first."""

    record: IdempotencyRecord
    late: bool = False  # the handler claims the key (``claim_together``), in its transaction
    response: Response | None = None
    stored: bool = False
    _staged: Response | None = None

    @staticmethod
    def claim_together(answers: list[Answer]) -> list[bool]:
        """Claim the keys of the ``late`` ones of ``answers`` in the caller's transaction, in
        one statement; per answer, whether its key is its own (the others' were claimed
        already). One that is not is answered by raising ``KeyTaken`` to its request."""
        late = [answer for answer in answers if answer.late]
        claimed = dict(
            zip(
                map(id, late), idempotency_claim_many(records=[a.record for a in late]), strict=True
            )
        )
        return [claimed.get(id(answer), True) for answer in answers]

    def stage(self, response: Response, writes: Writes) -> None:
        """Store ``response`` with ``writes`` (a server error is not stored: the key is
        freed instead, by ``run_idempotent``; with a claim in the same transaction, the
        error is raised so that both roll back)."""
        if response.status_code >= 500:
            if self.late and not self.record._state.adding:
                raise RuntimeError(f"A server error cannot settle a claimed key: {response.data}")
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
    if getattr(view, "claims_idempotency_key", False):
        return _run_claiming_late(
            request=request, view=view, handler=handler, key=key, request_hash=request_hash
        )
    record, created = idempotency_begin(
        channel=channel,
        key=key,
        method=request.method,
        path=request.path,
        request_hash=request_hash,
    )
    if not created:
        return _answer_existing(record, request_hash)

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


def _run_claiming_late(
    *, request: Any, view: Any, handler: Callable[[], Response], key: str, request_hash: str
) -> Response:
    """``run_idempotent`` for a view whose handler claims the key in its own transaction."""
    record = IdempotencyRecord(
        channel=request.user.channel,
        key=key,
        method=request.method,
        path=request.path,
        request_hash=request_hash,
    )
    answer = view.idempotency = Answer(record, late=True)
    try:
        response = handler()
    except KeyTaken:
        response = None
    except Exception as exc:  # noqa: BLE001 - turned into the response DRF would send
        response = view.handle_exception(exc)
    finally:
        view.idempotency = None
    if answer.stored and answer.response is not None:
        return answer.response
    if response is not None and response.status_code >= 500:
        return response  # a claim made rolled back with the work: the key is free
    if response is not None:  # answered before claiming: claim and store the usual way
        record, created = idempotency_begin(
            channel=record.channel,
            key=key,
            method=record.method,
            path=record.path,
            request_hash=request_hash,
        )
        if created:
            idempotency_complete(record=record, status=response.status_code, body=response.data)
            return response
        return _answer_existing(record, request_hash)
    existing = idempotency_get(channel=record.channel, key=key)
    if existing is None:  # the holder's claim rolled back after ours was refused
        raise Conflict(
            "The first request with this Idempotency-Key failed; retry it.",
            code="idempotency_retry",
        )
    return _answer_existing(existing, request_hash)

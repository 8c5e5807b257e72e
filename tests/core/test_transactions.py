"""oms.core.transactions.retry_on_deadlock: who is run again, and when not."""

from __future__ import annotations

import pytest
from django.db import OperationalError, transaction

from oms.core import transactions
from oms.core.transactions import retry_on_deadlock


class _DatabaseError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(sqlstate: str, times: int, calls: list[int]):
    @retry_on_deadlock
    def service() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("aborted") from _DatabaseError(sqlstate)
        return "done"

    return service


@pytest.fixture(autouse=True)
def _no_jitter(monkeypatch):
    monkeypatch.setattr(transactions.time, "sleep", lambda seconds: None)


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_victim_runs_again_until_it_succeeds():
    calls: list[int] = []
    assert _failing("40P01", 2, calls)() == "done"
    assert len(calls) == 3


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_after_the_last_attempt():
    calls: list[int] = []
    with pytest.raises(OperationalError):
        _failing("40P01", 5, calls)()
    assert len(calls) == transactions.DEADLOCK_ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_other_database_errors_are_not_retried():
    calls: list[int] = []
    with pytest.raises(OperationalError):
        _failing("57014", 1, calls)()  # query_canceled
    assert len(calls) == 1


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_it_runs_once():
    """The caller's whole transaction is the victim: retrying a part of it is not possible."""
    calls: list[int] = []
    with pytest.raises(OperationalError), transaction.atomic():
        _failing("40P01", 1, calls)()
    assert len(calls) == 1

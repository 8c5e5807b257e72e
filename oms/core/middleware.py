"""Audit-history attribution. simple_history records ``request.user`` as the author of a
change; on the channel API, DRF sets ``request.user`` to a channel principal, which is not a
user. This middleware exposes the request to simple_history through a view that only ever
reports real staff/portal users (channel actions are attributed by our own event rows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from simple_history.models import HistoricalRecords


class _HistoryRequestView:
    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @property
    def user(self) -> Any:
        user = getattr(self._request, "user", None)
        return user if isinstance(user, AbstractBaseUser) else AnonymousUser()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


def history_request_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        HistoricalRecords.context.request = _HistoryRequestView(request)
        try:
            return get_response(request)
        finally:
            try:
                del HistoricalRecords.context.request
            except AttributeError:
                pass

    return middleware

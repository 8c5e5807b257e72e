"""Shared fixtures. Tests run against real PostgreSQL (DATABASE_URL, default the local server);
if none is reachable the run stops at once with one message saying how to point at one."""

from __future__ import annotations

import os
from typing import Any

import pytest

# One Chromium per test session for every app's browser tests (a second sync Playwright in
# the same thread would collide with the first one's event loop).
pytest_plugins = ["tests.browser_fixtures"]


def _check_database() -> None:
    import psycopg

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oms")
    if not url.startswith("postgres"):
        pytest.exit(f"Tests need PostgreSQL; DATABASE_URL is {url!r}.", returncode=2)
    # Connect to the server's maintenance database: the test database is created later.
    base, _, _ = url.rpartition("/")
    try:
        psycopg.connect(f"{base}/postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        pytest.exit(
            "Cannot reach PostgreSQL for the tests "
            f"({base}/…: {exc.__class__.__name__}). Start it, or set "
            "DATABASE_URL=postgres://USER@HOST:PORT/NAME to point the tests at one.",
            returncode=2,
        )


def pytest_configure(config: Any) -> None:
    _check_database()


@pytest.fixture
def channel(db: Any) -> Any:
    from tests.factories.core import ChannelFactory

    return ChannelFactory()


@pytest.fixture
def api_key(channel: Any) -> tuple[Any, str]:
    from oms.core.services import api_key_create

    return api_key_create(channel=channel, name="test")


@pytest.fixture
def api_client(api_key: tuple[Any, str]) -> Any:
    """A DRF client authenticated as ``channel``."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    return client


@pytest.fixture
def channel_client(db: Any) -> Any:
    """Factory: ``channel_client(channel)`` → an APIClient holding a fresh key for it."""
    from rest_framework.test import APIClient

    from oms.core.services import api_key_create

    def make(channel: Any) -> Any:
        _, secret = api_key_create(channel=channel, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def system_actor() -> Any:
    from oms.core.actors import Actor

    return Actor.system("tests")


# localstripe for any test that needs Stripe (billing, renewals): one server per session.
from tests.billing.conftest import localstripe_server, stripe_gateway, stripe_settings  # noqa: E402,F401

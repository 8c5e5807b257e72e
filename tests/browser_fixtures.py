"""Browser tests: Debian's Chromium driven by Playwright's sync API against pytest-django's
``live_server`` (a real threaded HTTP server over a transactional test database).

Playwright never downloads a browser here: it launches the system Chromium
(``/usr/bin/chromium``; CI installs it with apt, ``OMS_CHROMIUM`` overrides the path). When
it is missing the tests fail and say so: a silently skipped browser suite proves nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an asyncio loop in the test thread; Django then refuses ORM
# calls from that thread ("You cannot call this from an async context") although they are
# plain synchronous calls made between browser steps.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("OMS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a 2-core machine shared by several test runs, still fails fast on a broken page.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session; each test gets its own context."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. The browser tests drive Debian's Chromium: "
            "install it with `apt-get install chromium` (CI does), or set OMS_CHROMIUM to its "
            "path. Playwright is never allowed to download its own browser.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary --user-data-dir (Playwright refuses the
        # flag in args and removes the profile on close): no state leaks between runs.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) pointed at the live server."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def browser_login() -> Callable[..., None]:
    """``browser_login(page, username, password, path="/accounts/login/")``: submit a Django
    login form and wait until the browser has left the login page."""

    def login(page: Any, username: str, password: str, path: str = "/accounts/login/") -> None:
        page.goto(path)
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)

    return login


@pytest.fixture
def screenshot_dir() -> Path:
    """Screenshots are for a person to look at, never committed."""
    path = Path(os.environ.get("OMS_SCREENSHOT_DIR", "/tmp"))
    path.mkdir(parents=True, exist_ok=True)
    return path

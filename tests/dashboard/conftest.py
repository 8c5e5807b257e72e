from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def at(time_machine: Any) -> Callable[..., None]:
    """``at(2026, 3, 10, hour=12)``: move the clock (all threads) to that UTC instant."""

    def move(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> None:
        time_machine.move_to(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC), tick=False)

    return move

"""One guard for every status field: a TextChoices status plus an allowed-transition table."""

from collections.abc import Mapping, Set
from typing import Any

from .errors import InvalidTransition


def check_transition(
    allowed: Mapping[Any, Set[Any]], *, entity: str, current: str, target: str
) -> None:
    """Raise InvalidTransition (naming both states) unless current -> target is allowed."""
    if target not in allowed.get(current, frozenset()):
        raise InvalidTransition(entity=entity, current=str(current), target=str(target))

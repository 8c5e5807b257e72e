"""Domain errors. Services raise these; the API turns them into one error shape with a 4xx."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refused business operation. `code` is stable and machine-readable."""

    status_code = 400
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class ValidationError(ApplicationError):
    status_code = 400
    default_code = "invalid"


class NotFound(ApplicationError):
    status_code = 404
    default_code = "not_found"


class Forbidden(ApplicationError):
    status_code = 403
    default_code = "forbidden"


class Conflict(ApplicationError):
    status_code = 409
    default_code = "conflict"


class InvalidTransition(Conflict):
    default_code = "invalid_transition"

    def __init__(self, *, entity: str, current: str, target: str) -> None:
        super().__init__(
            f"{entity} cannot move from '{current}' to '{target}'.",
            fields={"from": current, "to": target},
        )
        self.current = current
        self.target = target

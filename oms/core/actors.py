"""Who did it: every event row names its actor — a staff user, a channel, the customer, or
the system (a scheduled job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models


class ActorKind(models.TextChoices):
    USER = "user", "Staff user"
    CHANNEL = "channel", "Sales channel"
    CUSTOMER = "customer", "Customer"
    SYSTEM = "system", "System"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str
    label: str
    user_id: int | None = None
    channel_id: int | None = None
    customer_id: int | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(kind=ActorKind.SYSTEM, label=name)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(kind=ActorKind.USER, label=user.get_username(), user_id=user.pk)

    @classmethod
    def for_channel(cls, channel: Any) -> Actor:
        return cls(kind=ActorKind.CHANNEL, label=channel.code, channel_id=channel.pk)

    @classmethod
    def for_customer(cls, customer: Any) -> Actor:
        return cls(kind=ActorKind.CUSTOMER, label=customer.email, customer_id=customer.pk)

    def as_fields(self) -> dict[str, Any]:
        """Keyword arguments for an EventBase row."""
        return {
            "actor_kind": self.kind,
            "actor_label": self.label[:200],
            "actor_user_id": self.user_id,
            "actor_channel_id": self.channel_id,
            "actor_customer_id": self.customer_id,
        }

    def __str__(self) -> str:
        return f"{self.kind}:{self.label}"

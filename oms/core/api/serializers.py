"""Serializer helpers shared by the channel API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.fields import Field


class ReusedOutputFieldsMixin:
    """Output at a fraction of the cost, byte-for-byte as DRF writes it.

    DRF builds a serializer's fields anew for every instance it serializes (a ModelSerializer
    introspects its model and deep-copies every declared field, nested serializers included),
    which costs more than the rest of a typical response. With this mixin the readable fields
    are built once per class, on a template instance, and reused; ``to_representation`` is
    DRF's own, so the output is unchanged. Only for output serializers whose fields read
    nothing from ``context`` or ``parent`` (plain, nested and list fields do not)."""

    @property
    def _readable_fields(self) -> Iterable[Field]:
        cls = type(self)
        fields = cls.__dict__.get("_reused_readable_fields")
        if fields is None:
            template: Any = cls()
            fields = tuple(f for f in template.fields.values() if not f.write_only)
            cls._reused_readable_fields = fields  # type: ignore[attr-defined]
        return fields

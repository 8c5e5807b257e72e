"""Serializer helpers shared by the channel API."""

from __future__ import annotations

from typing import Any

from rest_framework.utils.serializer_helpers import BindingDict


class ReusedFieldsMixin:
    # A serializer whose fields are built once per class, not once per use.
    #
    # DRF builds a serializer's fields anew for every instance (a ModelSerializer introspects
    # its model; every declared field, nested serializers included, is deep-copied): on the
    # intake path that cost more than validating the input and writing the output together.
    # With this mixin ``fields`` is built once, on a template instance of the class, and
    # shared; DRF's own validation and ``to_representation`` run on it unchanged, so input
    # errors, validated data and output are what DRF gives. Only for serializers whose fields
    # are the same for every use and read nothing per use from ``context``, ``partial`` or
    # ``parent`` (plain, nested and list fields read none), and that nobody alters per use.
    # (A comment, not a docstring: drf-spectacular would describe every schema with it.)

    @property
    def fields(self) -> BindingDict:
        cls = type(self)
        fields = cls.__dict__.get("_reused_fields")
        if fields is None:
            template: Any = cls()
            fields = BindingDict(template)
            for name, field in template.get_fields().items():
                fields[name] = field
            cls._reused_fields = fields  # type: ignore[attr-defined]
        return fields

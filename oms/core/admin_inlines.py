"""Inlines for the operator console."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyTabularInline(admin.TabularInline):
    """Rows shown beside their parent and never edited there (timelines, lines, payments):
    changes go through services."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

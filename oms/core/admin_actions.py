"""Admin actions that need a reason (or other input) from the operator before they call a
service. One intermediate page for all apps: ``form_action``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from oms.core.actors import Actor
from oms.core.errors import ApplicationError


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True)


def apply_to_each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    description: str,
    apply: Callable[[Any, Actor], Any],
) -> int:
    """Call ``apply(obj, actor)`` (a service wrapper) for each selected row as the operator.
    A domain error is reported for its row and the others still run; returns how many
    succeeded."""
    actor = Actor.for_user(request.user)
    done = 0
    for obj in queryset:
        try:
            apply(obj, actor)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{description}: {done} done.", messages.SUCCESS)
    return done


def form_action(
    *,
    description: str,
    form_class: type[forms.Form] = ReasonForm,
    apply: Callable[..., Any],
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[Any]], HttpResponse | None]:
    """Build an admin action that asks for ``form_class`` input, then calls
    ``apply(obj=..., actor=..., **cleaned_data)`` (a service wrapper) for each selected row.
    Domain errors are reported per row; the others still run."""

    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                apply_to_each(
                    modeladmin,
                    request,
                    queryset,
                    description=description,
                    apply=lambda obj, actor: apply(obj=obj, actor=actor, **data),
                )
                return None
        else:
            form = form_class()
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "form": form,
            "queryset": queryset,
            "action_name": request.POST.get("action"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "admin/oms_form_action.html", context)

    action.short_description = description  # type: ignore[attr-defined]
    action.__name__ = "action_" + "".join(c if c.isalnum() else "_" for c in description.lower())
    return action


def model_label(obj: Model) -> str:
    return f"{obj._meta.verbose_name} {obj}"

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import ApiKey, Channel, IdempotencyRecord
from .services import api_key_create, api_key_revoke


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "is_active", "allow_backorders", "default_currency")
    list_filter = ("kind", "is_active", "allow_backorders")
    search_fields = ("code", "name")
    inlines = [ApiKeyInline]
    actions = ["issue_api_key"]

    @admin.action(description="Issue a new API key (shown once)")
    def issue_api_key(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        for channel in queryset:
            _, secret = api_key_create(
                channel=channel, name=f"issued by {request.user}", created_by=request.user
            )
            self.message_user(
                request,
                f"New key for {channel.code} (copy it now, it is not stored): {secret}",
                messages.WARNING,
            )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "channel", "created_at", "last_used_at", "revoked_at")
    list_filter = ("channel", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "channel__code")
    readonly_fields = (
        "channel",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "created_by",
    )
    fields = ("name",) + readonly_fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued from the channel page, where the secret is shown once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            api_key_revoke(api_key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "channel", "method", "path", "state", "response_status", "created_at")
    list_filter = ("state", "channel")
    search_fields = ("key", "path")
    readonly_fields = [f.name for f in IdempotencyRecord._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

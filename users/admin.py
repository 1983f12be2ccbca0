"""Admin configuration of service users (superusers maintain them) and their statistics.

Statistics are read-only here for everybody, superusers included: a counter changes only through
an import or a correction, each of which writes its processing_logs rows (SPEC §6).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from auditsite.admin_base import AuditModelAdmin, ReadOnlyMixin
from logs.models import AccessLog
from logs.services.access import access_record, request_filters
from users import views
from users.models import ServiceUser, UserStatistics
from users.resources import ServiceUserResource


def lookup_url(user_id: str) -> str:
    """The lookup page for one user_id."""
    return f"{reverse('admin:users_serviceuser_lookup')}?{urlencode({'user_id': user_id})}"


class UserStatisticsInline(ReadOnlyMixin, admin.StackedInline):
    """The counters, shown on their user; no add, change or delete (they would bypass the trail)."""

    model = UserStatistics
    can_delete = False
    fields = readonly_fields = ("login_count", "post_count", "updated_at")


@admin.register(ServiceUser)
class ServiceUserAdmin(ImportExportMixin, AuditModelAdmin):
    list_display = ("user_id", "display_name", "email", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("user_id", "display_name", "email")
    inlines = [UserStatisticsInline]
    change_list_template = "admin/users/serviceuser/change_list.html"
    resource_classes = [ServiceUserResource]
    formats = [CSV, XLSX]

    def has_import_permission(self, request) -> bool:
        # The user master is maintained by those who may add and change users.
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request) -> bool:
        return self.has_change_permission(request)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        access_record(
            request=request,
            kind=AccessLog.Kind.USER_EXPORT,
            filters=request_filters(request),
            target=file_format.get_title(),
            rows=queryset.count(),
        )
        return data

    def get_deleted_objects(self, objs, request):
        # A user's statistics row goes with the user (its history stays in processing_logs):
        # deleting a user is a change of the user master, which the read-only statistics admin
        # would otherwise block by refusing to delete the row.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(UserStatistics._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if request.user.has_perm(views.LOOKUP_PERMISSION):
            return (*columns, "lookup_link")
        return columns

    @admin.display(description=_("history"))
    def lookup_link(self, user: ServiceUser) -> str:
        return format_html('<a href="{}">{}</a>', lookup_url(user.user_id), gettext("Look up"))

    def get_urls(self):
        def lookup(request):
            return views.user_lookup(request, self)

        return [
            path(
                "lookup/",
                self.admin_site.admin_view(lookup),
                name="users_serviceuser_lookup",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "can_lookup": request.user.has_perm(views.LOOKUP_PERMISSION),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)


@admin.register(UserStatistics)
class UserStatisticsAdmin(ReadOnlyMixin, AuditModelAdmin):
    list_display = ("user", "login_count", "post_count", "updated_at")
    search_fields = ("user__user_id",)
    list_select_related = ("user",)
    readonly_fields = ("updated_at",)

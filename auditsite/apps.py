from django.contrib.admin.apps import AdminConfig


class AuditAdminConfig(AdminConfig):
    """django.contrib.admin, serving our admin site (dashboard; logins throttled by axes)."""

    default_site = "auditsite.admin_site.AuditAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin module
        from django.contrib import admin

        from auditsite import admin_axes, admin_schedules

        admin_schedules.register(admin.site)
        admin_axes.register(admin.site)

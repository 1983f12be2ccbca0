from django.contrib import admin

from users.models import ServiceUser, UserStatistics


class UserStatisticsInline(admin.StackedInline):
    model = UserStatistics
    can_delete = False
    readonly_fields = ("updated_at",)


@admin.register(ServiceUser)
class ServiceUserAdmin(admin.ModelAdmin):
    list_display = ("user_id", "display_name", "email", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("user_id", "display_name", "email")
    inlines = [UserStatisticsInline]


@admin.register(UserStatistics)
class UserStatisticsAdmin(admin.ModelAdmin):
    list_display = ("user", "login_count", "post_count", "updated_at")
    search_fields = ("user__user_id",)
    list_select_related = ("user",)
    readonly_fields = ("updated_at",)

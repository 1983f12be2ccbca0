from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class ServiceUser(models.Model):
    """A user of the service whose activity the daily CSV files report (table ``users``)."""

    user_id = models.CharField(_("user ID"), max_length=10, primary_key=True)
    display_name = models.CharField(_("display name"), max_length=150, null=True, blank=True)
    email = models.EmailField(_("email"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True, db_default=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now(), editable=False)

    class Meta:
        db_table = "users"
        ordering = ["user_id"]
        verbose_name = _("service user")
        verbose_name_plural = _("service users")
        permissions = [("lookup_serviceuser", _("Can use the user lookup page"))]

    def __str__(self) -> str:
        return self.user_id


class UserStatistics(models.Model):
    """A user's current counters; every change to them is in ``processing_logs``."""

    user = models.OneToOneField(
        ServiceUser,
        on_delete=models.CASCADE,
        primary_key=True,
        db_column="user_id",
        related_name="statistics",
        verbose_name=_("user"),
    )
    login_count = models.IntegerField(_("login count"), default=0, db_default=0)
    post_count = models.IntegerField(_("post count"), default=0, db_default=0)
    updated_at = models.DateTimeField(_("updated at"), db_default=Now(), auto_now=True)

    class Meta:
        db_table = "user_statistics"
        verbose_name = _("user statistics")
        verbose_name_plural = _("user statistics")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(login_count__gte=0), name="user_statistics_login_count_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(post_count__gte=0), name="user_statistics_post_count_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return str(self.user_id)

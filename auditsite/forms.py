"""Forms of the admin site itself."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from auditsite.login_throttle import login_blocked, login_failure_record, login_failures_clear


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, refusing to even check a password after too many failures."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": _("Too many failed login attempts. Wait a few minutes before trying again."),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if login_blocked(request=self.request, username=username):
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            cleaned_data = super().clean()
        except ValidationError:
            login_failure_record(request=self.request, username=username)
            raise
        login_failures_clear(request=self.request, username=username)
        return cleaned_data

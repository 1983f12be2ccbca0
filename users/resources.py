"""django-import-export resource for the user master (``users``)."""

from __future__ import annotations

from auditsite.exports import FormulaSafeResource
from users.models import ServiceUser


class ServiceUserResource(FormulaSafeResource):
    """Users by user_id: an import adds new ids and updates the others; nothing is deleted."""

    class Meta:
        model = ServiceUser
        fields = ("user_id", "display_name", "email", "is_active")
        import_id_fields = ("user_id",)
        skip_unchanged = True
        report_skipped = True

"""Forms of the log admin's custom pages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from auditsite.uploads import max_upload_bytes
from logs.selectors import corrected_execution


class UploadForm(forms.Form):
    """Choose an activity CSV to preview; an execution name and "force" are optional."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8 or Shift_JIS (CP932), with a header row: user_id and counters."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
    execution_name = forms.CharField(
        label=_("Execution name"),
        max_length=80,
        required=False,
        help_text=_(
            "Optional. Left empty, the file name is used when it looks like "
            "user-log-YYYYMMDD-HHMMSS, else one is generated from the current time."
        ),
    )
    force = forms.BooleanField(
        label=_("Process again even if this exact file was already processed"),
        required=False,
    )
    corrects = forms.CharField(
        label=_("Corrects execution"),
        max_length=80,
        required=False,
        help_text=_(
            "Optional. The name of a completed import whose failed rows this file fixes; "
            "both executions then link to each other."
        ),
    )

    def __init__(self, *args, too_large: bool = False, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.too_large = too_large
        self.fields["file"].widget.attrs["data-max-bytes"] = str(max_upload_bytes())

    def clean_corrects(self) -> str:
        name = self.cleaned_data["corrects"].strip()
        if name and not corrected_execution(name):
            raise forms.ValidationError(
                _("There is no completed import named %(name)s.") % {"name": name}
            )
        return name

    def clean(self):
        cleaned_data = super().clean()
        if self.too_large:
            # The upload handler stopped the body: there is no file to talk about.
            self.errors.pop("file", None)
            raise forms.ValidationError(self.too_large_message(), code="too_large")
        return cleaned_data

    @staticmethod
    def too_large_message() -> str:
        return _("The file is larger than the limit of %(limit)s MB and was not accepted.") % {
            "limit": settings.MAX_UPLOAD_MB
        }

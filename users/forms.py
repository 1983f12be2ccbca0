"""Forms of the users admin's custom pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class UserLookupForm(forms.Form):
    user_id = forms.CharField(
        label=_("User ID"),
        max_length=64,
        help_text=_("Exact user ID, e.g. U00001."),
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )

    def clean_user_id(self) -> str:
        return self.cleaned_data["user_id"].strip()

"""Template filters for the audit trail's stored texts."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from logs.services.ingest import message_localize

register = template.Library()


@register.filter
def trail_message(text: str | None) -> SafeString | str:
    """A stored cell message in the reader's language; when that differs from the stored
    (English) text, the stored text is the element's title, as the trail holds it."""
    if not text:
        return ""
    shown = message_localize(text)
    if shown == text:
        return text
    return format_html('<span class="trail-message" title="{}">{}</span>', text, shown)

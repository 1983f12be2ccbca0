"""The one check of a page that shows a file's values: no payload of the corpus as markup, and
each shown value escaped exactly once."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpResponse, HttpResponseBase
from django.utils.html import escape

from logs.tests.corpus.cases import MARKERS


def assert_escaped(
    response: HttpResponseBase, *, shown: Iterable[str | None] = (), status: int = 200
) -> str:
    """``response`` has ``status``; its HTML holds no marker of the corpus raw; every marker
    inside a text of ``shown`` (the values the page displays) appears escaped, and nothing is
    escaped twice. Returns the HTML."""
    assert response.status_code == status, (response.status_code, response)
    assert isinstance(response, HttpResponse), response  # a page, not a stream
    html = response.content.decode()
    raw = [marker for marker in MARKERS if marker in html]
    assert not raw, f"unescaped in {getattr(response, 'wsgi_request', response)}: {raw}"
    for text in shown:
        for marker in MARKERS:
            if text and marker in text:
                assert escape(marker) in html, f"{text!r} is not shown escaped"
    twice = [marker for marker in MARKERS if escape(escape(marker)) in html]
    assert not twice, f"escaped twice: {twice}"
    return html

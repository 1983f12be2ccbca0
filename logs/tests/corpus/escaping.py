"""The one check of a page that shows a file's values: no payload of the corpus as markup, and
each shown value escaped exactly once; and its terminal twin, for what a command prints."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from django.http import HttpResponse, HttpResponseBase
from django.utils.html import escape

from logs.management.terminal import terminal_text
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


def assert_terminal_safe(output: str, *, shown: Iterable[str] = ()) -> None:
    """``output`` (what a command printed) holds no control character but its line ends, and
    each text of ``shown`` appears in it with its control characters as visible escapes."""
    raw = sorted({c for c in output if unicodedata.category(c) in ("Cc", "Cs") and c != "\n"})
    assert not raw, f"raw control characters in the output: {raw!r}\n{output!r}"
    for text in shown:
        assert terminal_text(text) in output, f"{text!r} is not shown escaped in {output!r}"

"""COPY text as PostgreSQL writes it: what an import hashes for its digest while it streams its
rows in must be, byte for byte, what ``COPY … TO`` gives back for them."""

from __future__ import annotations

import pytest
from django.db import connection

from auditsite.db import COPY_NULL, copy_text

# Every ASCII character but NUL (refused in files and in PostgreSQL text), and beyond ASCII.
TEXTS = [
    "".join(chr(code) for code in range(1, 128)),
    "\\N",
    "\\.",
    "tab\there, line\nbreak, return\r, back\\slash",
    "日本語のユーザー",
    "\u2028\u00a0\ufeff",
    "",
]


@pytest.mark.django_db
@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_copy_text_is_what_copy_to_writes_and_copy_from_reads(text):
    """``copy_text`` gives PostgreSQL's own COPY TO output, and COPY FROM reads it back as the
    same text."""
    with connection.cursor() as cursor:
        with cursor.cursor.copy("COPY (SELECT %s::text) TO STDOUT", [text]) as copy:
            written = b"".join(bytes(block) for block in copy).decode()
        assert written == copy_text(text) + "\n"
        cursor.execute("CREATE TEMPORARY TABLE copied (t text)")
        with cursor.cursor.copy("COPY copied FROM STDIN") as copy:
            copy.write(copy_text(text) + "\n")
        cursor.execute("SELECT t FROM copied")
        assert cursor.fetchone()[0] == text
        cursor.execute("DROP TABLE copied")


def test_null_is_backslash_n():
    assert copy_text(None) == COPY_NULL == "\\N"

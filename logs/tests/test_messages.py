"""The message catalogue (logs/messages.py): every stored message has a Japanese reading, a
stored text is recognised by the most specific template, and the admin shows rejections and
warnings in the reader's language while the stored text stays as it was."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import translation
from psycopg import sql

from logs import messages
from logs.messages import (
    HEADER_NO_STATISTIC,
    OVERFLOW,
    TOO_BIG,
    UNKNOWN_COLUMN,
    message_localize,
    message_recognise,
)
from logs.models import Execution

TRANSLATED = [message for message in messages._CATALOGUE if message.code != "crashed"]


@pytest.mark.parametrize("message", TRANSLATED, ids=[message.code for message in TRANSLATED])
def test_every_stored_message_reads_in_japanese(message):
    """Each message of the catalogue has a Japanese template with the same fields."""
    with translation.override("ja"):
        japanese = translation.gettext(message.template)
    assert japanese != message.template
    fields = {name: f"<{name}>" for name in message._pattern.groupindex}
    assert message.parse(message.template.format(**{**messages.CONSTANTS, **fields})) is not None
    for value in fields.values():
        if value != "<maximum>":
            assert value in japanese.format(**{**messages.CONSTANTS, **fields})


def test_the_most_specific_template_wins():
    """An overflow's text also fits the looser too-big template; it is read as an overflow."""
    text = OVERFLOW.render(column="login_count", old=5, value=10, result=15)
    assert TOO_BIG.parse(text) is not None
    recognised, fields = message_recognise(text)
    assert (recognised.code, fields["result"]) == ("overflow", "15")


def test_a_raw_exception_text_is_never_mistaken_for_a_message():
    """A failure that stores an exception as it is (no template text) is shown as it is."""
    with translation.override("ja"):
        assert message_localize("OperationalError: disk full") == "OperationalError: disk full"


@pytest.mark.django_db
def test_a_rejected_execution_reads_in_the_readers_language(client_for):
    """The reason and warnings of a rejected run read in Japanese on its page, the stored
    English text as their title; in English they read as stored."""
    reason = HEADER_NO_STATISTIC.render(expected="login_count, post_count")
    warning = UNKNOWN_COLUMN.render(name="'note'")
    execution = Execution.objects.create(
        name="user-log-20260101-000000",
        status=Execution.Status.REJECTED,
        error_message=reason,
        warnings=[warning],
    )
    url = reverse("admin:logs_execution_change", args=[execution.pk])
    client = client_for("auditor")
    japanese = client.get(url, headers={"accept-language": "ja"}).content.decode()
    assert "ヘッダーに統計の列がありません" in japanese
    assert "不明な列を無視しました: &#x27;note&#x27;" in japanese
    assert f'title="{reason}"' in japanese
    english = client.get(url, headers={"accept-language": "en"}).content.decode()
    assert reason in english
    execution.refresh_from_db()
    assert execution.error_message == reason


def _sample(message: messages.Message) -> dict[str, str]:
    """A value per field of ``message``: a raw text field longer than a message quotes."""
    return {
        name: (f"{name}-" * 12 if name in message.shown else f"<{name}>")
        for name in message._pattern.groupindex
        if name not in messages.CONSTANTS
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "message", messages._CATALOGUE, ids=[message.code for message in messages._CATALOGUE]
)
def test_sql_renders_the_stored_text_with_or_without_parameters(message):
    """A message's SQL computes exactly the Python rendering, in a statement that has
    parameters and in one that has none (a dry run classifies cells without any)."""
    values = _sample(message)
    expressions = {name: sql.Literal(value).as_string(None) for name, value in values.items()}
    expression = message.sql(**expressions)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {expression}")  # noqa: S608 - the catalogue's SQL
        without_parameters = cursor.fetchone()[0]
        cursor.execute(f"SELECT {expression} WHERE %(yes)s", {"yes": True})  # noqa: S608
        with_parameters = cursor.fetchone()[0]
    assert without_parameters == with_parameters == message.render(**values)

"""Japanese and English: the language switch works and every string of ours is translated."""

import ast
import re
from pathlib import Path
from typing import TypedDict

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)
PO_FILE = BASE_DIR / "locale" / "ja" / "LC_MESSAGES" / "django.po"
OUR_CODE = ("auditsite", "logs", "users", "templates")


class PoEntry(TypedDict):
    msgid: str
    plural: str | None  # msgid_plural, if the entry has one
    msgstr: list[str]  # one per plural form
    fuzzy: bool


def _po_entries() -> list[PoEntry]:
    """(msgid, msgid_plural, msgstr…) of the Japanese catalog, fuzzy flag included."""
    entries: list[PoEntry] = []
    current: PoEntry | None = None
    key = None
    for line in [*PO_FILE.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if current and current["msgid"]:
                entries.append(current)
            current = None
            continue
        if current is None:
            current = {"msgid": "", "plural": None, "msgstr": [], "fuzzy": False}
        if line.startswith("#,"):
            current["fuzzy"] = "fuzzy" in line
            continue
        if line.startswith("#"):
            continue
        match = re.match(r"^(msgid|msgid_plural|msgstr(?:\[\d+\])?) (\".*\")$", line)
        if match:
            key = match.group(1)
            value = ast.literal_eval(match.group(2))
            if key == "msgid":
                current["msgid"] = value
            elif key == "msgid_plural":
                current["plural"] = value
            else:
                current["msgstr"].append(value)
        else:
            value = ast.literal_eval(line)
            if key == "msgid":
                current["msgid"] += value
            elif key == "msgid_plural":
                current["plural"] = (current["plural"] or "") + value
            else:
                current["msgstr"][-1] += value
    return entries


def test_language_switch_shows_english_then_japanese(client_for):
    """The selector posts to /i18n/setlang/; the admin follows the chosen language."""
    client = client_for("auditor")
    index = reverse("admin:index")
    response = client.post(reverse("set_language"), {"language": "en", "next": index}, follow=True)
    html = response.content.decode()
    assert '<html lang="en"' in html
    assert "Processed log rows per day" in html and "Site administration" not in html
    assert "Times in Asia/Tokyo" in html
    response = client.post(reverse("set_language"), {"language": "ja", "next": index}, follow=True)
    html = response.content.decode()
    assert '<html lang="ja"' in html
    assert "日別の処理ログ行数" in html and "ダッシュボード" in html
    assert "時刻は Asia/Tokyo" in html


def test_japanese_is_the_default(client_for):
    """Without a cookie or browser preference, pages are in Japanese (LANGUAGE_CODE)."""
    response = client_for("uploader").get(reverse("admin:logs_execution_upload"))
    html = response.content.decode()
    assert settings.LANGUAGE_CODE == "ja"
    assert "CSV ファイルをアップロード" in html
    assert "アップロードしてプレビュー" in html


def test_catalog_is_complete_and_compiled():
    """Every entry of the Japanese catalog is translated, none fuzzy, and the .mo matches it."""
    entries = _po_entries()
    assert len(entries) > 150
    with translation.override("ja"):
        for entry in entries:
            assert entry["msgstr"] and all(entry["msgstr"]), entry["msgid"]
            assert not entry["fuzzy"], entry["msgid"]
            if entry["plural"] is None:
                assert translation.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


def test_our_strings_are_all_in_the_catalog():
    """Literal strings marked for translation in our code and templates are in the catalog."""
    catalog = {entry["msgid"] for entry in _po_entries()}
    marked = set()
    for folder in OUR_CODE:
        for path in (BASE_DIR / folder).rglob("*"):
            if "tests" in path.parts or path.suffix not in (".py", ".html"):
                continue
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".py":
                marked |= set(re.findall(r"\b_\(\s*\"([^\"\\]+)\"\s*\)", text))
            else:
                found = re.findall(r"{% translate \"([^\"]+)\" %}", text)
                marked |= {value.replace("%", "%%") for value in found}
    missing = sorted(marked - catalog)
    assert missing == []
    assert len(marked) > 80

"""Exports that spreadsheets open safely: no cell can start a formula (CSV/formula injection)."""

from __future__ import annotations

import re

from import_export import resources, widgets

# OWASP's list: a cell starting with one of these may be evaluated by Excel or LibreOffice.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A whole number, as an upload reads a value (SPEC §4: ^[+-]?[0-9]+$ after trimming).
_WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*")


def _escaped(text: str) -> bool:
    """Whether export prefixes ``text``: a formula, or an apostrophe before one (so that the
    apostrophe a value really starts with survives the round trip)."""
    stripped = text.lstrip("'")
    return stripped.startswith(FORMULA_PREFIXES)


def formula_neutralise(value: object) -> object:
    """Prefix text that a spreadsheet would read as a formula with an apostrophe."""
    if isinstance(value, str) and _escaped(value):
        return "'" + value
    return value


def cell_neutralise(text: str) -> str:
    """A raw cell of a CSV meant to be opened, fixed and uploaded again: text a spreadsheet
    would read as a formula gets an apostrophe before it; a whole number (``+1``, ``-5``) stays
    as it is, a spreadsheet reads it as a number and an upload as the same value."""
    if text.startswith(FORMULA_PREFIXES) and not _WHOLE_NUMBER.fullmatch(text):
        return "'" + text
    return text


def formula_restore(value: object) -> object:
    """Undo ``formula_neutralise``: an exported file imports back to the very same values."""
    if isinstance(value, str) and value.startswith("'") and _escaped(value[1:]):
        return value[1:]
    return value


class FormulaSafeResource(resources.ModelResource):
    """A ModelResource whose text cells are neutralised on export, and restored on import;
    numbers are left as numbers."""

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        if isinstance(field.widget, widgets.NumberWidget):
            return value
        return formula_neutralise(value)

    def before_import_row(self, row, **kwargs) -> None:
        for key in list(row.keys()):
            row[key] = formula_restore(row[key])
        super().before_import_row(row, **kwargs)

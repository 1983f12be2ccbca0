"""Exports that spreadsheets open safely: no cell can start a formula (CSV/formula injection)."""

from __future__ import annotations

from import_export import resources, widgets

# OWASP's list: a cell starting with one of these may be evaluated by Excel or LibreOffice.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_neutralise(value: object) -> object:
    """Prefix text that a spreadsheet would read as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class FormulaSafeResource(resources.ModelResource):
    """A ModelResource whose text cells are neutralised; numbers are left as numbers."""

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        if isinstance(field.widget, widgets.NumberWidget):
            return value
        return formula_neutralise(value)

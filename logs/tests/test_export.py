"""Log export (CSV, XLSX) for auditors: filtered like the list, safe against formula injection."""

import csv
import io

import openpyxl
import pytest
from django.urls import reverse

from auditsite.exports import formula_neutralise
from logs.resources import ProcessingLogResource
from users.models import ServiceUser
from users.resources import ServiceUserResource

pytestmark = pytest.mark.django_db

URL = reverse("admin:logs_processinglog_export")
DANGEROUS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]
HEADER = [
    "log_id",
    "execution_name",
    "user_id",
    "processing_type",
    "old_value",
    "new_value",
    "status",
    "error_message",
    "processed_at",
]


@pytest.fixture
def formula_logs(make_logs):
    """Failed rows whose user-supplied text looks like spreadsheet formulas."""
    return make_logs(
        [
            {
                "execution_name": "user-log-20260101-000000",
                "user_id": text[:10],
                "processing_type": "login_update",
                "status": "failed",
                "old_value": 3,
                "new_value": None,
                "error_message": text,
            }
            for text in DANGEROUS
        ]
        + [{"user_id": "U00001", "status": "success", "old_value": 1, "new_value": 2}]
    )


def _export(client, export_form_data, *, format_index: int, headers=None, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return client.post(
        f"{URL}?{query}",
        export_form_data(ProcessingLogResource, format_index=format_index),
        headers=headers,
    )


def test_csv_export_neutralises_formula_cells(client_for, formula_logs, export_form_data):
    """Every text cell starting with = + - @ tab or CR is prefixed with an apostrophe (CSV)."""
    response = _export(client_for("auditor"), export_form_data, format_index=0)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == HEADER
    by_message = {row[7]: row for row in rows[1:]}
    for text in DANGEROUS:
        row = by_message["'" + text]
        assert row[2] == "'" + text[:10]
        assert row[4] == "3"  # numbers stay numbers
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert rows[1][8].endswith("+09:00")  # processed_at in the business time zone


def test_xlsx_export_has_no_formula_cells(client_for, formula_logs, export_form_data):
    """The XLSX export holds the dangerous texts as plain strings, never as formulas."""
    response = _export(client_for("superuser"), export_form_data, format_index=1)
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == HEADER
    messages = {row[7] for row in values[1:]}
    # XML stores a carriage return as a line feed.
    assert {("'" + text).replace("\r", "\n") for text in DANGEROUS} <= messages
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.value
    assert all(isinstance(row[4], int) for row in values[1:])


def test_export_follows_the_list_filters(client_for, formula_logs, export_form_data):
    """The export holds exactly the rows of the filtered list."""
    response = _export(client_for("auditor"), export_form_data, format_index=0, status="success")
    rows = list(csv.reader(io.StringIO(response.content.decode())))[1:]
    assert [row[2] for row in rows] == ["U00001"]


def test_export_refuses_more_than_the_limit(client_for, formula_logs, export_form_data, settings):
    """Past EXPORT_MAX_ROWS the export says to narrow the list instead of building a huge file."""
    settings.EXPORT_MAX_ROWS = 3
    response = _export(
        client_for("auditor"), export_form_data, format_index=0, headers={"accept-language": "en"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "More than 3 rows match" in response.content.decode()


def test_formula_neutralise_leaves_safe_values():
    """Ordinary text, numbers and None are left as they are."""
    assert formula_neutralise("U00001") == "U00001"
    assert formula_neutralise("a=b") == "a=b"
    assert formula_neutralise(-5) == -5
    assert formula_neutralise(None) is None


def test_user_master_export_and_import_for_superuser(client_for, accounts, export_form_data):
    """Superusers export users (neutralised) and import new ones from CSV; others cannot."""
    ServiceUser.objects.create(user_id="U00001", display_name="=HYPERLINK(evil)")
    client = client_for("superuser")
    response = client.post(
        reverse("admin:users_serviceuser_export"),
        export_form_data(ServiceUserResource, format_index=0),
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["user_id", "display_name", "email", "is_active"]
    assert rows[1][1] == "'=HYPERLINK(evil)"

    upload = io.BytesIO(b"user_id,display_name,email,is_active\nU00002,New,,1\n")
    upload.name = "users.csv"
    response = client.post(
        reverse("admin:users_serviceuser_import"),
        {"import_file": upload, "format": "0", "resource": "0"},
    )
    assert response.status_code == 200
    confirm = response.context["confirm_form"]
    response = client.post(reverse("admin:users_serviceuser_process_import"), confirm.initial)
    assert response.status_code == 302
    assert ServiceUser.objects.get(user_id="U00002").display_name == "New"
    for role in ("uploader", "support", "auditor"):
        assert client_for(role).get(reverse("admin:users_serviceuser_export")).status_code == 403


def test_export_with_unknown_filters_goes_back_to_the_list(client_for, accounts, export_form_data):
    """A stale or forged filter in the export URL leads back to the list, not to a server error."""
    response = _export(client_for("auditor"), export_form_data, format_index=0, nonsense="1")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:logs_processinglog_changelist") + "?e=1"

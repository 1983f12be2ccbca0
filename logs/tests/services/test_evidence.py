"""Evidence packs: an untouched month verifies with verify.py alone; every tampering is named."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from logs.models import AccessLog, Execution
from logs.months import Month
from logs.services.evidence import evidence_pack_write
from logs.services.retention import retention_run
from logs.services.summaries import summaries_update
from logs.tests.support import NEXT_MONTH, command_run, fake_execution, without_triggers

pytestmark = pytest.mark.django_db

# -I -S: no environment, no site-packages: verify.py must need nothing but the standard library.
PYTHON = [sys.executable, "-I", "-S"]


def pack_of_this_month(tmp_path: Path) -> Path:
    out = tmp_path / "pack.zip"
    with out.open("wb") as sink:
        evidence_pack_write(month=Month.current(), out=sink)
    return out


def verify(tmp_path: Path, pack: Path) -> subprocess.CompletedProcess:
    """Run the pack's own verify.py, taken out of the pack, in a bare Python."""
    script = tmp_path / "verify.py"
    with zipfile.ZipFile(pack) as opened:
        script.write_bytes(opened.read("verify.py"))
    return subprocess.run(  # noqa: S603 - our interpreter, our file
        [*PYTHON, str(script), str(pack)], capture_output=True, text=True, timeout=60, check=False
    )


def test_untouched_month_verifies(sealed, tmp_path):
    """The pack of an untouched month holds every part and verify.py exits 0."""
    pack = pack_of_this_month(tmp_path)
    with zipfile.ZipFile(pack) as opened:
        assert set(opened.namelist()) == {
            "pack.json",
            "seal.json",
            "executions.csv",
            "processing_logs.tsv",
            "verify.py",
        }
        lines = opened.read("processing_logs.tsv").splitlines()
    assert len(lines) == 1 + sum(e.log_rows for e in sealed)
    result = verify(tmp_path, pack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout


def _with_one_byte_changed(pack: Path, out: Path, execution_name: str) -> None:
    """The pack with one digit of one log row of ``execution_name`` changed."""
    with zipfile.ZipFile(pack) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "processing_logs.tsv":
                lines = data.split(b"\n")
                index = next(i for i, line in enumerate(lines) if execution_name.encode() in line)
                fields = lines[index].split(b"\t")
                fields[5] = b"7" if fields[5] != b"7" else b"8"  # new_value
                lines[index] = b"\t".join(fields)
                data = b"\n".join(lines)
            target.writestr(item, data)


def test_one_changed_byte_fails_naming_the_execution(sealed, tmp_path):
    """A single changed byte in the rows fails verification, naming the execution."""
    pack = pack_of_this_month(tmp_path)
    changed = tmp_path / "changed.zip"
    _with_one_byte_changed(pack, changed, sealed[1].name)
    result = verify(tmp_path, changed)
    assert result.returncode == 1
    assert f"execution {sealed[1].name!r}: its log rows do not match its digest" in result.stdout
    assert f"{sealed[0].name!r}" not in result.stdout


def test_deleted_execution_fails(sealed, tmp_path):
    """An execution deleted whole after sealing is named by verify.py."""
    victim = sealed[2]
    without_triggers("DELETE FROM processing_logs WHERE execution_name = %s", [victim.name])
    Execution.objects.filter(pk=victim.pk).delete()
    result = verify(tmp_path, pack_of_this_month(tmp_path))
    assert result.returncode == 1
    assert f"execution {victim.name!r} was removed" in result.stdout


def test_edited_digest_fails(sealed, tmp_path):
    """An execution whose stored digest was edited is named as altered."""
    victim = sealed[0]
    Execution.objects.filter(pk=victim.pk).update(digest="1" * 64)
    result = verify(tmp_path, pack_of_this_month(tmp_path))
    assert result.returncode == 1
    assert f"execution {victim.name!r} was altered since it was sealed (digest)" in result.stdout


def test_inserted_execution_fails(sealed, tmp_path):
    """A fake execution inserted after sealing is named, and so are its rows."""
    fake_execution()
    result = verify(tmp_path, pack_of_this_month(tmp_path))
    assert result.returncode == 1
    assert "execution 'user-log-fake' was added after the month was sealed" in result.stdout
    assert "log rows of execution 'user-log-fake', which is not in the seal" in result.stdout


def test_edited_seal_fails(sealed, tmp_path):
    """A seal changed in the pack no longer recomputes."""
    pack = pack_of_this_month(tmp_path)
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(pack) as source, zipfile.ZipFile(changed, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "seal.json":
                data = data.replace(b'"rows": ', b'"rows": 1')
            target.writestr(item, data)
    result = verify(tmp_path, changed)
    assert result.returncode == 1
    assert "the seal hash does not recompute" in result.stdout


def test_command_writes_the_pack_and_an_access_row(sealed, tmp_path):
    """export_evidence writes the pack (exit 0) and records it; an unsealed month exits 2."""
    out = tmp_path / "cli.zip"
    run = command_run("export_evidence", "--month", str(Month.current()), str(out))
    assert run.code == 0, run.stderr
    assert verify(tmp_path, out).returncode == 0
    access = AccessLog.objects.get()
    assert access.kind == AccessLog.Kind.EVIDENCE
    assert access.username.startswith("shell:")
    assert access.rows == sum(e.log_rows for e in sealed)
    missing = command_run("export_evidence", "--month", "2001-01", str(tmp_path / "x.zip"))
    assert missing.code == 2
    assert "no such month" in missing.stderr
    assert AccessLog.objects.count() == 1


def test_archived_month_is_read_back_from_s3(s3, sealed, settings, tmp_path):
    """Once retention dropped the month, its pack comes from the S3 archive and verifies,
    manifest included; the next month's pack carries this month's seal as its previous one."""
    settings.LOG_RETENTION_MONTHS = 1
    later = NEXT_MONTH + timedelta(days=31)
    summaries_update(today=later)
    run = retention_run(today=later)
    assert Month.current().partition_name in run.partitions_dropped
    pack = pack_of_this_month(tmp_path)
    with zipfile.ZipFile(pack) as opened:
        assert "archive_manifest.json" in opened.namelist()
        assert b"s3://" in opened.read("pack.json")
    result = verify(tmp_path, pack)
    assert result.returncode == 0, result.stdout + result.stderr

    next_pack = tmp_path / "next.zip"
    with next_pack.open("wb") as sink:
        evidence_pack_write(month=Month.current().add(1), out=sink)
    with zipfile.ZipFile(next_pack) as opened:
        assert "previous_seal.json" in opened.namelist()
    assert verify(tmp_path, next_pack).returncode == 0

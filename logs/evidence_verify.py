"""Verify an auditsite evidence pack with nothing but Python: ``python3 verify.py PACK.zip``.

This file is the ``verify.py`` inside every pack (``manage.py export_evidence``), and the one
definition of a month seal's hash chain (``logs.services.seals`` imports it): it uses the Python
standard library only, so an auditor can read it whole and run it on any machine.

A pack holds one month:

- ``processing_logs.tsv``: the log rows, in ``log_id`` order, one row a line in PostgreSQL's
  COPY text form (tab-separated, ``\\N`` for NULL, backslash escapes, times in UTC ISO), after a
  header line naming the columns. An execution's digest is the sha256 of its lines.
- ``executions.csv``: the month's completed executions as the database holds them now.
- ``seal.json``: the month's seal (its chain of executions, each link, the row count) and
  ``previous_seal.json``, the seal of the month before, which this one chains to.
- ``archive_manifest.json`` when the month is archived to S3; ``pack.json`` says what the pack is.

The chain: ``link_0`` is the previous month's seal (64 zeros for the first sealed month);
``link_i = sha256(link_{i-1} "\\n" name "\\t" log_rows "\\t" success "\\t" failed "\\t"
skipped "\\t" digest)`` over the month's completed executions in ``finished_at, id`` order; the
seal is
``sha256("auditsite-seal-v1\\n" month "\\n" previous "\\n" head "\\n" executions "\\n" rows)``.

Exit 0 when every digest, the chain and the seal recompute; 1 naming each mismatch; 2 when the
pack cannot be read at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime

GENESIS = "0" * 64  # the "previous seal" of the first month ever sealed
SEAL_VERSION = "auditsite-seal-v1"
LOG_FIELDS = (
    "log_id",
    "execution_name",
    "user_id",
    "processing_type",
    "old_value",
    "new_value",
    "status",
    "error_message",
    "processed_at",
)
COUNT_FIELDS = ("log_rows", "success_count", "failed_count", "skipped_count")
EXECUTION_FIELDS = ("id", "name", "status", "finished_at", *COUNT_FIELDS, "digest")
_STATUS_FIELDS = {"success": "success_count", "failed": "failed_count", "skipped": "skipped_count"}


def chain_link(previous: str, entry: dict) -> str:
    """The link of one execution: sha256 of the previous link, its name, counts and digest."""
    text = "\t".join(
        [
            str(entry["name"]),
            *(str(int(entry[field])) for field in COUNT_FIELDS),
            str(entry["digest"]),
        ]
    )
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()


def chain_links(previous: str, entries: Iterable[dict]) -> list[str]:
    """Every link of a chain that starts from ``previous``, in order."""
    links = []
    for entry in entries:
        previous = chain_link(previous, entry)
        links.append(previous)
    return links


def seal_hash(*, month: str, previous: str, head: str, executions: int, rows: int) -> str:
    """The seal of a month: its chain's head, its size and row count, and the previous seal."""
    text = f"{SEAL_VERSION}\n{month}\n{previous}\n{head}\n{executions}\n{rows}"
    return hashlib.sha256(text.encode()).hexdigest()


def seal_problems(seal: dict) -> list[str]:
    """What does not recompute in a stored seal (its links, head and seal hash)."""
    problems = []
    month = seal.get("month", "?")
    links = chain_links(seal["previous_seal"], seal["chain"])
    for entry, link in zip(seal["chain"], links, strict=True):
        if entry.get("link") != link:
            problems.append(f"seal of {month}: the link of execution {entry['name']!r} differs")
            break  # every later link differs too
    head = links[-1] if links else seal["previous_seal"]
    if seal["chain_head"] != head:
        problems.append(f"seal of {month}: the chain head does not recompute")
    if seal["executions"] != len(seal["chain"]):
        problems.append(
            f"seal of {month}: says {seal['executions']} executions, "
            f"its chain holds {len(seal['chain'])}"
        )
    expected = seal_hash(
        month=month,
        previous=seal["previous_seal"],
        head=head,
        executions=len(seal["chain"]),
        rows=int(seal["rows"]),
    )
    if seal["seal"] != expected:
        problems.append(f"seal of {month}: the seal hash does not recompute")
    return problems


def executions_compare(*, month: str, sealed: Sequence[dict], current: Sequence[dict]) -> list[str]:
    """Executions removed from, added to or altered in a month since it was sealed."""
    problems = []
    now = {str(entry["name"]): entry for entry in current}
    before = {str(entry["name"]): entry for entry in sealed}
    for name, entry in before.items():
        if name not in now:
            problems.append(f"{month}: execution {name!r} was removed (it is in the seal)")
            continue
        changed = [
            field
            for field in (*COUNT_FIELDS, "digest")
            if str(now[name][field]) != str(entry[field])
        ]
        if changed:
            problems.append(
                f"{month}: execution {name!r} was altered since it was sealed "
                f"({', '.join(changed)})"
            )
    problems += [
        f"{month}: execution {name!r} was added after the month was sealed"
        for name in now
        if name not in before
    ]
    if not problems and [str(e["name"]) for e in sealed] != [str(e["name"]) for e in current]:
        problems.append(f"{month}: the executions are no longer in the sealed order")
    return problems


def utc_time(text: str) -> datetime:
    """A time as the pack writes it (``2024-06-15 00:00:00.5+00``), on any Python 3."""
    if text[-3:-2] in ("+", "-") and text[-2:].isdigit():
        text += ":00"  # older Pythons read only ±HH:MM offsets
    return datetime.fromisoformat(text)


def rows_problems(*, lines: list[bytes], seal: dict, start: datetime, end: datetime) -> list[str]:
    """Each sealed execution's digest and counts from the rows, and the month's row count."""
    month = seal["month"]
    problems = []
    digests: dict[str, hashlib._Hash] = {}
    statuses: dict[str, dict[str, int]] = {}
    in_month = 0
    previous_id = 0
    name_at = LOG_FIELDS.index("execution_name")
    status_at = LOG_FIELDS.index("status")
    time_at = LOG_FIELDS.index("processed_at")
    for number, line in enumerate(lines, start=2):
        fields = line.rstrip(b"\n").split(b"\t")
        if len(fields) != len(LOG_FIELDS):
            problems.append(f"processing_logs.tsv line {number}: not a log row")
            continue
        log_id = int(fields[0])
        if log_id <= previous_id:
            problems.append(f"processing_logs.tsv line {number}: log_id out of order")
        previous_id = log_id
        name = fields[name_at].decode()
        digests.setdefault(name, hashlib.sha256()).update(line)
        per_status = statuses.setdefault(name, {})
        status = fields[status_at].decode()
        per_status[status] = per_status.get(status, 0) + 1
        moment = utc_time(fields[time_at].decode())
        in_month += start <= moment < end
    sealed = {str(entry["name"]): entry for entry in seal["chain"]}
    empty = hashlib.sha256(b"").hexdigest()
    for name, entry in sealed.items():
        digest = digests[name].hexdigest() if name in digests else empty
        if digest != entry["digest"]:
            problems.append(f"{month}: execution {name!r}: its log rows do not match its digest")
        counts = statuses.get(name, {})
        if sum(counts.values()) != int(entry["log_rows"]) or any(
            counts.get(status, 0) != int(entry[field]) for status, field in _STATUS_FIELDS.items()
        ):
            problems.append(f"{month}: execution {name!r}: its log rows do not match its counts")
    problems += [
        f"{month}: log rows of execution {name!r}, which is not in the seal"
        for name in digests
        if name not in sealed
    ]
    if in_month != int(seal["rows"]):
        problems.append(
            f"{month}: the month holds {in_month} log rows, its seal says {seal['rows']}"
        )
    return problems


def pack_problems(pack: zipfile.ZipFile) -> list[str]:
    """Every mismatch in an evidence pack."""
    info = json.loads(pack.read("pack.json"))
    seal = json.loads(pack.read("seal.json"))
    problems = seal_problems(seal)
    if seal["month"] != info["month"]:
        problems.append(f"seal.json is the seal of {seal['month']}, not of {info['month']}")
    names = set(pack.namelist())
    if "previous_seal.json" in names:
        previous = json.loads(pack.read("previous_seal.json"))
        problems += seal_problems(previous)
        if previous["seal"] != seal["previous_seal"]:
            problems.append(
                f"seal of {seal['month']} does not chain to the seal of {previous['month']}"
            )
    elif seal["previous_seal"] != GENESIS:
        problems.append(f"seal of {seal['month']}: the previous month's seal is not in the pack")
    with pack.open("executions.csv") as raw:
        current = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
    problems += executions_compare(month=seal["month"], sealed=seal["chain"], current=current)
    with pack.open("processing_logs.tsv") as raw:
        header, *lines = raw.read().splitlines(keepends=True)
    if header.rstrip(b"\n").split(b"\t") != [name.encode() for name in LOG_FIELDS]:
        problems.append("processing_logs.tsv: the header does not name the log columns")
    problems += rows_problems(
        lines=lines,
        seal=seal,
        start=utc_time(info["start"]),
        end=utc_time(info["end"]),
    )
    if "archive_manifest.json" in names:
        manifest = json.loads(pack.read("archive_manifest.json"))
        if int(manifest["rows"]) != int(seal["rows"]):
            problems.append(
                f"{seal['month']}: the archive manifest says {manifest['rows']} rows, "
                f"the seal {seal['rows']}"
            )
    return problems


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print(f"usage: python3 {argv[0] if argv else 'verify.py'} PACK.zip", file=sys.stderr)
        return 2
    try:
        with zipfile.ZipFile(argv[1]) as pack:
            info = json.loads(pack.read("pack.json"))
            problems = pack_problems(pack)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        print(f"cannot read {argv[1]}: {exc}", file=sys.stderr)
        return 2
    if problems:
        for problem in problems:
            print(f"MISMATCH: {problem}")
        print(f"{info['month']}: {len(problems)} mismatch(es)")
        return 1
    print(f"{info['month']}: verified: every digest, the chain and the seal recompute")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The lived-in demo of ``seed_demo``: two months of daily imports, today's runs and the jobs.

Past days are written here directly, set-based (one ``COPY`` of every log row), exactly as the
engine would have written them had it imported each day's file at that time: the same cell
table (SPEC §4), the same counts, the digest computed by the function ``verify_logs`` uses, and
the ProcessingErrors of the failed cells with their 30-day expiry counted from that day. Today's
runs go through the real engine, and every job runs through its real service, so their
Executions and JobRuns are genuine.

Only an empty trail gets the demo; once it is there, a new ``seed_demo`` adds nothing to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from auditsite.db import cursor_copy
from logs.models import Execution, JobRun, ProcessingError, ProcessingLog
from logs.months import Month, business_tz
from logs.selectors import partitions_expired
from logs.services.errors import errors_purge
from logs.services.executions import executions_fail_stale
from logs.services.ingest import execution_create, execution_run
from logs.services.integrity import execution_digest, logs_verify_run
from logs.services.log_counts import log_counts_rebuild
from logs.services.partitions import partition_create, partitions_maintain
from logs.services.retention import retention_keep_from, retention_run
from logs.services.summaries import summaries_update
from users.models import ServiceUser, UserStatistics
from users.statistics import STATISTICS

# Execution.source of what the demo made: past days written directly, today's engine runs.
HISTORY_SOURCE = "demo: seed_demo history"
TODAY_SOURCE = "demo: seed_demo today"
HISTORY_DAYS = 60  # days with log rows, today included
DEMO_UPLOADER = "uploader"  # the demo account named as uploader of the demo's files

# A demo user's day, per statistic: share of days with nothing (0), largest increment.
_PROFILES = {"login_count": (0.06, 6), "post_count": (0.32, 3)}
_DEFAULT_PROFILE = (0.2, 3)
_EMPTY_SHARE = 0.03  # cells left blank by the exporting system
_NOT_INTEGER_SHARE = 0.008
_NEGATIVE_SHARE = 0.005
_NOT_INTEGERS = ("abc", "1.5", "N/A", "２", "3回")  # full-width digit, "3 times": Excel in Japan
_NEGATIVES = ("-1", "-2", "-5")
_UNKNOWN_USER = "U99999"  # the seed's own example of a user that does not exist
_BAD_DAY_AGO = 17  # days before today: an export that included a dozen unknown test accounts
_INTEGER = re.compile(r"[+-]?[0-9]+").fullmatch
_STATUSES = ("success", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class DemoCell:
    """One log row of a demo file, as the engine would write it (plus its raw value)."""

    line_no: int
    user_id: str | None
    processing_type: str
    old_value: int | None
    new_value: int | None
    status: str
    error_message: str | None
    raw_value: str | None  # what a failed cell's ProcessingError keeps


@dataclass(frozen=True)
class DemoDay:
    """One day's activity file and the log rows importing it gives."""

    day: date
    content: bytes
    rows: int
    cells: list[DemoCell]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def counts(self) -> dict[str, dict[str, int]]:
        """Cells per processing type and status, the shape the engine stores."""
        counts: dict[str, dict[str, int]] = {}
        for cell in self.cells:
            per_type = counts.setdefault(cell.processing_type, dict.fromkeys(_STATUSES, 0))
            per_type[cell.status] += 1
        return counts


@dataclass
class DemoTrail:
    """What ``demo_trail_seed`` wrote this time, and a note when it wrote no history."""

    note: str = ""
    history: list[Execution] = field(default_factory=list)  # one per past day
    today: list[Execution] = field(default_factory=list)
    job_runs: list[JobRun] = field(default_factory=list)
    summarized_month: Month | None = None

    @property
    def written(self) -> bool:
        return bool(self.history or self.today or self.job_runs)

    @property
    def first_day(self) -> date | None:
        return min(
            (timezone.localdate(e.started_at, business_tz()) for e in self.history), default=None
        )

    def history_total(self, counter: str) -> int:
        """A count summed over the history's executions, e.g. ``"log_rows"``, ``"failed_count"``."""
        return sum(getattr(execution, counter) for execution in self.history)


def _value(rng: random.Random, column: str) -> str:
    """One statistic's raw CSV value for an active user's day."""
    zero_share, largest = _PROFILES.get(column, _DEFAULT_PROFILE)
    draw = rng.random()
    if draw < _EMPTY_SHARE:
        return ""
    if draw < _EMPTY_SHARE + _NOT_INTEGER_SHARE:
        return rng.choice(_NOT_INTEGERS)
    if draw < _EMPTY_SHARE + _NOT_INTEGER_SHARE + _NEGATIVE_SHARE:
        return rng.choice(_NEGATIVES)
    if rng.random() < zero_share:
        return "0"
    return str(rng.randint(1, largest))


def _cell(
    *, line_no: int, user_id: str, known: bool, column: str, raw: str, counters: dict[str, int]
) -> DemoCell:
    """SPEC §4's cell table for the kinds of cells the demo writes; advances ``counters``."""
    processing_type = next(s.processing_type for s in STATISTICS if s.column == column)
    number = int(raw) if _INTEGER(raw) else None
    if not known:
        return DemoCell(
            line_no, user_id, processing_type, None, number, "failed",
            "User not found in users table", None,
        )  # fmt: skip
    current = counters.get(column, 0)
    if raw == "" or number == 0:
        return DemoCell(line_no, user_id, processing_type, current, current, "skipped", None, None)
    if number is None:
        message = f'{column}: not an integer: "{raw}"'
        return DemoCell(line_no, user_id, processing_type, current, None, "failed", message, raw)
    if number < 0:
        message = f"{column}: negative value {raw} (increments are never below 0)"
        return DemoCell(line_no, user_id, processing_type, current, None, "failed", message, raw)
    counters[column] = current + number
    return DemoCell(
        line_no, user_id, processing_type, current, current + number, "success", None, None
    )


def demo_day_generate(
    *,
    day: date,
    user_ids: Sequence[str],
    counters: dict[str, dict[str, int]],
    unknown_ids: Sequence[str] = (_UNKNOWN_USER,),
    unknown_rows: int | None = None,
) -> DemoDay:
    """The activity file of one demo day and its log rows, from ``counters`` (advanced).

    Deterministic for a day: weekdays busier than weekends, some users far more active than
    others, a few % failed cells (unknown users, non-integers, negatives) and 10–30% skipped.
    """
    rng = random.Random(f"auditsite demo {day.isoformat()}")  # noqa: S311 - demo data
    columns = [statistic.column for statistic in STATISTICS]
    weekend = day.weekday() >= 5
    lines = [",".join(["user_id", *columns])]
    rows: list[tuple[str, bool, list[str]]] = []
    for user_id in user_ids:
        # Each user's own habit, the same every day: from nearly daily to now and then.
        habit = random.Random(f"auditsite demo {user_id}").uniform(0.45, 0.98)  # noqa: S311
        if rng.random() < habit * (0.7 if weekend else 1.0):
            rows.append((user_id, True, [_value(rng, column) for column in columns]))
    if unknown_rows is None:
        unknown_rows = rng.choice((0, 1, 1, 2, 3))
    for _ in range(min(unknown_rows, len(unknown_ids))):
        # unknown accounts are reported with ordinary values
        values = [str(rng.randint(0, 4)) for _ in columns]
        rows.insert(rng.randrange(len(rows) + 1), (rng.choice(unknown_ids), False, values))
    cells = []
    for number, (user_id, known, values) in enumerate(rows, start=2):  # line 1 is the header
        lines.append(",".join([user_id, *values]))
        user_counters = counters.setdefault(user_id, {}) if known else {}
        for column, raw in zip(columns, values, strict=True):
            cells.append(
                _cell(
                    line_no=number,
                    user_id=user_id,
                    known=known,
                    column=column,
                    raw=raw,
                    counters=user_counters,
                )
            )
    content = ("\n".join(lines) + "\n").encode()
    return DemoDay(day=day, content=content, rows=len(rows), cells=cells)


def _unknown_ids(rng: random.Random, count: int) -> list[str]:
    """User ids that are not in ``users``, the seed's U99999 first."""
    taken = set(
        ServiceUser.objects.filter(user_id__startswith="U9").values_list("user_id", flat=True)
    )
    candidates = [_UNKNOWN_USER, *(f"U9{rng.randrange(10_000):04d}" for _ in range(count * 3))]
    return list(dict.fromkeys(c for c in candidates if c not in taken))[:count]


def _counters(user_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """The current counters of ``user_ids`` (users without a statistics row are left out)."""
    columns = [statistic.column for statistic in STATISTICS]
    rows = UserStatistics.objects.filter(user_id__in=user_ids).values_list("user_id", *columns)
    return {user_id: dict(zip(columns, values, strict=True)) for user_id, *values in rows}


def _processed_at(day: date, rng: random.Random) -> tuple[str, datetime]:
    """The day's execution name (the file's time, around 06:00) and when it was imported."""
    made = datetime.combine(day, time(6), business_tz()) + timedelta(seconds=rng.randrange(600))
    return f"user-log-{made:%Y%m%d-%H%M%S}", made + timedelta(seconds=rng.randrange(20, 90))


_LOG_COPY = (
    "COPY processing_logs (execution_name, user_id, processing_type, old_value, new_value, "
    "status, error_message, processed_at) FROM STDIN"
)


def _history_write(*, days: list[DemoDay], uploaded_by) -> list[Execution]:
    """Log rows, Executions, counters and ProcessingErrors of past days, set-based."""
    rng = random.Random("auditsite demo times")  # noqa: S311 - demo data
    stamped = [(day, *_processed_at(day.day, rng)) for day in days]
    # One COPY, days in order and each day's cells in file order: log_id order = row order.
    with connection.cursor() as cursor, cursor_copy(cursor, _LOG_COPY) as copy:
        for day, name, processed_at in stamped:
            for c in day.cells:
                copy.write_row(
                    (name, c.user_id, c.processing_type, c.old_value, c.new_value, c.status,
                     c.error_message, processed_at)
                )  # fmt: skip
    executions = []
    for day, name, processed_at in stamped:
        counts = day.counts()
        totals = {s: sum(per_type[s] for per_type in counts.values()) for s in _STATUSES}
        executions.append(
            Execution(
                name=name,
                source=HISTORY_SOURCE,
                file_name=f"{name}.csv",
                sha256=day.sha256,
                size_bytes=len(day.content),
                uploaded_by=uploaded_by,
                status=Execution.Status.COMPLETED,
                rows_total=day.rows,
                log_rows=len(day.cells),
                success_count=totals["success"],
                failed_count=totals["failed"],
                skipped_count=totals["skipped"],
                counts=counts,
                digest=execution_digest(execution_name=name),
                progress_phase="done",
                progress_rows=day.rows,
                progress_bytes=len(day.content),
                started_at=processed_at - timedelta(milliseconds=300),
                finished_at=processed_at + timedelta(milliseconds=rng.randrange(200, 900)),
            )
        )
    Execution.objects.bulk_create(executions)
    # created_at is auto_now_add: set to the day (queued a moment before it started).
    Execution.objects.filter(pk__in=[e.pk for e in executions]).update(
        created_at=F("started_at") - timedelta(seconds=2)
    )
    _counters_update(names=[e.name for e in executions])
    log_counts_rebuild(execution_names=[e.name for e in executions])
    if settings.ERROR_STORE == "db":  # with DynamoDB, past days' errors are left out
        _history_errors_write(stamped=stamped, executions=executions)
    return executions


def _counters_update(*, names: list[str]) -> None:
    """Each counter = its last success row of the history (the largest: increments are > 0)."""
    quote = connection.ops.quote_name
    finals = ", ".join(
        f"max(new_value) FILTER (WHERE processing_type = %s) AS {quote(s.column)}"
        for s in STATISTICS
    )
    kept = ", ".join(
        f"{quote(s.column)} = COALESCE(f.{quote(s.column)}, st.{quote(s.column)})"
        for s in STATISTICS
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE user_statistics st SET {kept}, updated_at = now() "  # noqa: S608 - registry
            f"FROM (SELECT user_id, {finals} FROM processing_logs "
            "WHERE execution_name = ANY(%s) AND status = 'success' GROUP BY user_id) f "
            "WHERE st.user_id = f.user_id",
            [*(s.processing_type for s in STATISTICS), names],
        )


def _history_errors_write(*, stamped, executions: list[Execution]) -> None:
    """The ProcessingErrors the failed cells of past days got, expiring 30 days after them."""
    retention = timedelta(days=settings.ERROR_RETENTION_DAYS)
    by_name = {execution.name: execution for execution in executions}
    errors = [
        ProcessingError(
            execution=by_name[name],
            execution_name=name,
            kind=ProcessingError.Kind.CELL,
            row_number=cell.line_no,
            user_id=cell.user_id,
            processing_type=cell.processing_type,
            raw_value=cell.raw_value,
            error_message=cell.error_message,
            created_at=processed_at,
            expires_at=processed_at + retention,
        )
        for day, name, processed_at in stamped
        for cell in day.cells
        if cell.status == "failed"
    ]
    ProcessingError.objects.bulk_create(errors, batch_size=2000)


def _history_seed(*, user_ids: Sequence[str], days: int, uploaded_by) -> list[Execution]:
    """Partitions and past days' imports (yesterday the last), in one transaction."""
    today = timezone.localdate(timezone=business_tz())
    # Back to the first of last month at least, so the summarized month is a whole one.
    first_day = min(today - timedelta(days=days - 1), Month.current().add(-1).start.date())
    rng = random.Random("auditsite demo unknown users")  # noqa: S311 - demo data
    with transaction.atomic():
        month = Month.of(datetime.combine(first_day, time(12), business_tz()))
        while month <= Month.current():
            partition_create(month=month)
            month = month.add(1)
        unknown_ids = _unknown_ids(rng, 15)
        counters = _counters(user_ids)
        history_days = []
        day = first_day
        while day < today:
            bad_day = (today - day).days == _BAD_DAY_AGO
            history_days.append(
                demo_day_generate(
                    day=day,
                    user_ids=user_ids,
                    counters=counters,
                    unknown_ids=unknown_ids if bad_day else unknown_ids[:3],
                    unknown_rows=len(unknown_ids) if bad_day else None,
                )
            )
            day += timedelta(days=1)
        return _history_write(days=history_days, uploaded_by=uploaded_by)


def _today_runs(*, user_ids: Sequence[str], uploaded_by) -> list[Execution]:
    """Today through the real engine, each run its own transaction as in a worker: the day's
    file, the same file sent again (rejected), and a run whose worker died mid-import."""
    now = timezone.localtime(timezone=business_tz())
    rng = random.Random("auditsite demo today")  # noqa: S311 - demo data
    day = demo_day_generate(
        day=now.date(),
        user_ids=user_ids,
        counters=_counters(user_ids),
        unknown_ids=_unknown_ids(rng, 1),
        unknown_rows=2,
    )
    file_name = f"user-log-{now:%Y%m%d-%H%M%S}.csv"
    stored = default_storage.save(
        Execution.file.field.generate_filename(None, file_name), ContentFile(day.content)
    )
    runs = []
    for _sent in range(2):  # the second time, the engine rejects it as a duplicate
        execution = execution_create(
            file_name=file_name, source=TODAY_SOURCE, stored_file=stored, uploaded_by=uploaded_by
        )
        ran = execution_run(execution=execution).execution
        assert ran is not None  # only a dry run has no Execution
        runs.append(ran)
    # Left `running` by a worker that died two and a half hours ago: the stale-run job fails it.
    crashed_at = now - timedelta(minutes=settings.STALE_RUN_MINUTES + 30)
    crashed_name = f"user-log-{crashed_at:%Y%m%d-%H%M%S}"
    crashed = Execution.objects.create(
        name=crashed_name,
        source=TODAY_SOURCE,
        file_name=f"{crashed_name}.csv",
        uploaded_by=uploaded_by,
        status=Execution.Status.RUNNING,
        progress_phase="staging",
        started_at=crashed_at,
    )
    Execution.objects.filter(pk=crashed.pk).update(created_at=crashed_at)
    return [crashed, *runs]


def _jobs_run() -> tuple[list[JobRun], Month | None]:
    """A run of every job that has none yet (but the inbox pickup: the demo has no inbox),
    through its service (each commits on its own, as
    under beat); retention drops nothing that holds rows. Also returns the month summarized."""
    previous = Month.current().add(-1)
    expired = partitions_expired(keep_from=retention_keep_from())
    jobs: dict[str, Callable[[], JobRun]] = {
        JobRun.Job.PARTITIONS: partitions_maintain,
        JobRun.Job.SUMMARIZE: lambda: summaries_update(month=previous),
        # A short LOG_RETENTION_MONTHS would make demo months expire: then only a dry run.
        JobRun.Job.RETENTION: lambda: retention_run(
            dry_run=any(partition.rows for partition in expired)
        ),
        JobRun.Job.ERRORS: errors_purge,
        JobRun.Job.STALE_RUNS: executions_fail_stale,
        # Last: the dashboard shows a clean verification of the demo's trail.
        JobRun.Job.VERIFY: logs_verify_run,
    }
    done = set(JobRun.objects.values_list("job", flat=True).distinct())
    runs = [run() for job, run in jobs.items() if job not in done]
    summarized = any(run.job == JobRun.Job.SUMMARIZE for run in runs)
    return runs, previous if summarized else None


@contextlib.contextmanager
def _seed_lock() -> Iterator[None]:
    """Two seed_demo at once: the second waits for the first, then finds its demo there."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext('auditsite demo trail'))")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext('auditsite demo trail'))")


def demo_trail_seed(*, user_ids: Sequence[str], days: int = HISTORY_DAYS) -> DemoTrail:
    """On an empty trail: ``days`` days of imports ending today, today's runs and every job.

    Each part is written once: the history only to an empty trail, today's runs once after it,
    a job only while it has no JobRun. A second call adds nothing; one after an interrupted
    call adds only the parts missing.
    """
    uploaded_by = get_user_model().objects.filter(username=DEMO_UPLOADER).first()
    trail = DemoTrail()
    with _seed_lock():
        history = Execution.objects.filter(source=HISTORY_SOURCE)
        if history.exists():
            trail.note = f"already there ({history.count()} days of imports)"
        elif ProcessingLog.objects.exists() or Execution.objects.exists():
            trail.note = "not written: the trail already holds other executions"
            return trail
        elif not user_ids:
            trail.note = "not written: no demo users"
            return trail
        else:
            trail.history = _history_seed(user_ids=user_ids, days=days, uploaded_by=uploaded_by)
        if not Execution.objects.filter(source=TODAY_SOURCE).exists():
            trail.today = _today_runs(user_ids=user_ids, uploaded_by=uploaded_by)
        trail.job_runs, trail.summarized_month = _jobs_run()
        if trail.written:
            for execution in trail.today:
                execution.refresh_from_db()
            with connection.cursor() as cursor:  # the dashboard's row estimates come from it
                cursor.execute("ANALYZE processing_logs")
    return trail

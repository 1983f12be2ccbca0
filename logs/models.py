from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from logs.triggers import append_only_triggers, processing_log_triggers


class ProcessingLog(models.Model):
    """One change (or refused change) of one counter of one user, from one CSV run. Append-only.

    The table is range-partitioned by month on ``processed_at`` (created by raw SQL in the
    migration; Django cannot emit ``PARTITION BY``). Its database primary key is
    ``(log_id, processed_at)``; ``log_id`` alone is unique in practice and is Django's pk.
    """

    class Status(models.TextChoices):
        SUCCESS = "success", _("success")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    log_id = models.BigAutoField(_("log ID"), primary_key=True)
    execution_name = models.CharField(_("execution name"), max_length=80)
    user_id = models.CharField(_("user ID"), max_length=10, null=True, blank=True)
    processing_type = models.CharField(_("processing type"), max_length=50, null=True, blank=True)
    old_value = models.IntegerField(_("old value"), null=True, blank=True)
    new_value = models.IntegerField(_("new value"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, null=True, blank=True
    )
    error_message = models.TextField(_("error message"), null=True, blank=True)
    processed_at = models.DateTimeField(_("processed at"), db_default=Now())

    class Meta:
        db_table = "processing_logs"
        verbose_name = _("processing log")
        verbose_name_plural = _("processing logs")
        permissions = [("export_processinglog", _("Can export processing logs"))]
        indexes = [
            # One run's rows by status and type (seed 6.2, its failed cells), index-only.
            models.Index(
                fields=["execution_name", "status", "processing_type"],
                name="plogs_execution_status_idx",
            ),
            models.Index(fields=["user_id", "-processed_at"], name="plogs_user_time_idx"),
            # Newest-first pages, status over a date window and seed 6.3 (index-only), in one.
            models.Index(fields=["processed_at", "log_id", "status"], name="plogs_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["success", "failed", "skipped"]),
                name="processing_logs_status_check",
            ),
        ]
        # UPDATE, DELETE and TRUNCATE refused for every role (logs/triggers.py).
        triggers = processing_log_triggers()

    def __str__(self) -> str:
        return f"{self.execution_name} {self.user_id} {self.processing_type} {self.status}"


class ProcessingLogSummary(models.Model):
    """Monthly counts per execution, kept after the detailed rows of a month are dropped.

    The first five columns are the seed's, in its order, so its positional
    ``INSERT INTO processing_logs_summary SELECT …`` works; the surrogate ``id`` exists because
    Django's admin refuses composite primary keys.
    """

    summary_date = models.DateField(_("month"))
    execution_name = models.CharField(_("execution name"), max_length=80)
    total_processed = models.IntegerField(_("total processed"))
    success_count = models.IntegerField(_("success"))
    failed_count = models.IntegerField(_("failed"))
    id = models.BigAutoField(primary_key=True)
    skipped_count = models.IntegerField(_("skipped"), default=0, db_default=0)
    summarized_at = models.DateTimeField(_("summarized at"), db_default=Now(), auto_now=True)

    class Meta:
        db_table = "processing_logs_summary"
        ordering = ["-summary_date", "execution_name"]
        verbose_name = _("monthly summary")
        verbose_name_plural = _("monthly summaries")
        constraints = [
            models.UniqueConstraint(
                fields=["summary_date", "execution_name"],
                name="processing_logs_summary_month_execution_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.summary_date:%Y-%m} {self.execution_name}"


class ProcessingLogCount(models.Model):
    """The log rows one execution wrote at one ``processed_at``, by status: the dashboard's
    daily counts (seed 6.3) without reading the rows.

    Written in the transaction that writes the rows (``logs.services.log_counts``), so it never
    disagrees with them; its rows go when their month's partition is dropped.
    """

    id = models.BigAutoField(primary_key=True)
    processed_at = models.DateTimeField(_("processed at"))
    execution_name = models.CharField(_("execution name"), max_length=80)
    total = models.IntegerField(_("log rows"))
    success_count = models.IntegerField(_("success"))
    failed_count = models.IntegerField(_("failed"))
    skipped_count = models.IntegerField(_("skipped"))

    class Meta:
        db_table = "processing_log_counts"
        ordering = ["-processed_at", "execution_name"]
        verbose_name = _("log row count")
        verbose_name_plural = _("log row counts")
        constraints = [
            models.UniqueConstraint(
                fields=["execution_name", "processed_at"],
                name="plog_counts_execution_time_uniq",
            ),
        ]
        indexes = [models.Index(fields=["processed_at"], name="plog_counts_time_idx")]

    def __str__(self) -> str:
        return f"{self.execution_name} {self.processed_at:%Y-%m-%d %H:%M}"


UPLOAD_PERMISSION = "logs.upload_csv"  # Execution's own permission: may upload activity CSVs


class Execution(models.Model):
    """One run of one CSV file: where it came from, who started it, what it did."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        COMPLETED = "completed", _("completed")
        REJECTED = "rejected", _("rejected")
        FAILED = "failed", _("failed")

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING, Status.COMPLETED)

    class Kind(models.TextChoices):
        """What the run is: a CSV file, or a correction of the trail by new rows (SPEC §4a)."""

        IMPORT = "import", _("import")
        REVERSAL = "reversal", _("reversal")
        ADJUSTMENT = "adjustment", _("adjustment")

    class Phase(models.TextChoices):
        """How far a run has got (``progress_phase``), in the words of the person watching."""

        WAITING = "", _("waiting for a worker")
        READING = "reading", _("reading the file")
        STAGING = "staging", _("reading rows")
        APPLYING = "applying", _("applying to counters and logs")
        DONE = "done", _("done")

    class SourceKind(models.TextChoices):
        """How the file reached auditsite; empty for runs recorded before kinds were kept."""

        UPLOAD = "upload", _("admin upload")
        COMMAND = "command", _("shell command")
        INBOX = "inbox", _("inbox")

    name = models.CharField(_("execution name"), max_length=80)
    source = models.CharField(_("source"), max_length=1024, blank=True)
    source_kind = models.CharField(
        _("source kind"), max_length=10, choices=SourceKind.choices, blank=True
    )
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    file = models.FileField(_("original file"), upload_to="executions/%Y/%m/", blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True, db_index=True)
    size_bytes = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="executions",
        verbose_name=_("uploaded by"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    force = models.BooleanField(_("forced"), default=False)
    rows_total = models.IntegerField(_("data rows"), default=0)
    log_rows = models.IntegerField(_("log rows"), default=0)
    success_count = models.IntegerField(_("success"), default=0)
    failed_count = models.IntegerField(_("failed"), default=0)
    skipped_count = models.IntegerField(_("skipped"), default=0)
    counts = models.JSONField(_("counts per type"), default=dict, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    error_message = models.TextField(_("reason"), blank=True)
    digest = models.CharField(_("digest"), max_length=64, blank=True)
    progress_phase = models.CharField(_("phase"), max_length=20, blank=True)
    progress_rows = models.BigIntegerField(_("rows staged"), default=0)
    progress_bytes = models.BigIntegerField(_("bytes read"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # A pending upload whose message the broker may have lost is queued again (SPEC §10).
    requeued_at = models.DateTimeField(_("queued again at"), null=True, blank=True)
    requeue_count = models.PositiveIntegerField(_("times queued again"), default=0, db_default=0)
    # Corrections (SPEC §4a): what kind of run this is, what it undoes or re-does, and why.
    kind = models.CharField(
        _("kind"), max_length=20, choices=Kind.choices, default=Kind.IMPORT, db_default=Kind.IMPORT
    )
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
    )
    corrects = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        verbose_name=_("corrects"),
    )
    correction_reason = models.TextField(_("reason for the correction"), blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="approved_executions",
        verbose_name=_("approved by"),
    )

    class Meta:
        db_table = "executions"
        ordering = ["-created_at"]
        verbose_name = _("execution")
        verbose_name_plural = _("executions")
        permissions = [("upload_csv", _("Can upload activity CSV files"))]
        constraints = [
            # A rejected or failed run wrote no log rows, so its name may be used again.
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(status__in=["pending", "running", "completed"]),
                name="executions_active_name_uniq",
            ),
            # An execution is reversed at most once (a failed reversal may be tried again).
            models.UniqueConstraint(
                fields=["reverses"],
                condition=models.Q(status__in=["pending", "running", "completed"]),
                name="executions_reversed_once_uniq",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="executions_status_idx")]

    def __str__(self) -> str:
        return self.name


class UploadClaim(models.Model):
    """The one decision taken on a previewed admin upload: confirmed (run) or cancelled.

    Two requests of one session read the same pending upload; the primary key lets exactly one
    of them decide, and the other reads what was decided. The claim is inserted in the same
    transaction as the Execution it confirms, so a confirmed claim always names its Execution.
    """

    class Outcome(models.TextChoices):
        CONFIRMED = "confirmed", _("confirmed")
        CANCELLED = "cancelled", _("cancelled")

    token = models.CharField(_("token"), max_length=64, primary_key=True)
    stored_name = models.CharField(_("stored file"), max_length=255, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    execution = models.ForeignKey(
        Execution,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="upload_claims",
        verbose_name=_("execution"),
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="upload_claims",
        verbose_name=_("claimed by"),
    )
    claimed_at = models.DateTimeField(_("claimed at"), auto_now_add=True)

    class Meta:
        db_table = "upload_claims"
        verbose_name = _("upload claim")
        verbose_name_plural = _("upload claims")

    def __str__(self) -> str:
        return f"{self.token} {self.outcome}"


class ProcessingError(models.Model):
    """A failed cell or a rejected file, kept ``ERROR_RETENTION_DAYS`` (the seed's DynamoDB)."""

    class Kind(models.TextChoices):
        CELL = "cell", _("failed cell")
        FILE = "file", _("rejected file")

    execution = models.ForeignKey(
        Execution,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="errors",
        verbose_name=_("execution"),
    )
    execution_name = models.CharField(_("execution name"), max_length=80)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.CELL)
    row_number = models.IntegerField(_("row"), null=True, blank=True)
    user_id = models.CharField(_("user ID"), max_length=64, null=True, blank=True)
    processing_type = models.CharField(_("processing type"), max_length=50, null=True, blank=True)
    raw_value = models.TextField(_("raw value"), null=True, blank=True)
    error_message = models.TextField(_("error message"))
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        db_table = "processing_errors"
        ordering = ["-created_at", "id"]
        verbose_name = _("processing error")
        verbose_name_plural = _("processing errors")
        indexes = [models.Index(fields=["user_id", "-created_at"], name="perrors_user_idx")]

    def __str__(self) -> str:
        return f"{self.execution_name}: {self.error_message[:60]}"


class JobRun(models.Model):
    """One run of a scheduled or maintenance job, with what it did."""

    class Job(models.TextChoices):
        PARTITIONS = "partitions", _("partitions")
        SUMMARIZE = "summarize", _("summaries")
        RETENTION = "retention", _("retention")
        ERRORS = "errors", _("error purge")
        STALE_RUNS = "stale_runs", _("stale runs")
        INBOX = "inbox", _("inbox pickup")
        VERIFY = "verify", _("trail verification")

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    job = models.CharField(_("job"), max_length=20, choices=Job.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.RUNNING
    )
    dry_run = models.BooleanField(_("dry run"), default=False)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    partitions_created = models.JSONField(_("partitions created"), default=list, blank=True)
    partitions_dropped = models.JSONField(_("partitions dropped"), default=list, blank=True)
    rows_moved = models.BigIntegerField(_("rows moved from DEFAULT"), default=0)
    rows_summarized = models.BigIntegerField(_("rows summarized"), default=0)
    rows_archived = models.BigIntegerField(_("rows archived"), default=0)
    rows_deleted = models.BigIntegerField(_("rows deleted"), default=0)
    archives = models.JSONField(_("archives"), default=list, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    error_message = models.TextField(_("error"), blank=True)

    class Meta:
        db_table = "job_runs"
        ordering = ["-started_at"]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        indexes = [models.Index(fields=["job", "-started_at"], name="job_runs_job_idx")]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M}"


# --- Unattended operation: the inbox ledger and the alerts (SPEC §7a) ----------------------


class InboxItem(models.Model):
    """One object taken from the inbox (``INBOX_URI``), from the moment it is taken until it
    has been moved to ``processed/`` or ``rejected/``: the ledger that makes a pickup exactly
    once. At most one open item per object URI; a new object dropped later under the same name
    is a new item once the earlier one is done."""

    class State(models.TextChoices):
        TAKEN = "taken", _("taken")  # its Execution exists; imported or about to be
        MOVING = "moving", _("moving")  # its destination is chosen; the move may be half done
        DONE = "done", _("done")  # moved (or found gone); closed

    class Outcome(models.TextChoices):
        PROCESSED = "processed", _("processed")
        REJECTED = "rejected", _("rejected")
        FAILED = "failed", _("failed")  # failed on every attempt; moved to rejected/

    uri = models.CharField(_("object"), max_length=1024)
    file_name = models.CharField(_("file name"), max_length=255)
    size_bytes = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    version = models.CharField(_("version"), max_length=255, blank=True)  # ETag, or mtime
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.TAKEN)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    execution = models.ForeignKey(
        Execution,
        on_delete=models.PROTECT,
        related_name="inbox_items",
        verbose_name=_("execution"),
    )
    attempts = models.IntegerField(_("attempts"), default=1)
    destination = models.CharField(_("moved to"), max_length=1024, blank=True)
    job_run = models.ForeignKey(
        JobRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbox_items",
        verbose_name=_("taken by job run"),
    )
    note = models.TextField(_("note"), blank=True)
    taken_at = models.DateTimeField(_("taken at"), auto_now_add=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        db_table = "inbox_items"
        ordering = ["-taken_at"]
        verbose_name = _("inbox item")
        verbose_name_plural = _("inbox items")
        constraints = [
            models.UniqueConstraint(
                fields=["uri"], condition=~models.Q(state="done"), name="inbox_items_open_uri_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.uri


class Alert(models.Model):
    """One event an operator is told about, raised once (``key`` is unique per event) and sent
    to every configured channel (``AlertDelivery``). Written by logs.services.alerts only."""

    class Kind(models.TextChoices):
        EXECUTION_REJECTED = "execution_rejected", _("execution rejected")
        EXECUTION_FAILED = "execution_failed", _("execution failed")
        FAILED_CELLS = "failed_cells", _("too many failed cells")
        MISSING_DAILY = "missing_daily", _("no daily execution")
        JOB_FAILED = "job_failed", _("job failed")
        VERIFY_PROBLEMS = "verify_problems", _("verification problems")
        DEFAULT_ROWS = "default_rows", _("rows in DEFAULT partition")

    key = models.CharField(_("event"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    text = models.TextField(_("text"))  # stored in English (logs.messages), shown localized
    link = models.CharField(_("link"), max_length=500, blank=True)  # admin path of the subject
    details = models.JSONField(_("details"), default=dict, blank=True)
    execution = models.ForeignKey(
        Execution,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("execution"),
    )
    job_run = models.ForeignKey(
        JobRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("job run"),
    )
    created_at = models.DateTimeField(_("raised at"), auto_now_add=True)

    class Meta:
        db_table = "alerts"
        ordering = ["-created_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return self.key


class AlertDelivery(models.Model):
    """One alert to one channel: attempted until sent, with backoff, at most a few times."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("email")
        WEBHOOK = "webhook", _("webhook")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("gave up")

    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("alert")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    target = models.CharField(_("sent to"), max_length=1000)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.IntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        db_table = "alert_deliveries"
        ordering = ["alert", "channel"]
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel"], name="alert_deliveries_alert_channel_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="alert_deliveries_due_idx")
        ]

    def __str__(self) -> str:
        return f"{self.alert.key} → {self.channel}"


class AccessLog(models.Model):
    """One look at personal data: a lookup, a log list narrowed to a user, an export, an
    evidence pack or an original file's download. Append-only; leaves only by its retention
    (``ACCESS_LOG_RETENTION_MONTHS``).

    The reader is kept by name and id, not by a foreign key: deleting an account must neither
    be blocked by its access rows nor rewrite them.
    """

    class Kind(models.TextChoices):
        LOOKUP = "lookup", _("user lookup")
        LOG_LIST = "log_list", _("log list for a user")
        EXPORT = "export", _("log export")
        USER_EXPORT = "user_export", _("user master export")
        EVIDENCE = "evidence", _("evidence pack")
        DOWNLOAD = "download", _("original file download")

    id = models.BigAutoField(primary_key=True)
    accessed_at = models.DateTimeField(_("when"), db_default=Now())
    username = models.CharField(_("who"), max_length=150)
    account_id = models.IntegerField(_("account ID"), null=True, blank=True)
    kind = models.CharField(_("what"), max_length=20, choices=Kind.choices)
    user_id = models.CharField(_("user ID"), max_length=64, null=True, blank=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    target = models.CharField(_("object"), max_length=255, blank=True)
    rows = models.BigIntegerField(_("rows"), null=True, blank=True)
    client_address = models.GenericIPAddressField(_("client address"), null=True, blank=True)

    class Meta:
        db_table = "access_logs"
        ordering = ["-accessed_at", "-id"]
        verbose_name = _("access log")
        verbose_name_plural = _("access logs")
        indexes = [
            models.Index(fields=["user_id", "-accessed_at"], name="access_user_time_idx"),
            models.Index(fields=["username", "-accessed_at"], name="access_reader_time_idx"),
            models.Index(fields=["accessed_at"], name="access_time_idx"),
        ]
        # UPDATE, DELETE and TRUNCATE refused for every role (logs/triggers.py).
        triggers = append_only_triggers(table="access_logs")

    def __str__(self) -> str:
        return f"{self.accessed_at:%Y-%m-%d %H:%M} {self.username} {self.kind} {self.user_id or ''}"


class MonthSeal(models.Model):
    """The seal of one complete month: a hash chain over its completed executions, chained to
    the previous month's seal (SPEC §10a; the link and seal formulas are in
    ``logs/evidence_verify.py``). Written once by the summarize job; never changed."""

    month = models.CharField(_("month"), max_length=7, unique=True)  # YYYY-MM
    previous_seal = models.CharField(_("previous seal"), max_length=64)
    chain = models.JSONField(_("chain"), default=list)  # one entry per execution, in order
    chain_head = models.CharField(_("chain head"), max_length=64)
    executions = models.IntegerField(_("executions"))
    rows = models.BigIntegerField(_("log rows of the month"))
    seal = models.CharField(_("seal"), max_length=64)
    sealed_at = models.DateTimeField(_("sealed at"), db_default=Now())
    s3_key = models.CharField(_("S3 copy"), max_length=1024, blank=True)

    class Meta:
        db_table = "month_seals"
        ordering = ["-month"]
        verbose_name = _("month seal")
        verbose_name_plural = _("month seals")
        triggers = append_only_triggers(table="month_seals")

    def __str__(self) -> str:
        return f"{self.month} {self.seal[:12]}"


class CorrectionRequest(models.Model):
    """A reversal or an adjustment asked for in the admin, waiting for a second person
    (``CORRECTIONS_REQUIRE_APPROVAL``): what it would do (its dry run), then who decided and
    why. An approved request names the correction Execution it ran."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for approval")
        APPROVED = "approved", _("approved")
        DECLINED = "declined", _("declined")

    class Operation(models.TextChoices):
        ADD = "add", _("add")
        SET = "set", _("set to")

    kind = models.CharField(_("kind"), max_length=20, choices=Execution.Kind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    target = models.ForeignKey(
        Execution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversal_requests",
        verbose_name=_("execution to reverse"),
    )
    user_id = models.CharField(_("user ID"), max_length=10, blank=True)
    column = models.CharField(_("counter"), max_length=63, blank=True)
    operation = models.CharField(
        _("operation"), max_length=10, choices=Operation.choices, blank=True
    )
    amount = models.BigIntegerField(_("amount"), null=True, blank=True)
    reason = models.TextField(_("reason"))
    preview = models.JSONField(_("dry run"), default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="correction_requests",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="correction_decisions",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("note"), blank=True)
    execution = models.OneToOneField(
        Execution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="correction_request",
        verbose_name=_("correction run"),
    )

    class Meta:
        db_table = "correction_requests"
        ordering = ["-requested_at", "-id"]
        verbose_name = _("correction request")
        verbose_name_plural = _("correction requests")
        permissions = [
            ("request_correction", _("Can request reversals and adjustments")),
            ("approve_correction", _("Can approve or decline correction requests")),
        ]
        indexes = [models.Index(fields=["status", "-requested_at"], name="corrections_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

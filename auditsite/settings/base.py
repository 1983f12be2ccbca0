"""Settings shared by every environment; every domain setting is read once from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "auditsite.apps.AuditAdminConfig",  # django.contrib.admin with our site (dashboard, throttle)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "pgtrigger",
    "axes",
    "django_celery_beat",
    "import_export",
    "rangefilter",
    "users",
    "logs",
]

MIDDLEWARE = [
    # /healthz and /metrics: answered first, whatever the Host header or the scheme.
    "auditsite.health.OpsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "auditsite.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with its lockout page.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: a locked-out username and address is refused before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "auditsite.urls"
WSGI_APPLICATION = "auditsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# PostgreSQL only: partitions, triggers and COPY are part of the product. Production requires
# DATABASE_URL; local and test settings fall back to an embedded PostgreSQL (embedded_defaults).
DATABASE_URL = env("DATABASE_URL", default="")


def database(config: dict) -> dict:
    """``DATABASES["default"]`` from a parsed URL or the embedded server, with pool options."""
    return {
        # Seconds a process keeps its connection between requests: a new one costs a connect
        # and, on its first reads of processing_logs, the catalogue of every partition and index
        # (B3: 7-19 ms of a page). Checked before reuse, so a dropped connection is replaced.
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
        # Behind a transaction-mode pooler (PgBouncer, RDS Proxy) server-side cursors must be off.
        "DISABLE_SERVER_SIDE_CURSORS": env.bool("DB_DISABLE_SERVER_SIDE_CURSORS", default=False),
        **config,
        "ENGINE": config.get("ENGINE") or "django.db.backends.postgresql",
    }


DATABASES = {"default": database(env.db_url_config(DATABASE_URL))} if DATABASE_URL else {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Business time zone: months (partitions, summaries) and days (dashboard) are counted in it.
TIME_ZONE = env("TIME_ZONE", default="Asia/Tokyo")
USE_TZ = True
LANGUAGE_CODE = env("LANGUAGE_CODE", default="ja")
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Date-time formats that name the time zone (e.g. "JST"), for every admin page.
FORMAT_MODULE_PATH = ["auditsite.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
# Uploaded files (each execution's original): MEDIA_ROOT on this host, or an S3 bucket when web
# and workers run on different hosts, so any worker can run any upload.
MEDIA_S3_BUCKET = env("MEDIA_S3_BUCKET", default="")
MEDIA_S3_PREFIX = env("MEDIA_S3_PREFIX", default="uploads/")  # key prefix of uploaded files
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)  # S3-compatible stores (MinIO)


def media_storage(*, bucket: str, prefix: str, endpoint_url: str | None) -> dict:
    """``STORAGES["default"]``: the file system, or S3 (django-storages) when a bucket is set.

    Files are never public: workers read them and only the permission-checked download view
    serves them, so objects get no ACL."""
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": prefix.strip("/"),
            "endpoint_url": endpoint_url,
            "default_acl": None,
            "file_overwrite": False,
        },
    }


STORAGES = {
    "default": media_storage(
        bucket=MEDIA_S3_BUCKET, prefix=MEDIA_S3_PREFIX, endpoint_url=AWS_S3_ENDPOINT_URL
    ),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Cache: per process by default; point CACHE_URL at Redis (e.g. redis://host:6379/1) when
# several web processes must share it.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# Login throttling and attempt records (django-axes, in the database: shared by every web
# process). A username is locked out from one address after AXES_FAILURE_LIMIT failures, for
# AXES_COOLOFF_MINUTES; a success resets the count; a superuser resets a lockout in the admin
# (delete the access attempt) or with `manage.py axes_reset_username NAME`.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)  # failed logins before a lockout
AXES_COOLOFF_TIME = timedelta(
    minutes=env.int("AXES_COOLOFF_MINUTES", default=15)
)  # how long a lockout lasts
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # commands print nothing but their own output (no start-up banner)
# The client address: REMOTE_ADDR, unless AXES_IPWARE_PROXY_COUNT says how many proxies in front
# set X-Forwarded-For (then its entry that many hops from the right is the client's; a header
# the client sent itself is ignored when no proxy is declared).
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None
AXES_IPWARE_PROXY_ORDER = "right-most"
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Celery. Production requires CELERY_BROKER_URL; local and test settings fall back to an
# embedded Redis (embedded_defaults).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # imports are long: one at a time per worker process
CELERY_TASK_TRACK_STARTED = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Domain settings.
LOG_RETENTION_MONTHS = env.int("LOG_RETENTION_MONTHS", default=12)  # months of detailed logs kept
ERROR_RETENTION_DAYS = env.int("ERROR_RETENTION_DAYS", default=30)  # ProcessingError time to live
MAX_UPLOAD_MB = env.int("MAX_UPLOAD_MB", default=200)  # largest CSV accepted, from any source
PARTITION_MONTHS_AHEAD = env.int(
    "PARTITION_MONTHS_AHEAD", default=3
)  # monthly partitions kept ready
STALE_RUN_MINUTES = env.int(
    "STALE_RUN_MINUTES", default=120
)  # a `pending` or `running` import older is failed
REQUEUE_PENDING_AFTER_SECONDS = env.int(
    "REQUEUE_PENDING_AFTER_SECONDS", default=120
)  # an upload still `pending` this long after it was queued is queued again (lost message)
UPLOAD_PREVIEW_HOURS = env.int(
    "UPLOAD_PREVIEW_HOURS", default=2
)  # a previewed upload not confirmed within this is deleted
ARCHIVE_S3_BUCKET = env("ARCHIVE_S3_BUCKET", default="")  # empty: expired months are not archived
ARCHIVE_S3_PREFIX = env("ARCHIVE_S3_PREFIX", default="processing_logs/")  # key prefix of archives
ERROR_STORE = env("ERROR_STORE", default="db")  # where failed cells go: "db" or "dynamodb"
ERROR_DYNAMODB_TABLE = env("ERROR_DYNAMODB_TABLE", default="auditsite-processing-errors")
INGEST_WORK_MEM = env("INGEST_WORK_MEM", default="256MB")  # PostgreSQL work_mem of an import

# Unattended operation (SPEC §7a): the inbox, alerts, /healthz and /metrics.
INBOX_URI = env("INBOX_URI", default="")  # folder or s3://bucket/prefix/ picked up; empty: off
INBOX_SETTLE_SECONDS = env.float(
    "INBOX_SETTLE_SECONDS", default=2.0
)  # a folder's file is taken when unchanged across two looks this far apart
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])  # addresses alerts are mailed to
ALERT_WEBHOOK_URL = env("ALERT_WEBHOOK_URL", default="")  # JSON POST (Slack-compatible "text")
ALERT_FAILED_RATIO = env.float(
    "ALERT_FAILED_RATIO", default=0.05
)  # alert when more than this share of an execution's cells failed
EXPECTED_DAILY_BY = env(
    "EXPECTED_DAILY_BY", default=""
)  # "HH:MM" (business time zone) by which a completed execution is expected; empty: no check
EXPECTED_DAILY_WEEKDAYS = env.list(
    "EXPECTED_DAILY_WEEKDAYS", default=["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
)  # the days that expect one
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")  # base of the links in alerts
METRICS_TOKEN = env("METRICS_TOKEN", default="")  # /metrics needs "Authorization: Bearer <it>"
METRICS_ALLOWED_ADDRESSES = env.list(
    "METRICS_ALLOWED_ADDRESSES", default=[]
)  # or a client address in these (IPs or CIDR networks) reads /metrics without a token
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="auditsite@localhost")  # alert sender
# How mail is sent (EMAIL_BACKEND, EMAIL_HOST, …), e.g. smtp+tls://user:pass@host:587.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://localhost:25")
vars().update({key: value for key, value in EMAIL_CONFIG.items() if value is not None})
ACCESS_LOG_RETENTION_MONTHS = env.int(
    "ACCESS_LOG_RETENTION_MONTHS", default=24
)  # months the access log (who read whose data) is kept
# Admin reversals and adjustments wait for a second person's approval (commands then need --by).
CORRECTIONS_REQUIRE_APPROVAL = env.bool("CORRECTIONS_REQUIRE_APPROVAL", default=True)

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to a temporary file
# The size limit comes first, so a file beyond MAX_UPLOAD_MB is cut off while it streams in.
FILE_UPLOAD_HANDLERS = [
    "auditsite.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Admin pages.
LOG_LIST_DEFAULT_DAYS = env.int(
    "LOG_LIST_DEFAULT_DAYS", default=30
)  # processing-log list window when no date, user or execution is chosen
EXPORT_MAX_ROWS = env.int("EXPORT_MAX_ROWS", default=100_000)  # largest log export from the admin
# django-import-export: without these, any staff member who can see a list could export it.
# Permission codenames that no group holds by default: superusers only, unless an admin says
# otherwise (the log admin checks logs.export_processinglog).
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"

# Scripts only from this site (and inline ones carrying the request's nonce), nothing framed,
# forms posted only here. Inline style attributes stay allowed: the admin's widgets use them.
CONTENT_SECURITY_POLICY = env(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

"""Settings shared by every environment; every domain setting is read once from the environment."""

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
    "django_celery_beat",
    "import_export",
    "rangefilter",
    "users",
    "logs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=0),
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
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Cache: the login throttle's counters. Per process by default; point CACHE_URL at Redis
# (e.g. redis://host:6379/1) when several web processes must share the counts.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)  # failed logins before a pause
LOGIN_FAILURE_WINDOW_SECONDS = env.int(
    "LOGIN_FAILURE_WINDOW_SECONDS", default=900
)  # how long failures count and the pause lasts

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
ARCHIVE_S3_BUCKET = env("ARCHIVE_S3_BUCKET", default="")  # empty: expired months are not archived
ARCHIVE_S3_PREFIX = env("ARCHIVE_S3_PREFIX", default="processing_logs/")  # key prefix of archives
ERROR_STORE = env("ERROR_STORE", default="db")  # where failed cells go: "db" or "dynamodb"
ERROR_DYNAMODB_TABLE = env("ERROR_DYNAMODB_TABLE", default="auditsite-processing-errors")
INGEST_WORK_MEM = env("INGEST_WORK_MEM", default="256MB")  # PostgreSQL work_mem of an import
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)  # S3-compatible stores (MinIO)
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

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

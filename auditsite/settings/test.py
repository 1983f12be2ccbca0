"""Settings for the test suite: real PostgreSQL (embedded when DATABASE_URL is unset), fast
password hashing."""

from .base import (
    AWS_S3_ENDPOINT_URL,
    BASE_DIR,
    MEDIA_S3_BUCKET,
    MEDIA_S3_PREFIX,
    env,
    media_storage,
)
from .embedded_defaults import *  # noqa: F403

SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-not-secret")
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "var" / "test-media"))
STORAGES = {
    "default": media_storage(
        bucket=MEDIA_S3_BUCKET, prefix=MEDIA_S3_PREFIX, endpoint_url=AWS_S3_ENDPOINT_URL
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files straight from the apps' folders: the suite never runs collectstatic.
WHITENOISE_AUTOREFRESH = True

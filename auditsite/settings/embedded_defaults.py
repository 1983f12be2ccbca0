"""Base settings, with the embedded servers standing in for unset URLs (local and test only).

Nothing starts here: the embedded database backend and broker transport start their server
when a process first connects (``auditsite.embedded``).
"""

from auditsite import embedded

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASE_URL, database, env

if not DATABASE_URL:
    DATABASES = {"default": database(embedded.postgres_settings())}
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = embedded.redis_broker_url()
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)

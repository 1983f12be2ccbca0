"""Celery on the embedded Redis: kombu's Redis transport and Celery's Redis result backend, each
starting the server (``auditsite.embedded``) before this process first uses it.

Registered as ``redis-embedded`` (``redis-embedded+socket:///path``, for the broker and the
results alike) by ``auditsite.celery``; settings use it only when ``CELERY_BROKER_URL`` is unset.
"""

from celery.app.backends import BACKEND_ALIASES
from celery.backends.redis import RedisBackend
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.redis import Transport as RedisTransport

from auditsite import embedded

ALIAS = "redis-embedded"


class Transport(RedisTransport):
    """kombu's Redis transport on the embedded server's socket."""

    def establish_connection(self):
        embedded.redis_ensure()
        return super().establish_connection()


class ResultBackend(RedisBackend):
    """Celery's Redis result backend on the embedded server's socket."""

    def __init__(self, *args, **kwargs):
        embedded.redis_ensure()
        super().__init__(*args, **kwargs)


def aliases_register() -> None:
    """Make ``redis-embedded+socket://…`` URLs resolve to this transport and result backend."""
    TRANSPORT_ALIASES.setdefault(ALIAS, f"{__name__}:Transport")
    BACKEND_ALIASES.setdefault(ALIAS, f"{__name__}:ResultBackend")

"""Celery on the embedded Redis: kombu's Redis transport and Celery's Redis result backend, each
starting the server (``auditsite.embedded``) before this process first uses it.

Registered as ``redis-embedded`` (``redis-embedded+socket:///path``, for the broker and the
results alike) by ``auditsite.celery``; settings use it only when ``CELERY_BROKER_URL`` is unset.
The two classes are made when kombu or Celery first asks this module for them: importing the
Redis client libraries costs a tenth of a second, which a process that never uses the broker (a
management command, an import) does not pay.
"""

from __future__ import annotations

from typing import Any

from celery.app.backends import BACKEND_ALIASES
from kombu.transport import TRANSPORT_ALIASES

from auditsite import embedded

ALIAS = "redis-embedded"
_classes: dict[str, type] = {}


def _classes_make() -> dict[str, type]:
    from celery.backends.redis import RedisBackend
    from kombu.transport.redis import Transport as RedisTransport

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

    for made in (Transport, ResultBackend):
        made.__module__, made.__qualname__ = __name__, made.__name__
    return {"Transport": Transport, "ResultBackend": ResultBackend}


def __getattr__(name: str) -> Any:
    """``Transport`` and ``ResultBackend``, made on first use."""
    if name not in ("Transport", "ResultBackend"):
        raise AttributeError(name)
    if not _classes:
        _classes.update(_classes_make())
    return _classes[name]


def aliases_register() -> None:
    """Make ``redis-embedded+socket://…`` URLs resolve to this transport and result backend."""
    TRANSPORT_ALIASES.setdefault(ALIAS, f"{__name__}:Transport")
    BACKEND_ALIASES.setdefault(ALIAS, f"{__name__}:ResultBackend")

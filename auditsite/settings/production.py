"""Settings for production (gunicorn behind TLS, Aurora PostgreSQL, ElastiCache Redis).

No embedded fallback: a process started without its database, broker or secret refuses to start
and names what is missing, rather than booting a private server of its own.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

_REQUIRED = ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY")
_missing = [name for name in _REQUIRED if not env(name, default="")]
if _missing:
    msg = (
        f"production settings need {', '.join(_missing)} in the environment "
        "(auditsite.settings.local runs without them, on embedded servers)"
    )
    raise ImproperlyConfigured(msg)

SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = False

# TLS is terminated by the load balancer or proxy, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Redirect plain HTTP to HTTPS here; off when the proxy already redirects (or for plain HTTP
# on a private network, as docker-compose.yml does).
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)  # cookies over HTTPS only
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
# Browsers keep to HTTPS for this long once they have seen the site; 0 turns HSTS off.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

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
# DJANGO_PLAIN_HTTP=true: served over plain HTTP on localhost or a private network (as
# docker-compose.yml does): no HTTPS redirect, no secure-only cookies, no HSTS, and the
# deployment check's warnings about exactly those (W004, W008, W012, W016) are silenced, since
# the choice is declared. Off by default: production is HTTPS-only.
PLAIN_HTTP = env.bool("DJANGO_PLAIN_HTTP", default=False)
# Redirect plain HTTP to HTTPS here. Behind a TLS-terminating proxy that redirects by itself,
# DJANGO_SECURE_SSL_REDIRECT=false leaves it to the proxy (and W008 is silenced: declared).
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not PLAIN_HTTP)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not PLAIN_HTTP)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE  # cookies over HTTPS only
# Browsers keep to HTTPS for this long once they have seen the site; 0 turns HSTS off.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if PLAIN_HTTP else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SILENCED_SYSTEM_CHECKS = []
if PLAIN_HTTP:
    SILENCED_SYSTEM_CHECKS += [
        "security.W004",  # HSTS
        "security.W008",  # SSL redirect
        "security.W012",  # session cookie secure
        "security.W016",  # CSRF cookie secure
    ]
elif not SECURE_SSL_REDIRECT:
    SILENCED_SYSTEM_CHECKS.append("security.W008")  # the TLS proxy redirects
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

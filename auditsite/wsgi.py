"""WSGI entry point (gunicorn auditsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditsite.settings.production")

application = get_wsgi_application()

"""Celery application: tasks live in each app's tasks.py; schedules in django-celery-beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditsite.settings.local")

app = Celery("auditsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

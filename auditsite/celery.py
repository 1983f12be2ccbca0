"""Celery application: tasks live in each app's tasks.py; schedules in django-celery-beat."""

import os

from celery import Celery

from auditsite.broker import aliases_register

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditsite.settings.local")

aliases_register()  # the embedded Redis, when CELERY_BROKER_URL is unset
app = Celery("auditsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""Settings for a developer's machine (`make run`): DEBUG on, embedded servers for unset URLs."""

from .base import env
from .embedded_defaults import *  # noqa: F403

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-only-not-secret")

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _prepare_partitions(sender: AppConfig, using: str, **kwargs: object) -> None:
    """After migrate, the current month and the months ahead have their partitions."""
    from django.conf import settings

    from logs.services.partitions import partitions_ensure

    partitions_ensure(months_ahead=settings.PARTITION_MONTHS_AHEAD, using=using)


def _prepare_roles(sender: AppConfig, **kwargs: object) -> None:
    """After migrate (logs is the last app, so every permission exists), groups match SPEC §6."""
    from users.services import roles_setup

    roles_setup()


class LogsConfig(AppConfig):
    name = "logs"
    verbose_name = _("Processing logs")

    def ready(self) -> None:
        post_migrate.connect(_prepare_partitions, sender=self, dispatch_uid="logs_partitions")
        post_migrate.connect(_prepare_roles, sender=self, dispatch_uid="logs_roles")

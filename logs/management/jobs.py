"""What the job commands share: run one service, print what its JobRun says, exit."""

from __future__ import annotations

import abc
import argparse
from collections.abc import Iterable
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from logs.management.terminal import terminal_text
from logs.models import JobRun
from logs.months import Month
from logs.services.job_runs import JobError


def month_argument(text: str) -> Month:
    """argparse type of ``--month YYYY-MM``."""
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


EXIT_JOB_FAILED = 1


class JobCommand(BaseCommand, abc.ABC):
    """A command that runs one job service: exit 0 when its JobRun succeeded, else 1 and why."""

    @abc.abstractmethod
    def run_job(self, *args: Any, **options: Any) -> JobRun:
        """Call the job's service with the parsed options; return its JobRun.

        Called with the options as keywords; each command names those it uses (an open
        ``*args, **options`` signature is what lets overrides do so).
        """

    def report(self, run: JobRun) -> Iterable[str]:
        return ()

    def handle(self, *args: object, **options: object) -> None:
        try:
            run = self.run_job(**options)
        except JobError as exc:
            raise CommandError(terminal_text(str(exc)), returncode=EXIT_JOB_FAILED) from exc
        for line in self.report(run):
            self.stdout.write(terminal_text(line))
        self.stdout.write(f"job run #{run.pk} {run.status}")

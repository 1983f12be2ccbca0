"""Four eyes on corrections (SPEC §4a, ``CORRECTIONS_REQUIRE_APPROVAL``): in the admin a
reversal or an adjustment is first a request showing its dry run; a different person with
``logs.approve_correction`` approves it (then it runs, in the same transaction that records the
decision) or declines it, with a note. Nobody decides their own request."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from logs.messages import (
    CORRECTION_DECIDED,
    CORRECTION_NOT_APPROVER,
    CORRECTION_OWN_REQUEST,
    CORRECTION_WAITING,
)
from logs.models import CorrectionRequest, Execution
from logs.services.corrections import (
    CorrectionRefused,
    CorrectionResult,
    correction_reason_clean,
    counter_adjust,
    execution_reverse,
)

APPROVE_PERMISSION = "logs.approve_correction"
REQUEST_PERMISSION = "logs.request_correction"
Account = User  # a staff account (the admin's pages require one)


class OwnRequest(CorrectionRefused):
    """The requester tried to approve or decline their own request."""


def correction_request_reversal(
    *, execution: Execution, reason: str, requested_by: Account
) -> CorrectionRequest:
    """Ask for a reversal of ``execution``: refused now if it could not run now, else a pending
    request keeping the dry run."""
    reason = correction_reason_clean(reason)
    waiting = CorrectionRequest.objects.filter(
        target=execution, status=CorrectionRequest.Status.PENDING
    ).first()
    if waiting is not None:
        msg = CORRECTION_WAITING.render(name=repr(execution.name), id=waiting.pk)
        raise CorrectionRefused(msg)
    dry_run = execution_reverse(execution_name=execution.name, reason=reason, dry_run=True)
    return CorrectionRequest.objects.create(
        kind=Execution.Kind.REVERSAL,
        target=execution,
        reason=reason,
        preview=dry_run.preview_data(),
        requested_by=requested_by,
    )


def correction_request_adjustment(
    *, user_id: str, column: str, amount: int, set_to: bool, reason: str, requested_by: Account
) -> CorrectionRequest:
    """Ask for an adjustment of one counter: refused now if it could not run, else a pending
    request keeping the dry run."""
    dry_run = counter_adjust(
        user_id=user_id, column=column, amount=amount, set_to=set_to, reason=reason, dry_run=True
    )
    operation = CorrectionRequest.Operation.SET if set_to else CorrectionRequest.Operation.ADD
    return CorrectionRequest.objects.create(
        kind=Execution.Kind.ADJUSTMENT,
        user_id=user_id,
        column=column,
        operation=operation,
        amount=amount,
        reason=correction_reason_clean(reason),
        preview=dry_run.preview_data(),
        requested_by=requested_by,
    )


def correction_request_run(
    *, request: CorrectionRequest, approved_by: Account | None = None
) -> CorrectionResult:
    """Run what ``request`` asks for, recorded as asked by its requester (and approved by)."""
    if request.kind == Execution.Kind.REVERSAL:
        assert request.target is not None
        return execution_reverse(
            execution_name=request.target.name,
            reason=request.reason,
            requested_by=request.requested_by,
            approved_by=approved_by,
        )
    assert request.amount is not None
    return counter_adjust(
        user_id=request.user_id,
        column=request.column,
        amount=request.amount,
        set_to=request.operation == CorrectionRequest.Operation.SET,
        reason=request.reason,
        requested_by=request.requested_by,
        approved_by=approved_by,
    )


def _decidable(*, request_id: int, decided_by: Account) -> CorrectionRequest:
    """The pending request, locked, when ``decided_by`` may decide it."""
    request = CorrectionRequest.objects.select_for_update().get(pk=request_id)
    if request.status != CorrectionRequest.Status.PENDING:
        raise CorrectionRefused(CORRECTION_DECIDED.render(status=request.status))
    if request.requested_by_id == decided_by.pk:
        raise OwnRequest(CORRECTION_OWN_REQUEST.render())
    if not decided_by.has_perm(APPROVE_PERMISSION):
        raise CorrectionRefused(
            CORRECTION_NOT_APPROVER.render(username=repr(decided_by.get_username()))
        )
    return request


def _decide(request: CorrectionRequest, *, status: str, by: Account, note: str) -> None:
    request.status = status
    request.decided_by = by
    request.decided_at = timezone.now()
    request.decision_note = note.strip()
    request.save()


def correction_request_approve(
    *, request_id: int, approved_by: Account, note: str = ""
) -> CorrectionRequest:
    """Approve a pending request: the correction runs and the decision is recorded in one
    transaction; a correction refused now (e.g. reversed meanwhile) leaves the request pending."""
    with transaction.atomic():
        request = _decidable(request_id=request_id, decided_by=approved_by)
        result = correction_request_run(request=request, approved_by=approved_by)
        request.execution = result.execution
        _decide(request, status=CorrectionRequest.Status.APPROVED, by=approved_by, note=note)
    return request


def correction_request_decline(
    *, request_id: int, declined_by: Account, note: str = ""
) -> CorrectionRequest:
    """Decline a pending request, with a note; nothing runs."""
    with transaction.atomic():
        request = _decidable(request_id=request_id, decided_by=declined_by)
        _decide(request, status=CorrectionRequest.Status.DECLINED, by=declined_by, note=note)
    return request

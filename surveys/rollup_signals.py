"""Keep the dashboard's roll-ups in step with every saved or deleted row (same transaction).

Model signals catch every `save()`, `create()` and `delete()` (services, admin, tests alike);
queryset `.update()` sends none, so the services that update invitations in bulk call
`invitations_changed` themselves. Each receiver names the (fact, day, provider) scopes a row
belongs to, before and after the change when a key field may have moved (a rescheduled visit),
and `surveys.rollup.refresh` recomputes them from the raw rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save

from scheduling.models import Appointment
from surveys import rollup
from surveys.models import STANDARD_LIKERT_CODES, Answer, Invitation, Response

Scope = tuple[str, date, int]  # fact, day, provider

_OLD = "_rollup_scopes_before"
# Fields whose change moves a row to another roll-up key.
_KEY_FIELDS = {
    Response: {"visit_date", "provider", "location", "appointment_type", "invite_channel"},
    Invitation: {"created_at", "channel", "appointment"},
    Appointment: {"start", "provider", "location", "appointment_type"},
}


def _refresh(scopes: Iterable[Scope]) -> None:
    # One recount per (fact, week, provider), in a fixed order (no lock-order deadlocks).
    for fact, week, provider in sorted({(f, rollup.monday(d), p) for f, d, p in scopes}):
        rollup.refresh(fact, week, provider)


def _response_scopes(visit_date: date, provider: int) -> list[Scope]:
    return [(rollup.RESPONSES, visit_date, provider)]


def _invitation_scopes(created_at: Any, appointment_id: int) -> list[Scope]:
    provider = Appointment.objects.filter(pk=appointment_id).values_list("provider_id", flat=True)
    return [(rollup.INVITATIONS, rollup.local_day(created_at), p) for p in provider]


def _scopes(instance: Any, with_invitations: bool = False) -> list[Scope]:
    """The scopes a row counts in (from the instance in memory). An appointment's invitation
    counts under the visit's key, so it moves with it when asked (`with_invitations`)."""
    if isinstance(instance, Response):
        return _response_scopes(instance.visit_date, instance.provider_id)
    if isinstance(instance, Invitation):
        return _invitation_scopes(instance.created_at, instance.appointment_id)
    scopes = [(rollup.APPOINTMENTS, rollup.local_day(instance.start), instance.provider_id)]
    if with_invitations:
        created = Invitation.objects.filter(appointment=instance).values_list("created_at")
        day = rollup.local_day
        scopes += [(rollup.INVITATIONS, day(c), instance.provider_id) for (c,) in created]
    return scopes


def before_save(sender: Any, instance: Any, raw: bool = False, update_fields=None, **kw) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & _KEY_FIELDS[sender]:
        return  # a status or answer change: the key is where it was
    stored = sender.objects.filter(pk=instance.pk).first()
    setattr(instance, _OLD, _scopes(stored, with_invitations=True) if stored else [])


def after_save(sender: Any, instance: Any, created: bool, raw: bool = False, **kw) -> None:
    if raw:
        return
    update_fields = kw.get("update_fields")
    # An unfinished response counts nowhere, unless this save just reopened it.
    reopened = not created and (update_fields is None or "completed_at" in update_fields)
    if sender is Response and instance.completed_at is None and not reopened:
        return
    moved = instance.__dict__.pop(_OLD, None)
    _refresh([*(moved or []), *_scopes(instance, with_invitations=moved is not None)])


def after_delete(sender: Any, instance: Any, **kw) -> None:
    # Cascades delete answers, then responses, invitations, appointments: each refreshes its
    # own scope, and the rows it hangs from are still there when it does.
    _refresh(_scopes(instance))


def answer_changed(sender: Any, instance: Answer, raw: bool = False, **kw) -> None:
    """An answer counts only if it is a standard Likert item of a completed response."""
    if raw or instance.code not in STANDARD_LIKERT_CODES:
        return
    row = (
        Response.objects.filter(pk=instance.response_id, completed_at__isnull=False)
        .values_list("visit_date", "provider_id")
        .first()
    )
    if row is not None:
        _refresh(_response_scopes(*row))


def invitations_changed(ids: Iterable[int]) -> None:
    """Call after a queryset `.update()` of these invitations (no signal is sent for those)."""
    rows = Invitation.objects.filter(pk__in=list(ids)).values_list(
        "created_at", "appointment__provider_id"
    )
    _refresh((rollup.INVITATIONS, rollup.local_day(c), p) for c, p in rows)


def connect() -> None:
    """Connect the receivers (from SurveysConfig.ready)."""
    for model in (Response, Invitation, Appointment):
        uid = f"surveys.rollup.{model.__name__}"
        pre_save.connect(before_save, sender=model, dispatch_uid=uid)
        post_save.connect(after_save, sender=model, dispatch_uid=uid)
        post_delete.connect(after_delete, sender=model, dispatch_uid=uid)
    post_save.connect(answer_changed, sender=Answer, dispatch_uid="surveys.rollup.Answer")
    post_delete.connect(answer_changed, sender=Answer, dispatch_uid="surveys.rollup.Answer")

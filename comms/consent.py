"""Consent per channel: opt-out and opt-in take effect at once, on every path."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from comms.models import (
    TRANSACTIONAL_PURPOSES,
    ChannelConsent,
    ConsentEvent,
    OutboundMessage,
    Status,
)
from scheduling.models import Patient

log = logging.getLogger(__name__)


def is_opted_out(patient_id: int, channel: str) -> bool:
    return ChannelConsent.objects.filter(
        patient_id=patient_id, channel=channel, opted_out=True
    ).exists()


@transaction.atomic
def set_consent(patient: Patient, channel: str, *, opted_out: bool, source: str) -> bool:
    """Record an opt-out or opt-in; returns True if the state changed.

    An opt-out also cancels every queued message on that channel for the patient (opt-out
    acknowledgements aside), so nothing already planned slips out afterwards.
    """
    consent, created = ChannelConsent.objects.select_for_update().get_or_create(
        patient=patient, channel=channel, defaults={"opted_out": opted_out, "source": source}
    )
    changed = created and opted_out or (not created and consent.opted_out != opted_out)
    if not created:
        consent.opted_out, consent.source, consent.changed_at = opted_out, source, timezone.now()
        consent.save()
    ConsentEvent.objects.create(
        patient=patient, channel=channel, opted_out=opted_out, source=source
    )
    if opted_out:
        withdrawn = (
            OutboundMessage.objects.filter(
                patient=patient, channel=channel, status__in=[Status.QUEUED, Status.SENDING]
            )
            .exclude(purpose__in=TRANSACTIONAL_PURPOSES)
            .exclude(status=Status.SENDING, lease_until__gt=timezone.now())
        )
        count = withdrawn.update(
            status=Status.CANCELLED, reason=f"patient opted out of {channel} ({source})"
        )
        log.info(
            "patient %s opted out of %s via %s; %s queued cancelled",
            patient.pk,
            channel,
            source,
            count,
        )
    else:
        log.info("patient %s opted in to %s via %s", patient.pk, channel, source)
    return changed

"""Pretend a patient answered by SMS, e.g. `manage.py simulate_reply --appointment 42 C`.

Goes through the same `record_inbound_sms` service as the Twilio webhook, so the demo shows
exactly what a real reply does (confirm, cancel, reschedule link, STOP, or the staff inbox).
"""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from comms.replies import record_inbound_sms
from scheduling.models import Appointment, Patient


class Command(BaseCommand):
    help = "Simulate an inbound SMS from a patient (by appointment id or phone number)."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--appointment", type=int, help="reply from this visit's patient")
        who.add_argument("--phone", help="reply from this number (E.164)")
        parser.add_argument("body", help='what the patient writes, e.g. "C", "2", "STOP"')

    def handle(self, *args, appointment=None, phone=None, body="", **options):
        if appointment is not None:
            visit = Appointment.objects.select_related("patient").filter(pk=appointment).first()
            if visit is None:
                raise CommandError(f"No appointment #{appointment}.")
            phone = str(visit.patient.phone or "")
            if not phone:
                raise CommandError(f"Appointment #{appointment}'s patient has no mobile number.")
        elif not Patient.objects.filter(phone=phone).exists():
            raise CommandError("No patient has that number.")
        inbound = record_inbound_sms(
            provider_id=f"SIM{uuid.uuid4().hex}", from_number=phone, body=body
        )
        self.stdout.write(
            f"reply #{inbound.pk}: intent={inbound.intent} "
            f"state={inbound.state} outcome={inbound.outcome}"
        )

"""Patient pages of comms: e-mail unsubscribe by signed link (one click, RFC 8058)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from comms.consent import set_consent
from comms.links import UNSUBSCRIBE_MAX_AGE_S, BadLink, read_token
from scheduling.models import Patient


@csrf_exempt  # mail clients POST the one-click unsubscribe without a CSRF token (RFC 8058)
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        patient = Patient.objects.get(
            pk=int(read_token("unsubscribe", token, UNSUBSCRIBE_MAX_AGE_S))
        )
    except (BadLink, Patient.DoesNotExist, ValueError):
        return render(request, "comms/link_problem.html", status=400)
    with translation.override(patient.preferred_language):
        if request.method == "POST":
            set_consent(patient, "email", opted_out=True, source="email_link")
            return render(request, "comms/unsubscribed.html", {"first_name": patient.first_name})
        return render(request, "comms/unsubscribe.html", {"first_name": patient.first_name})

"""The patient's self-reschedule page, opened from a signed link in a reminder."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from scheduling import services
from scheduling.links import RESCHEDULE_MAX_AGE_S, BadLink, read_token
from scheduling.models import Appointment, Provider
from scheduling.planning import suggest_for_appointment


def _appointment(token: str) -> tuple[Appointment | None, str]:
    try:
        appointment_id, stamp = read_token("reschedule", token, RESCHEDULE_MAX_AGE_S).split(":")
        appointment = Appointment.objects.select_related(
            "patient", "provider", "location", "appointment_type"
        ).get(pk=int(appointment_id))
    except BadLink as exc:
        return None, exc.reason
    except (Appointment.DoesNotExist, ValueError):
        return None, "invalid"
    if int(appointment.start.timestamp()) != int(stamp) or not appointment.is_active:
        return None, "used"
    return appointment, ""


def reschedule(request: HttpRequest, token: str) -> HttpResponse:
    appointment, problem = _appointment(token)
    if appointment is None:
        return render(
            request,
            "scheduling/reschedule_problem.html",
            {"problem": problem},
            status=410 if problem in ("used", "expired") else 400,
        )
    language = appointment.patient.preferred_language
    with translation.override(language):
        options = suggest_for_appointment(appointment).suggestions
        choices = {f"{o.provider_id}|{o.start.isoformat()}": o for o in options}
        error = ""
        if request.method == "POST":
            chosen = choices.get(request.POST.get("slot", ""))
            if chosen is None:
                error = "That time is no longer available. Please choose another."
            else:
                try:
                    moved = services.reschedule(
                        appointment,
                        start=chosen.start,
                        provider=Provider.objects.get(pk=int(chosen.provider_id)),
                        actor="patient (self-reschedule)",
                    )
                except services.SchedulingError:
                    error = "That time was just taken. Please choose another."
                else:
                    return render(
                        request,
                        "scheduling/rescheduled.html",
                        {"appointment": moved, "when": moved.local_start},
                    )
        zone = appointment.location.zone
        rows = [
            (key, option, option.start.astimezone(zone), _provider_name(option.provider_id))
            for key, option in choices.items()
        ]
        return render(
            request,
            "scheduling/reschedule.html",
            {
                "appointment": appointment,
                "first_name": appointment.patient.first_name,
                "when": appointment.local_start,
                "rows": rows,
                "error": error,
            },
            status=409 if error else 200,
        )


def _provider_name(provider_id: str) -> str:
    provider = Provider.objects.filter(pk=int(provider_id)).first()
    return provider.display_name if provider else ""

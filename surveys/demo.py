"""Demo feedback: a few hundred answered surveys on the demo clinic's recent visits.

Deterministic (fixed seed) and idempotent: answers are created once; manager assignments are
topped up on every run (config.demo creates the logins after the seeding hooks, so it calls
`assign_managers` again once they exist). Comments are invented, in English and Spanish: praise,
waits, billing, rude staff, and two safety reports.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from scheduling.models import Appointment, AppointmentStatus, CreatedVia, Location
from surveys import feedback, rollup, rollup_signals, tickets
from surveys.models import (
    Invitation,
    InvitationStatus,
    LocationManager,
    QuestionKind,
    Response,
    Survey,
    Ticket,
    TicketStatus,
)
from surveys.responses import save_answers

RESPONSES = 300
SEED = 11
# profile: (weight, NPS range, likert range, went_well pool, do_better pool)
PROFILES = {
    "promoter": (55, (9, 10), (3, 4), "praise", "nothing"),
    "passive": (20, (7, 8), (2, 4), "praise", "wait"),
    "wait": (10, (2, 6), (1, 3), "neutral", "wait"),
    "billing": (7, (0, 5), (2, 4), "neutral", "billing"),
    "rude": (7, (0, 4), (1, 2), "neutral", "rude"),
}
TEXT = {
    "en": {
        "praise": [
            "Dr. was very kind and explained everything clearly.",
            "The nurse was friendly and made me feel at ease.",
            "Quick check-in and I was seen on time. Thank you!",
            "Very thorough visit, I finally understand my treatment plan.",
            "Everyone was professional and caring.",
            "The doctor listened to all my concerns and did not rush me.",
        ],
        "neutral": ["The doctor was fine.", "Check-in was ok.", "", "Parking was easy."],
        "nothing": ["Nothing, keep up the good work.", "Nothing", "", "All good"],
        "wait": [
            "I waited over an hour past my appointment time with no explanation.",
            "The waiting room was packed and the wait was far too long.",
            "Shorter wait times please, 45 minutes is too long.",
            "Nobody told us the doctor was running late. Very frustrating wait.",
        ],
        "billing": [
            "I was charged twice for the same visit and billing never called me back.",
            "The bill was much higher than the estimate and nobody could explain the charges.",
            "Insurance was billed wrong again. Sorting it out took weeks.",
        ],
        "rude": [
            "The receptionist was rude and dismissive when I asked a question.",
            "Front desk staff were unfriendly and made me feel like a burden.",
            "The doctor was condescending and did not listen to me at all.",
        ],
        "safety": [
            "I was given the wrong medication at discharge and had a reaction at home.",
            "I fell in the bathroom, there was no grab bar and no one came to help.",
        ],
    },
    "es": {
        "praise": [
            "La doctora fue muy amable y me explicó todo con claridad.",
            "La enfermera fue muy atenta. Me sentí bien atendido.",
            "Me atendieron a tiempo. ¡Muchas gracias!",
            "Excelente atención, el doctor me escuchó con paciencia.",
        ],
        "neutral": ["Todo normal.", "", "La visita estuvo bien."],
        "nothing": ["Nada, todo bien.", "Nada", ""],
        "wait": [
            "Esperé más de una hora y nadie me explicó el retraso.",
            "La espera fue demasiado larga.",
        ],
        "billing": [
            "Me cobraron dos veces la misma consulta y nadie me devolvió la llamada.",
            "La factura fue mucho más alta de lo que me dijeron.",
        ],
        "rude": [
            "La recepcionista fue grosera y no me quiso ayudar.",
            "El personal de recepción fue muy descortés conmigo.",
        ],
    },
}


def seed() -> None:
    """Create the demo's answered surveys once, then top up manager assignments."""
    if not Response.objects.filter(invitation__appointment__created_via=CreatedVia.DEMO).exists():
        _seed_responses()
        # The demo clinic's visits were bulk-created (no signals): count the roll-ups once.
        found = rollup.data_range()
        if found:
            rollup.rebuild(*found)
    assign_managers()


@transaction.atomic
def _seed_responses() -> None:
    rng = random.Random(SEED)
    now = timezone.now()
    surveys = {s.language: s for s in Survey.objects.filter(active=True, appointment_type=None)}
    if "en" not in surveys:
        return
    questions = {lang: list(s.questions.order_by("order")) for lang, s in surveys.items()}
    visits = (
        Appointment.objects.filter(
            created_via=CreatedVia.DEMO,
            status=AppointmentStatus.COMPLETED,
            start__gte=now - timedelta(days=28),
            end__lte=now - timedelta(hours=6),
            survey_invitation__isnull=True,
        )
        .select_related("patient", "location")
        .order_by("-start")
    )
    latest = {}
    for visit in visits:
        latest.setdefault(visit.patient_id, visit)  # one survey per patient (90-day rule)
    chosen = sorted(latest.values(), key=lambda v: v.pk)
    rng.shuffle(chosen)
    names = list(PROFILES)
    weights = [PROFILES[n][0] for n in names]
    safety_due = [17, 161]  # two safety reports, in English: the analysis's safety rules
    # read English only so far
    for index, visit in enumerate(chosen[:RESPONSES]):
        profile = rng.choices(names, weights)[0]
        if safety_due and index >= safety_due[0] and visit.patient.preferred_language == "en":
            profile = "safety"
            safety_due.pop(0)
        _answer(rng, visit, profile, surveys, questions, now)


def _answer(rng, visit, profile, surveys, questions, now) -> None:
    language = visit.patient.preferred_language
    language = language if language in surveys else "en"
    sent = visit.end + timedelta(hours=2)
    done = min(sent + timedelta(hours=rng.randint(1, 60)), now - timedelta(minutes=5))
    invitation = Invitation.objects.create(
        appointment=visit,
        patient=visit.patient,
        survey=surveys[language],
        channel=visit.patient.preferred_channel,
        status=InvitationStatus.SENT,
        created_at=visit.end,
        expires_at=sent + timedelta(days=14),
        opened_at=done,
    )
    response = Response.objects.create(
        invitation=invitation,
        channel="web",
        language=language,
        started_at=done - timedelta(minutes=3),
        location_id=visit.location_id,
        provider_id=visit.provider_id,
        appointment_type_id=visit.appointment_type_id,
        visit_date=visit.start.astimezone(visit.location.zone).date(),
        invite_channel=invitation.channel,
    )
    pools = TEXT[language]
    if profile == "safety":
        nps, likert, good, better = (3, 6), (1, 3), pools["neutral"], pools["safety"][:1]
        if rng.random() < 0.5:
            better = pools["safety"][1:]
    else:
        _, nps, likert, good_pool, better_pool = PROFILES[profile]
        good, better = pools[good_pool], pools[better_pool]
    values = {}
    for question in questions[language]:
        if question.kind == QuestionKind.NPS:
            values[question] = rng.randint(*nps)
        elif question.kind == QuestionKind.RATING:
            values[question] = min(10, max(0, rng.randint(*nps) + rng.choice([-1, 0, 1])))
        elif question.kind == QuestionKind.LIKERT:
            values[question] = rng.randint(*likert) if rng.random() > 0.05 else None
        else:
            values[question] = rng.choice(good if question.code == "went_well" else better)
    save_answers(response, values)
    response.completed_at = done
    response.save(update_fields=["completed_at"])
    Invitation.objects.filter(pk=invitation.pk).update(
        status=InvitationStatus.COMPLETED, completed_at=done
    )
    rollup_signals.invitations_changed([invitation.pk])
    comments = feedback.analyse_response(response, now=done)
    ticket = tickets.open_ticket(response, comments, notify=False)
    if ticket is not None:
        local = done.astimezone(visit.location.zone).date()
        ticket.created_at = done
        ticket.due_date = local + timedelta(days=1 if ticket.priority == "high" else 3)
        if done < now - timedelta(days=7) and rng.random() < 0.6:
            ticket.status, ticket.resolved_at = TicketStatus.RESOLVED, done + timedelta(days=2)
            ticket.notes = "Called the patient back; apologised and explained the next steps."
        ticket.save()


def assign_managers() -> int:
    """Every user in the Manager group manages every location; returns rows created."""
    created = 0
    managers = list(User.objects.filter(groups__name="Manager").order_by("pk"))
    for location in Location.objects.order_by("pk"):
        for user in managers:
            created += LocationManager.objects.get_or_create(user=user, location=location)[1]
        first = LocationManager.objects.filter(location=location).order_by("pk").first()
        if first is not None:
            Ticket.objects.filter(location=location, owner__isnull=True).exclude(
                status=TicketStatus.RESOLVED
            ).update(owner=first.user)
    return created

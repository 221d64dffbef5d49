"""A realistic demo clinic: 3 locations in 2 time zones, 12 providers, 2,000 patients.

Deterministic (fixed seed) and safe to run twice: a clinic that is already there is left alone.
Phone numbers are the fictional 555-01xx range; e-mail addresses use example.org.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from scheduling.models import (
    Appointment,
    AppointmentRequest,
    AppointmentStatus,
    AppointmentType,
    Break,
    CreatedVia,
    Location,
    Patient,
    Provider,
    Specialty,
    WorkingHours,
)

LOCATIONS = [
    (
        "Riverside Family Clinic",
        "410 N Michigan Ave",
        "Chicago",
        "IL",
        "60611",
        "+13125550100",
        "America/Chicago",
    ),
    (
        "Lakeshore Pediatrics",
        "2200 W Irving Park Rd",
        "Chicago",
        "IL",
        "60618",
        "+17735550100",
        "America/Chicago",
    ),
    (
        "Mesa Health Center",
        "1550 Larimer St",
        "Denver",
        "CO",
        "80202",
        "+13035550100",
        "America/Denver",
    ),
]
# title, first, last, specialty, location indexes
PROVIDERS = [
    ("Dr", "Elena", "Ortiz", "Family Medicine", [0]),
    ("Dr", "James", "Whitaker", "Family Medicine", [0, 1]),
    ("NP", "Priya", "Raman", "Family Medicine", [0]),
    ("Dr", "Samuel", "Okafor", "Family Medicine", [2]),
    ("PA", "Laura", "Jensen", "Family Medicine", [2]),
    ("Dr", "Mei", "Chen", "Pediatrics", [1]),
    ("Dr", "Carlos", "Mendoza", "Pediatrics", [1, 0]),
    ("NP", "Hannah", "Becker", "Pediatrics", [2]),
    ("Dr", "Robert", "Hayes", "Cardiology", [0, 2]),
    ("Dr", "Aisha", "Bello", "Cardiology", [0]),
    ("Dr", "Sofia", "Ramirez", "Dermatology", [1, 2]),
    ("Dr", "Daniel", "Kim", "Dermatology", [0]),
]
# name, name_es, minutes, buffer, specialties, kind, preparation (en, es)
TYPES = [
    (
        "New patient visit",
        "Consulta de paciente nuevo",
        40,
        10,
        ["Family Medicine", "Pediatrics"],
        "new",
        "Bring your insurance card, a photo ID and a list of your medicines.",
        "Traiga su tarjeta de seguro, una identificación con foto y la lista de sus medicamentos.",
    ),
    (
        "Follow-up visit",
        "Consulta de seguimiento",
        20,
        5,
        ["Family Medicine", "Pediatrics", "Cardiology", "Dermatology"],
        "follow_up",
        "",
        "",
    ),
    (
        "Annual physical",
        "Examen físico anual",
        30,
        5,
        ["Family Medicine"],
        "any",
        "Do not eat for 8 hours before your visit if you need blood work.",
        "No coma durante 8 horas antes de su cita si necesita análisis de sangre.",
    ),
    (
        "Sick visit",
        "Consulta por enfermedad",
        15,
        5,
        ["Family Medicine", "Pediatrics"],
        "any",
        "",
        "",
    ),
    (
        "Well-child check",
        "Control del niño sano",
        30,
        5,
        ["Pediatrics"],
        "any",
        "Bring your child's vaccination record.",
        "Traiga el registro de vacunas de su hijo.",
    ),
    (
        "Cardiology consult",
        "Consulta de cardiología",
        45,
        15,
        ["Cardiology"],
        "new",
        "Bring any recent ECG or test results.",
        "Traiga sus electrocardiogramas o resultados de pruebas recientes.",
    ),
    (
        "Skin check",
        "Revisión de la piel",
        20,
        5,
        ["Dermatology"],
        "any",
        "Please do not wear nail polish or makeup.",
        "Por favor no use esmalte de uñas ni maquillaje.",
    ),
]
FIRST_EN = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Ethan",
    "Mia",
    "Lucas",
    "Grace",
    "Henry",
    "Chloe",
    "Jack",
    "Zoe",
    "Owen",
    "Nora",
    "Caleb",
    "Ruth",
    "Isaac",
    "Alice",
    "Wyatt",
]
FIRST_ES = [
    "Sofía",
    "Mateo",
    "Valentina",
    "Santiago",
    "Camila",
    "Diego",
    "Lucía",
    "Javier",
    "Isabela",
    "Alejandro",
    "Mariana",
    "Andrés",
    "Gabriela",
    "Miguel",
    "Daniela",
    "José",
]
LAST_EN = [
    "Smith",
    "Johnson",
    "Brown",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "King",
    "Wright",
]
LAST_ES = [
    "García",
    "Rodríguez",
    "Martínez",
    "Hernández",
    "López",
    "González",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Morales",
]
AREA_CODES = {
    0: ["312", "773", "872", "708"],
    1: ["773", "847", "630", "224"],
    2: ["303", "720", "970", "719"],
}
PAST_STATUS = [
    (AppointmentStatus.COMPLETED, 0.85),
    (AppointmentStatus.NO_SHOW, 0.07),
    (AppointmentStatus.CANCELLED, 0.08),
]
FUTURE_STATUS = [
    (AppointmentStatus.BOOKED, 0.6),
    (AppointmentStatus.CONFIRMED, 0.3),
    (AppointmentStatus.CANCELLED, 0.1),
]


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _aware(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)


@transaction.atomic
def seed_clinic(
    *, patients: int = 2000, weeks: int = 4, seed: int = 7, today: date | None = None
) -> dict[str, int]:
    """Create the demo clinic unless it exists; return counts of what is there."""
    if Location.objects.filter(name=LOCATIONS[0][0]).exists():
        return {
            "created": 0,
            "patients": Patient.objects.count(),
            "appointments": Appointment.objects.count(),
        }
    rng = random.Random(seed)
    today = today or timezone.localdate()
    locations = [
        Location.objects.create(
            name=n, address_line1=a, city=c, state=s, postal_code=z, phone=p, time_zone=tz
        )
        for n, a, c, s, z, p, tz in LOCATIONS
    ]
    specialties = {
        name: Specialty.objects.create(name=name) for name in sorted({p[3] for p in PROVIDERS})
    }
    types = []
    for name, name_es, minutes, buffer, specs, kind, prep, prep_es in TYPES:
        kind_type = AppointmentType.objects.create(
            name=name,
            name_es=name_es,
            duration_minutes=minutes,
            buffer_after_minutes=buffer,
            visit_kind=kind,
            preparation_instructions=prep,
            preparation_instructions_es=prep_es,
        )
        kind_type.specialties.set([specialties[s] for s in specs])
        types.append(kind_type)
    providers = []
    for index, (title, first, last, spec, where) in enumerate(PROVIDERS):
        provider = Provider.objects.create(
            title=title, first_name=first, last_name=last, specialty=specialties[spec]
        )
        provider.locations.set([locations[i] for i in where])
        for weekday in range(5):
            # Providers at two sites split the week between them.
            loc = locations[where[weekday % len(where)]]
            start, end = (time(8), time(17)) if index % 3 else (time(9), time(18))
            hours = WorkingHours.objects.create(
                provider=provider, location=loc, weekday=weekday, start_time=start, end_time=end
            )
            Break.objects.create(working_hours=hours, start_time=time(12), end_time=time(13))
        providers.append(provider)

    sites = {p.pk: set(p.locations.values_list("pk", flat=True)) for p in providers}
    people = []
    for i in range(patients):
        home = rng.choices([0, 1, 2], weights=[45, 25, 30])[0]
        spanish = rng.random() < 0.3
        first = rng.choice(FIRST_ES if spanish else FIRST_EN)
        last = rng.choice(LAST_ES if spanish or rng.random() < 0.15 else LAST_EN)
        area = rng.choice(AREA_CODES[home])
        phone = f"+1{area}5550{rng.randint(100, 199)}"
        has_email = rng.random() < 0.7
        channel = "email" if has_email and rng.random() < 0.25 else "sms"
        birth = today - timedelta(days=rng.randint(365, 90 * 365))
        people.append(
            Patient(
                first_name=first,
                last_name=last,
                date_of_birth=birth,
                phone=phone,
                email=f"patient{i + 1}@example.org" if has_email else "",
                preferred_language="es" if spanish else "en",
                home_location=locations[home],
                preferred_channel=channel,
                usual_provider=rng.choice(
                    [p for p in providers if locations[home].pk in sites[p.pk]]
                ),
                record_number=f"MRN{100000 + i}",
            )
        )
    Patient.objects.bulk_create(people, batch_size=500)
    people = list(Patient.objects.order_by("pk"))
    by_location: dict[int, list[Patient]] = {}
    for person in people:
        by_location.setdefault(person.home_location_id, []).append(person)

    visits = _seed_visits(rng, today, weeks, providers, types, by_location)
    _seed_waitlist(rng, today, people, types, providers)
    return {"created": 1, "patients": len(people), "appointments": visits}


def _seed_visits(rng, today, weeks, providers, types, by_location) -> int:
    now = timezone.now()
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    rows = []
    hours = WorkingHours.objects.select_related("location").prefetch_related("breaks")
    for provider in providers:
        eligible = [t for t in types if provider.specialty in t.specialties.all()]
        blocks = [h for h in hours if h.provider_id == provider.pk]
        for offset in range(-7 * weeks, 7 * weeks + 1):
            day = today + timedelta(days=offset)
            for block in (b for b in blocks if b.weekday == day.weekday()):
                zone = block.location.zone
                cursor = _aware(day, block.start_time, zone)
                close = _aware(day, block.end_time, zone)
                pauses = [
                    (_aware(day, b.start_time, zone), _aware(day, b.end_time, zone))
                    for b in block.breaks.all()
                ]
                while cursor < close:
                    kind = rng.choice(eligible)
                    end = cursor + kind.duration
                    blocked = end + kind.buffer_after
                    clash = next((p for p in pauses if cursor < p[1] and p[0] < end), None)
                    if clash:
                        cursor = clash[1]
                        continue
                    if end > close:
                        break
                    if rng.random() < 0.72:
                        patient = rng.choice(by_location[block.location_id])
                        mine = busy.setdefault(patient.pk, [])
                        if not any(cursor < e and s < end for s, e in mine):
                            mine.append((cursor, end))
                            status = _pick(rng, PAST_STATUS if end < now else FUTURE_STATUS)
                            rows.append(
                                Appointment(
                                    patient=patient,
                                    provider=provider,
                                    location=block.location,
                                    appointment_type=kind,
                                    start=cursor,
                                    end=end,
                                    blocked_until=blocked,
                                    status=status,
                                    cancel_reason="Patient called to cancel"
                                    if status == AppointmentStatus.CANCELLED
                                    else "",
                                    created_via=CreatedVia.DEMO,
                                )
                            )
                    cursor = blocked + timedelta(minutes=rng.choice([0, 0, 0, 5, 10]))
                    cursor = cursor.replace(minute=cursor.minute - cursor.minute % 5)
    Appointment.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _seed_waitlist(rng, today, people, types, providers, count: int = 60) -> None:
    for _ in range(count):
        patient = rng.choice(people)
        kind = rng.choice(types)
        start = today + timedelta(days=rng.randint(1, 10))
        request = AppointmentRequest.objects.create(
            patient=patient,
            appointment_type=kind,
            location=patient.home_location,
            earliest_date=start,
            latest_date=start + timedelta(days=rng.randint(3, 21)),
            preferred_weekdays=sorted(rng.sample(range(5), rng.randint(0, 3))),
            preferred_times=rng.sample(["morning", "afternoon"], rng.randint(0, 1)),
            urgency=rng.choices([1, 2, 3, 4, 5], weights=[20, 30, 30, 15, 5])[0],
            notes="Would take an earlier slot if one opens.",
        )
        fits = [p for p in providers if p.specialty in kind.specialties.all()]
        request.acceptable_providers.set(rng.sample(fits, min(len(fits), rng.randint(1, 2))))

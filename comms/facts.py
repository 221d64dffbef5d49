"""The facts a message states, taken from the database and formatted for the patient.

The writer never invents these: templates and approved LLM variants only hold placeholders,
filled from this dictionary.
"""

from __future__ import annotations

from scheduling.models import Appointment

_DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
_MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
}


def format_date(moment, language: str) -> str:
    day, month = _DAYS[language][moment.weekday()], _MONTHS[language][moment.month - 1]
    if language == "es":
        return f"{day} {moment.day} de {month}"
    return f"{day}, {month} {moment.day}"


def format_time(moment, language: str) -> str:
    if language == "es":
        return f"{moment:%H:%M}"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def appointment_facts(appointment: Appointment, language: str, link: str = "") -> dict[str, str]:
    """Date and time in the location's zone, provider, place, preparation and links."""
    local = appointment.local_start
    kind = appointment.appointment_type
    prep = (kind.preparation_instructions_es if language == "es" else "") or (
        kind.preparation_instructions
    )
    location = appointment.location
    return {
        "date": format_date(local, language),
        "time": format_time(local, language),
        "provider": appointment.provider.display_name,
        "location": location.name,
        "address": location.address,
        "prep": prep
        or ("Sin preparación especial." if language == "es" else "No special preparation."),
        "link": link,
        "clinic_phone": str(location.phone or ""),
        "appointment_type": (kind.name_es if language == "es" and kind.name_es else kind.name),
    }

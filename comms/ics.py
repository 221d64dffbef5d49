"""iCalendar (RFC 5545/5546) invitations for appointments, attached to reminder emails.

Calendar apps match updates by UID and order them by SEQUENCE, so the UID is derived from the
appointment alone (`appointment_uid`) and the caller bumps `sequence` whenever the time or place
changes. A cancellation is the same UID with method CANCEL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

__all__ = ["appointment_uid", "build_invitation"]

PRODID = "-//Clinic Comms//Appointment reminders//EN"


def appointment_uid(appointment_id: int | str, domain: str) -> str:
    """A UID that stays the same for every message about one appointment."""
    return f"appointment-{appointment_id}@{domain}"


def _utc(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value.astimezone(UTC)


def build_invitation(
    *,
    uid: str,
    start: datetime,
    end: datetime,
    summary: str,
    location: str | None = None,
    description: str | None = None,
    organizer_email: str | None = None,
    organizer_name: str | None = None,
    attendee_email: str | None = None,
    sequence: int = 0,
    method: str = "REQUEST",
    stamp: datetime | None = None,
) -> bytes:
    """Return an iCalendar invitation (bytes, CRLF lines) for one appointment.

    `start`/`end` are aware datetimes, written as UTC. `stamp` (DTSTAMP, aware) defaults to
    now; pass it for byte-identical output on a retry. `method` is 'REQUEST' for a new or
    changed appointment and 'CANCEL' for a cancelled one.
    """
    method = method.upper()
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError("method must be REQUEST or CANCEL")
    start_utc, end_utc = _utc("start", start), _utc("end", end)
    if end_utc <= start_utc:
        raise ValueError("end must be after start")

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)

    event = Event()
    event.add("uid", uid)
    event.add(
        "dtstamp", _utc("stamp", stamp) if stamp else datetime.now(UTC).replace(microsecond=0)
    )
    event.add("dtstart", start_utc)
    event.add("dtend", end_utc)
    event.add("summary", summary)
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    if location:
        event.add("location", location)
    if description:
        event.add("description", description)
    if organizer_email:
        # RFC 5546 requires an ORGANIZER on REQUEST; Outlook ignores invitations without one.
        organizer = vCalAddress(f"mailto:{organizer_email}")
        if organizer_name:
            organizer.params["cn"] = vText(organizer_name)
        event.add("organizer", organizer)
    if attendee_email:
        attendee = vCalAddress(f"mailto:{attendee_email}")
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["rsvp"] = vText("FALSE")  # replies come by SMS or the portal, not iTIP
        event.add("attendee", attendee)
    calendar.add_component(event)
    return calendar.to_ical()

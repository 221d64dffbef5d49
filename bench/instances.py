"""Seeded scheduling instances for the benchmarks and tests, and their JSON form.

An instance is a `Clinic` (providers, working hours, existing appointments...) plus booking
requests. `generate` makes one from a seed; `load`/`dump` read and write the JSON format
documented in bench/README.scheduling.md. Times in JSON are ISO 8601 with an offset.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from scheduling.slots import (
    AppointmentType,
    Clinic,
    Closure,
    ExistingAppointment,
    Location,
    Provider,
    TimeOff,
    WorkingHours,
)
from scheduling.suggest import BookingRequest

SPECIALTIES = ("cardiology", "paediatrics", "dermatology")
# (id, duration, buffer, specialty): mean blocked time about 45 minutes.
TYPES = (
    ("checkup", 15, 0, None),
    ("follow-up", 20, 5, None),
    ("consult", 30, 5, None),
    ("vaccination", 15, 5, "paediatrics"),
    ("procedure", 45, 15, None),
    ("long-consult", 60, 0, None),
    ("ecg", 40, 10, "cardiology"),
    ("skin-check", 30, 10, "dermatology"),
    ("assessment", 60, 15, None),
)
URGENCY_WEIGHTS = (30, 30, 20, 12, 8)  # share of requests at urgency 1..5


@dataclass
class Instance:
    name: str
    clinic: Clinic
    requests: list[BookingRequest]

    @property
    def load(self) -> float:
        """Requested blocked minutes over free working minutes (1.0 = exactly full)."""
        from scheduling.slots import FreeTime  # noqa: PLC0415

        starts = [r.window_start for r in self.requests]
        ends = [r.window_end for r in self.requests]
        if not starts:
            return 0.0
        free = FreeTime.build(self.clinic, min(starts), max(ends))
        room = sum(b - a for ivs in free.free.values() for a, b, _ in ivs)
        types = {t.id: t for t in self.clinic.appointment_types}
        need = sum(types[r.type_id].duration + types[r.type_id].buffer_after for r in self.requests)
        return need / max(1, room)


def generate(
    providers: int = 10,
    days: int = 5,
    requests: int = 450,
    seed: int = 0,
    grid: int = 15,
    existing: int = 0,
    start: date = date(2026, 3, 2),
    tz: str = "America/New_York",
) -> Instance:
    """A clinic of `providers` over `days` working days (Mon-Fri) from `start` (a Monday).

    The default start crosses the 2026-03-08 DST change in New York, on purpose.
    """
    rng = random.Random(seed)
    zone = ZoneInfo(tz)
    loc = Location("main", "Main clinic", tz)
    provs = []
    for p in range(providers):
        spec = {"general"} | {s for s in SPECIALTIES if rng.random() < 0.3}
        spec.add(SPECIALTIES[p % len(SPECIALTIES)])  # every specialty has someone
        provs.append(Provider(f"p{p}", f"Dr {_surname(p)}", frozenset(spec)))
    hours = []
    for p in provs:
        late = rng.random() < 0.3  # some providers work into the evening
        first, last = (time(10), time(19)) if late else (time(8), time(17))
        lunch = (time(13), time(14)) if late else (time(12), time(13))
        for wd in range(5):
            hours.append(WorkingHours(p.id, loc.id, wd, first, last, (lunch,)))
    types = [AppointmentType(i, i.replace("-", " "), d, b, s) for i, d, b, s in TYPES]
    workdays = []
    day = start
    while len(workdays) < days:
        if day.weekday() < 5:
            workdays.append(day)
        day += timedelta(days=1)
    horizon = (workdays[0], workdays[-1] + timedelta(days=1))
    time_off, closures = [], []
    if days >= 5 and providers >= 3:
        who = rng.choice(provs)
        d0 = rng.choice(workdays)
        t0 = datetime.combine(d0, time(14), tzinfo=zone)
        time_off.append(TimeOff(who.id, t0, t0 + timedelta(hours=3)))
    clinic = Clinic(provs, [loc], types, hours, time_off, closures, [], grid)
    booked = _existing(clinic, rng, existing, horizon, zone)
    clinic = Clinic(provs, [loc], types, hours, time_off, closures, booked, grid)
    patients = max(1, int(requests * 0.8))
    reqs = []
    for n in range(requests):
        t = rng.choice(types)
        urgency = rng.choices(range(1, 6), URGENCY_WEIGHTS)[0]
        span = 1 + rng.randrange(2) if urgency >= 4 else 2 + rng.randrange(4)
        first_i = rng.randrange(max(1, len(workdays) - (0 if urgency >= 4 else span // 2)))
        w0 = workdays[first_i]
        w1 = workdays[min(len(workdays) - 1, first_i + span - 1)] + timedelta(days=1)
        fit = [p for p in provs if t.specialty is None or t.specialty in p.specialties]
        usual = rng.choice(fit).id if fit and rng.random() < 0.6 else None
        only = frozenset({usual}) if usual and rng.random() < 0.1 else None
        reqs.append(
            BookingRequest(
                id=f"r{n}",
                patient_id=f"pt{rng.randrange(patients)}",
                type_id=t.id,
                window_start=datetime.combine(w0, time(0), tzinfo=zone),
                window_end=datetime.combine(w1, time(0), tzinfo=zone),
                providers=only,
                preferred_weekdays=frozenset(rng.sample(range(5), rng.randint(1, 3)))
                if rng.random() < 0.3
                else frozenset(),
                preferred_times=frozenset({rng.choice(("morning", "afternoon", "evening"))})
                if rng.random() < 0.5
                else frozenset(),
                urgency=urgency,
                usual_provider_id=usual,
            )
        )
    return Instance(f"{providers}x{days}/{requests}", clinic, reqs)


def _existing(
    clinic: Clinic, rng: random.Random, count: int, horizon: tuple[date, date], zone: ZoneInfo
) -> list[ExistingAppointment]:
    """About `count` non-overlapping bookings spread over the horizon."""
    if count <= 0:
        return []
    from scheduling.slots import FreeTime, from_minute  # noqa: PLC0415

    free = FreeTime.build(
        clinic,
        datetime.combine(horizon[0], time(0), tzinfo=zone),
        datetime.combine(horizon[1], time(0), tzinfo=zone),
    )
    slots = [(p, a, b, blk) for p, ivs in free.free.items() for a, b, blk in ivs]
    out: list[ExistingAppointment] = []
    per = count / max(1, len(slots))
    for p, a, b, blk in slots:
        want = int(per) + (rng.random() < per - int(per))
        t = free.align_up(a, blk)
        for _ in range(want):
            t = free.align_up(t + rng.choice((0, 0, 15, 30)), blk)
            at = rng.choice(clinic.appointment_types)
            if t + at.duration + at.buffer_after > b:
                break
            out.append(
                ExistingAppointment(
                    f"a{len(out)}",
                    p,
                    from_minute(t),
                    from_minute(t + at.duration),
                    at.buffer_after,
                    f"ex{rng.randrange(10**6)}",
                    blk.location_id,
                )
            )
            t += at.duration + at.buffer_after
    return out


def _surname(n: int) -> str:
    names = (
        "Ortiz",
        "Okafor",
        "Nguyen",
        "Schmidt",
        "Haddad",
        "Kowalski",
        "Silva",
        "Tanaka",
        "Mensah",
        "Rossi",
        "Dubois",
        "Novak",
        "Ahmed",
        "Larsen",
        "Moreau",
        "Costa",
    )
    return names[n % len(names)] + ("" if n < len(names) else f" {n // len(names) + 1}")


# -- JSON ---------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dump(instance: Instance) -> dict[str, Any]:
    """Instance -> JSON-ready dict (the format in bench/README.scheduling.md)."""
    c = instance.clinic
    rows = lambda items: [{k: _plain(v) for k, v in asdict(x).items()} for x in items]  # noqa: E731
    return {
        "name": instance.name,
        "grid_minutes": c.grid_minutes,
        "locations": rows(c.locations),
        "providers": rows(c.providers),
        "appointment_types": rows(c.appointment_types),
        "working_hours": rows(c.working_hours),
        "time_off": rows(c.time_off),
        "closures": rows(c.closures),
        "appointments": rows(c.appointments),
        "requests": rows(instance.requests),
    }


def _build(cls: type, row: dict[str, Any]) -> Any:
    kwargs = {}
    for f in fields(cls):
        if f.name not in row:
            continue
        v, kind = row[f.name], str(f.type)
        if v is None:
            kwargs[f.name] = None
        elif "datetime" in kind:
            kwargs[f.name] = datetime.fromisoformat(v)
        elif kind.startswith("date"):
            kwargs[f.name] = date.fromisoformat(v)
        elif kind == "time":
            kwargs[f.name] = time.fromisoformat(v)
        elif "tuple[tuple[time" in kind:
            kwargs[f.name] = tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in v)
        elif "frozenset" in kind:
            kwargs[f.name] = frozenset(v)
        else:
            kwargs[f.name] = v
    return cls(**kwargs)


def load(source: str | Path | dict[str, Any]) -> Instance:
    """Read an instance from a JSON file path or an already parsed dict."""
    data = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    get = lambda key, cls: [_build(cls, r) for r in data.get(key, [])]  # noqa: E731
    clinic = Clinic(
        providers=get("providers", Provider),
        locations=get("locations", Location),
        appointment_types=get("appointment_types", AppointmentType),
        working_hours=get("working_hours", WorkingHours),
        time_off=get("time_off", TimeOff),
        closures=get("closures", Closure),
        appointments=get("appointments", ExistingAppointment),
        grid_minutes=int(data.get("grid_minutes", 15)),
    )
    return Instance(data.get("name", "instance"), clinic, get("requests", BookingRequest))

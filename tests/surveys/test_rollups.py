"""The dashboard's roll-ups: the same figures as the raw rows for every filter, kept in step by
every write path (services, model saves, bulk updates, deletes, retries).

Runs on SQLite and on PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling import services
from scheduling.models import Appointment, AppointmentStatus
from surveys import insights_queries as q
from surveys import invitations as invites
from surveys import rollup
from surveys.models import (
    STANDARD_LIKERT_CODES,
    Answer,
    AppointmentRollup,
    Invitation,
    InvitationRollup,
    InvitationStatus,
    Question,
    Response,
    ResponseRollup,
)
from surveys.responses import complete, response_for, save_answers
from tests import factories
from tests.surveys.conftest import page_path, past_visit

TODAY = timezone.localdate()
ROLLUPS = (ResponseRollup, InvitationRollup, AppointmentRollup)


def _rows() -> dict[str, list[tuple]]:
    return {
        m.__name__: sorted(
            tuple(v for k, v in row.items() if k != "id") for row in m.objects.values()
        )
        for m in ROLLUPS
    }


def assert_in_step() -> None:
    """The roll-ups the write paths left equal a rebuild from the raw rows."""
    kept = _rows()
    days = [r[0] for rows in kept.values() for r in rows]
    found = rollup.data_range()
    if found:
        days += list(found)
    if days:
        rollup.rebuild(min(days), max(days))
    assert _rows() == kept


@pytest.fixture
def mixed(clinic):
    """Two locations, two providers (one at both), two visit types, three invitation channels,
    every invitation and appointment status, over the last 100 days and the next week."""
    rng = random.Random(5)
    lakeside = factories.LocationFactory(name="Lakeside")
    chen = factories.ProviderFactory(
        specialty=clinic.specialty, locations=[lakeside, clinic.location], first_name="Wei"
    )
    check_up = factories.AppointmentTypeFactory(name="Check-up", specialties=[clinic.specialty])
    questions = {
        qn.code: qn for qn in Question.objects.filter(survey__language="en", survey__active=True)
    }
    statuses = [s for s in InvitationStatus.values if s != InvitationStatus.COMPLETED]
    combos = [(clinic.location, clinic.provider), (lakeside, chen), (clinic.location, chen)]
    slots: dict[tuple, itertools.count] = defaultdict(itertools.count)
    for _ in range(120):
        day = TODAY + timedelta(days=rng.randint(-100, 7))
        location, provider = rng.choice(combos)
        visit_type = rng.choice([clinic.visit, check_up])
        status = rng.choice(["completed"] * 6 + ["no_show", "cancelled", "booked", "confirmed"])
        patient = factories.PatientFactory(home_location=location)
        start = datetime.combine(day, time(0), tzinfo=location.zone)
        start += timedelta(minutes=36 * next(slots[provider.pk, day]))  # no overlaps
        appt = Appointment.objects.create(
            patient=patient, provider=provider, location=location, appointment_type=visit_type,
            start=start, end=start + timedelta(minutes=30),
            blocked_until=start + timedelta(minutes=35), status=status,
        )  # fmt: skip
        if status != "completed":
            continue
        answered = rng.random() < 0.7
        invitation = Invitation.objects.create(
            appointment=appt, patient=patient, channel=rng.choice(["sms", "email", ""]),
            status=InvitationStatus.COMPLETED if answered else rng.choice(statuses),
            created_at=datetime.combine(day, time(rng.choice([3, 18, 23])), tzinfo=location.zone),
            expires_at=timezone.now() + timedelta(days=7),
        )  # fmt: skip
        if not answered and rng.random() < 0.5:
            continue
        response = Response.objects.create(
            invitation=invitation, location=location, provider=provider,
            appointment_type=visit_type, visit_date=day, invite_channel=invitation.channel,
            nps=rng.choice([None, *range(11)]),
            completed_at=timezone.now() if answered else None,
        )  # fmt: skip
        for code in rng.sample(STANDARD_LIKERT_CODES, 3):
            Answer.objects.create(
                response=response, question=questions[code], code=code,
                value_int=rng.choice([1, 2, 3, 4, 4]),
            )  # fmt: skip
    return {"locations": [clinic.location, lakeside], "providers": [clinic.provider, chen],
            "types": [clinic.visit, check_up]}  # fmt: skip


def _figures(f: q.Filters) -> dict:
    with q.request_memo():
        return {
            "cards": q.headline_cards(f),
            "channels": q.channel_rates(f),
            "topbox": q.top_box(f),
            "weeks": q.weekly(f),
            "providers": q.comparison(f, "provider"),
            "locations": q.comparison(f, "location"),
        }


PERIODS = [
    (TODAY - timedelta(days=13), TODAY),
    (TODAY - timedelta(days=40), TODAY - timedelta(days=3)),  # edges inside weeks
    (TODAY - timedelta(days=89), TODAY + timedelta(days=6)),  # into the future
    (TODAY - timedelta(days=6), TODAY - timedelta(days=6)),  # one day
]


def test_rollup_figures_equal_raw_figures_for_every_filter(mixed):
    f = q.Filters(start=TODAY - timedelta(days=60), end=TODAY - timedelta(days=1))
    with CaptureQueriesContext(connection) as ctx:
        figures = _figures(f)
    # Not a vacuous comparison: real figures, read from the roll-ups alone.
    assert figures["cards"][0]["value"] > 0 and figures["channels"] and figures["topbox"]
    raw_tables = (
        "surveys_response",
        "surveys_answer",
        "surveys_invitation",
        "scheduling_appointment",
    )
    assert not [
        x["sql"] for x in ctx.captured_queries if any(t + '"' in x["sql"] for t in raw_tables)
    ]
    for (start, end), location, provider, visit_type, channel in itertools.product(
        PERIODS,
        [None, *mixed["locations"]],
        [None, *mixed["providers"]],
        [None, *mixed["types"]],
        ["", "sms", "email"],
    ):
        f = q.Filters(
            start=start,
            end=end,
            location=location and location.pk,
            provider=provider and provider.pk,
            appointment_type=visit_type and visit_type.pk,
            channel=channel,
        )
        rolled = _figures(f)
        with q.raw_counts():
            raw = _figures(f)
        assert rolled == raw, f


def test_other_time_zone_and_other_likert_items_read_the_raw_rows(mixed, clinic):
    f = q.Filters(start=TODAY - timedelta(days=30), end=TODAY)
    with timezone.override("America/Chicago"):  # invitation/appointment days differ here
        rolled = _figures(f)
        with q.raw_counts():
            assert rolled == _figures(f)
    survey = Question.objects.filter(code="listened").first().survey
    Question.objects.create(survey=survey, code="parking", kind="likert", text="Parking?")
    rolled = _figures(f)
    with q.raw_counts():
        assert rolled == _figures(f)
    assert "parking" in q.likert_codes()


def test_signals_keep_the_rollups_in_step_with_direct_saves(mixed):
    assert_in_step()
    # Reopen one response and delete another's appointment (cascades to all its rows).
    done = Response.objects.filter(completed_at__isnull=False).order_by("pk")
    first, second = done[0], done[1]
    first.completed_at = None
    first.save()
    second.invitation.appointment.delete()
    assert_in_step()


def _totals(**filters) -> dict[str, int]:
    rows = ResponseRollup.objects.filter(span=7, **filters)
    return {
        "responses": sum(r.responses for r in rows),
        "promoters": sum(r.promoters for r in rows),
        "detractors": sum(r.detractors for r in rows),
        "listened_top": sum(r.listened_top for r in rows),
    }


def test_service_write_paths_resubmission_and_retry(client, clinic):
    invitation = Invitation.objects.get(appointment=past_visit(clinic))
    assert AppointmentRollup.objects.get(span=7).booked == 1
    assert_in_step()
    client.get(page_path(invitation))  # opened: a sent invitation now
    assert InvitationRollup.objects.get(span=7).sent == 1
    assert_in_step()

    response = response_for(invitation)
    questions = {qn.code: qn for qn in invitation.survey.questions.all()}
    save_answers(response, {questions["nps"]: 10})
    assert _totals()["responses"] == 0  # not completed yet: counts nowhere
    save_answers(response, {questions["nps"]: 10, questions["listened"]: 4})
    complete(response, notify=False)
    assert _totals() == {"responses": 1, "promoters": 1, "detractors": 0, "listened_top": 1}
    assert InvitationRollup.objects.get(span=7).completed == 1
    # A resubmission (or a retried task) recomputes; nothing is counted twice.
    save_answers(response, {questions["nps"]: 3, questions["listened"]: 2})
    complete(response, notify=False)
    before = _rows()
    rollup.refresh(rollup.RESPONSES, response.visit_date, response.provider_id)
    rollup.refresh(rollup.INVITATIONS, rollup.local_day(invitation.created_at), clinic.provider.pk)
    assert _rows() == before
    assert _totals() == {"responses": 1, "promoters": 0, "detractors": 1, "listened_top": 0}
    assert_in_step()


def test_cancel_reschedule_no_show_and_expiry_keep_the_rollups_in_step(clinic):
    start = clinic.at(clinic.next_weekday(1), time(9))
    appointment = services.book(
        patient=clinic.patient, provider=clinic.provider, location=clinic.location,
        appointment_type=clinic.visit, start=start,
    )  # fmt: skip
    week = rollup.monday(rollup.local_day(start))
    assert AppointmentRollup.objects.get(span=7, day=week).booked == 1
    moved = services.reschedule(appointment, start=start + timedelta(days=14))
    assert not AppointmentRollup.objects.filter(day=week).exists()
    assert AppointmentRollup.objects.get(span=7, day=week + timedelta(days=14)).booked == 1
    services.confirm(moved)
    assert AppointmentRollup.objects.get(span=7, day=week + timedelta(days=14)).confirmed == 1
    services.cancel(moved, reason="Patient called")
    assert not AppointmentRollup.objects.exists()
    assert_in_step()

    other = factories.PatientFactory(home_location=clinic.location)
    visit = services.book(
        patient=other, provider=clinic.provider, location=clinic.location,
        appointment_type=clinic.visit, start=clinic.at(clinic.next_weekday(2, -2), time(10)),
        allow_past=True,
    )  # fmt: skip
    services.mark_outcome(visit, outcome=AppointmentStatus.NO_SHOW)
    assert AppointmentRollup.objects.get(span=7).no_show == 1
    late = factories.PatientFactory(home_location=clinic.location)
    invitation = Invitation.objects.get(appointment=past_visit(clinic, late, time(14)))
    assert invitation.status == InvitationStatus.SCHEDULED  # not sent yet: counts nothing
    assert not InvitationRollup.objects.exists()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert invites.expire() == 1
    assert InvitationRollup.objects.get(span=7).sent == 1
    assert_in_step()


def test_rebuild_command_and_task(clinic, mixed):
    from django.core.management import call_command

    from surveys.tasks import rebuild_rollups

    kept = _rows()
    ResponseRollup.objects.all().delete()
    call_command("rebuild_rollups", "--days", "120")
    assert _rows() == kept
    InvitationRollup.objects.all().delete()
    assert rebuild_rollups(days=120) > 0  # the last 120 days and every later one
    assert _rows() == kept


@pytest.mark.django_db(transaction=True)
def test_concurrent_completions_in_one_week_are_both_counted(clinic):
    """Two transactions complete responses of the same provider and week at the same time: the
    second one's recount waits for the first to commit, so neither count is lost."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    import threading

    from django.db import transaction

    day = TODAY - timedelta(days=2)
    pending = []
    for clock in (time(9), time(10)):
        patient = factories.PatientFactory(home_location=clinic.location)
        start = datetime.combine(day, clock, tzinfo=clinic.location.zone)
        appt = Appointment.objects.create(
            patient=patient, provider=clinic.provider, location=clinic.location,
            appointment_type=clinic.visit, start=start, end=start + timedelta(minutes=30),
            blocked_until=start + timedelta(minutes=30), status="completed",
        )  # fmt: skip
        invitation = Invitation.objects.create(
            appointment=appt, patient=patient, channel="sms", created_at=start,
            expires_at=start + timedelta(days=7),
        )  # fmt: skip
        pending.append(
            Response.objects.create(
                invitation=invitation,
                location=clinic.location,
                provider=clinic.provider,
                appointment_type=clinic.visit,
                visit_date=day,
                invite_channel="sms",
                nps=10,
            )  # fmt: skip
        )
    first_saved, errors = threading.Event(), []

    def finish(response: Response, wait: threading.Event | None) -> None:
        try:
            if wait is not None:
                assert wait.wait(10)
            with transaction.atomic():
                response.completed_at = timezone.now()
                response.save(update_fields=["completed_at"])
                if wait is None:
                    first_saved.set()
                    threading.Event().wait(0.5)  # hold the lock while the other one starts
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=finish, args=(pending[0], None)),
        threading.Thread(target=finish, args=(pending[1], first_saved)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    assert ResponseRollup.objects.get(span=7).responses == 2
    assert ResponseRollup.objects.get(span=1).promoters == 2

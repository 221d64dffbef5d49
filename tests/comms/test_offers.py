"""Waitlist offers: a freed slot goes to the waitlist in batches; the first claim wins."""

from __future__ import annotations

import threading
from datetime import date, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comms import offer_tasks, offers
from comms.models import OutboundMessage, Purpose, SlotRelease, Status, WaitlistOffer
from scheduling import services
from scheduling.links import make_token
from scheduling.models import (
    Appointment,
    AppointmentRequest,
    AppointmentStatus,
    RequestStatus,
    TimeOff,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _book(clinic, patient, clock: time) -> Appointment:
    return services.book(
        patient=patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(clinic.next_weekday(0), clock),
    )


@pytest.fixture
def full_morning(clinic):
    """Monday morning fully booked in 40-minute steps; the 10:00 visit is the one to cancel."""
    day = clinic.next_weekday(0)
    booked = {}
    for clock in (time(8), time(8, 40), time(9, 20), time(10), time(10, 40), time(11, 20)):
        patient = (
            clinic.patient
            if clock == time(10)
            else factories.PatientFactory(home_location=clinic.location)
        )
        booked[clock] = _book(clinic, patient, clock)
    # The afternoon is closed to visits so the only free time that day is what is freed.
    TimeOff.objects.create(
        provider=clinic.provider, start=clinic.at(day, time(13)), end=clinic.at(day, time(17))
    )
    return booked


@pytest.fixture
def waitlist(clinic):
    """Four waiting patients; urgency sets their rank."""
    rows = []
    for i, urgency in enumerate((5, 4, 3, 2)):
        patient = factories.PatientFactory(
            home_location=clinic.location, first_name=f"Wait{i}", last_name=f"Surname{i}"
        )
        rows.append(
            AppointmentRequest.objects.create(
                patient=patient,
                appointment_type=clinic.visit,
                earliest_date=date.today(),
                latest_date=clinic.next_weekday(0) + timedelta(days=7),
                urgency=urgency,
            )
        )
    return rows


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    """Offers go out at once whatever the time of day the tests run (quiet hours: see below)."""
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = (0, 0)


@pytest.fixture
def batch_of_two(settings):
    settings.COMMS_OFFER_BATCH = 2
    settings.COMMS_OFFER_TTL_MINUTES = 120


def _cancel(appointment: Appointment) -> SlotRelease:
    services.cancel(appointment, reason="patient is away", actor="test")
    return SlotRelease.objects.get(cancelled_appointment=appointment)


def _link(offer: WaitlistOffer) -> str:
    return reverse("offer", args=[make_token("offer", offer.pk)])


def test_cancelling_offers_the_slot_to_the_best_candidates_in_batches(
    clinic, full_morning, waitlist, batch_of_two
):
    release = _cancel(full_morning[time(10)])
    assert release.start == clinic.at(clinic.next_weekday(0), time(10))
    assert release.end == release.start + timedelta(minutes=40)
    ranked = list(release.offers.order_by("rank"))
    assert [o.request_id for o in ranked] == [r.pk for r in waitlist]  # most urgent first
    assert [o.state for o in ranked] == ["open", "open", "pending", "pending"]
    assert all(o.start == release.start for o in ranked)
    first = ranked[0]
    assert first.expires_at == first.offered_at + timedelta(hours=2)
    message = first.message
    assert message.purpose == Purpose.WAITLIST_OFFER and message.status == Status.QUEUED
    assert message.channel == "sms" and message.recipient == str(first.patient.phone)
    assert "10:00 AM" in message.body and "Dr Elena Ortiz" in message.body
    assert "/o/" in message.body and "Surname0" not in message.body
    assert AppointmentRequest.objects.get(pk=waitlist[0].pk).status == RequestStatus.OFFERED
    assert AppointmentRequest.objects.get(pk=waitlist[2].pk).status == RequestStatus.OPEN


def test_the_offer_page_shows_the_slot_with_the_first_name_only(
    client, clinic, full_morning, waitlist
):
    offer = _cancel(full_morning[time(10)]).offers.get(rank=1)
    page = client.get(_link(offer)).content.decode()
    assert "Wait0" in page and "Surname0" not in page
    assert "10:00 AM" in page and "Dr Elena Ortiz" in page and "Riverside" in page


def test_the_first_claim_books_and_everyone_else_is_told_it_is_taken(
    client, clinic, full_morning, waitlist, batch_of_two
):
    release = _cancel(full_morning[time(10)])
    winner, loser = release.offers.order_by("rank")[:2]
    response = client.post(_link(winner))
    assert response.status_code == 200 and "It is yours" in response.content.decode()
    appointment = Appointment.objects.get(patient=winner.patient)
    assert appointment.start == release.start and appointment.created_via == "waitlist"
    release.refresh_from_db()
    assert release.state == "filled" and release.filled_by == appointment
    request = AppointmentRequest.objects.get(pk=winner.request_id)
    assert request.status == "booked" and request.booked_appointment == appointment
    states = dict(release.offers.values_list("rank", "state"))
    assert states == {1: "claimed", 2: "taken", 3: "taken", 4: "taken"}
    assert OutboundMessage.objects.get(pk=loser.message_id).status == Status.CANCELLED
    assert AppointmentRequest.objects.get(pk=loser.request_id).status == RequestStatus.OPEN
    late = client.post(_link(loser))
    assert late.status_code == 409 and "taken" in late.content.decode()
    again = client.post(_link(winner))  # a second click books nothing more
    assert again.status_code == 200
    assert Appointment.objects.filter(patient=winner.patient).count() == 1


def test_expired_and_tampered_links_get_clear_pages(client, clinic, full_morning, waitlist):
    offer = _cancel(full_morning[time(10)]).offers.get(rank=1)
    assert client.get(_link(offer)[:-3] + "xyz/").status_code == 400
    assert client.get(reverse("offer", args=["nonsense"])).status_code == 400
    WaitlistOffer.objects.filter(pk=offer.pk).update(expires_at=timezone.now())
    response = client.post(_link(offer))
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert not Appointment.objects.filter(patient=offer.patient).exists()


def test_an_unclaimed_batch_expires_and_the_next_batch_is_sent(
    clinic, full_morning, waitlist, batch_of_two
):
    release = _cancel(full_morning[time(10)])
    assert offers.advance()["sent"] == 0  # the first batch is still waiting for an answer
    later = timezone.now() + timedelta(hours=2, minutes=1)
    stats = offers.advance(now=later)
    assert stats["expired"] == 2 and stats["sent"] == 2
    states = dict(release.offers.values_list("rank", "state"))
    assert states == {1: "expired", 2: "expired", 3: "open", 4: "open"}
    assert set(release.offers.filter(rank__gt=2).values_list("batch", flat=True)) == {2}
    assert AppointmentRequest.objects.get(pk=waitlist[0].pk).status == RequestStatus.OPEN
    offers.advance(now=later + timedelta(hours=2, minutes=1))
    release.refresh_from_db()
    assert release.state == "expired"  # everyone was asked; nobody took it


def test_staff_filling_the_slot_withdraws_the_offers(clinic, full_morning, waitlist):
    release = _cancel(full_morning[time(10)])
    first = release.offers.get(rank=1)
    walk_in = factories.PatientFactory(home_location=clinic.location)
    appointment = _book(clinic, walk_in, time(10))
    release.refresh_from_db()
    assert release.state == "filled" and release.filled_by == appointment
    assert set(release.offers.values_list("state", flat=True)) == {"withdrawn"}
    assert OutboundMessage.objects.get(pk=first.message_id).status == Status.CANCELLED


def test_rescheduling_offers_the_old_time(clinic, full_morning, waitlist):
    moved = services.reschedule(
        full_morning[time(10)], start=clinic.at(clinic.next_weekday(1), time(9))
    )
    release = SlotRelease.objects.get(cancelled_appointment=moved)
    assert release.start == clinic.at(clinic.next_weekday(0), time(10))
    assert release.offers.count() == 4


def test_a_failure_in_the_offers_never_blocks_the_cancellation(
    clinic, full_morning, waitlist, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(offers, "rank_candidates", broken)
    cancelled = services.cancel(full_morning[time(10)], reason="away", actor="test")
    assert cancelled.status == AppointmentStatus.CANCELLED
    assert not SlotRelease.objects.exists()


def test_a_slot_too_close_to_now_is_not_offered(clinic, waitlist):
    soon = timezone.now() + timedelta(minutes=30)
    appointment = factories.PatientFactory(home_location=clinic.location)
    assert (
        offers.release_slot(
            Appointment(pk=0, patient=appointment),
            start=soon,
            end=soon + timedelta(minutes=40),
            provider_id=clinic.provider.pk,
            location_id=clinic.location.pk,
        )
        is None
    )


def test_an_offer_made_at_night_waits_for_the_morning_and_its_clock_starts_then(
    clinic, full_morning, waitlist, batch_of_two, settings
):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = (21, 0), (8, 0)
    monday = clinic.next_weekday(0)
    with time_machine.travel(clinic.at(monday - timedelta(days=1), time(22, 30)), tick=False):
        release = _cancel(full_morning[time(10)])
    first = release.offers.get(rank=1)
    morning = clinic.at(monday, time(8))
    assert first.state == "open" and first.message.due_at == morning
    # Two hours from when the patient can read it, capped an hour before the 10:00 slot.
    assert first.expires_at == clinic.at(monday, time(9))
    with time_machine.travel(morning + timedelta(minutes=30), tick=False):
        assert offers.advance()["expired"] == 0  # still open in the morning


def test_an_offer_whose_quiet_hours_end_too_late_is_passed_over(
    clinic, full_morning, waitlist, settings
):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = (21, 0), (9, 30)
    monday = clinic.next_weekday(0)
    with time_machine.travel(clinic.at(monday - timedelta(days=1), time(22, 30)), tick=False):
        release = _cancel(full_morning[time(10)])  # 09:30 is within the hour before it
    assert release.offers.exists()
    assert set(release.offers.values_list("state", flat=True)) == {"expired"}
    assert not OutboundMessage.objects.filter(purpose=Purpose.WAITLIST_OFFER).exists()
    assert all(r.status == RequestStatus.OPEN for r in AppointmentRequest.objects.all())


def test_the_beat_task_runs(clinic):
    assert offer_tasks.advance_offers() == {"expired": 0, "sent": 0, "closed": 0}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_claims_book_exactly_once(clinic, full_morning, waitlist, settings):
    settings.COMMS_OFFER_BATCH = 4
    release = _cancel(full_morning[time(10)])
    links = [_link(o) for o in release.offers.order_by("rank")]
    barrier = threading.Barrier(len(links))
    codes: list[int | None] = [None] * len(links)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            codes[index] = Client().post(links[index]).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(links))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [200, 409, 409, 409], codes
    booked = Appointment.objects.filter(start=release.start).exclude(status="cancelled")
    assert booked.count() == 1
    assert WaitlistOffer.objects.filter(state="claimed").count() == 1
    assert SlotRelease.objects.get(pk=release.pk).state == "filled"


def test_a_visit_moved_then_cancelled_offers_both_freed_times(clinic, settings):
    """Each freed time of one visit gets its own release (the link is not one-to-one)."""
    from scheduling import services as scheduling_services

    day = clinic.next_weekday(2, weeks_ahead=2)
    visit = scheduling_services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(day, time(9)),
    )
    scheduling_services.reschedule(visit, start=clinic.at(day, time(14)))
    scheduling_services.cancel(visit, reason="Moved away")
    starts = sorted(
        SlotRelease.objects.filter(cancelled_appointment=visit).values_list("start", flat=True)
    )
    assert starts == [clinic.at(day, time(9)), clinic.at(day, time(14))]

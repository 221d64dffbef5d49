"""The managers' dashboard: exact figures on a hand-made data set, access, filters, CSV, labels.

Runs on SQLite and on PostgreSQL (DATABASE_URL); the full-text search path differs by vendor.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from scheduling.models import Appointment, AppointmentStatus
from surveys import insights_queries as q
from surveys.models import (
    Answer,
    Comment,
    CommentTheme,
    Invitation,
    InvitationStatus,
    Question,
    Response,
    Ticket,
)
from tests import factories

TODAY = timezone.localdate()
_slot = itertools.count()


def _appointment(location, provider, visit_type, patient, day: date, status: str) -> Appointment:
    # 36-minute steps inside the day keep PostgreSQL's no-overlap constraint happy.
    start = datetime.combine(day, time(0), tzinfo=timezone.get_current_timezone()) + timedelta(
        minutes=36 * (next(_slot) % 39)
    )
    return Appointment.objects.create(
        patient=patient,
        provider=provider,
        location=location,
        appointment_type=visit_type,
        start=start,
        end=start + timedelta(minutes=30),
        blocked_until=start + timedelta(minutes=35),
        status=status,
    )


def make_response(
    world: dict,
    day: date,
    nps: int | None,
    *,
    provider=None,
    location=None,
    channel: str = "sms",
    likert: dict[str, int] | None = None,
    comment: tuple[str, str, list[str]] | None = None,
) -> Response:
    """A completed visit with its invitation, response, Likert answers and one comment."""
    provider = provider or world["provider"]
    location = location or world["location"]
    patient = factories.PatientFactory(home_location=location)
    appt = _appointment(location, provider, world["visit"], patient, day, "completed")
    inv = Invitation.objects.create(
        appointment=appt,
        patient=patient,
        channel=channel,
        status=InvitationStatus.COMPLETED,
        created_at=datetime.combine(day, time(18), tzinfo=timezone.get_current_timezone()),
        expires_at=timezone.now() + timedelta(days=7),
    )
    resp = Response.objects.create(
        invitation=inv,
        nps=nps,
        completed_at=timezone.now(),
        location=location,
        provider=provider,
        appointment_type=world["visit"],
        visit_date=day,
        invite_channel=channel,
    )
    for code, value in (likert or {}).items():
        Answer.objects.create(
            response=resp, question=world["questions"][code], code=code, value_int=value
        )
    if comment:
        text, sentiment, themes = comment
        answer = Answer.objects.create(
            response=resp, question=world["questions"]["do_better"], code="do_better",
            value_text=text,
        )  # fmt: skip
        c = Comment.objects.create(
            answer=answer, response=resp, question_code="do_better", text=text,
            textblob_polarity=0.0, sentiment=sentiment, score=0.0, visit_date=day,
            location=location, provider=provider,
        )  # fmt: skip
        for theme in themes:
            CommentTheme.objects.create(comment=c, theme=theme, sentiment=sentiment, visit_date=day)
    return resp


@pytest.fixture
def world(clinic):
    """Riverside/Dr Ortiz: 8 responses this fortnight; Lakeside/Dr Chen: 3 (too few to rank)."""
    lakeside = factories.LocationFactory(name="Lakeside")
    chen = factories.ProviderFactory(
        specialty=clinic.specialty, locations=[lakeside], first_name="Wei", last_name="Chen"
    )
    questions = {
        qn.code: qn for qn in Question.objects.filter(survey__language="en", survey__active=True)
    }
    if not questions:  # the standard survey migration is missing: make the two we need
        pytest.fail("the standard survey (migration 0002) should provide the questions")
    w = {
        "location": clinic.location,
        "provider": clinic.provider,
        "visit": clinic.visit,
        "lakeside": lakeside,
        "chen": chen,
        "questions": questions,
    }
    d = TODAY - timedelta(days=3)
    listened = [4, 4, 3, 2, 4, 1, 4, 4]  # 5 of 8 "Always"
    for i, score in enumerate([10, 9, 9, 8, 7, 6, 3, 10]):  # 4 promoters, 2 detractors
        make_response(w, d, score, likert={"listened": listened[i]})
    make_response(w, d, 2, comment=("The wait was far too long today", "negative", ["wait_time"]))
    make_response(
        w, d, None, channel="email", comment=("Lovely staff at reception", "positive",
                                               ["staff_manner"]),
    )  # fmt: skip
    for score in (10, 10, 0):
        make_response(w, d, score, provider=chen, location=lakeside, channel="email")
    # The previous 14 days: one promoter, one detractor (NPS 0).
    before = TODAY - timedelta(days=20)
    make_response(w, before, 10)
    make_response(w, before, 5)
    # Sent but never answered: response rates below 100%.
    for channel in ("sms", "sms", "email"):
        patient = factories.PatientFactory(home_location=clinic.location)
        appt = _appointment(clinic.location, clinic.provider, clinic.visit, patient, d, "completed")
        Invitation.objects.create(
            appointment=appt, patient=patient, channel=channel, status=InvitationStatus.SENT,
            created_at=datetime.combine(d, time(18), tzinfo=timezone.get_current_timezone()),
            expires_at=timezone.now() + timedelta(days=7),
        )  # fmt: skip
    # A no-show and a cancellation in the period.
    patient = factories.PatientFactory(home_location=clinic.location)
    _appointment(clinic.location, clinic.provider, clinic.visit, patient, d, "no_show")
    _appointment(clinic.location, clinic.provider, clinic.visit, patient, d, "cancelled")
    return w


def _period() -> q.Filters:
    return q.Filters(start=TODAY - timedelta(days=13), end=TODAY)


@pytest.fixture
def manager(django_user_model):
    user = django_user_model.objects.create_user("mgr", "mgr@example.org", "pw-manager-1")
    user.groups.add(Group.objects.get(name="Manager"))
    return user


@pytest.fixture
def desk(django_user_model):
    user = django_user_model.objects.create_user("desk", "desk@example.org", "pw-desk-1")
    user.groups.add(Group.objects.get(name="Front desk"))
    user.is_staff = True
    user.save()
    return user


def test_nps_topbox_and_rates_are_exact(world):
    f = _period()
    h = q.headline(f)
    # Ortiz: 8 + 1 (score 2) + 1 without NPS; Chen: 3.  Answers: 12; promoters 4+2, det 2+1+1.
    assert h["responses"] == 13
    assert h["nps_n"] == 12
    assert (h["promoters"], h["detractors"]) == (6, 4)
    assert h["nps"] == pytest.approx(100 * (6 - 4) / 12)
    # Invitations: sms 9 answered + 2 unanswered, email 4 answered + 1 unanswered.
    rates = {r["channel"]: r for r in q.channel_rates(f)}
    assert (rates["sms"]["sent"], rates["sms"]["completed"]) == (11, 9)
    assert (rates["email"]["sent"], rates["email"]["completed"]) == (5, 4)
    assert h["response_rate"] == pytest.approx(100 * 13 / 16)
    [listened] = [r for r in q.top_box(f) if r["code"] == "listened"]
    assert (listened["n"], listened["top"], listened["share"]) == (8, 5, 62.5)
    assert h["negative_share"] == 50.0
    # 18 appointments: 16 completed + 1 no-show count as booked; the cancelled one does not.
    assert h["booked"] == 17 and h["confirmed"] == 16 and h["no_show"] == 1
    assert h["no_show_rate"] == pytest.approx(100 / 17)
    assert h["confirmation_rate"] == pytest.approx(100 * 16 / 17)


def test_change_against_the_previous_period(world):
    cards = {c["key"]: c for c in q.headline_cards(_period())}
    assert cards["nps"]["previous"] == 0.0
    assert cards["nps"]["change"] == pytest.approx(100 * 2 / 12)
    assert cards["responses"]["previous"] == 2 and cards["responses"]["change"] == 11


def test_comparison_hides_small_samples_and_gives_the_nps_interval(world):
    rows = {r["name"]: r for r in q.comparison(_period(), "provider")}
    chen = rows["Dr Wei Chen"]
    assert not chen["shown"] and chen["nps"] is None and chen["ci"] is None
    ortiz = rows["Dr Elena Ortiz"]
    # 9 NPS answers: 4 promoters, 3 detractors.
    assert ortiz["nps_n"] == 9
    p, d = 4 / 9, 3 / 9
    assert ortiz["nps"] == pytest.approx(100 * (p - d))
    assert ortiz["ci"] == pytest.approx(100 * 1.96 * ((p + d - (p - d) ** 2) / 9) ** 0.5)


def test_nps_ci_formula():
    assert q.nps_ci(0, 0, 0) is None
    assert q.nps_ci(10, 0, 10) == 0.0  # everyone a promoter: no spread
    assert q.nps_ci(50, 50, 100) == pytest.approx(196.0 * (1 / 100) ** 0.5)


def test_weekly_trend_uses_iso_weeks(world):
    weeks = q.weekly(_period())
    d = TODAY - timedelta(days=3)
    label = f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}"
    assert [w["week"] for w in weeks] == [label]
    assert weeks[0]["responses"] == 13


def test_theme_by_sentiment(world):
    rows = {r["theme"]: r for r in q.theme_sentiment(_period())}
    assert rows["wait_time"]["negative"] == 1 and rows["staff_manner"]["positive"] == 1


def test_anonymous_is_sent_to_the_admin_login(client, world):
    response = client.get("/insights/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/insights/")


def test_front_desk_and_patients_get_403(client, desk, django_user_model, world):
    client.force_login(desk)
    assert client.get("/insights/").status_code == 403
    assert client.get("/insights/comments/").status_code == 403
    assert client.get("/insights/export/headline.csv").status_code == 403
    plain = django_user_model.objects.create_user("someone", password="pw-x-1")
    client.force_login(plain)
    assert client.get("/insights/").status_code == 403


def test_dashboard_renders_figures_and_chart_data(client, manager, world):
    client.force_login(manager)
    response = client.get("/insights/", {"start": str(TODAY - timedelta(days=13))})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="insights-data"' in html and "vendor/chartjs/chart.umd.js" in html
    assert "fewer than 5 responses" in html
    assert "<td>sms</td><td>11</td><td>9</td><td>81.8%</td>" in html
    assert "<td>Dr Elena Ortiz</td><td>10</td>" in html
    cards = {c["key"]: c for c in response.context["cards"]}
    assert cards["nps"]["value"] == pytest.approx(100 * 2 / 12) and cards["nps"]["n"] == 12


def test_superuser_may_open_it(client, django_user_model, world):
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw-root-1")
    client.force_login(admin)
    assert client.get("/insights/").status_code == 200


def test_filters_live_in_the_url(client, manager, world):
    client.force_login(manager)
    start = str(TODAY - timedelta(days=13))
    response = client.get("/insights/", {"start": start, "location": world["lakeside"].pk})
    cards = {c["key"]: c for c in response.context["cards"]}
    assert cards["responses"]["value"] == 3
    assert cards["nps"]["value"] == pytest.approx(100 * (2 - 1) / 3)
    response = client.get("/insights/", {"start": start, "channel": "email"})
    assert {c["key"]: c for c in response.context["cards"]}["responses"]["value"] == 4
    response = client.get("/insights/", {"start": start, "provider": world["chen"].pk})
    assert {c["key"]: c for c in response.context["cards"]}["responses"]["value"] == 3
    # Garbage falls back to defaults rather than a 500.
    assert client.get("/insights/", {"start": "yesterday", "location": "x"}).status_code == 200


def _csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_csv_exports(client, manager, world):
    client.force_login(manager)
    start = str(TODAY - timedelta(days=13))
    rows = _csv_rows(client.get("/insights/export/providers.csv", {"start": start}))
    assert rows[0][:4] == ["provider", "responses", "nps_answers", "nps"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["Dr Wei Chen"][5] == "fewer than 5 responses" and by_name["Dr Wei Chen"][3] == ""
    assert by_name["Dr Elena Ortiz"][3] == str(round(100 * 1 / 9, 1))
    rows = _csv_rows(client.get("/insights/", {"start": start, "format": "csv", "table": "topbox"}))
    assert ["listened", "8", "5", "62.5"] in rows
    for table in q_tables():
        assert client.get(f"/insights/export/{table}.csv", {"start": start}).status_code == 200
    assert client.get("/insights/export/nope.csv").status_code == 404


def q_tables() -> list[str]:
    from surveys.insights import TABLES

    return list(TABLES)


def test_comment_search_and_filters(client, manager, world):
    client.force_login(manager)
    start = str(TODAY - timedelta(days=13))
    page = client.get("/insights/comments/", {"start": start, "q": "wait"}).context["page"]
    assert [c.text for c in page] == ["The wait was far too long today"]
    page = client.get("/insights/comments/", {"start": start, "sentiment": "positive"}).context[
        "page"
    ]
    assert [c.text for c in page] == ["Lovely staff at reception"]
    page = client.get("/insights/comments/", {"start": start, "theme": "wait_time"}).context["page"]
    assert len(page) == 1


def test_label_correction_is_stored_and_exported(client, manager, world):
    client.force_login(manager)
    comment = Comment.objects.get(text__startswith="Lovely")
    assert client.get(f"/insights/comments/{comment.pk}/").status_code == 200
    response = client.post(
        f"/insights/comments/{comment.pk}/correct/",
        {"sentiment": "mixed", "themes": ["staff_manner", "communication", "bogus"],
         "next": "https://evil.example/"},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"].startswith("/insights/")
    comment.refresh_from_db()
    assert comment.corrected_sentiment == "mixed" and comment.sentiment == "positive"
    assert comment.corrected_themes == ["staff_manner", "communication"]
    assert comment.corrected_by == manager and comment.corrected_at is not None
    rows = _csv_rows(client.get("/insights/export/corrections.csv"))
    assert rows[1][2:5] == ["Lovely staff at reception", "positive", "mixed"]
    assert client.post(f"/insights/comments/{comment.pk}/correct/", {}).status_code == 400


def test_front_desk_cannot_correct(client, desk, world):
    client.force_login(desk)
    comment = Comment.objects.first()
    response = client.post(f"/insights/comments/{comment.pk}/correct/", {"sentiment": "negative"})
    assert response.status_code == 403
    comment.refresh_from_db()
    assert comment.corrected_sentiment == ""


def test_ticket_queue(client, manager, world):
    resp = Response.objects.filter(nps=2).first()
    Ticket.objects.create(
        response=resp, location=resp.location, reasons=["detractor"],
        due_date=TODAY - timedelta(days=1),
    )  # fmt: skip
    client.force_login(manager)
    page = client.get("/insights/tickets/")
    assert page.status_code == 200
    assert page.context["counts"] == {"open": 1, "overdue": 1}
    assert q.headline_cards(_period())  # tickets do not break the headline


def test_bench_aggregates_agree_with_the_naive_loop(world):
    from bench.dashboard import naive_figures, query_figures

    for f in (
        _period(),
        q.Filters(start=TODAY - timedelta(days=30), end=TODAY, location=world["location"].pk),
        q.Filters(start=TODAY - timedelta(days=30), end=TODAY, channel="email"),
    ):
        assert query_figures(f) == pytest.approx(naive_figures(f)[0])


@pytest.mark.postgres
def test_postgres_full_text_search_matches_word_forms(client, manager, world):
    client.force_login(manager)
    start = str(TODAY - timedelta(days=13))
    page = client.get("/insights/comments/", {"start": start, "q": "waiting"}).context["page"]
    assert [c.text for c in page] == ["The wait was far too long today"]


def test_status_constants_cover_the_appointment_states():
    assert set(q.BOOKED_OR_LATER) | {AppointmentStatus.CANCELLED} == set(AppointmentStatus.values)


def test_both_periods_from_one_query_match_each_period_alone(world):
    """The page's grouped two-period queries give the figures each period gives on its own."""
    f = _period()
    for g in (f, replace(f, location=world["location"].pk), replace(f, channel="email")):
        before = g.previous()
        with q.request_memo():
            cards = {c["key"]: c for c in q.headline_cards(g)}
            weeks, providers = q.weekly(g), q.comparison(g, "provider")
        alone = q.headline(before)  # outside the memo: its own queries
        for key, card in cards.items():
            assert card["previous"] == alone[key], key
        assert alone["responses"] == q.nps_counts(before)["responses"]
        assert sum(w["responses"] for w in weeks) == q.nps_counts(g)["responses"]
        assert sum(p["responses"] for p in providers) == q.nps_counts(g)["responses"]
        assert q.headline(g)["booked"] == q.appointment_counts(g)["booked"]
        assert q.headline(g)["comments"] == q.comment_counts(g)["comments"]


def test_dashboard_query_count_does_not_grow_with_tables(
    client, manager, world, django_assert_max_num_queries
):
    client.force_login(manager)
    with django_assert_max_num_queries(16):
        assert (
            client.get("/insights/", {"start": str(TODAY - timedelta(days=13))}).status_code == 200
        )

"""The patient's survey page through Django's test client: languages, saving, completion,
analysis, tickets, managers' e-mail, bad links and hostile input."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from scheduling.links import make_token
from surveys.models import (
    Answer,
    Comment,
    CommentTheme,
    Invitation,
    InvitationStatus,
    Response,
    Ticket,
)
from tests.surveys.conftest import page_path, past_visit

pytestmark = pytest.mark.django_db

DETRACTOR = {
    "q_nps": "2",
    "q_listened": "1",
    "q_provider_rating": "4",
    "q_went_well": "Parking was easy.",
    "q_do_better": "The receptionist was rude and I waited two hours.",
    "action": "submit",
}


def test_english_page_shows_questions_first_name_only_and_accessible_groups(client, invitation):
    page = client.get(page_path(invitation))
    html = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    assert '<html lang="en">' in html and "Hello Ana," in html and "Quintero" not in html
    assert "How likely are you to recommend our clinic" in html
    assert html.count("<fieldset") == html.count("<legend>") == 8  # every radio group
    assert '<label for="q_went_well"' in html and 'id="q_went_well"' in html
    assert ">Usually<" in html
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.OPENED and invitation.opened_at


def test_spanish_page(client, clinic, spanish_patient):
    invitation = Invitation.objects.get(appointment=past_visit(clinic, spanish_patient))
    html = client.get(page_path(invitation)).content.decode()
    assert '<html lang="es">' in html and "Hola Lucía," in html and "Fernández" not in html
    assert "¿Qué tan probable es que recomiende nuestra clínica" in html
    assert "¿Qué podríamos mejorar?" in html and ">La mayoría de las veces<" in html
    assert ">Siempre<" in html and "Guardar y terminar después" in html


def test_partial_answers_are_kept_and_shown_again(client, invitation):
    path = page_path(invitation)
    saved = client.post(path, {"q_nps": "8", "q_went_well": "Kind nurse", "action": "save"})
    assert saved.status_code == 200 and "Your answers are saved" in saved.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PARTIAL
    response = invitation.response
    assert response.nps == 8 and response.completed_at is None
    assert not Comment.objects.exists()  # analysed on completion only
    html = client.get(path).content.decode()
    assert 'id="q_nps-8" name="q_nps" value="8" checked' in html
    assert ">Kind nurse</textarea>" in html
    # Finishing without the required score keeps the answers and asks for it.
    missing = client.post(path, {"q_went_well": "Kind nurse", "action": "submit"})
    assert missing.status_code == 400 and "Please answer this question." in missing.content.decode()
    assert Answer.objects.filter(code="went_well").exists()
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PARTIAL


def test_completion_analyses_comments_opens_a_ticket_and_alerts_managers(
    client, invitation, manager, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(page_path(invitation), DETRACTOR)
    assert page.status_code == 200 and "Thank you" in page.content.decode()
    response = Response.objects.get(invitation=invitation)
    assert response.completed_at and response.nps == 2 and response.provider_rating == 4
    assert response.location == invitation.appointment.location
    assert response.visit_date == invitation.appointment.local_start.date()
    better = Comment.objects.get(question_code="do_better")
    assert better.sentiment == "negative" and better.score < 0
    assert better.textblob_polarity != 0 and better.model_version
    assert better.visit_date == response.visit_date and better.provider == response.provider
    themes = set(CommentTheme.objects.filter(comment=better).values_list("theme", flat=True))
    assert {"wait_time", "staff_manner"} <= themes
    ticket = Ticket.objects.get(response=response)
    assert ticket.reasons == ["detractor", "negative"] and ticket.priority == "normal"
    assert ticket.owner == manager.user
    assert ticket.due_date == timezone.localdate(timezone=response.location.zone) + timedelta(3)
    assert len(mail.outbox) == 1
    alert = mail.outbox[0]
    assert alert.to == ["lead@clinic.example"]
    text = alert.subject + alert.body
    assert f"#{ticket.pk}" in alert.subject and "Riverside" in alert.subject
    assert f"/admin/surveys/ticket/{ticket.pk}/change/" in alert.body
    for secret in ("Ana", "Quintero", "receptionist", "rude", "Parking"):
        assert secret not in text
    ticket.refresh_from_db()
    assert "[alert e-mailed] 1 manager(s)" in ticket.notes


def test_safety_opens_a_high_priority_ticket_even_with_praise_and_a_top_score(client, invitation):
    answers = {
        "q_nps": "10",
        "q_went_well": "Lovely friendly staff. The nurse gave me the wrong medication though.",
    }
    client.post(page_path(invitation), {**answers, "action": "submit"})
    comment = Comment.objects.get()
    assert comment.safety and comment.sentiment == "positive"
    ticket = Ticket.objects.get()
    assert ticket.reasons[0] == "safety" and ticket.priority == "high"
    assert ticket.due_date == timezone.localdate(timezone=ticket.location.zone) + timedelta(1)


def test_promoter_with_praise_opens_nothing_and_contradiction_is_caught(client, clinic):
    happy = Invitation.objects.get(appointment=past_visit(clinic))
    text = "Wonderful doctor, very kind and thorough, best clinic ever!"
    client.post(page_path(happy), {"q_nps": "10", "q_went_well": text, "action": "submit"})
    assert not Ticket.objects.exists()
    Invitation.objects.filter(pk=happy.pk).update(created_at=timezone.now() - timedelta(days=99))
    odd = Invitation.objects.get(appointment=past_visit(clinic, clock=time(14)))
    client.post(page_path(odd), {"q_nps": "1", "q_went_well": text, "action": "submit"})
    assert Ticket.objects.get().reasons == ["detractor", "contradiction"]


def test_used_link_shows_already_answered(client, invitation):
    path = page_path(invitation)
    client.post(path, {"q_nps": "9", "action": "submit"})
    for page in (client.get(path), client.post(path, {"q_nps": "0", "action": "submit"})):
        assert page.status_code == 410
        assert "This survey is already answered" in page.content.decode()
    assert Response.objects.get().nps == 9


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "1:1uAbCd:forgedsignature0000000000000000000000000",
        "__TAMPERED__",
        "__OTHER_PURPOSE__",
    ],
)
def test_tampered_or_forged_links_get_a_clear_400(client, invitation, token):
    real = make_token("survey", invitation.pk)
    if token == "__TAMPERED__":
        token = f"{invitation.pk + 1}{real[len(str(invitation.pk)) :]}"
    elif token == "__OTHER_PURPOSE__":
        token = make_token("reschedule", invitation.pk)
    page = client.get(f"/s/{token}/")
    assert page.status_code == 400
    html = page.content.decode()
    assert "This link does not work" in html and "Este enlace no funciona" in html


def test_expired_link_gets_410(client, invitation):
    path = page_path(invitation)
    with time_machine.travel(invitation.expires_at + timedelta(minutes=1)):
        page = client.get(path)
        assert page.status_code == 410 and "has expired" in page.content.decode()
        assert client.post(path, {"q_nps": "5", "action": "submit"}).status_code == 410
    assert not Response.objects.exists()


def test_script_is_stored_as_text_and_rendered_escaped(client, invitation):
    path = page_path(invitation)
    script = '<script>alert("x")</script> & more'
    client.post(path, {"q_nps": "7", "q_do_better": script, "action": "save"})
    assert Answer.objects.get(code="do_better").value_text == script
    html = client.get(path).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("q_do_better", "x" * 10_000, "Please shorten this answer to 2000 characters"),
        ("q_do_better", "nice\x00visit", "characters we cannot read"),
        ("q_nps", "11", "Please choose one of the options."),
        ("q_listened", "<b>", "Please choose one of the options."),
    ],
)
def test_hostile_input_is_refused_and_nothing_saved(client, invitation, field, value, message):
    page = client.post(page_path(invitation), {"q_nps": "6", field: value, "action": "submit"})
    html = page.content.decode()
    assert page.status_code == 400 and message in html and "Nothing was saved yet." in html
    assert not Response.objects.exists() and not Answer.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status != InvitationStatus.COMPLETED


def test_undecodable_bytes_are_refused(client, invitation):
    page = client.post(
        page_path(invitation),
        b"q_nps=5&q_went_well=caf%E9%FF&action=submit",
        content_type="application/x-www-form-urlencoded",
    )
    assert page.status_code == 400 and "characters we cannot read" in page.content.decode()
    assert not Response.objects.exists()

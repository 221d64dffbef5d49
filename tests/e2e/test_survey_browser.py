"""A real headless Chromium answers a survey: keyboard and clicks, then analysis and a ticket."""

from __future__ import annotations

import pytest

from surveys.models import Comment, Invitation, InvitationStatus, Ticket
from tests.e2e.conftest import ARTIFACTS
from tests.surveys.conftest import page_path, past_visit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migration_data"),
]


@pytest.fixture
def browser_page(browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    yield page
    page.close()


def test_patient_answers_in_a_real_browser(live_server, clinic, browser_page):
    invitation = Invitation.objects.get(appointment=past_visit(clinic))
    page = browser_page
    page.goto(live_server.url + page_path(invitation))
    assert page.locator("h1").inner_text() == "How was your visit?"
    assert page.locator("fieldset legend").count() == 8

    # Keyboard: into the NPS group, then arrow keys move the choice (native radio behaviour).
    page.locator("#q_nps-0").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert page.locator("#q_nps-3").is_checked()
    # Clicks on labels (the large touch targets).
    page.get_by_label("Never").first.click()
    page.locator("label[for=q_provider_rating-2]").click()
    page.get_by_label("What could we do better?").fill(
        "The receptionist was rude and I waited two hours. Nobody apologised."
    )
    page.locator("textarea#q_went_well").focus()
    page.keyboard.type("Parking was easy.")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "survey.png"), full_page=True)

    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_selector("text=Thank you")

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.COMPLETED
    response = invitation.response
    assert response.nps == 3 and response.provider_rating == 2
    assert response.answers.get(code="explained").value_int == 1
    comment = Comment.objects.get(response=response, question_code="do_better")
    assert comment.sentiment == "negative"
    assert set(Ticket.objects.get(response=response).reasons) >= {"detractor", "negative"}

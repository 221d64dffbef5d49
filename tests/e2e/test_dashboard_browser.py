"""A manager uses the insight dashboard in headless Chromium; the front desk is turned away.

Debian's chromium with the PyPI playwright package (FACTS.md, Browsers). Skips only when
chromium is missing and CI is unset; in CI a missing browser fails the run.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from tests.e2e.conftest import ARTIFACTS
from tests.surveys.test_insights import make_response

pytestmark = [
    pytest.mark.browser,
    # Live-server tests commit; serialized rollback restores the groups and the standard
    # survey that migrations created, for the tests that run after this one.
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migration_data"),
]


@pytest.fixture
def data(clinic, django_user_model):
    from surveys.models import Question

    w = {
        "location": clinic.location,
        "provider": clinic.provider,
        "visit": clinic.visit,
        "questions": {
            q.code: q for q in Question.objects.filter(survey__language="en", survey__active=True)
        },
    }
    for i, score in enumerate([10, 9, 9, 8, 7, 6, 3, 10, 10, 2]):
        day = timezone.localdate() - timedelta(days=2 + 7 * (i % 3))
        comment = None
        if i == 9:
            comment = ("The wait was far too long today", "negative", ["wait_time"])
        make_response(w, day, score, likert={"listened": 4 if i % 2 else 3}, comment=comment)
    manager = django_user_model.objects.create_user(
        "manager", "m@example.org", "pw-manager-1", is_staff=True
    )
    manager.groups.add(Group.objects.get(name="Manager"))
    desk = django_user_model.objects.create_user(
        "desk", "d@example.org", "pw-desk-1", is_staff=True
    )
    desk.groups.add(Group.objects.get(name="Front desk"))
    return clinic


def _login(page, base: str, username: str, password: str, next_path: str = "/insights/"):
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_manager_filters_sees_charts_opens_a_comment_and_exports(browser, live_server, data):
    page = browser.new_page(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    _login(page, live_server.url, "manager", "pw-manager-1")
    assert page.url.endswith("/insights/")
    page.select_option("select[name=location]", str(data.location.pk))
    page.click("#apply-filters")
    page.wait_for_url(f"**/insights/?*location={data.location.pk}*")
    page.wait_for_function(
        "() => ['chart-weekly', 'chart-themes', 'chart-topbox'].every("
        "id => window.Chart && Chart.getChart(document.getElementById(id)) != null)"
    )
    assert page.locator("[data-figure=responses] .value").inner_text() == "10"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    with page.expect_download() as info:
        page.click("a[href*='/insights/export/providers.csv']")
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text())))
    assert rows[0][0] == "provider" and rows[1][0] == "Dr Elena Ortiz" and rows[1][1] == "10"

    page.click("nav a:has-text('Comments')")
    page.click("a.comment-link")
    assert "far too long" in page.locator("#comment-text").inner_text()
    page.check("input[name=sentiment][value=mixed]")
    page.click("button:has-text('Save correction')")
    page.wait_for_load_state()
    assert "mixed" in page.locator("#comments").inner_text()


def test_front_desk_is_refused(browser, live_server, data):
    page = browser.new_page()
    _login(page, live_server.url, "desk", "pw-desk-1", next_path="/admin/")
    response = page.goto(f"{live_server.url}/insights/")
    assert response is not None and response.status == 403

"""Approving LLM wording: who may, what the Manager sees, what happens without an LLM."""

from __future__ import annotations

from io import StringIO

import openai
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse

from comms import approvals
from comms.drafts import Draft, LLMUsage, Reason, Rejection
from comms.llm_tasks import draft_missing_variants
from comms.models import LLMCall, MessageVariant, PurposeApproval, VariantStatus
from tests.comms import test_llm_e2e as e2e
from tests.comms.test_llm_e2e import GOOD_SMS, reminder_segment
from tests.fakes import llm_guard
from tests.fakes.openai_server import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db

# Shared fixtures of the end-to-end module.
booker, llm, manager = e2e.booker, e2e.llm, e2e.manager


@pytest.fixture
def front_desk(django_user_model):
    user = django_user_model.objects.create_user("desk", password="pw-123456", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="Front desk")[0])
    return user


def _variant(clinic, **draft) -> MessageVariant:
    segment = reminder_segment(clinic)
    usage = LLMUsage("fake-model", 120, 40, 812.4)
    return approvals.store(Draft(segment, "en/reminder.v1", usage=usage, **draft))


def test_store_keeps_an_invalid_draft_with_its_reasons_and_call(clinic) -> None:
    why = Rejection(Reason.URL_LITERAL, 'the draft writes its own url: "evil.example"')
    variant = _variant(clinic, rejections=(why,), rejected_body="see evil.example")

    assert variant.status == VariantStatus.INVALID and variant.body == ""
    assert variant.rejections == [{"code": "url_literal", "text": why.text}]
    call = LLMCall.objects.get(variant=variant)
    assert (call.prompt_tokens, call.completion_tokens, call.latency_ms) == (120, 40, 812)
    assert call.outcome == "url_literal" and call.kind == "message_variant"


def test_approving_replaces_the_segments_approved_variant(clinic, manager) -> None:
    first = approvals.approve(_variant(clinic, body=GOOD_SMS), manager)
    second = _variant(clinic, body=GOOD_SMS.replace("Hi!", "Hello!"))

    approvals.approve(second, manager)

    first.refresh_from_db()
    assert first.status == VariantStatus.RETIRED
    assert approvals.ApprovedVariants().get(reminder_segment(clinic)).body.startswith("Hello!")


def test_front_desk_cannot_approve_or_mark_purposes(clinic, front_desk) -> None:
    variant = _variant(clinic, body=GOOD_SMS)
    with pytest.raises(PermissionDenied):
        approvals.approve(variant, front_desk)
    with pytest.raises(PermissionDenied):
        approvals.set_auto_approve("reminder", True, front_desk)
    with pytest.raises(ValueError):
        approvals.set_auto_approve("opt_out_ack", True, approvals_superuser())


def approvals_superuser():
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", "root@example.org", "pw-123456")


def test_without_an_llm_the_task_and_command_say_so(settings) -> None:
    settings.OPENAI_API_KEY = ""
    assert "OPENAI_API_KEY" in draft_missing_variants()["skipped"]
    out = StringIO()
    call_command("draft_variants", stdout=out)
    assert "templates only" in out.getvalue()


def test_command_drafts_for_upcoming_visits(llm, clinic, booker) -> None:
    booker.book()
    llm.responder = lambda body: Reply.draft(GOOD_SMS)  # right for the reminder only
    out = StringIO()

    call_command("draft_variants", stdout=out)

    assert "drafted=3" in out.getvalue()  # reminder + confirmation/cancellation acks (SMS)
    statuses = dict(MessageVariant.objects.values_list("purpose", "status"))
    assert statuses == {
        "reminder": "draft",
        "confirmation_ack": "invalid",  # placeholders of another purpose
        "cancellation_ack": "invalid",
    }


# --------------------------------------------------------------------------- the admin


def _login(client, user):
    client.force_login(user)
    return client


def test_manager_sees_the_draft_beside_the_template_and_approves(
    client, clinic, booker, manager
) -> None:
    booker.book()  # a sample visit for the preview
    variant = _variant(clinic, body=GOOD_SMS)
    _login(client, manager)

    page = client.get(reverse("admin:comms_messagevariant_change", args=[variant.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Hi! Your visit with Dr Elena Ortiz is on" in text  # the variant, filled
    assert "Reminder: your appointment with Dr Elena Ortiz" in text  # the template
    assert "Tokens: 120 prompt, 40 completion." in text
    assert 'value="approve"' in text
    decide = reverse("admin:comms_messagevariant_decide", args=[variant.pk])
    assert client.post(decide, {"decision": "approve"}).status_code == 302
    variant.refresh_from_db()
    assert variant.status == VariantStatus.APPROVED and variant.reviewed_by == manager


def test_invalid_variant_page_shows_why(client, clinic, manager) -> None:
    why = Rejection(Reason.TIME_LITERAL, 'the draft writes its own time: "3:30pm"')
    variant = _variant(clinic, rejections=(why,), rejected_body="See you at 3:30pm!")
    _login(client, manager)

    text = client.get(reverse("admin:comms_messagevariant_change", args=[variant.pk])).content
    assert b"time_literal" in text and b"See you at 3:30pm!" in text
    assert b'value="approve"' not in text


def test_front_desk_gets_403_and_no_actions(client, clinic, front_desk) -> None:
    variant = _variant(clinic, body=GOOD_SMS)
    _login(client, front_desk)

    decide = reverse("admin:comms_messagevariant_decide", args=[variant.pk])
    assert client.post(decide, {"decision": "approve"}).status_code == 403
    assert client.get(reverse("admin:comms_messagevariant_changelist")).status_code == 403
    variant.refresh_from_db()
    assert variant.status == VariantStatus.DRAFT


def test_manager_changelist_has_the_actions(client, clinic, manager) -> None:
    variant = _variant(clinic, body=GOOD_SMS)
    _login(client, manager)
    url = reverse("admin:comms_messagevariant_changelist")

    assert b"approve_selected" in client.get(url).content
    client.post(url, {"action": "approve_selected", "_selected_action": [variant.pk]})

    variant.refresh_from_db()
    assert variant.status == VariantStatus.APPROVED


def test_manager_marks_a_purpose_for_auto_approval(client, manager) -> None:
    _login(client, manager)
    url = reverse("admin:comms_purposeapproval_add")

    response = client.post(url, {"purpose": "survey_invite", "auto_approve": "on"})

    assert response.status_code == 302
    row = PurposeApproval.objects.get()
    assert row.auto_approve and row.set_by == manager


# --------------------------------------------------------------------------- the suite guard


def test_guard_catches_a_fixture_patients_identifier_in_a_prompt(clinic) -> None:
    with FakeOpenAI() as fake:
        fake.script(Reply.draft("ok"))
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "Write to Ms Quintero"}]
        )
        assert fake in llm_guard.started_fakes()
        requests = list(fake.requests)
    fake.requests.clear()  # this test leaks on purpose; keep the suite guard quiet about it

    with pytest.raises(AssertionError, match="last_name"):
        llm_guard.assert_no_identifiers(requests, llm_guard.database_patient_identifiers())

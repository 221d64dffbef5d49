"""Channels through real clients: twilio against FakeTwilio, Django SMTP against FakeSMTP."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from twilio.request_validator import RequestValidator

from comms.channels.base import ChannelDisabled, DeliveryError, OutgoingMessage, SendResult
from comms.channels.console import ConsoleChannel, FileChannel
from comms.channels.email import EmailChannel
from comms.channels.sms import CALLBACK_KEY_PARAM, SmsChannel
from comms.ics import appointment_uid, build_invitation
from tests.fakes.smtp_server import FakeSMTP
from tests.fakes.twilio_server import FakeTwilio, Script

PATIENT = "+15551234567"
CLINIC = "+15005550006"
BODY = "Reminder: Dr. Lee, Tue 3 Mar 9:30 AM, 12 Oak St. Reply C to confirm, 2 to cancel."
CALLBACK = "https://clinic.example.org/hooks/twilio/status/"


def sms(key: str = "appt:1:rule:1:sms", to: str = PATIENT, body: str = BODY) -> OutgoingMessage:
    return OutgoingMessage(key=key, to=to, body=body)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def channel_for(fake: FakeTwilio, **options: object) -> SmsChannel:
    config: dict[str, object] = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "from_number": CLINIC,
        "status_callback_base": CALLBACK,
        "base_url": fake.url,
        **options,
    }
    return SmsChannel(**config)  # type: ignore[arg-type]


def send_error(channel: SmsChannel | EmailChannel, message: OutgoingMessage) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        channel.send(message)
    return caught.value


# -- SMS -------------------------------------------------------------------------------------


def test_sms_happy_path(twilio: FakeTwilio) -> None:
    result = channel_for(twilio).send(sms())
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    assert (result.status, result.segments) == ("queued", 1)
    [sent] = twilio.messages
    assert (sent["sid"], sent["to"], sent["from"], sent["body"]) == (
        result.provider_id, PATIENT, CLINIC, BODY
    )  # fmt: skip
    query = parse_qs(urlsplit(sent["status_callback"]).query)
    assert sent["status_callback"].startswith(CALLBACK)
    assert query[CALLBACK_KEY_PARAM] == ["appt:1:rule:1:sms"]


def test_sms_segments_and_messaging_service(twilio: FakeTwilio) -> None:
    channel = channel_for(twilio, from_number=None, messaging_service_sid="MG" + "1" * 32)
    result = channel.send(sms(body="Su cita es el día 5. " * 4))  # 84 UCS-2 units
    assert (result.status, result.segments) == ("accepted", 2)
    assert twilio.messages[0]["messaging_service_sid"] == "MG" + "1" * 32
    assert twilio.messages[0]["from"] is None


def test_sms_message_callback_overrides_base_and_keeps_its_query(twilio: FakeTwilio) -> None:
    message = OutgoingMessage(
        key="k 1&2", to=PATIENT, body=BODY, status_callback="https://x.example/cb?site=3"
    )
    channel_for(twilio).send(message)
    query = parse_qs(urlsplit(twilio.messages[0]["status_callback"]).query)
    assert query == {"site": ["3"], CALLBACK_KEY_PARAM: ["k 1&2"]}


def test_timeout_is_always_set(twilio: FakeTwilio) -> None:
    assert channel_for(twilio).client.http_client.timeout == 10.0
    assert channel_for(twilio, timeout=2.5).client.http_client.timeout == 2.5
    with pytest.raises(ValueError):
        channel_for(twilio, timeout=0)


@pytest.mark.parametrize(
    ("script", "code", "outcome_unknown"),
    [
        (Script.error(429, 20429, "Too Many Requests"), "20429", False),
        (Script.error(503, None, "Service Unavailable"), "http-503", False),
        (Script.error(500, 20500, "Internal Server Error"), "20500", True),
        (Script.error(502, None, "Bad Gateway"), "http-502", True),
    ],
)
def test_sms_transient_errors(
    twilio: FakeTwilio, script: Script, code: str, outcome_unknown: bool
) -> None:
    twilio.script(script)
    channel = channel_for(twilio)
    error = send_error(channel, sms())
    assert (error.code, error.permanent, error.outcome_unknown) == (code, False, outcome_unknown)
    assert twilio.messages == []
    channel.send(sms())  # the retry goes through
    assert len(twilio.messages) == 1


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (21610, "opted out"),
        (21211, "invalid 'To'"),
        (21614, "not a mobile number"),
        (21408, "region"),
        (21612, "no route"),
        (21699, "[number] is odd"),  # an unlisted 4xx is permanent too, its text redacted
    ],
)
def test_sms_permanent_errors(twilio: FakeTwilio, code: int, words: str) -> None:
    twilio.script(Script.error(400, code, f"The number {PATIENT} is odd"), to=PATIENT)
    error = send_error(channel_for(twilio), sms())
    assert (error.code, error.permanent, error.outcome_unknown) == (str(code), True, False)
    assert words in error.text
    assert PATIENT not in error.text and PATIENT[2:] not in str(error)


def test_sms_scripts_per_recipient_leave_others_alone(twilio: FakeTwilio) -> None:
    twilio.script(Script.error(400, 21610, "unsubscribed"), to="+15550000001")
    channel = channel_for(twilio)
    channel.send(sms())
    assert send_error(channel, sms(to="+15550000001")).code == "21610"
    assert [m["to"] for m in twilio.messages] == [PATIENT]


def test_sms_refuses_bad_input_without_calling_twilio(twilio: FakeTwilio) -> None:
    channel = channel_for(twilio)
    assert send_error(channel, sms(to="555-123-4567")).code == "invalid-to"
    assert send_error(channel, sms(body="  ")).code == "empty-body"
    assert twilio.requests == []


def test_sms_wrong_credentials_are_transient(twilio: FakeTwilio) -> None:
    error = send_error(channel_for(twilio, auth_token="wrong"), sms())
    assert (error.code, error.permanent, error.outcome_unknown) == ("20003", False, False)


def test_sms_connection_refused_is_transient_and_known() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = SmsChannel(
        account_sid="AC" + "0" * 32, auth_token="t", from_number=CLINIC,
        base_url=f"http://127.0.0.1:{port}", timeout=2,
    )  # fmt: skip
    error = send_error(channel, sms())
    assert (error.code, error.permanent, error.outcome_unknown) == (
        "connection-refused", False, False
    )  # fmt: skip


def test_sms_slow_answer_is_outcome_unknown_then_found(twilio: FakeTwilio) -> None:
    channel = channel_for(twilio, timeout=0.5)
    started = datetime.now(UTC)
    twilio.script(Script.slow(30, create=True))
    error = send_error(channel, sms())
    assert (error.code, error.permanent, error.outcome_unknown) == ("timeout", False, True)
    [created] = twilio.messages  # Twilio did take it: a blind retry would send it twice
    assert channel.find_existing(sms(), since=started) == created["sid"]
    assert channel.find_existing(sms(), since=None) == created["sid"]
    # Not this outbox row: another body, another patient, or a send before the attempt.
    assert channel.find_existing(sms(body="Another reminder"), since=started) is None
    assert channel.find_existing(sms(to="+15559999999"), since=started) is None
    later = started + timedelta(hours=1)
    assert channel.find_existing(sms(), since=later) is None


def test_sms_500_after_creating_is_outcome_unknown_and_found(twilio: FakeTwilio) -> None:
    # A 5xx can come from a proxy after Twilio stored the message; only 503 is a clear "no".
    twilio.script(Script(status=500, code=20500, message="Internal error", create=True))
    channel = channel_for(twilio)
    started = datetime.now(UTC)
    assert send_error(channel, sms()).outcome_unknown
    assert channel.find_existing(sms(), since=started) == twilio.messages[0]["sid"]


def test_find_existing_reads_past_other_messages_and_pages(twilio: FakeTwilio) -> None:
    channel = channel_for(twilio, lookback=3)
    channel.send(sms())
    for number in range(2):
        channel.send(sms(key=f"other:{number}", body=f"Other message {number}"))
    sid = twilio.messages[0]["sid"]
    assert channel.find_existing(sms()) == sid
    assert channel_for(twilio, lookback=2).find_existing(sms()) is None  # out of reach


def test_find_existing_matches_smart_encoded_and_trial_bodies(twilio: FakeTwilio) -> None:
    # What Twilio stores may differ from what we sent: Smart Encoding, trial prefix.
    stored = "Sent from your Twilio trial account - Your visit is on the 5th - see you!"
    channel = channel_for(twilio)
    channel.send(sms(body=stored))
    assert channel.find_existing(sms(body="Your visit is on the 5th \u2014 see you!")) is not None


def test_find_existing_when_twilio_cannot_answer(twilio: FakeTwilio) -> None:
    twilio.script(Script.error(500, 20500, "boom"), endpoint="list")
    with pytest.raises(DeliveryError) as caught:
        channel_for(twilio).find_existing(sms())
    assert (caught.value.permanent, caught.value.outcome_unknown) == (False, False)
    assert channel_for(twilio).find_existing(sms()) is None  # nothing sent: nothing found


def test_fetch_reads_the_current_status(twilio: FakeTwilio) -> None:
    channel = channel_for(twilio)
    sid = channel.send(sms()).provider_id
    assert channel.fetch(sid) == SendResult(sid, "queued", 1)
    with pytest.raises(DeliveryError) as caught:
        channel.fetch("SM" + "f" * 32)
    assert caught.value.code == "20404"


def test_sms_logs_carry_no_phone_number_or_body(
    twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = channel_for(twilio, timeout=0.5)
    channel.send(sms())
    twilio.script(Script.error(400, 21211, f"The 'To' number {PATIENT} is not valid"))
    send_error(channel, sms())
    channel.find_existing(sms())
    ours = [r for r in caplog.records if r.name.startswith(("comms", "twilio"))]
    assert ours, "expected our own log lines"
    text = "\n".join(record.getMessage() for record in ours)
    assert PATIENT[2:] not in text and "%2B1555" not in text and "Dr. Lee" not in text
    assert "appt:1:rule:1:sms" in text


def test_sms_from_config_disabled_without_credentials() -> None:
    with pytest.raises(ChannelDisabled, match="TWILIO_AUTH_TOKEN"):
        SmsChannel.from_config(account_sid="AC1", auth_token="", from_number=CLINIC)
    with pytest.raises(ChannelDisabled, match="TWILIO_FROM_NUMBER"):
        SmsChannel.from_config(account_sid="AC1", auth_token="t")
    channel = SmsChannel.from_config(
        account_sid="AC1", auth_token="t", messaging_service_sid="MG1", timeout=3
    )
    assert channel.client.http_client.timeout == 3


class _CallbackSink(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bool]] = []
    token = ""
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        params = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
        valid = RequestValidator(self.token).validate(
            url, params, self.headers.get("X-Twilio-Signature", "")
        )
        with self.lock:
            self.received.append((self.path, params, valid))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_fake_sends_signed_status_callbacks_duplicated_and_out_of_order() -> None:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _CallbackSink)
    threading.Thread(target=sink.serve_forever, args=(0.05,), daemon=True).start()
    _CallbackSink.received = []
    try:
        with FakeTwilio(callback_duplicates=True, callback_reverse=True) as fake:
            _CallbackSink.token = fake.auth_token
            base = f"http://127.0.0.1:{sink.server_address[1]}/status/"
            channel = channel_for(fake, status_callback_base=base)
            sid = channel.send(sms()).provider_id
            fake.send_status_callbacks(sid)
            assert channel.fetch(sid).status == "delivered"
    finally:
        sink.shutdown()
        sink.server_close()
    statuses = [params["MessageStatus"] for _, params, _ in _CallbackSink.received]
    assert statuses == ["delivered", "delivered", "sent", "sent"]
    assert all(valid for _, _, valid in _CallbackSink.received)
    assert all(f"{CALLBACK_KEY_PARAM}=appt" in path for path, _, _ in _CallbackSink.received)
    assert {params["MessageSid"] for _, params, _ in _CallbackSink.received} == {sid}


# -- Email -----------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    from django.conf import settings

    if not settings.configured:  # running without pytest-django
        settings.configure()
    with FakeSMTP() as server:
        yield server


def email_channel(server: FakeSMTP | None = None, port: int | None = None) -> EmailChannel:
    from django.core.mail import get_connection

    connection = get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host="127.0.0.1", port=port or server.port, timeout=5,  # type: ignore[union-attr]
    )  # fmt: skip
    return EmailChannel(
        from_email="Oak Clinic <reminders@clinic.example.org>", connection=connection
    )


START = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
ICS = build_invitation(
    uid=appointment_uid(42, "clinic.example.org"),
    start=START,
    end=START + timedelta(minutes=30),
    summary="Appointment with Dr. Lee",
    location="Oak Clinic, 12 Oak St",
    organizer_email="reminders@clinic.example.org",
    attendee_email="pat@example.com",
    sequence=2,
    stamp=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
)


def invitation_email(
    ics: bytes = ICS, unsubscribe: str = "https://clinic.example.org/u/tok"
) -> OutgoingMessage:
    return OutgoingMessage(
        key="appt:42:rule:1:email",
        to="pat@example.com",
        subject="Your appointment on Tue 3 Mar",
        body="See you on Tue 3 Mar at 9:30 AM.\n",
        html="<p>See you on <b>Tue 3 Mar</b> at 9:30 AM.</p>\n",
        ics=ics,
        list_unsubscribe=unsubscribe,
    )


def calendar_part(message: EmailMessage) -> EmailMessage:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part  # type: ignore[return-value]


def test_email_text_html_ics_and_unsubscribe_arrive_exactly(smtp: FakeSMTP) -> None:
    channel = email_channel(smtp)
    result = channel.send(invitation_email())
    [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ("pat@example.com",)
    received = envelope.message
    assert received["Subject"] == "Your appointment on Tue 3 Mar"
    assert received["To"] == "pat@example.com"
    assert received["From"] == "Oak Clinic <reminders@clinic.example.org>"
    assert (
        received["Message-ID"] == result.provider_id == channel.message_id("appt:42:rule:1:email")
    )
    assert received["List-Unsubscribe"] == "<https://clinic.example.org/u/tok>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Auto-Submitted"] == "auto-generated"
    assert received.get_body(("plain",)).get_content() == "See you on Tue 3 Mar at 9:30 AM.\n"
    html = received.get_body(("html",)).get_content()
    assert html == "<p>See you on <b>Tue 3 Mar</b> at 9:30 AM.</p>\n"
    invite = calendar_part(received)
    assert invite.get_param("method") == "REQUEST"
    assert invite.get_filename() == "invite.ics"
    assert invite.get_content() == ICS.decode()
    assert (result.status, result.segments) == ("sent", None)


def test_invitation_content() -> None:
    event = icalendar.Calendar.from_ical(ICS).walk("VEVENT")[0]
    text = ICS.decode()
    assert "METHOD:REQUEST\r\n" in text
    assert "DTSTART:20260303T143000Z\r\n" in text and "DTEND:20260303T150000Z\r\n" in text
    assert str(event["UID"]) == "appointment-42@clinic.example.org"
    assert (event["SEQUENCE"], str(event["SUMMARY"])) == (2, "Appointment with Dr. Lee")
    assert str(event["LOCATION"]) == "Oak Clinic, 12 Oak St"
    assert str(event["ORGANIZER"]) == "mailto:reminders@clinic.example.org"
    # Same appointment, same inputs: byte-identical, so a retry sends the same invitation.
    again = build_invitation(
        uid=appointment_uid(42, "clinic.example.org"), start=START,
        end=START + timedelta(minutes=30), summary="Appointment with Dr. Lee",
        location="Oak Clinic, 12 Oak St", organizer_email="reminders@clinic.example.org",
        attendee_email="pat@example.com", sequence=2, stamp=datetime(2026, 3, 1, 9, tzinfo=UTC),
    )  # fmt: skip
    assert again == ICS
    with pytest.raises(ValueError):
        build_invitation(uid="u", start=START.replace(tzinfo=None), end=START, summary="x")


def test_email_cancellation_invite_and_mailto_unsubscribe(smtp: FakeSMTP) -> None:
    cancel = build_invitation(
        uid=appointment_uid(42, "clinic.example.org"), start=START,
        end=START + timedelta(minutes=30), summary="Cancelled", sequence=3, method="CANCEL",
    )  # fmt: skip
    email_channel(smtp).send(invitation_email(cancel, "mailto:unsubscribe@clinic.example.org"))
    [received] = smtp.messages
    assert calendar_part(received).get_param("method") == "CANCEL"
    assert "STATUS:CANCELLED" in cancel.decode()
    assert received["List-Unsubscribe"] == "<mailto:unsubscribe@clinic.example.org>"
    assert received["List-Unsubscribe-Post"] is None  # one-click needs an https link


def test_email_resend_keeps_the_message_id(smtp: FakeSMTP) -> None:
    channel = email_channel(smtp)
    first, second = channel.send(invitation_email()), channel.send(invitation_email())
    assert first.provider_id == second.provider_id
    assert "appt" not in first.provider_id


@pytest.mark.parametrize(("code", "permanent"), [(550, True), (450, False)])
def test_email_refused_recipient(smtp: FakeSMTP, code: int, permanent: bool) -> None:
    smtp.reject("pat@example.com", code, "mailbox pat@example.com unavailable")
    error = send_error(email_channel(smtp), invitation_email())
    assert (error.code, error.permanent, error.outcome_unknown) == (
        f"smtp-{code}",
        permanent,
        False,
    )
    assert "pat@example.com" not in str(error)
    assert smtp.envelopes == []


def test_email_server_down_is_transient(smtp: FakeSMTP) -> None:
    port = smtp.port
    smtp.stop()
    error = send_error(email_channel(port=port), invitation_email())
    assert (error.code, error.permanent, error.outcome_unknown) == ("smtp-connect", False, False)


def test_email_bad_input_and_disabled(smtp: FakeSMTP) -> None:
    channel = email_channel(smtp)
    assert send_error(channel, OutgoingMessage("k", "not-an-address", "b", "s")).permanent
    assert send_error(channel, OutgoingMessage("k", "pat@example.com", "b", None)).permanent
    with pytest.raises(ChannelDisabled):
        EmailChannel.from_config(from_email="")


# -- Console and file ------------------------------------------------------------------------


def test_console_channel_prints_one_json_line() -> None:
    stream = io.StringIO()
    result = ConsoleChannel(stream=stream).send(sms())
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["provider_id"], record["key"], record["to"], record["body"]) == (
        result.provider_id, "appt:1:rule:1:sms", PATIENT, BODY
    )  # fmt: skip
    assert (result.status, result.segments) == ("sent", 1)


def test_file_channel_appends_lines_and_finds_them(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "outbox" / "messages.jsonl"
    channel = FileChannel(path, channel="email")
    assert channel.find_existing(invitation_email()) is None
    threads = [
        threading.Thread(target=channel.send, args=(sms(key=f"k{n}", body="x" * 5000),))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = channel.send(invitation_email())
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 9
    assert records[-1]["ics"] == ICS.decode() and records[-1]["subject"].startswith("Your")
    assert channel.find_existing(invitation_email()) == result.provider_id
    assert result.segments is None


def test_each_thread_gets_its_own_channel_object(settings):
    """The twilio client is not thread-safe, so channel_for builds one per thread."""
    import threading

    from comms import delivery

    settings.SMS_BACKEND = "file"
    delivery.reset()
    here = delivery.channel_for("sms")
    assert delivery.channel_for("sms") is here
    other: list = []
    thread = threading.Thread(target=lambda: other.append(delivery.channel_for("sms")))
    thread.start()
    thread.join()
    assert other[0] is not here
    delivery.reset()
    assert delivery.channel_for("sms") is not here

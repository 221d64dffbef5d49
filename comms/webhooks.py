"""Twilio webhooks: delivery status callbacks and inbound SMS, both signature-checked.

The signature covers the public URL Twilio called plus the POST parameters. Behind a proxy the
URL Django sees is not that one, so it is rebuilt from PUBLIC_BASE_URL. A missing or forged
signature gets 403 and writes nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from comms.channels.sms import CALLBACK_KEY_PARAM
from comms.consent import set_consent
from comms.models import STATUS_RANK, MessageEvent, OutboundMessage, Status
from comms.replies import record_inbound_sms

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio MessageStatus -> ours. accepted/queued/sending are the provider still working on it.
PROVIDER_STATUS = {
    "accepted": Status.SENT,
    "scheduled": Status.SENT,
    "queued": Status.SENT,
    "sending": Status.SENT,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
}


def signature_ok(request: HttpRequest) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    url = f"{settings.PUBLIC_BASE_URL}{request.get_full_path()}"
    return RequestValidator(token).validate(url, request.POST.dict(), signature)


@transaction.atomic
def apply_status(*, provider_id: str, key: str, provider_status: str, error_code: str) -> bool:
    """Move a message forward to the provider's status; repeats and late arrivals change
    nothing, and a status never goes backwards. Returns True if the row changed."""
    ours = PROVIDER_STATUS.get(provider_status)
    if ours is None:
        return False
    rows = OutboundMessage.objects.select_for_update()
    message = (rows.filter(key=key).first() if key else None) or (
        rows.filter(provider_id=provider_id).first() if provider_id else None
    )
    if message is None:
        return False
    current = STATUS_RANK.get(message.status, 0)
    if STATUS_RANK[ours] < current or (
        STATUS_RANK[ours] == current and message.provider_status == provider_status
    ):
        return False  # a repeat, or news older than what we know
    fields = {"provider_status": provider_status, "updated_at": timezone.now()}
    if STATUS_RANK[ours] > current or message.status in (Status.QUEUED, Status.SENDING):
        fields["status"] = ours
        if message.sent_at is None:
            fields["sent_at"] = timezone.now()
    if provider_id and not message.provider_id:
        fields["provider_id"] = provider_id
    if ours == Status.DELIVERED:
        fields["delivered_at"] = timezone.now()
    if error_code:
        fields["error_code"] = error_code[:20]
    OutboundMessage.objects.filter(pk=message.pk).update(**fields)
    MessageEvent.objects.create(
        message=message, kind=f"callback:{provider_status}", detail=error_code
    )
    if error_code == "21610":
        set_consent(message.patient, "sms", opted_out=True, source="provider_21610")
    return True


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not signature_ok(request):
        log.warning("status callback with a bad signature refused")
        return HttpResponseForbidden("invalid signature")
    apply_status(
        provider_id=request.POST.get("MessageSid", ""),
        key=request.GET.get(CALLBACK_KEY_PARAM, ""),
        provider_status=request.POST.get("MessageStatus", "").lower(),
        error_code=request.POST.get("ErrorCode", ""),
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not signature_ok(request):
        log.warning("inbound SMS with a bad signature refused")
        return HttpResponseForbidden("invalid signature")
    sid = request.POST.get("MessageSid", "")
    sender = request.POST.get("From", "")
    if not sid or not sender:
        return HttpResponse("MessageSid and From are required", status=400)
    record_inbound_sms(provider_id=sid, from_number=sender, body=request.POST.get("Body", ""))
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")

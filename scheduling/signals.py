"""Signals other apps listen to; sent inside the service's transaction.

Scheduling knows nothing of messages: comms subscribes here and writes its outbox rows in the
same transaction as the booking, cancellation or reschedule that caused them.
"""

from django.dispatch import Signal

# kwargs: appointment, action ("booked", "cancelled", "rescheduled", "confirmed", "checked_in",
# "completed", "no_show"), previous (dict of the fields that changed: old values), actor_label
appointment_changed = Signal()

from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    verbose_name = "Messages"

    def ready(self) -> None:
        from comms.reminders import on_appointment_changed
        from scheduling.signals import appointment_changed

        appointment_changed.connect(on_appointment_changed, dispatch_uid="comms.plan_reminders")
        # Waitlist offers; importing offer_tasks registers its beat task (autodiscover only
        # finds tasks.py).
        from comms import llm_tasks, offer_tasks  # noqa: F401
        from comms.offers import on_appointment_changed as offer_freed_slots

        appointment_changed.connect(offer_freed_slots, dispatch_uid="comms.waitlist_offers")

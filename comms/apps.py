from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    verbose_name = "Messages"

    def ready(self) -> None:
        from comms.reminders import on_appointment_changed
        from scheduling.signals import appointment_changed

        appointment_changed.connect(on_appointment_changed, dispatch_uid="comms.plan_reminders")

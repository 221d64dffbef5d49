from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Surveys and feedback"

    def ready(self) -> None:
        # surveys listens to scheduling and comms; they never import surveys.
        from comms.replies import nps_reply_received
        from scheduling.signals import appointment_changed
        from surveys import rollup_signals
        from surveys.invitations import on_appointment_changed
        from surveys.responses import on_nps_reply

        appointment_changed.connect(on_appointment_changed, dispatch_uid="surveys.invite")
        nps_reply_received.connect(on_nps_reply, dispatch_uid="surveys.sms_nps")
        rollup_signals.connect()  # the dashboard's roll-ups follow every saved row

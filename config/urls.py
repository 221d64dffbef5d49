from django.contrib import admin
from django.urls import include, path

from comms import offer_views, webhooks
from comms import views as comms_views
from scheduling import views as scheduling_views

admin.site.site_header = "Clinic Comms"
admin.site.site_title = "Clinic Comms"
admin.site.index_title = "Front desk"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("insights/", include("surveys.insight_urls")),
    path("hooks/twilio/status/", webhooks.twilio_status, name="twilio-status"),
    path("hooks/twilio/inbound/", webhooks.twilio_inbound, name="twilio-inbound"),
    path("u/<str:token>/", comms_views.unsubscribe, name="unsubscribe"),
    path("r/<str:token>/", scheduling_views.reschedule, name="reschedule"),
    path("o/<str:token>/", offer_views.claim, name="offer"),
    path("s/", include("surveys.patient_urls")),
]

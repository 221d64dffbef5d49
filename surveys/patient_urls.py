"""The patient's survey pages (owned by the surveys views)."""

from django.urls import path

from surveys import views

app_name = "surveys"
urlpatterns = [
    path("<str:token>/", views.survey_page, name="survey"),
]

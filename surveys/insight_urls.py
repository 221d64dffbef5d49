"""The managers' insight dashboard (mounted at /insights/)."""

from django.urls import path

from surveys import insights

app_name = "insights"
urlpatterns = [
    path("", insights.dashboard, name="dashboard"),
    path("export/<slug:table>.csv", insights.export, name="export"),
    path("comments/", insights.comment_list, name="comments"),
    path("comments/<int:pk>/", insights.comment_detail, name="comment"),
    path("comments/<int:pk>/correct/", insights.correct_comment, name="correct"),
    path("tickets/", insights.tickets, name="tickets"),
]

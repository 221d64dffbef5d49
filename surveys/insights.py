"""The managers' insight dashboard, comment browser, ticket queue and CSV exports.

Managers (the "Manager" group) and superusers only: anyone else logged in gets 403, anonymous
visitors the admin login. Every filter lives in the URL, so a view can be shared as a link.
The figures come from `surveys.insights_queries`; this module only shapes them for pages and CSV.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from scheduling.models import AppointmentType, Location, Provider
from surveys import insights_queries as q
from surveys.analysis import THEMES
from surveys.models import Comment, Sentiment

MANAGER_GROUP = "Manager"
COMMENTS_PER_PAGE = 25


def is_manager(user: Any) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.groups.filter(name=MANAGER_GROUP).exists())
    )


def manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous: to the admin login and back. Logged in but not a manager: 403."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not is_manager(request.user):
            raise PermissionDenied("The insight dashboard is for managers.")
        return view(request, *args, **kwargs)

    return wrapped


def _choices() -> dict[str, Any]:
    return {
        "locations": Location.objects.only("id", "name"),
        "providers": Provider.objects.only("id", "title", "first_name", "last_name"),
        "appointment_types": AppointmentType.objects.only("id", "name"),
        "channels": ["sms", "email"],
    }


# -- tables: one definition per exportable table (page and CSV agree) ------------------------


def _fmt(value: Any) -> Any:
    return round(value, 1) if isinstance(value, float) else ("" if value is None else value)


def _table_headline(f: q.Filters) -> tuple[list[str], list[list[Any]]]:
    head = ["figure", "value", "sample_size", "previous", "change"]
    rows = [
        [c["label"], c["value"], c["n"], c["previous"], c["change"]] for c in q.headline_cards(f)
    ]
    return head, rows


def _table_channels(f: q.Filters) -> tuple[list[str], list[list[Any]]]:
    rows = [[r["channel"], r["sent"], r["completed"], r["rate"]] for r in q.channel_rates(f)]
    return ["channel", "invitations_sent", "responses_completed", "response_rate_pct"], rows


def _table_topbox(f: q.Filters) -> tuple[list[str], list[list[Any]]]:
    rows = [[r["code"], r["n"], r["top"], r["share"]] for r in q.top_box(f)]
    return ["item", "answers", "always", "top_box_pct"], rows


def _table_themes(f: q.Filters) -> tuple[list[str], list[list[Any]]]:
    cols = ["positive", "neutral", "mixed", "negative", "total"]
    return ["theme", *cols], [[r["theme"], *[r[c] for c in cols]] for r in q.theme_sentiment(f)]


def _table_weekly(f: q.Filters) -> tuple[list[str], list[list[Any]]]:
    rows = [[r["week"], r["responses"], r["nps_n"], r["nps"]] for r in q.weekly(f)]
    return ["iso_week", "responses", "nps_answers", "nps"], rows


def _comparison_table(f: q.Filters, by: str) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [
            r["name"],
            r["responses"],
            r["nps_n"],
            r["nps"],
            r["ci"],
            "" if r["shown"] else "fewer than 5 responses",
        ]
        for r in q.comparison(f, by)
    ]
    return [by, "responses", "nps_answers", "nps", "nps_ci95_pm", "note"], rows


def _table_tickets(f: q.Filters) -> tuple[list[str], list[list[Any]]]:
    today = timezone.localdate()
    rows = [
        [t.pk, t.location.name, t.status, t.priority, ",".join(t.reasons), t.due_date,
         "yes" if t.due_date < today else "no"]
        for t in q.ticket_queue(f).select_related("location")
    ]  # fmt: skip
    return ["ticket", "location", "status", "priority", "reasons", "due_date", "overdue"], rows


def _table_comments(f: q.Filters, params: Any = None) -> tuple[list[str], list[list[Any]]]:
    qs = _comment_search(f, params or {}).select_related("location", "provider")
    rows = [
        [c.pk, c.visit_date, c.location.name, str(c.provider), c.effective_sentiment,
         ";".join(t.theme for t in c.themes.all()), c.text]
        for c in qs.prefetch_related("themes")[:5000]
    ]  # fmt: skip
    return ["comment", "visit_date", "location", "provider", "sentiment", "themes", "text"], rows


def _table_corrections(f: q.Filters) -> tuple[list[str], list[list[Any]]]:
    # Every correction ever made: training data does not depend on the dashboard's period.
    qs = (
        Comment.objects.filter(corrected_at__isnull=False)
        .select_related("corrected_by")
        .order_by("corrected_at")
    )
    rows = [
        [c.pk, c.question_code, c.text, c.sentiment, c.corrected_sentiment,
         ";".join(c.corrected_themes or []), c.model_version, c.corrected_at.isoformat(),
         c.corrected_by.get_username() if c.corrected_by else ""]
        for c in qs
    ]  # fmt: skip
    head = ["comment", "question", "text", "model_sentiment", "corrected_sentiment",
            "corrected_themes", "model_version", "corrected_at", "corrected_by"]  # fmt: skip
    return head, rows


TABLES: dict[str, Callable[[q.Filters], tuple[list[str], list[list[Any]]]]] = {
    "headline": _table_headline,
    "channels": _table_channels,
    "topbox": _table_topbox,
    "themes": _table_themes,
    "weekly": _table_weekly,
    "providers": lambda f: _comparison_table(f, "provider"),
    "locations": lambda f: _comparison_table(f, "location"),
    "tickets": _table_tickets,
    "comments": _table_comments,
    "corrections": _table_corrections,
}


def _csv(name: str, head: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(head)
    for row in rows:
        # A cell starting with = + - @ is a formula to a spreadsheet: comments are patient text.
        writer.writerow(
            ["'" + v if isinstance(v, str) and v[:1] in "=+-@" else _fmt(v) for v in row]
        )
    return response


# -- views ------------------------------------------------------------------------------------


@manager_required
def dashboard(request: HttpRequest) -> HttpResponse:
    f = q.Filters.from_query(request.GET)
    if request.GET.get("format") == "csv":
        table = request.GET.get("table", "headline")
        if table not in TABLES:
            raise Http404("no such table")
        return _csv(table, *TABLES[table](f))
    # One memo per page view: the tables share grouped queries (both periods at once).
    with q.request_memo():
        weeks = q.weekly(f)
        themes = q.theme_sentiment(f)
        topbox = q.top_box(f)
        chart_data = {
            "weeks": [w["week"] for w in weeks],
            "responses": [w["responses"] for w in weeks],
            "nps": [None if w["nps"] is None else round(w["nps"], 1) for w in weeks],
            "themes": [t["theme"] for t in themes],
            "theme_counts": {
                s: [t[s] for t in themes] for s in ("positive", "neutral", "mixed", "negative")
            },
            "topbox_items": [t["code"] for t in topbox],
            "topbox": [None if t["share"] is None else round(t["share"], 1) for t in topbox],
        }
        context = {
            "f": f,
            "query": urlencode(f.as_query()),
            "cards": q.headline_cards(f),
            "channel_rates": q.channel_rates(f),
            "topbox": topbox,
            "themes": themes,
            "weeks": weeks,
            "providers_cmp": q.comparison(f, "provider"),
            "locations_cmp": q.comparison(f, "location"),
            "tickets": q.ticket_counts(f),
            "chart_data": chart_data,
            "min_responses": q.MIN_RESPONSES,
            **_choices(),
        }
    return render(request, "insights/dashboard.html", context)


@manager_required
def export(request: HttpRequest, table: str) -> HttpResponse:
    if table not in TABLES:
        raise Http404("no such table")
    f = q.Filters.from_query(request.GET)
    if table == "comments":
        return _csv(table, *_table_comments(f, request.GET))
    return _csv(table, *TABLES[table](f))


def _comment_search(f: q.Filters, params: Any) -> QuerySet[Comment]:
    qs = q.comments(f)
    text = (params.get("q") or "").strip()[:200]
    if text:
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            # Filtering on an annotation needs no 'django.contrib.postgres' app; the
            # vector is computed over the period's rows only (the date filter comes first).
            qs = qs.annotate(search=SearchVector("text", config="english")).filter(
                search=SearchQuery(text, config="english", search_type="websearch")
            )
        else:
            qs = qs.filter(text__icontains=text)
    theme = params.get("theme")
    if theme:
        qs = qs.filter(themes__theme=theme)
    sentiment = params.get("sentiment")
    if sentiment:
        qs = qs.filter(
            Q(corrected_sentiment=sentiment) | Q(corrected_sentiment="", sentiment=sentiment)
        )
    return qs.order_by("-visit_date", "-pk")


@manager_required
def comment_list(request: HttpRequest) -> HttpResponse:
    f = q.Filters.from_query(request.GET)
    qs = _comment_search(f, request.GET).select_related("location", "provider")
    page = Paginator(qs.prefetch_related("themes"), COMMENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    keep = {k: v for k, v in request.GET.items() if k != "page"}
    context = {
        "f": f,
        "page": page,
        "query": urlencode(keep),
        "search": request.GET.get("q", ""),
        "theme": request.GET.get("theme", ""),
        "sentiment": request.GET.get("sentiment", ""),
        "theme_choices": THEMES,
        "sentiment_choices": Sentiment.choices,
        "next": request.get_full_path(),
        **_choices(),
    }
    return render(request, "insights/comments.html", context)


@manager_required
def comment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    comment = get_object_or_404(Comment.objects.select_related("location", "provider"), pk=pk)
    context = {
        "comment": comment,
        "themes": [t.theme for t in comment.themes.all()],
        "theme_choices": THEMES,
        "sentiment_choices": Sentiment.choices,
        "next": request.GET.get("next", reverse("insights:comments")),
    }
    return render(request, "insights/comment.html", context)


@require_POST
@manager_required
def correct_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """Store a manager's sentiment/theme correction; the model's own labels stay for comparison."""
    comment = get_object_or_404(Comment, pk=pk)
    sentiment = request.POST.get("sentiment", "")
    if sentiment not in Sentiment.values:
        return HttpResponse("Choose a sentiment.", status=400)
    themes = [t for t in request.POST.getlist("themes") if t in THEMES]
    comment.corrected_sentiment = sentiment
    comment.corrected_themes = themes
    comment.corrected_by = request.user
    comment.corrected_at = timezone.now()
    comment.save(
        update_fields=["corrected_sentiment", "corrected_themes", "corrected_by", "corrected_at"]
    )
    target = request.POST.get("next") or ""
    # Only back to our own pages: never an open redirect.
    if not target.startswith("/insights/"):
        target = reverse("insights:comment", args=[pk])
    return HttpResponseRedirect(target)


def _admin_link(ticket_pk: int) -> str:
    try:
        return reverse("admin:surveys_ticket_change", args=[ticket_pk])
    except NoReverseMatch:  # the admin for tickets is not registered (yet)
        return ""


@manager_required
def tickets(request: HttpRequest) -> HttpResponse:
    f = q.Filters.from_query(request.GET)
    today = timezone.localdate()
    rows = [
        {"ticket": t, "overdue": t.due_date < today, "admin_url": _admin_link(t.pk)}
        for t in q.ticket_queue(f).select_related("location", "owner")[:500]
    ]
    context = {"f": f, "rows": rows, "counts": q.ticket_counts(f), "query": urlencode(f.as_query())}
    return render(request, "insights/tickets.html", context)

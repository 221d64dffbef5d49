"""Turn free-text answers into analysed Comment and CommentTheme rows.

The analysis itself is `surveys.analysis` (pure, no database); this module only stores what it
returns, with the copies of the visit the dashboard aggregates on. TextBlob's polarity is kept
beside the model's sentiment as the baseline the model is judged against.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from surveys.analysis import Analysis, analyse_many, load_model
from surveys.models import Answer, Comment, CommentTheme, QuestionKind, Response


def _store(answer: Answer, response: Response, analysis: Analysis, version: str, now) -> Comment:
    comment, _ = Comment.objects.update_or_create(
        answer=answer,
        defaults={
            "response": response,
            "question_code": answer.code,
            "text": answer.value_text,
            "textblob_polarity": analysis.textblob_polarity,
            "sentiment": analysis.sentiment,
            "score": analysis.score,
            "safety": analysis.safety,
            "model_version": version,
            "analysed_at": now,
            "visit_date": response.visit_date,
            "location_id": response.location_id,
            "provider_id": response.provider_id,
        },
    )
    comment.themes.all().delete()
    CommentTheme.objects.bulk_create(
        [
            CommentTheme(
                comment=comment,
                theme=theme.name,
                sentiment=theme.sentiment,
                visit_date=response.visit_date,
            )
            for theme in {t.name: t for t in analysis.themes}.values()
        ]
    )
    return comment


@transaction.atomic
def analyse_response(response: Response, *, now: datetime | None = None) -> list[Comment]:
    """Analyse every non-blank free-text answer of `response`; returns its comments.

    A comment whose text has not changed since it was analysed is left alone, so staff
    corrections survive a second call.
    """
    now = now or timezone.now()
    answers = list(
        Answer.objects.filter(response=response, question__kind=QuestionKind.FREE_TEXT)
        .select_related("question", "comment")
        .order_by("question__order")
    )
    keep = {a.pk for a in answers if a.value_text.strip()}
    Comment.objects.filter(response=response).exclude(answer_id__in=keep).delete()
    fresh = [
        a
        for a in answers
        if a.pk in keep and (not hasattr(a, "comment") or a.comment.text != a.value_text)
    ]
    if fresh:
        model = load_model()
        results = analyse_many([(a.value_text, a.question.text) for a in fresh], model=model)
        for answer, analysis in zip(fresh, results, strict=True):
            _store(answer, response, analysis, model.version, now)
    return list(Comment.objects.filter(response=response).order_by("pk"))

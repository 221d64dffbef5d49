"""Spanish comments get a sentiment from the Spanish lexicon, not the English model's guess."""

from __future__ import annotations

import pytest

from surveys.analysis import analyse
from surveys.spanish import is_spanish, lexicon_probabilities

IMPROVE = "¿Qué podríamos hacer mejor?"
GOOD = "¿Qué salió bien?"


@pytest.mark.parametrize(
    ("text", "question", "sentiment"),
    [
        ("La doctora fue muy amable y me explicó todo.", GOOD, "positive"),
        ("Todo excelente, gracias.", GOOD, "positive"),
        ("Nada, todo estuvo bien.", IMPROVE, "positive"),
        ("La recepcionista fue grosera.", IMPROVE, "negative"),
        ("El personal no fue amable.", GOOD, "negative"),  # negation flips the cue
        ("Esperé dos horas y nadie me dio información.", IMPROVE, "negative"),
        ("La factura fue mucho más alta de lo que me dijeron.", None, "negative"),
        ("Muy buena atención pero la espera fue larga.", None, "mixed"),
    ],
)
def test_spanish_sentiment(text, question, sentiment):
    assert analyse(text, question).sentiment == sentiment


def test_spanish_safety_report_is_negative_and_flagged():
    result = analyse("Me dieron el medicamento equivocado y nadie me explicó nada.", IMPROVE)
    assert result.sentiment == "negative" and result.safety


def test_language_detection_and_no_cues():
    assert is_spanish("la cita fue a tiempo")
    assert not is_spanish("the appointment was on time")
    assert lexicon_probabilities("la cita del martes", "general") is None


def test_english_comments_keep_the_trained_model():
    assert analyse("The doctor was lovely and explained everything.", GOOD).sentiment == (
        "positive"
    )
    assert analyse("Waited two hours, rude receptionist.", IMPROVE).sentiment == "negative"

"""Pure tests of feedback analysis (no database): question awareness, themes, safety, the model.

Run alone with:
    python -m pytest -p no:django -p no:cacheprovider tests/surveys/test_analysis.py
"""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
from textblob import TextBlob

from surveys import analysis
from surveys.analysis import Analysis, FeedbackModel, analyse, analyse_many, question_kind
from surveys.training import (
    Featuriser,
    _docs,
    _sentiment_model,
    is_held_out,
    load_rows,
    main,
    sentiment_class,
)

IMPROVE = "What could we do better?"
GOOD = "What was good about your visit?"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What could we do better?", "improve"),
        ("How could we improve?", "improve"),
        ("Is there anything we should change?", "improve"),
        ("What was good?", "good"),
        ("What did we do well?", "good"),
        ("FFT Why?", "general"),
        ("Please describe anything you were satisfied and/or dissatisfied with", "general"),
        (None, "general"),
        ("", "general"),
    ],
)
def test_question_kind(question, kind):
    assert question_kind(question) == kind


@pytest.mark.parametrize("text", ["Nothing", "Nothing.", "nothing really", "None!", "No"])
def test_nothing_to_improve_is_praise(text):
    result = analyse(text, IMPROVE)
    assert result.sentiment == "positive"
    assert result.score > 0


def test_nothing_was_good_is_a_complaint():
    assert analyse("Nothing.", GOOD).sentiment == "negative"


def test_improvement_suggestion_is_not_positive():
    result = analyse("Better communication", IMPROVE)
    assert result.textblob_polarity > 0  # the baseline's mistake this analyser exists to fix
    assert result.sentiment != "positive"
    assert "communication" in result.theme_names


def test_everything_to_improve_is_negative():
    assert analyse("Everything.", IMPROVE).sentiment == "negative"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("The staff were wonderful, kind and very professional. Thank you!", "positive"),
        ("Rude receptionist and I waited two hours. Appalling service.", "negative"),
        ("The doctor did not listen to me at all.", "negative"),
    ],
)
def test_clear_sentiment(text, label):
    assert analyse(text).sentiment == label


def test_probabilities_and_score_are_consistent():
    result = analyse("Lovely nurses but the car park was full.")
    assert set(result.probabilities) == {"negative", "mixed", "positive"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    p = result.probabilities
    assert result.score == pytest.approx(p["positive"] - p["negative"], abs=1e-3)
    assert -1.0 <= result.score <= 1.0


def test_textblob_polarity_is_textblobs_own():
    text = "Great doctor, terrible parking."
    assert analyse(text).textblob_polarity == round(TextBlob(text).sentiment.polarity, 4)


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("I waited over an hour past my appointment time.", "wait_time"),
        ("The receptionist was rude and dismissive.", "staff_manner"),
        ("Nobody explained my test results to me.", "communication"),
        ("Impossible to book an appointment, always on hold.", "access"),
        ("The doctor was thorough and the treatment worked.", "clinical_care"),
        ("The toilets were dirty and the waiting room smelled.", "environment"),
        ("I got a surprise bill for $300 even though my insurance covers it.", "billing"),
        ("My copay was charged twice.", "billing"),
        ("They overcharged me and sent my balance to collections.", "billing"),
    ],
)
def test_themes(text, theme):
    assert theme in analyse(text).theme_names


def test_nurse_in_charge_is_not_billing():
    assert "billing" not in analyse("The nurse in charge paid attention to everything.").theme_names


def test_each_theme_has_its_own_sentiment():
    result = analyse("The nurses were so kind and caring but I waited three hours to be seen.")
    themes = {t.name: t for t in result.themes}
    assert themes["staff_manner"].score > themes["wait_time"].score
    assert themes["staff_manner"].sentiment == "positive"
    assert themes["wait_time"].sentiment in ("negative", "mixed")
    assert "kind" in themes["staff_manner"].keywords


@pytest.mark.parametrize(
    "text",
    [
        "The nurse was lovely but I was given the wrong medication.",
        "My father fell in the waiting room and nobody helped him up.",
        "I did not feel safe during the examination.",
        "A member of staff was verbally abusive to my daughter.",
        "They prescribed the wrong dose and I had an allergic reaction.",
        "The room was unsafe for a wheelchair.",
    ],
)
def test_safety_flag_rules(text):
    result = analyse(text)
    assert result.safety
    assert "safety" in result.flags
    assert "safety" in result.theme_names


def test_safety_flag_does_not_depend_on_sentiment():
    # Glowing overall, yet a fall must still reach the manager.
    result = analyse("Wonderful caring staff, thank you so much, even though I had a fall there.")
    assert result.sentiment == "positive"
    assert result.safety


@pytest.mark.parametrize(
    "text",
    [
        "I felt very safe with the paramedics.",
        "I nearly fell asleep in the waiting room, it was so calm.",
        "Friendly staff, short wait.",
        "I never felt unsafe.",
    ],
)
def test_no_safety_flag(text):
    assert not analyse(text).safety


def test_feeling_safe_is_a_positive_safety_theme():
    theme = {t.name: t for t in analyse("They made me feel safe.").themes}["safety"]
    assert theme.sentiment == "positive"


@pytest.mark.parametrize("text", ["", "   ", "-", "Did not answer", "N/A"])
def test_empty_answers_are_neutral_without_themes(text):
    result = analyse(text, IMPROVE)
    assert result.sentiment == "neutral"
    assert result.score == 0.0
    assert result.themes == [] and result.flags == []


def test_spanish_text_does_not_crash():
    result = analyse("La doctora fue muy amable, pero esperé dos horas. ¡Qué lástima!", GOOD)
    assert isinstance(result, Analysis)
    assert result.sentiment in ("positive", "neutral", "mixed", "negative")


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("Esperé más de una hora y nadie me explicó el retraso.", "wait_time"),
        ("La recepcionista fue grosera y no me quiso ayudar.", "staff_manner"),
        ("Me cobraron dos veces la misma consulta.", "billing"),
        ("Me dieron el medicamento equivocado.", "safety"),
    ],
)
def test_spanish_keywords_for_us_clinics(text, theme):
    assert theme in analyse(text).theme_names


def test_spanish_question_awareness_and_safety():
    assert question_kind("¿Qué podemos mejorar?") == "improve"
    assert analyse("Nada, todo bien.", "¿Qué podemos mejorar?").sentiment == "positive"
    assert analyse("Me dieron el medicamento equivocado.").safety
    assert analyse("La recepcionista fue grosera y no me quiso ayudar.").sentiment == "negative"


def test_odd_input_does_not_crash():
    for text in ["😀😀😀", "!!!???", "a" * 5000, "12345", "<script>alert(1)</script>", "\x00"]:
        assert isinstance(analyse(text), Analysis)


def test_deterministic_and_batch_equals_single():
    items = [
        ("Nothing", IMPROVE),
        ("Long wait but lovely staff.", None),
        "Parking was awful.",
        ("The bill was wrong again.", "Any other comments?"),
    ]
    batch = analyse_many(items)
    single = [analyse(i) if isinstance(i, str) else analyse(*i) for i in items]
    assert batch == single == analyse_many(items)


def test_model_json_loads_without_pickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model must never be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    raw = analysis.MODEL_PATH.read_bytes()
    assert raw[:1] == b"{"  # JSON, not a pickle stream (b"\x80")
    assert len(raw) < 5_000_000
    spec = json.loads(raw)
    assert spec["format"] == analysis.MODEL_FORMAT
    model = FeedbackModel(spec)
    assert model.classes == ["negative", "mixed", "positive"]
    assert analyse("Great care", model=model).sentiment == "positive"


def test_model_rejects_other_formats():
    with pytest.raises(ValueError):
        FeedbackModel({"format": "pickle"})


# ---------------------------------------------------------------- training on synthetic data
STAFF, TIMELY = "Staff manner & personal attributes", "Timeliness of care"
APPOINTMENTS, CLEAN = "Appointment arrangements", "Cleanliness, tidiness & infection control"
SYNTHETIC = [
    ("The staff were kind and friendly, thank you", "What was good?", 1, STAFF),
    ("Excellent care, very professional team", "FFT Why?", 1, STAFF),
    ("Nothing, everything was perfect", "How could we improve?", 1, ""),
    ("Quick response and lovely nurses", "FFT Why?", 2, TIMELY),
    ("Waited four hours, terrible", "FFT Why?", 5, TIMELY),
    ("Rude receptionist and nobody listened", "FFT Why?", 4, STAFF),
    ("The wait was too long to get an appointment", "How could we improve?", 4, APPOINTMENTS),
    ("Good doctor but the ward was dirty", "FFT Why?", 3, CLEAN),
    ("Helpful but slow", "FFT Why?", 3, TIMELY),
    ("Did not answer", "FFT Why?", "", ""),
    ("-", "FFT Why?", "", ""),
]  # fmt: skip


def _write_csv(path, copies: int = 6) -> None:
    cols = ["FFT answer", "FFT question", "Comment sentiment", "Date"] + sorted(
        {c for *_, c in SYNTHETIC if c}
    )
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        for i in range(copies):
            for text, question, label, theme in SYNTHETIC:
                row = {"FFT answer": f"{text} {'!' * i}", "FFT question": question}
                row.update(
                    {"Comment sentiment": label, "Date": "03/04/2022" if i % 2 else "2022-04-03"}
                )
                if theme:
                    row[theme] = "1"
                writer.writerow(row)


def test_load_rows_skips_placeholders_and_maps_themes(tmp_path):
    path = tmp_path / "tiny.csv"
    _write_csv(path, copies=1)
    rows = load_rows(path)
    assert len(rows) == 9
    by_text = {r.text: r for r in rows}
    assert by_text["Waited four hours, terrible "].themes == {"wait_time"}
    assert by_text["Waited four hours, terrible "].sentiment == 5
    assert sentiment_class(3) == "mixed" and sentiment_class(2) == "positive"


def test_held_out_split_is_deterministic_and_about_a_quarter():
    letters = "abcdefghijklmnop"
    texts = [f"comment {a}{b}{c}" for a in letters for b in letters for c in letters]
    first = [is_held_out(t) for t in texts]
    assert first == [is_held_out(t) for t in texts]
    assert 0.22 < sum(first) / len(first) < 0.28
    assert is_held_out("Nothing.") == is_held_out("  nothing. ")
    # Digits are folded, so "waited 2 hours" and "waited 3 hours" stay on one side.
    assert is_held_out("waited 2 hours") == is_held_out("waited 3 hours")


def test_training_exports_json_matching_scikit_learn(tmp_path):
    pytest.importorskip("sklearn")
    data, out = tmp_path / "tiny.csv", tmp_path / "model.json"
    _write_csv(data)
    assert main(["--data", str(data), "--out", str(out), "--all-rows"]) == 0
    model = FeedbackModel(json.loads(out.read_text(encoding="utf-8")))

    # The runtime (numpy only) must reproduce scikit-learn's probabilities on the same features.
    rows = [r for r in load_rows(data) if r.sentiment is not None]
    docs = _docs(rows)
    feats = Featuriser()
    clf = _sentiment_model(2.0).fit(
        feats.fit_transform(docs), [sentiment_class(r.sentiment) for r in rows]
    )
    expected = clf.predict_proba(feats.transform(docs))
    order = [list(clf.classes_).index(c) for c in model.classes]
    for (norm, kind, raw), want in zip(docs, expected, strict=True):
        probs, themes = model.predict(norm, kind, *analysis.textblob_sentiment(raw))
        assert np.allclose([probs[c] for c in model.classes], want[order], atol=2e-3)
        assert themes.shape == (len(model.themes),)
    assert analyse("Waited four hours, terrible", model=model).sentiment == "negative"


def test_benchmark_skips_without_data_and_reports_json(tmp_path, capsys):
    from bench import sentiment as bench

    assert bench.main(["--data", str(tmp_path / "missing.csv")]) == 0
    assert "skipping" in capsys.readouterr().out

    data = tmp_path / "tiny.csv"
    _write_csv(data, copies=2)
    assert bench.main(["--data", str(data), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    reports = [json.loads(line) for line in lines[-2:]]
    assert [r["analyser"] for r in reports] == ["textblob", "clinic-comms"]
    keys = {"binary_macro_f1", "neg_recall", "neg_precision", "three_class_macro_f1"}
    assert keys | {"theme_macro_f1", "per_second"} <= set(reports[1])
    assert reports[0]["theme_macro_f1"] is None
    assert 0.0 <= reports[1]["binary_macro_f1"] <= 1.0

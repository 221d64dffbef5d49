"""Train the feedback model on labelled comments and export it as JSON.

    python -m surveys.training --data ../shared/data/nhs_fft/dev.csv \
        --out surveys/model/feedback_model.json

Needs scikit-learn (a dev dependency); the exported JSON is applied by ``surveys.analysis`` with
numpy alone. Only the training part of the deterministic split (``is_held_out``) is used, so the
held-out quarter stays untouched for ``bench/sentiment.py``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from surveys import analysis

# Our themes -> the NHS qualitative framework v6 columns that mean the same thing. Billing has no
# counterpart (NHS care is free at the point of use) and is left to keyword rules.
NHS_THEME_MAP: dict[str, tuple[str, ...]] = {
    "wait_time": ("Timeliness of care",),
    "staff_manner": ("Staff manner & personal attributes",),
    "communication": (
        "Unspecified communication",
        "Staff listening, understanding & involving patients",
        "Information directly from staff during care",
        "Information provision & guidance",
        "Being kept informed, clarity & consistency of information",
    ),
    "access": ("Contacting services", "Appointment arrangements", "Appointment method"),
    "clinical_care": (
        "Competence & training",
        "Pain management",
        "Diagnosis & triage",
        "Referals & continuity of care",
        "Discharge",
        "Care plans",
        "Supplying & understanding medication",
        "Impact of treatment/ care",
        "Admission",
    ),
    "environment": (
        "Cleanliness, tidiness & infection control",
        "Environment & Facilities",
        "Food & drink provision & facilities",
        "Sensory experience",
        "Electronic entertainment",
        "Parking",
    ),
    "safety": ("Feeling safe", "Safeguarding concerns?"),
}
# Themes with a learned head; safety has too few NHS examples (about 30) and stays rule-based.
LEARNED_THEMES = ("wait_time", "staff_manner", "communication", "access", "clinical_care",
                  "environment")  # fmt: skip
SPLIT_SALT = "clinic-comms/nhs-fft-split/v1"
# Chosen by 5-fold cross-validation on the training part only (python -m surveys.training --tune).
SENTIMENT_C = 2.0
THEME_C = 8.0
WORD_MIN_DF = 2
CHAR_MIN_DF = 3


@dataclass(frozen=True)
class Row:
    """One comment: text, the question it answered, its human label and its gold themes."""

    text: str
    question: str
    sentiment: int | None  # 1 very positive .. 5 very negative; 3 = mixed; None = unlabelled
    themes: frozenset[str] = field(default_factory=frozenset)


def has_content(text: str) -> bool:
    """False for the file's placeholders: empty, "-", "Did not answer"."""
    return analysis._PLACEHOLDER.match(analysis.normalise(text)) is None


def is_held_out(text: str) -> bool:
    """Deterministic ~25% held-out split, by a hash of the normalised comment: identical comments
    ("Nothing.") land on the same side, so memorised duplicates cannot inflate the held-out score.
    """
    digest = hashlib.sha256(f"{SPLIT_SALT}|{analysis.normalise(text)}".encode()).digest()
    return digest[0] % 4 == 0


def sentiment_class(label: int) -> str:
    """NHS 1-5 scale -> our classes: 1-2 positive, 3 mixed (or neutral), 4-5 negative."""
    return "positive" if label <= 2 else "mixed" if label == 3 else "negative"


def load_rows(path: str | Path) -> list[Row]:
    """Read an NHS-FFT-shaped CSV; keeps rows with a real comment (labelled or not)."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for rec in csv.DictReader(fh):
            text = rec.get("FFT answer") or ""
            if not has_content(text):
                continue
            raw = (rec.get("Comment sentiment") or "").strip()
            label = int(float(raw)) if raw and raw.replace(".", "", 1).isdigit() else None
            label = label if label in (1, 2, 3, 4, 5) else None
            themes = frozenset(
                ours
                for ours, cols in NHS_THEME_MAP.items()
                if any((rec.get(c) or "").strip() in ("1", "1.0") for c in cols)
            )
            rows.append(Row(text, rec.get("FFT question") or "", label, themes))
    return rows


Doc = tuple[str, str, str]  # normalised text, question kind, raw text


def _word_analyzer(doc: Doc) -> list[str]:
    return analysis.word_features(doc[0], doc[1])


def _char_analyzer(doc: Doc) -> list[str]:
    return analysis.char_features(doc[0])


def _docs(rows: Sequence[Row]) -> list[Doc]:
    return [
        (analysis.normalise(r.text), analysis.question_kind(r.question), r.text.strip())
        for r in rows
    ]


def _dense(docs: list[Doc]) -> np.ndarray:
    # TextBlob sees the raw text at runtime too (its baseline polarity is reported as is).
    return np.asarray(
        [analysis.dense_features(n, k, *analysis.textblob_sentiment(raw)) for n, k, raw in docs]
    )


class Featuriser:
    """The training-time twin of ``FeedbackModel``'s feature code, built on scikit-learn."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.word = TfidfVectorizer(analyzer=_word_analyzer, min_df=WORD_MIN_DF, sublinear_tf=True)
        self.char = TfidfVectorizer(analyzer=_char_analyzer, min_df=CHAR_MIN_DF, sublinear_tf=True)

    def fit_transform(self, docs: list[Doc]):
        from scipy import sparse

        w, c = self.word.fit_transform(docs), self.char.fit_transform(docs)
        return sparse.hstack([w, c, _dense(docs)]).tocsr()

    def transform(self, docs: list[Doc]):
        from scipy import sparse

        w, c = self.word.transform(docs), self.char.transform(docs)
        return sparse.hstack([w, c, _dense(docs)]).tocsr()


def _sentiment_model(c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced")


def _theme_model(c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced")


def _best_threshold(y: np.ndarray, p: np.ndarray, rule: np.ndarray) -> tuple[float, float]:
    """Threshold maximising F1 of (model >= t) OR keyword rule, as used at runtime."""
    best = (0.5, -1.0)
    for t in np.arange(0.2, 0.96, 0.025):
        pred = (p >= t) | rule
        tp = int((pred & y).sum())
        f1 = 2 * tp / max(int(pred.sum()) + int(y.sum()), 1)
        if f1 > best[1]:
            best = (round(float(t), 3), f1)
    return best


def _rule_hits(docs: list[Doc], theme: str) -> np.ndarray:
    return np.array([bool(analysis.THEME_RULES[theme].search(d[0])) for d in docs])


def _fold_ids(n: int, k: int = 5) -> np.ndarray:
    return np.random.default_rng(0).permutation(n) % k


def tune_thresholds(rows: Sequence[Row], docs, k: int = 5, report=print) -> list[float]:
    """Per-theme thresholds from out-of-fold probabilities on the training rows only."""
    folds = _fold_ids(len(rows), k)
    ys = {t: np.array([t in r.themes for r in rows]) for t in LEARNED_THEMES}
    oof = {t: np.zeros(len(rows)) for t in LEARNED_THEMES}
    for f in range(k):
        tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        feats = Featuriser()
        x_tr = feats.fit_transform([docs[i] for i in tr])
        x_te = feats.transform([docs[i] for i in te])
        for theme in LEARNED_THEMES:
            if 0 < ys[theme][tr].sum() < len(tr):
                model = _theme_model(THEME_C).fit(x_tr, ys[theme][tr])
                oof[theme][te] = model.predict_proba(x_te)[:, 1]
    thresholds = []
    for theme in LEARNED_THEMES:
        y = ys[theme]
        if y.sum() < 2 * k:
            thresholds.append(0.5)  # too few examples to tune; the rules carry this theme
            continue
        rule = _rule_hits(docs, theme)
        t, f1 = _best_threshold(y, oof[theme], rule)
        t_model, f1_model = _best_threshold(y, oof[theme], np.zeros_like(rule))
        rule_f1 = 2 * int((rule & y).sum()) / max(int(rule.sum()) + int(y.sum()), 1)
        report(f"  {theme:14s} n={int(y.sum()):4d} model+rules F1={f1:.3f} (t={t}) "
               f"model F1={f1_model:.3f} (t={t_model}) rules F1={rule_f1:.3f}")  # fmt: skip
        thresholds.append(t)
    return thresholds


def train(rows: Sequence[Row], *, tune: bool = True, report=print) -> dict:
    """Fit the sentiment and theme heads on ``rows``; return the JSON-ready model spec."""
    labelled = [r for r in rows if r.sentiment is not None]
    if not labelled:
        raise ValueError("no labelled comments to train on")
    docs = _docs(labelled)
    feats = Featuriser()
    x = feats.fit_transform(docs)
    y = np.array([sentiment_class(r.sentiment) for r in labelled])
    sent = _sentiment_model(SENTIMENT_C).fit(x, y)
    order = [list(sent.classes_).index(c) for c in analysis.SENTIMENT_CLASSES if c in sent.classes_]
    if len(order) != len(analysis.SENTIMENT_CLASSES):
        raise ValueError("training data needs positive, mixed and negative comments")
    thresholds = tune_thresholds(labelled, docs, report=report) if tune else [0.5] * 6
    theme_coef, theme_bias = [], []
    for theme in LEARNED_THEMES:
        yt = np.array([theme in r.themes for r in labelled])
        if yt.all() or not yt.any():
            theme_coef.append(np.zeros(x.shape[1]))
            theme_bias.append(-10.0 if not yt.any() else 10.0)
            continue
        m = _theme_model(THEME_C).fit(x, yt)
        theme_coef.append(m.coef_[0])
        theme_bias.append(float(m.intercept_[0]))

    def _round(a) -> list:
        return np.round(np.asarray(a, dtype=float), 5).tolist()

    def _block(vec) -> dict:
        vocab = vec.get_feature_names_out().tolist()
        return {"vocabulary": vocab, "idf": _round(vec.idf_)}

    spec = {
        "format": analysis.MODEL_FORMAT,
        "version": "",
        "trained_on": {"rows": len(labelled), "split": "train part of is_held_out()"},
        "blocks": {"word": _block(feats.word), "char": _block(feats.char)},
        "dense": list(analysis.DENSE_NAMES),
        "sentiment": {
            "classes": list(analysis.SENTIMENT_CLASSES),
            "coef": _round(sent.coef_[order]),
            "intercept": _round(sent.intercept_[order]),
        },
        "themes": {
            "names": list(LEARNED_THEMES),
            "coef": _round(theme_coef),
            "intercept": _round(theme_bias),
            "thresholds": thresholds,
        },
    }
    # A digest of the content, not a date: retraining on the same data gives the same file.
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    spec["version"] = f"nhs-fft-{digest}"
    return spec


def cross_validate_sentiment(rows: Sequence[Row], grid: Sequence[float], report=print) -> None:
    """Report binary and 3-class macro-F1 by 5-fold CV on training rows, for choosing C."""
    from sklearn.metrics import f1_score

    labelled = [r for r in rows if r.sentiment is not None]
    docs = _docs(labelled)
    y = np.array([sentiment_class(r.sentiment) for r in labelled])
    folds = _fold_ids(len(labelled))
    for c in grid:
        pred = np.empty(len(labelled), dtype=object)
        binary = np.empty(len(labelled), dtype=object)
        for f in range(5):
            tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
            feats = Featuriser()
            m = _sentiment_model(c).fit(feats.fit_transform([docs[i] for i in tr]), y[tr])
            p = m.predict_proba(feats.transform([docs[i] for i in te]))
            cls = list(m.classes_)
            pred[te] = m.classes_[p.argmax(1)]
            neg, pos = p[:, cls.index("negative")], p[:, cls.index("positive")]
            binary[te] = np.where(neg > pos, "negative", "positive")
        keep = y != "mixed"
        report(f"  C={c:<6} binary F1={f1_score(y[keep], binary[keep], average='macro'):.3f} "
               f"3-class F1={f1_score(y, pred.astype(str), average='macro'):.3f}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train on the non-held-out rows of ``--data`` and write ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="NHS-FFT-shaped CSV")
    parser.add_argument("--out", default=str(analysis.MODEL_PATH))
    parser.add_argument("--all-rows", action="store_true", help="no held-out split (new data)")
    parser.add_argument("--tune", action="store_true", help="print a CV grid over C first")
    args = parser.parse_args(argv)
    rows = load_rows(args.data)
    if not args.all_rows:
        rows = [r for r in rows if not is_held_out(r.text)]
    print(f"training on {sum(r.sentiment is not None for r in rows)} labelled comments")
    if args.tune:
        cross_validate_sentiment(rows, (0.5, 2.0, 8.0, 32.0))
    spec = train(rows, tune=len(rows) >= 200)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec, separators=(",", ":")), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

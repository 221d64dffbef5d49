"""Feedback analysis: sentiment, healthcare themes and safety flags for free-text survey answers.

Pure core (no Django, no database): plain strings in, frozen dataclasses out. A small TF-IDF +
logistic-regression model trained on NHS Friends and Family Test comments (see
``surveys/model/README.md``) is stored as JSON and applied here with numpy; rules add what the
data cannot teach: which question was asked, US billing vocabulary and safety incidents.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from textblob.en import sentiment as _pattern_sentiment

from surveys.spanish import is_spanish, lexicon_probabilities

QuestionKind = Literal["improve", "good", "general"]
MODEL_PATH = Path(__file__).parent / "model" / "feedback_model.json"
MODEL_FORMAT = "clinic-comms-feedback-model/1"
SENTIMENT_CLASSES = ("negative", "mixed", "positive")
THEMES = (
    "wait_time",
    "staff_manner",
    "communication",
    "access",
    "clinical_care",
    "environment",
    "billing",
    "safety",
)


@dataclass(frozen=True)
class Theme:
    """One theme found in a comment, with the sentiment of the clauses that mention it."""

    name: str
    sentiment: str  # 'positive' | 'neutral' | 'mixed' | 'negative'
    score: float  # P(positive) - P(negative) of the theme's clauses, in [-1, 1]
    confidence: float  # 0..1; 1.0 when a keyword rule matched
    keywords: tuple[str, ...] = ()  # words that triggered the rule, for the dashboard


@dataclass(frozen=True)
class Analysis:
    """The result of analysing one free-text answer."""

    sentiment: str  # 'positive' | 'neutral' | 'mixed' | 'negative'
    score: float  # P(positive) - P(negative), in [-1, 1]
    probabilities: dict[str, float]  # 'negative', 'mixed', 'positive'; sums to 1
    question_kind: str  # 'improve' | 'good' | 'general'
    textblob_polarity: float  # TextBlob's own polarity in [-1, 1], kept as the baseline
    themes: list[Theme] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # e.g. ['safety']

    @property
    def safety(self) -> bool:
        """True when the comment reports something that may have put a patient at risk."""
        return "safety" in self.flags

    @property
    def theme_names(self) -> list[str]:
        """Names of the themes found, in the order of ``THEMES``."""
        return [t.name for t in self.themes]


# ---------------------------------------------------------------- text features (shared with
# training so that the JSON model sees exactly the features it was fitted on)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[.,!?;:()]")
_PUNCT = frozenset(".,!?;:()")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NEGATORS = _words(
    "not no never nothing nobody none neither nor cannot without hardly barely nunca nadie nada sin"
)
_POS_LEX = _words(
    """excellent brilliant amazing fantastic great good wonderful superb outstanding lovely kind
    caring friendly helpful polite professional thorough prompt efficient reassuring respectful
    compassionate attentive thank thanks thankful grateful pleased happy satisfied quick quickly
    fast punctual smooth easy clean comfortable listened explained understanding supportive
    knowledgeable informative welcoming courteous gentle calm perfect best recommend appreciated
    nice pleasant warm empathetic safe helped supported supportive encouraging accommodating
    organised organized seamless impressed fabulous exceptional marvellous informative valued
    amable excelente atento atenta gracias rápido rápida limpio limpia bueno buena bien paciencia
    claridad perfecto contento contenta satisfecho satisfecha respetuoso respetuosa maravilloso"""
)
_NEG_LEX = _words(
    """rude dismissive ignored unhelpful unprofessional incompetent arrogant condescending
    disrespectful impatient abrupt uncaring terrible awful appalling disgusting horrible poor bad
    worst useless shocking dreadful unacceptable disappointed disappointing frustrated frustrating
    angry upset delay delays delayed late slow waited waiting wait waste cancelled canceled lost
    confusing confused misdiagnosed overcharged expensive dirty filthy unsafe neglected painful
    complaint complain nobody difficult struggle struggled rushed forgot forgotten unanswered
    hours ages billed denied refused runaround voicemail unreturned worse lack lacking failed
    failure mistake mistakes error wrong lied unfair shouted yelled poorly inadequate chaotic
    disorganised disorganized incorrect missed stuck grosero grosera descortés mal malo mala
    sucio sucia lento lenta retraso demora esperé pésimo pésima peor molesto frustrante demasiado
    larga tardaron tardó ignoraron"""
)


def normalise(text: str) -> str:
    """Lower-case, unify apostrophes, fold digits to '0' and squeeze white space."""
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    return " ".join(re.sub(r"\d+", "0", text).split())


def tokens(norm: str) -> list[str]:
    """Word and punctuation tokens of normalised text."""
    return _TOKEN.findall(norm)


def _is_negator(tok: str) -> bool:
    return tok in _NEGATORS or tok.endswith("n't") or tok in ("dont", "didnt", "cant", "wasnt")


def word_features(norm: str, kind: str) -> list[str]:
    """Word features: unigrams (marked '!' within 3 words after a negator), bigrams, and
    unigrams conjoined with the question kind ("nothing" answers "improve?" and "good?" oppositely).
    """
    toks = tokens(norm)
    feats = [f"q:{kind}"]
    scope = 0
    prev = ""
    for tok in toks:
        if tok in _PUNCT:
            scope, prev = 0, ""
            continue
        uni = f"!{tok}" if scope > 0 else tok
        feats.append(uni)
        feats.append(f"{kind}:{uni}")
        if prev:
            feats.append(f"{prev} {tok}")
        prev = tok
        scope = 3 if _is_negator(tok) else max(scope - 1, 0)
    return feats


def char_features(norm: str) -> list[str]:
    """Character 3-5-grams inside word boundaries: robust to typos and unseen inflections."""
    return [
        w[i : i + n] for w in (f" {word} " for word in norm.split()) for n in (3, 4, 5)
        for i in range(len(w) - n + 1)
    ]  # fmt: skip


DENSE_NAMES = tuple(
    f"{base}{suffix}"
    for suffix in ("", "@improve", "@good")
    for base in ("textblob_polarity", "textblob_subjectivity", "lexicon_pos", "lexicon_neg")
)


def dense_features(norm: str, kind: str, polarity: float, subjectivity: float) -> list[float]:
    """Lexicon and TextBlob scores, repeated per question kind so the model can learn that
    "Better communication" (TextBlob +0.5) answering "what could we improve?" is not praise."""
    pos = neg = 0
    scope = 0
    for tok in tokens(norm):
        if tok in _PUNCT:
            scope = 0
            continue
        hit = 1 if tok in _POS_LEX else -1 if tok in _NEG_LEX else 0
        if scope > 0:
            hit = -hit  # "not helpful" counts against, "never rude" for
        pos += hit > 0
        neg += hit < 0
        scope = 3 if _is_negator(tok) else max(scope - 1, 0)
    base = [polarity, subjectivity, math.log1p(pos), math.log1p(neg)]
    zero = [0.0] * 4
    return base + (base if kind == "improve" else zero) + (base if kind == "good" else zero)


# ---------------------------------------------------------------- question kinds and rules
_IMPROVE_Q = re.compile(
    r"improv|better|differently|change|suggest|wrong|dissatisf|could we|should we|worst|mejor",
    re.I,
)
_GOOD_Q = re.compile(r"good|well|like|best|enjoy|positive|prais|satisf|bien|gust", re.I)
_PLACEHOLDER = re.compile(
    r"^(?:|-+|\.+|n/?a|did not answer|no comments?|sin comentarios?|test)\W*$"
)
_NOTHING = re.compile(
    r"^(?:nothing|none|no|nope|nada|not really|nothing (?:really|at all|else|to add|to improve)"
    r"|no improvements?(?: needed| necessary)?|(?:i )?can(?:no|')?t think of anything"
    r"|nothing i can think of|keep (?:it )?up the good work|all good|no complaints?"
    r"|nada(?:,? todo (?:bien|perfecto))?|todo bien)\W*$"
)
_EVERYTHING = re.compile(r"^(?:everything|all of it|the lot|todo)\W*$")
_SUGGESTION = re.compile(
    r"^(?:more|better|less|fewer|faster|quicker|shorter|improve\w*|should|could|need|needs"
    r"|would|please|make|provide|reduce|increase|stop|have|give|listen|answer|communicat\w*"
    r"|m[aá]s|mejor|menos)\b"
)


def question_kind(question: str | None) -> QuestionKind:
    """Classify a survey question: 'improve' (what could we do better?), 'good' (what was good?)
    or 'general' (why did you give that rating?, or no question at all)."""
    if not question:
        return "general"
    q = question.lower()
    if "satisfied and/or dissatisfied" in q or "why" in q:
        return "general"
    if _IMPROVE_Q.search(q):
        return "improve"
    return "good" if _GOOD_Q.search(q) else "general"


def _kw(words: str) -> re.Pattern[str]:
    # Keyword lists are written for readability; \b keeps "bill" from matching "billion".
    return re.compile(r"\b(?:" + "|".join(words.split()) + r")\b")


# Words chosen for their plain meaning in US and UK clinics, then pruned where the NHS training
# split showed them to mislead ("treated with respect" is manner, not clinical care).
THEME_RULES: dict[str, re.Pattern[str]] = {  # each list ends with its Spanish words
    "wait_time": _kw(
        r"wait(?:ed|ing|s)?(?!\s+(?:room|area)) delay(?:s|ed)? late on\s+time timely punctual"
        r" prompt(?:ly)? quick(?:ly|er)? slow(?:ly)? long\s+time took\s+(?:ages|forever|0\s+\w+)"
        r" running\s+behind straight\s+away queue\w* hours? minutes? response\s+time"
        r" esper(?:a|é|ar|ando|amos|aron) retras\w* demora\w* a\s+tiempo rápid\w* lent[oa]s?"
    ),
    "staff_manner": _kw(
        r"friendly kind(?:ness)? polite(?:ly)? rude(?:ly|ness)? caring uncaring compassion\w*"
        r" respect(?:ed|ful|fully)? disrespect\w* attitude manners? pleasant courteous"
        r" professional(?:ly|ism)? unprofessional dismissive empath\w* warm welcoming arrogant"
        r" condescending helpful unhelpful cheerful reassuring bedside\s+manner"
        r" amables? groser[oa]s? descort[eé]s atent[oa]s? respetuos[oa]s? simpátic[oa]s?"
        r" trato"
    ),
    "communication": _kw(
        r"explain\w* explanation\w* informed information inform listen\w* communicat\w*"
        r" updates? updated letters? clear(?:ly)? unclear advice interpreter translat\w*"
        r" answered\s+(?:all\s+)?(?:my|our)\s+questions portal understood"
        r" explic\w* inform(?:ó|aron|ación) escuch\w* comunicaci[oó]n"
    ),
    "access": _kw(
        r"appointments? book\w* schedul\w* reschedul\w* cancel\w* get\s+through phone\s+lines?"
        r" on\s+hold availability same\s+day walk.in slots? telehealth video\s+(?:call|visit)"
        r" after\s+hours new\s+patients? accept\w*\s+(?:new|my)"
        r" citas? llamadas?"
    ),
    "clinical_care": _kw(
        r"treatments? diagnos\w* misdiagnos\w* medications? medicines? prescri\w* tests?"
        r" results? examin\w* thorough surgery procedures? pain\s+relief follow.up care\s+plan"
        r" discharg\w* symptoms? scans? x.rays? blood\s+(?:test|work) referrals?"
        r" knowledgeable competent incompetent"
        r" tratamiento\w* diagn[oó]stic\w* medicamentos? medicinas? recetas?"
    ),
    "environment": _kw(
        r"clean\w* dirty filthy tidy untidy hygien\w* toilets? bathrooms? restrooms? smell\w*"
        r" nois\w* quiet rooms food meals? parking facilities seating decor"
        r" limpi\w* suci[oa]s? baños? estacionamiento"
    ),
    "billing": _kw(
        r"bill(?:s|ed|ing)? co.?pays? co.?insurance deductibles? insurance insurer overcharg\w*"
        r" (?<!in\s)charge[sd]? cost(?:s|ly)? price\w* fees? invoice\w* out.of.pocket expensive"
        r" afford\w* refund\w* collections? balance statements? in.network out.of.network"
        r" self.pay medicaid medicare payment\w* (?:paid|pay|paying)(?!\s+attention)"
        r" factura\w* cobr(?:o|ó|aron|an|ar) copago\w* deducible\w* aseguradora"
        r" seguro\s+(?:médico|de\s+salud)"
    ),
    "safety": _kw(
        r"safe(?:ty)? unsafe danger\w* harm\w* injur\w* fall(?:s|en)? fell falling abus\w*"
        r" assault\w* neglect\w* bull(?:y|ied|ying) threat(?:s|en|ened)? suicid\w* overdos\w*"
        r" negligen\w* malpractice safeguarding restrain\w* bruis\w* wrong\s+(?:medication"
        r"|medicine|dose|drug|patient|prescription|leg|arm|side) allergic\s+reaction"
        r" medication\s+errors?"
        r" caí(?:da)? cayó inseguro\w* peligro\w* abus\w* maltrat\w* negligencia"
        r" (?:medicamento|dosis)\s+equivocad[oa]"
    ),
}
# A safety *concern* (the flag) needs an incident word, or "safe" under a negation. Falls count
# even when they are why the patient called: a manager reading the flag list loses little.
_INCIDENT = _kw(
    r"unsafe danger(?:ous)? harm(?:ed|ful|ing)? self.harm injur\w* fall(?:s|en)? fell abus\w*"
    r" assault\w* neglect\w* bull(?:y|ied|ying) threat(?:s|en|ened)? suicid\w* overdos\w*"
    r" negligen\w* malpractice restrain\w* bruis\w* wrong\s+(?:medication|medicine|dose|drug"
    r"|patient|prescription|leg|arm|side) allergic\s+reaction medication\s+errors?"
    r" dropped\s+(?:me|him|her)"
    r" caí(?:da)? cayó inseguro\w* peligros[oa] maltrat\w* negligencia"  # Spanish
    r" (?:medicamento|dosis)\s+equivocad[oa]"
)
_NOT_INCIDENT = re.compile(
    r"\b(?:fell|fall(?:en)?|falling)\s+asleep\b|\bno\s+harm\b"
    r"|\b(?:not|never|no|without)\s+(?:\w+\s+)?(?:unsafe|in\s+danger|neglected|harmed|abused)\b"
)
_UNSAFE_NEGATED = re.compile(
    r"\b(?:not|never|didn't|did not|don't|do not|wasn't|was not)\s+(?:\w+\s+){0,2}safe\b"
    r"|\bno\s+(?:me\s+)?sent[ií]\w*\s+segur[oa]"
)
_CLAUSES = re.compile(r"(?<!\b(?:dr|mr|ms))[.!?;\n]+|\bbut\b|\bhowever\b|\balthough\b|\bthough\b")


def safety_concern(norm: str) -> bool:
    """Keyword rule, independent of the sentiment model, for reports of possible patient harm."""
    text = _NOT_INCIDENT.sub(" ", norm)
    return bool(_UNSAFE_NEGATED.search(text) or _INCIDENT.search(text))


# ---------------------------------------------------------------- the JSON model at runtime
class FeedbackModel:
    """TF-IDF + logistic regression heads, loaded from JSON (data only, never executable)."""

    def __init__(self, spec: dict) -> None:
        if spec.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} file: {spec.get('format')!r}")
        self.version: str = spec["version"]
        self.blocks: list[dict[str, int]] = []
        idfs = []
        offset = 0
        for name in ("word", "char"):
            block = spec["blocks"][name]
            self.blocks.append({feat: offset + i for i, feat in enumerate(block["vocabulary"])})
            idfs.append(np.asarray(block["idf"], dtype=np.float64))
            offset += len(block["vocabulary"])
        self._idf_all = np.concatenate(idfs)
        self.dense_offset = offset
        if tuple(spec["dense"]) != DENSE_NAMES:
            raise ValueError("model was trained with different dense features")
        self.themes: list[str] = spec["themes"]["names"]
        self.thresholds = np.asarray(spec["themes"]["thresholds"], dtype=np.float64)
        # One matrix for both heads: one row per feature, so scoring is a single gather + dot.
        self.weights = np.ascontiguousarray(
            np.hstack(
                [np.asarray(spec["sentiment"]["coef"]).T, np.asarray(spec["themes"]["coef"]).T]
            ),
            dtype=np.float64,
        )
        self.bias = np.concatenate([spec["sentiment"]["intercept"], spec["themes"]["intercept"]])
        self.classes: list[str] = spec["sentiment"]["classes"]
        if self.weights.shape != (offset + len(DENSE_NAMES), len(self.classes) + len(self.themes)):
            raise ValueError("model coefficients do not match its vocabulary")
        self.dense_weights = self.weights[self.dense_offset :]

    def scores(self, norm: str, kind: str, polarity: float, subjectivity: float) -> np.ndarray:
        """Raw decision values: sentiment classes first, then one per theme."""
        idx: list[int] = []
        tf: list[int] = []
        ends = []
        for index, feats in zip(
            self.blocks, (word_features(norm, kind), char_features(norm)), strict=True
        ):
            counts = Counter(feats)
            known = counts.keys() & index.keys()  # a C-level set operation: the hot spot
            idx += [index[f] for f in known]
            tf += [counts[f] for f in known]
            ends.append(len(idx))
        dense = np.asarray(dense_features(norm, kind, polarity, subjectivity))
        z = dense @ self.dense_weights + self.bias
        if not idx:
            return z
        cols = np.asarray(idx, dtype=np.intp)
        vals = (1.0 + np.log(np.asarray(tf, dtype=np.float64))) * self._idf_all[cols]
        for lo, hi in ((0, ends[0]), (ends[0], ends[1])):  # l2 norm per block, as in training
            norm2 = vals[lo:hi] @ vals[lo:hi]
            if norm2 > 0:
                vals[lo:hi] /= math.sqrt(norm2)
        order = cols.argsort()  # set order varies with PYTHONHASHSEED; float sums must not
        return vals[order] @ self.weights[cols[order]] + z

    def predict(
        self, norm: str, kind: str, polarity: float, subjectivity: float
    ) -> tuple[dict[str, float], np.ndarray]:
        """Sentiment probabilities (dict) and theme probabilities (array, order of ``themes``)."""
        z = self.scores(norm, kind, polarity, subjectivity)
        k = len(self.classes)
        e = np.exp(z[:k] - z[:k].max())
        probs = dict(zip(self.classes, (e / e.sum()).tolist(), strict=True))
        return probs, 1.0 / (1.0 + np.exp(-z[k:]))


@lru_cache(maxsize=4)
def load_model(path: str | Path = MODEL_PATH) -> FeedbackModel:
    """Load (once per process) the JSON model; a data file, so loading cannot run code."""
    with open(path, encoding="utf-8") as fh:
        return FeedbackModel(json.load(fh))


# ---------------------------------------------------------------- public API
def _label(probs: dict[str, float]) -> str:
    best = max(probs, key=probs.__getitem__)
    if best != "mixed":
        return best
    # The NHS "mixed" class also holds answers with no opinion; call those neutral.
    return "mixed" if min(probs["positive"], probs["negative"]) >= 0.15 else "neutral"


def textblob_sentiment(text: str) -> tuple[float, float]:
    """TextBlob's (polarity, subjectivity), the same numbers as ``TextBlob(text).sentiment``
    without building a namedtuple class per call (a fifth of the analyser's time)."""
    polarity, subjectivity = _pattern_sentiment(text)
    return polarity, subjectivity


def _sentiment(model: FeedbackModel, norm: str, kind: str) -> dict[str, float]:
    probs, _ = model.predict(norm, kind, *textblob_sentiment(norm))
    return probs


_LEANING = {
    "positive": {"negative": 0.05, "mixed": 0.1, "positive": 0.85},
    "negative": {"negative": 0.85, "mixed": 0.1, "positive": 0.05},
}


def analyse(
    text: str, question: str | None = None, *, model: FeedbackModel | None = None
) -> Analysis:
    """Analyse one free-text answer, given the question it answers (None when unknown)."""
    return _analyse(text, question_kind(question), model or load_model())


def _analyse(text: str, kind: str, model: FeedbackModel) -> Analysis:
    norm = normalise(text or "")
    if _PLACEHOLDER.match(norm):
        return Analysis("neutral", 0.0, {"negative": 0.0, "mixed": 1.0, "positive": 0.0}, kind, 0.0)
    polarity, subjectivity = textblob_sentiment(text.strip())
    probs, theme_probs = model.predict(norm, kind, polarity, subjectivity)
    if is_spanish(norm):
        # The model learned English; for Spanish the lexicon's reading is the better guess.
        probs = lexicon_probabilities(norm, kind) or probs
    label = _label(probs)
    # Rules for what one model trained on one data set cannot be trusted to learn for every
    # wording of every question: "Nothing" to "what could we improve?" is praise, to "what was
    # good?" a complaint; "Everything" the other way round.
    if kind != "general" and _NOTHING.match(norm):
        label = "positive" if kind == "improve" else "negative"
        probs = dict(_LEANING[label])
    elif kind != "general" and _EVERYTHING.match(norm):
        label = "negative" if kind == "improve" else "positive"
        probs = dict(_LEANING[label])
    elif kind == "improve" and label == "positive" and _SUGGESTION.match(norm):
        label = "mixed"  # "Better communication" asks for a change: not praise
    score = round(probs["positive"] - probs["negative"], 4)
    probs = {k: round(v, 4) for k, v in probs.items()}

    themes = _themes(model, norm, kind, theme_probs, probs, label)
    flags = ["safety"] if safety_concern(norm) else []
    if flags and not any(t.name == "safety" for t in themes):
        themes.append(Theme("safety", "negative", -1.0, 1.0))
    return Analysis(label, score, probs, kind, round(polarity, 4), themes, flags)


def _themes(
    model: FeedbackModel,
    norm: str,
    kind: str,
    theme_probs: np.ndarray,
    overall: dict[str, float],
    label: str,
) -> list[Theme]:
    learned = dict(zip(model.themes, theme_probs >= model.thresholds, strict=True))
    confidence = dict(zip(model.themes, theme_probs.tolist(), strict=True))
    clauses = [c.strip() for c in _CLAUSES.split(norm) if c.strip()]
    score = round(overall["positive"] - overall["negative"], 4)
    memo: dict[str, dict[str, float]] = {}
    found = []
    for name in THEMES:
        rule = THEME_RULES[name]
        hits = [c for c in clauses if rule.search(c)]
        if not hits and not learned.get(name, False):
            continue
        keywords = tuple(dict.fromkeys(m.group(0) for c in hits for m in rule.finditer(c)))
        t_label, t_score = label, score
        if hits and len(hits) < len(clauses):
            # Sentiment of the clauses about this theme ("kind staff but a long wait"), leaning
            # on the whole answer for clauses that state facts ("Waited 90 minutes. Awful.").
            key = ". ".join(hits)
            if key not in memo:  # themes often share a clause ("waited 2 hours for my appointment")
                memo[key] = _sentiment(model, key, kind)
            clause = memo[key]
            probs = {k: 0.7 * clause[k] + 0.3 * overall[k] for k in clause}
            t_label, t_score = _label(probs), round(probs["positive"] - probs["negative"], 4)
        conf = 1.0 if hits else round(confidence[name], 4)
        found.append(Theme(name, t_label, t_score, conf, keywords))
    return found


def analyse_many(
    items: Iterable[str | tuple[str, str | None]], *, model: FeedbackModel | None = None
) -> list[Analysis]:
    """Analyse many answers; each item is a text or a (text, question) pair. Loads the model and
    classifies each distinct question once, for throughput in batch jobs."""
    model = model or load_model()
    kinds: dict[str | None, str] = {}
    out = []
    for item in items:
        text, question = (item, None) if isinstance(item, str) else item
        kind = kinds.get(question)
        if kind is None:
            kind = kinds[question] = question_kind(question)
        out.append(_analyse(text, kind, model))
    return out

"""Sentiment for comments written in Spanish: a small healthcare lexicon with negation.

The trained model (surveys/model) learned from English NHS comments; on Spanish text it sees
mostly unknown words and TextBlob scores Spanish as neutral English, so its label is close to a
guess. For text that reads as Spanish, these rules give the sentiment instead. They are not
measured on a labelled Spanish set (none ships with the project): treat them as a floor, and
retrain with local labelled comments when there are some.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-záéíóúüñ]+")
_ES_FUNCTION = frozenset(
    [
        "el",
        "la",
        "los",
        "las",
        "de",
        "del",
        "que",
        "y",
        "en",
        "un",
        "una",
        "fue",
        "muy",
        "me",
        "mi",
        "nos",
        "por",
        "con",
        "para",
        "su",
        "sus",
        "es",
        "está",
        "estaba",
        "pero",
        "lo",
        "le",
        "les",
        "al",
        "se",
        "no",
        "nada",
        "nadie",
        "todo",
        "todos",
        "fueron",
        "mucho",
        "poco",
        "más",
        "menos",
        "cuando",
        "como",
        "hay",
        "había",
        "tuve",
        "tuvimos",
    ]
)
_EN_FUNCTION = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "of",
        "to",
        "in",
        "was",
        "were",
        "is",
        "it",
        "my",
        "me",
        "we",
        "our",
        "with",
        "for",
        "but",
        "not",
        "very",
        "they",
        "he",
        "she",
        "you",
        "this",
        "that",
        "at",
        "on",
        "have",
        "had",
    ]
)
_POSITIVE = frozenset(
    [
        "excelente",
        "excelentes",
        "bueno",
        "buena",
        "buenos",
        "buenas",
        "bien",
        "amable",
        "amables",
        "atento",
        "atenta",
        "atentos",
        "atentas",
        "rápido",
        "rápida",
        "rápidos",
        "puntual",
        "puntuales",
        "limpio",
        "limpia",
        "limpios",
        "limpias",
        "gracias",
        "agradecido",
        "agradecida",
        "agradezco",
        "encantado",
        "encantada",
        "contento",
        "contenta",
        "contentos",
        "satisfecho",
        "satisfecha",
        "satisfechos",
        "genial",
        "perfecto",
        "perfecta",
        "maravilloso",
        "maravillosa",
        "profesional",
        "profesionales",
        "recomiendo",
        "recomendaría",
        "recomendable",
        "cómodo",
        "cómoda",
        "cordial",
        "cordiales",
        "eficiente",
        "eficientes",
        "clara",
        "claro",
        "claras",
        "claros",
        "amabilidad",
        "respetuoso",
        "respetuosa",
        "fantástico",
        "fantástica",
        "increíble",
        "feliz",
        "tranquilo",
        "tranquila",
        "paciencia",
        "cariñoso",
        "cariñosa",
        "ayudaron",
        "ayudó",
        "resolvieron",
        "explicaron",
        "escucharon",
        "organizado",
        "organizada",
    ]
)
_NEGATIVE = frozenset(
    [
        "malo",
        "mala",
        "malos",
        "malas",
        "mal",
        "pésimo",
        "pésima",
        "pésimos",
        "terrible",
        "terribles",
        "horrible",
        "horribles",
        "grosero",
        "grosera",
        "groseros",
        "groseras",
        "descortés",
        "descorteses",
        "sucio",
        "sucia",
        "sucios",
        "sucias",
        "lento",
        "lenta",
        "lentos",
        "demora",
        "demoras",
        "demoraron",
        "retraso",
        "retrasos",
        "tarde",
        "esperé",
        "esperamos",
        "esperando",
        "caro",
        "cara",
        "caros",
        "costoso",
        "costosa",
        "equivocado",
        "equivocada",
        "equivocados",
        "error",
        "errores",
        "queja",
        "quejas",
        "molesto",
        "molesta",
        "enojado",
        "enojada",
        "decepcionado",
        "decepcionada",
        "decepción",
        "peor",
        "problema",
        "problemas",
        "difícil",
        "imposible",
        "ignoraron",
        "ignoró",
        "desorganizado",
        "desorganizada",
        "frío",
        "fría",
        "irrespetuoso",
        "irrespetuosa",
        "dolor",
        "preocupado",
        "preocupada",
        "confuso",
        "confusa",
        "incómodo",
        "incómoda",
        "injusto",
        "injusta",
        "nunca",
        "nadie",
        "tampoco",
        "perdieron",
        "perdió",
        "olvidaron",
        "olvidó",
        "cobraron",
        "larga",
        "largo",
        "largas",
        "largos",
    ]
)
_NEGATORS = frozenset(["no", "ni", "sin", "nunca", "jamás", "tampoco", "nadie"])
# Comparative complaints the word lists miss: "más alta de lo que me dijeron".
_WORSE_THAN_TOLD = re.compile(r"\bmás\s+(?:alt[oa]|car[oa]|larg[oa]|tiempo)\b")
# Answers to "what could we do better?" that ask for a change are suggestions, not praise.
_SUGGESTION = re.compile(
    r"^(?:más|mejor|menos|que\s+(?:haya|tengan|sean|den|pongan)|deberían|podrían|necesitan"
    r"|tener|poner|contratar)\b"
)


def is_spanish(norm: str) -> bool:
    """True when a normalised comment has more Spanish than English function words."""
    words = _WORD.findall(norm)
    spanish = sum(w in _ES_FUNCTION for w in words)
    english = sum(w in _EN_FUNCTION for w in words)
    return spanish >= 1 and spanish > english


def lexicon_probabilities(norm: str, kind: str) -> dict[str, float] | None:
    """(negative, mixed, positive) probabilities from the lexicon, or None with no cue words.

    A negator within the two words before a cue flips it ("no fueron amables"). `kind` is the
    question kind: a suggestion in answer to an improve-question is mixed, never positive.
    """
    words = _WORD.findall(norm)
    positive = negative = 0.0
    for index, word in enumerate(words):
        polarity = 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
        if polarity == 0 or word in _NEGATORS:
            if word in ("nunca", "nadie", "tampoco"):
                negative += 1  # "nadie me llamó", "nunca contestan": complaints on their own
            continue
        if any(w in _NEGATORS for w in words[max(0, index - 2) : index]):
            polarity = -polarity
        if polarity > 0:
            positive += 1
        else:
            negative += 1
    if _WORSE_THAN_TOLD.search(norm):
        negative += 1
    if positive == 0 and negative == 0:
        return None
    if kind == "improve" and _SUGGESTION.match(norm) and negative == 0:
        return {"negative": 0.25, "mixed": 0.6, "positive": 0.15}
    total = positive + negative
    lean = (positive - negative) / total  # -1 .. 1
    both = min(positive, negative) / total  # 0 .. 0.5: praise and complaint together
    mixed = 0.15 + both
    rest = 1.0 - mixed
    return {
        "negative": round(rest * (1 - lean) / 2, 4),
        "mixed": round(mixed, 4),
        "positive": round(rest * (1 + lean) / 2, 4),
    }

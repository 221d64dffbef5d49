"""Checks an LLM-written report narrative against the data it was given. Pure: no Django.

Two rules, because a manager reads the narrative as fact:
- every quoted span ("..." or “...”) must appear verbatim in one of the comments provided;
- every number outside quotes must be one of the figures provided, as written or rounded to
  the precision shown (41.67 may appear as 42, 41.7, 42% or -41.7 for a fall of 41.67).

`validate_narrative` returns the problems found; an empty list means the text may be sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Straight or curly double quotes; a quote must close on the same paragraph.
_QUOTE = re.compile(r"\"([^\"\n]+)\"|“([^”\n]+)”")
# A number: optional sign, digits with optional thousands separators, optional decimals.
_NUMBER = re.compile(r"(?<![\w.])[-+−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])[-+−]?\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Problem:
    """One reason to refuse a narrative: kind is 'quote' or 'number'; text is the offending span."""

    kind: str
    text: str

    def __str__(self) -> str:
        what = "quote not found in the comments" if self.kind == "quote" else "unsupported number"
        return f"{what}: {self.text}"


def _normalise(text: str) -> str:
    # Curly apostrophes and runs of spaces are typography, not a change of words.
    return _SPACES.sub(" ", text.replace("’", "'").replace("‘", "'")).strip().casefold()


def quoted_spans(text: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in _QUOTE.finditer(text)]


def numbers_outside_quotes(text: str) -> list[str]:
    unquoted = _QUOTE.sub(" ", text)
    return [m.group(0) for m in _NUMBER.finditer(unquoted)]


def _parse(token: str) -> tuple[float, int]:
    """The value of a number as written and how many decimals it shows."""
    cleaned = token.replace(",", "").replace("−", "-").lstrip("+")
    decimals = len(cleaned.split(".")[1]) if "." in cleaned else 0
    return float(cleaned), decimals


def number_supported(token: str, figures: Iterable[float]) -> bool:
    """True if `token` is one of `figures` (or its magnitude) at the precision it shows."""
    value, decimals = _parse(token)
    for figure in figures:
        if figure is None or (isinstance(figure, float) and math.isnan(figure)):
            continue
        for candidate in (figure, abs(figure), -figure):
            # Round half away from zero, as people do, and allow binary float noise.
            if math.isclose(_round(candidate, decimals), value, abs_tol=10 ** -(decimals + 6)):
                return True
    return False


def _round(x: float, decimals: int) -> float:
    factor = 10**decimals
    return math.copysign(math.floor(abs(x) * factor + 0.5 + 1e-9) / factor, x)


def validate_narrative(
    text: str, comments: Iterable[str], figures: Mapping[str, float | int | None]
) -> list[Problem]:
    """Problems with `text` given the verbatim `comments` and named `figures` it may cite."""
    problems: list[Problem] = []
    if not text.strip():
        return [Problem("empty", "")]
    haystack = [_normalise(c) for c in comments]
    for span in quoted_spans(text):
        needle = _normalise(span).strip(" .,;:!?…")
        if not needle or not any(needle in c for c in haystack):
            problems.append(Problem("quote", span))
    values = [float(v) for v in figures.values() if v is not None]
    for token in numbers_outside_quotes(text):
        if not number_supported(token, values):
            problems.append(Problem("number", token))
    return problems

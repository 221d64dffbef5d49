"""SMS encoding detection and segment counting (GSM 03.38 / UCS-2), plus GSM-safe rewriting.

An SMS is either GSM-7 (160 septets in one segment, 153 per segment once split, because the
concatenation header takes 7) or UCS-2 (70 UTF-16 code units, 67 per segment once split). One
character outside the GSM-7 alphabet turns the whole message into UCS-2, which can more than
double the cost of a reminder; `ucs2_chars` names the culprits and `to_gsm_safe` removes the
typographic ones that templates and LLMs like to produce.

Spanish and GSM-7: ``¡ ¿ ñ Ñ é É ü Ü`` (and ``à è ì ò ù``) are in the GSM-7 alphabet, but
``á í ó ú Á Í Ó Ú`` are not. We keep them by default: "día", "publicación" or "Dr. Gómez" written
without accents read as careless to patients, and the clinic pays for that choice knowingly.
`to_gsm_safe(text, transliterate_accents=True)` strips accents that GSM-7 lacks, for clinics whose
settings ask for the cheaper encoding.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["SegmentInfo", "count_segments", "ucs2_chars", "to_gsm_safe", "GSM7_BASIC", "GSM7_EXT"]

# GSM 03.38 default alphabet (the escape code 0x1B itself is not a character we can send).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each of these is sent as ESC + code, so it costs two septets.
GSM7_EXT = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentInfo:
    """How a text travels as SMS: encoding, number of segments and encoding units used."""

    encoding: str  # 'GSM-7' or 'UCS-2'
    segments: int  # 0 only for the empty text, which cannot be sent
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def _gsm_cost(char: str) -> int | None:
    if char in GSM7_BASIC:
        return 1
    if char in GSM7_EXT:
        return 2
    return None


def _ucs2_cost(char: str) -> int:
    # Characters outside the Basic Multilingual Plane (most emoji) need a surrogate pair.
    return 2 if ord(char) > 0xFFFF else 1


def _pack(costs: list[int], single: int, multi: int) -> tuple[int, int]:
    """Return (segments, units); an escape pair or surrogate pair is never split across parts."""
    units = sum(costs)
    if units == 0:
        return 0, 0
    if units <= single:
        return 1, units
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return segments, units


def count_segments(text: str) -> SegmentInfo:
    """Count the SMS segments `text` needs, choosing GSM-7 when every character allows it."""
    gsm_costs = [_gsm_cost(char) for char in text]
    if all(cost is not None for cost in gsm_costs):
        segments, units = _pack(gsm_costs, GSM7_SINGLE, GSM7_MULTI)  # type: ignore[arg-type]
        return SegmentInfo("GSM-7", segments, units)
    segments, units = _pack([_ucs2_cost(char) for char in text], UCS2_SINGLE, UCS2_MULTI)
    return SegmentInfo("UCS-2", segments, units)


def ucs2_chars(text: str) -> list[str]:
    """Return the distinct characters of `text` that force UCS-2, in order of first appearance."""
    seen: dict[str, None] = {}
    for char in text:
        if _gsm_cost(char) is None:
            seen.setdefault(char, None)
    return list(seen)


# Typography that templates, word processors and LLMs produce, mapped to what a phone shows
# the same way in GSM-7.
_TYPOGRAPHY = {
    "\u2018": "'",  # left single quote
    "\u2019": "'",  # right single quote / apostrophe
    "\u201a": "'",  # low single quote
    "\u201b": "'",
    "\u2032": "'",  # prime
    "\u00b4": "'",  # acute accent used as apostrophe
    "`": "'",
    "\u201c": '"',  # left double quote
    "\u201d": '"',  # right double quote
    "\u201e": '"',  # low double quote
    "\u201f": '"',
    "\u2033": '"',  # double prime
    "\u00ab": '"',  # guillemets, common in Spanish typography
    "\u00bb": '"',
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2022": "-",  # bullet
    "\u2026": "...",  # ellipsis
    "\u00a0": " ",  # no-break space
    "\u2002": " ",
    "\u2003": " ",
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow no-break space (some locales format times with it: "9:30\u202fAM")
    "\t": " ",
    "\u00ad": "",  # soft hyphen
    "\u200b": "",  # zero-width space
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",  # word joiner
    "\ufeff": "",  # byte-order mark
    "\u2028": "\n",  # line separator
    "\u2029": "\n",  # paragraph separator
}


def _strip_accent(char: str) -> str:
    """Return `char` without diacritics when the result is GSM-7, else `char` unchanged."""
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    return base if base and all(_gsm_cost(c) is not None for c in base) else char


def to_gsm_safe(text: str, transliterate_accents: bool = False) -> str:
    """Replace typographic characters with GSM-7 equivalents; optionally strip accents.

    Letters that GSM-7 has (ñ, é, ü, ¿, ¡ ...) are always kept. With `transliterate_accents`,
    letters it lacks (á, í, ó, ú, â ...) lose their accent; emoji and other scripts are left
    alone, so check `ucs2_chars` on the result before promising a GSM-7 message.
    """
    out: list[str] = []
    for char in text:
        if _gsm_cost(char) is not None:
            out.append(char)
        elif char in _TYPOGRAPHY:
            out.append(_TYPOGRAPHY[char])
        elif transliterate_accents:
            out.append(_strip_accent(char))
        else:
            out.append(char)
    return "".join(out)

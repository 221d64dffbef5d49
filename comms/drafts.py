"""What a message draft is, and the pure rules that decide whether an LLM draft may be used.

An LLM writes wording only. Facts (date, time, provider, place, links, preparation, phone) are
placeholders such as ``{date}`` that are filled locally from the database after validation, so
the rules here reject anything that could carry a fact of the model's own: a dropped, repeated,
invented or altered placeholder, or a literal URL, phone number, email, date, time, amount or
any other number. They also hold the draft to the channel's budget (SMS segments, filled with
worst-case facts), its language, and the compliance lines the inbound-reply handler relies on.

Every rejection carries a machine-readable `Reason` plus a sentence for the manager's screen.
Proposed survey questions have their own rules in `comms.survey_drafts`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from difflib import get_close_matches
from enum import StrEnum

from comms.privacy import fold
from comms.segments import SegmentInfo, count_segments, ucs2_chars

LANGUAGES = ("en", "es")
CHANNELS = ("sms", "email")
PLACEHOLDERS = ("date", "time", "provider", "location", "address", "link", "prep", "clinic_phone")
SMS_MAX_SEGMENTS = 2
EMAIL_SUBJECT_MAX_CHARS = 78
EMAIL_BODY_MAX_CHARS = 2000

# Spanish needs á í ó ú (é ñ ü ¿ ¡ are already GSM-7). A Spanish SMS draft may use them, but then
# it is budgeted as UCS-2 (67 characters a segment), so in practice an accented draft must be short
# and the prompt asks for GSM-7 spelling. English gets no UCS-2 characters at all.
UCS2_ALLOWED = {"en": frozenset(), "es": frozenset("áíóúÁÍÓÚ")}

# Worst realistic values, used to budget a draft before any real facts exist.
WORST_CASE_FACTS = {
    "en": {
        "date": "Wednesday, September 30",
        "time": "12:45 PM",
        "provider": "Dr. Alexandra Montgomery-Whitfield",
        "location": "Northside Family Health, Suite 210",
        "address": "1234 Longview Boulevard, Building C, Springfield, IL 62704",
        "link": "https://clinic.example.org/r/AbC123xYz9",
        "prep": "Please do not eat or drink anything except water for 8 hours before your visit. "
        "Bring your medication list, insurance card and photo ID. Arrive 15 minutes early.",
        "clinic_phone": "+1 (555) 555-0123",
    },
    "es": {
        "date": "miércoles, 30 de septiembre",
        "time": "12:45",
        "provider": "Dra. Maria Guadalupe Fernandez-Castellanos",
        "location": "Centro de Salud Norte, Consultorio 210",
        "address": "Avenida de los Insurgentes Sur 1234, Edificio C, Col. del Valle, 03100",
        "link": "https://clinic.example.org/r/AbC123xYz9",
        "prep": "No coma ni beba nada excepto agua durante 8 horas antes de su cita. Traiga su "
        "lista de medicamentos, su tarjeta de seguro y una identificación. "
        "Llegue 15 minutos antes.",
        "clinic_phone": "+1 (555) 555-0123",
    },
}

# Lines the inbound-reply handler and carriers depend on, verbatim (GSM-7 spelling).
OPT_OUT_LINE = {"en": "Reply STOP to opt out", "es": "Responda PARAR para cancelar suscripcion"}
REPLY_KEYWORDS_LINE = {
    "en": "Reply C to confirm, R to reschedule, 2 to cancel",
    "es": "Responda C para confirmar, R para reprogramar, 2 para cancelar",
}


class Reason(StrEnum):
    """Why a draft (or an LLM call) was not used. Stored with the fallback."""

    PLACEHOLDER_DROPPED = "placeholder_dropped"
    PLACEHOLDER_REPEATED = "placeholder_repeated"
    PLACEHOLDER_INVENTED = "placeholder_invented"
    PLACEHOLDER_ALTERED = "placeholder_altered"
    URL_LITERAL = "url_literal"
    EMAIL_LITERAL = "email_literal"
    PHONE_LITERAL = "phone_literal"
    DATE_LITERAL = "date_literal"
    TIME_LITERAL = "time_literal"
    MONEY_LITERAL = "money_literal"
    NUMBER_LITERAL = "number_literal"
    TOO_LONG = "too_long"
    UCS2_CHARS = "ucs2_chars"
    WRONG_LANGUAGE = "wrong_language"
    OPT_OUT_MISSING = "opt_out_missing"
    REPLY_KEYWORDS_MISSING = "reply_keywords_missing"
    EMPTY = "empty"
    SUBJECT_INVALID = "subject_invalid"
    INVALID_OUTPUT = "invalid_output"
    TRUNCATED = "truncated"
    LLM_REFUSAL = "llm_refusal"
    LLM_TIMEOUT = "llm_timeout"
    LLM_ERROR = "llm_error"
    IDENTIFIER_LEAK = "identifier_leak"
    LLM_NOT_ALLOWED = "llm_not_allowed"
    TOO_FEW_QUESTIONS = "too_few_questions"
    TOO_MANY_QUESTIONS = "too_many_questions"
    UNKNOWN_KIND = "unknown_kind"
    NPS_MISSING = "nps_missing"
    BAD_SCALE = "bad_scale"
    LEADING_WORDING = "leading_wording"
    DOUBLE_BARRELLED = "double_barrelled"


@dataclass(frozen=True)
class Rejection:
    """One reason a draft was refused: `code` for machines, `text` for people (no PHI)."""

    code: Reason
    text: str


@dataclass(frozen=True)
class Purpose:
    """A kind of message: the facts each channel must carry, and whether an LLM may word it."""

    name: str
    sms: tuple[str, ...]
    email: tuple[str, ...]
    llm_allowed: bool = True
    reply_keywords: bool = False

    def placeholders(self, channel: str) -> tuple[str, ...]:
        """The placeholders a `channel` message of this purpose must contain, once each."""
        return self.sms if channel == "sms" else self.email


# STOP/START/HELP answers have carrier-mandated content, so only templates word them.
PURPOSES = {
    p.name: p
    for p in (
        Purpose(
            "reminder",
            ("date", "time", "provider", "location"),
            ("date", "time", "provider", "location", "address", "prep", "link", "clinic_phone"),
            reply_keywords=True,
        ),
        Purpose("confirmation_ack", ("date", "time"), ("date", "time", "provider", "location")),
        Purpose("cancellation_ack", ("date", "time", "link"), ("date", "time", "link")),
        Purpose("reschedule_link", ("link",), ("link", "clinic_phone")),
        Purpose("waitlist_offer", ("date", "time", "provider", "link"),
                ("date", "time", "provider", "location", "link")),
        Purpose("survey_invite", ("link",), ("link",)),
        Purpose("survey_reminder", ("link",), ("link",)),
        Purpose("opt_out_ack", ("clinic_phone",), ("clinic_phone",), llm_allowed=False),
        Purpose("opt_in_ack", (), (), llm_allowed=False),
        Purpose("help", ("clinic_phone",), ("clinic_phone", "link"), llm_allowed=False),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Segment:
    """Who a message variant is written for, without identifying anyone. The cache key.

    `prep` is the appointment type's preparation text, given to the LLM as context only; the
    patient sees it through the ``{prep}`` placeholder.
    """

    purpose: str
    language: str
    appointment_type: str
    channel: str
    tone: str = "warm"
    visit: str = "any"  # "new" | "follow_up" | "any"
    reading_level: str = "plain"
    age_band: str = "any"
    prep: str = ""

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {self.purpose!r}")
        if self.language not in LANGUAGES:
            raise ValueError(f"unsupported language {self.language!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Placeholders a draft for this segment must contain exactly once each."""
        return PURPOSES[self.purpose].placeholders(self.channel)

    @property
    def key(self) -> str:
        """Stable short id of the segment, for cache rows and logs."""
        raw = "\x1f".join(str(v) for v in self.__dict__.values())
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LLMUsage:
    """One LLM call's cost: tokens as reported by the server, wall time in milliseconds."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0


@dataclass(frozen=True)
class Draft:
    """An LLM-written variant for a segment, validated. Text is empty unless it was accepted.

    `rejected_body` keeps a refused draft for the manager's audit screen; it is never sent.
    """

    segment: Segment
    prompt_version: str
    body: str = ""
    subject: str = ""
    rejections: tuple[Rejection, ...] = ()
    usage: LLMUsage | None = None
    rejected_body: str = ""

    @property
    def accepted(self) -> bool:
        return not self.rejections and bool(self.body)

    @property
    def variant_id(self) -> str | None:
        """Content hash of an accepted variant (None if rejected): stable across processes."""
        if not self.accepted:
            return None
        raw = "\x1f".join((self.segment.key, self.prompt_version, self.subject, self.body))
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


_PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_]+)\}(?!\})")
_BRACED = re.compile(r"\{+([^{}]*)\}+")
_OTHER_BRACKETS = re.compile(
    r"[\[<(]\s*(?:" + "|".join(PLACEHOLDERS) + r"|clinic phone)\s*[\]>)]", re.IGNORECASE
)


class MissingFact(KeyError):
    """A placeholder had no value in the facts given to `render`."""


def render(variant_text: str, facts: dict[str, str]) -> str:
    """Fill ``{name}`` placeholders in a validated variant with facts from the database.

    Deliberately not `str.format`: LLM text must never reach format's attribute/index syntax.
    """

    def fill(match: re.Match[str]) -> str:
        try:
            return str(facts[match[1]])
        except KeyError:
            raise MissingFact(match[1]) from None

    return _PLACEHOLDER.sub(fill, variant_text)


def budget(segment: Segment, body: str, facts: dict[str, str]) -> list[Rejection]:
    """Check `body` filled with `facts` against the channel budget (SMS segments, email length)."""
    filled = render(body, facts)
    if segment.channel == "email":
        if len(filled) > EMAIL_BODY_MAX_CHARS:
            text = f"email body is {len(filled)} characters filled, over {EMAIL_BODY_MAX_CHARS}"
            return [_r(Reason.TOO_LONG, text)]
        return []
    foreign = sorted(set(ucs2_chars(filled)) - UCS2_ALLOWED[segment.language])
    if foreign:
        return [_r(Reason.UCS2_CHARS, "characters that force UCS-2: " + " ".join(foreign))]
    info: SegmentInfo = count_segments(filled)
    if info.segments > SMS_MAX_SEGMENTS:
        text = f"{info.segments} {info.encoding} segments filled, over {SMS_MAX_SEGMENTS}"
        return [_r(Reason.TOO_LONG, text)]
    return []


def validate(segment: Segment, body: str, subject: str = "") -> list[Rejection]:
    """Every reason `body` (and, for email, `subject`) may not be used for `segment`.

    An empty list means the draft is acceptable.
    """
    if not body.strip():
        return [_r(Reason.EMPTY, "the draft has no text")]
    rejections = _placeholder_rules(segment, body)
    rejections += _compliance_rules(segment, body)
    prose = _prose(segment.language, body)
    rejections += literal_rules(prose)
    rejections += language_rules(segment.language, prose)
    if segment.channel == "email":
        rejections += _subject_rules(segment.language, subject)
    if not any(r.code.startswith("placeholder") for r in rejections):
        rejections += budget(segment, body, WORST_CASE_FACTS[segment.language])
    return rejections


def _r(code: Reason, text: str) -> Rejection:
    return Rejection(code, text)


def _placeholder_rules(segment: Segment, body: str) -> list[Rejection]:
    required = segment.placeholders
    found: Counter[str] = Counter()
    out: list[Rejection] = []
    for match in _BRACED.finditer(body):
        token, name = match[0], match[1]
        if token == "{" + name + "}" and name in required:
            found[name] += 1
        elif token == "{" + name + "}" and name in PLACEHOLDERS:
            out.append(_r(Reason.PLACEHOLDER_INVENTED, f"{token} is not a fact of this message"))
        elif _near_placeholder(name):
            out.append(_r(Reason.PLACEHOLDER_ALTERED, f"{token} is not written as a placeholder"))
        else:
            out.append(_r(Reason.PLACEHOLDER_INVENTED, f"{token} is not a known placeholder"))
    if re.search(r"[{}]", _BRACED.sub("", body)) or _OTHER_BRACKETS.search(body):
        out.append(_r(Reason.PLACEHOLDER_ALTERED, "a placeholder has the wrong brackets"))
    for name in required:
        if found[name] == 0:
            out.append(_r(Reason.PLACEHOLDER_DROPPED, f"{{{name}}} is missing"))
        elif found[name] > 1:
            out.append(_r(Reason.PLACEHOLDER_REPEATED, f"{{{name}}} appears {found[name]} times"))
    return out


def _near_placeholder(name: str) -> bool:
    squashed = re.sub(r"[^a-z]", "", name.lower())
    return squashed in {p.replace("_", "") for p in PLACEHOLDERS} or bool(
        get_close_matches(name.strip().lower(), PLACEHOLDERS, n=1, cutoff=0.7)
    )


def _squash(text: str) -> str:
    """Folded words only, single-spaced: for comparing fixed lines loosely."""
    return " ".join(re.sub(r"[^\w]", " ", fold(text)).split())


def _compliance_rules(segment: Segment, body: str) -> list[Rejection]:
    out = []
    squashed = _squash(body)
    if segment.channel == "sms" and _squash(OPT_OUT_LINE[segment.language]) not in squashed:
        out.append(_r(Reason.OPT_OUT_MISSING, f'missing "{OPT_OUT_LINE[segment.language]}"'))
    line = REPLY_KEYWORDS_LINE[segment.language]
    needs_keywords = segment.channel == "sms" and PURPOSES[segment.purpose].reply_keywords
    if needs_keywords and _squash(line) not in squashed:
        out.append(_r(Reason.REPLY_KEYWORDS_MISSING, f'missing "{line}"'))
    return out


def _prose(language: str, body: str) -> str:
    """The model's own words: folded, placeholders and fixed compliance lines removed."""
    text = fold(_BRACED.sub(" ", body))
    for line in (OPT_OUT_LINE[language], REPLY_KEYWORDS_LINE[language]):
        text = re.sub(r"\W+".join(re.findall(r"\w+", fold(line))), " ", text)
    return text


_WEEKDAYS = (
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday|tue|tues|thu|thur|thurs|wed|fri"
    "|lunes|martes|miercoles|jueves|viernes|sabado|domingo"
)
_MONTH_WORDS = (
    "january|february|march|april|june|july|august|september|october|november|december"
    "|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre"
    "|diciembre"
)
_LITERALS: tuple[tuple[Reason, re.Pattern[str]], ...] = (
    (Reason.EMAIL_LITERAL, re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    (Reason.URL_LITERAL, re.compile(
        r"\b(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|gov|edu|io|co|us"
        r"|uk|es|mx|info|health|clinic|care|app|ly|me)\b(?:/\S*)?")),
    (Reason.PHONE_LITERAL, re.compile(r"(?<!\w)\+?\d(?:[\s().-]*\d){6,}")),
    (Reason.MONEY_LITERAL, re.compile(
        r"[$€£¥]\s?\d+(?:[.,]\d+)*|\d+(?:[.,]\d+)?\s?(?:usd|eur|mxn|dollars?|dolares|euros?|pesos|cents?"
        r"|centavos)\b|\b(?:usd|eur|mxn)\s?\d+(?:[.,]\d+)*")),
    (Reason.TIME_LITERAL, re.compile(
        r"\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\b\.?|p\.?m\b\.?)|\b\d{1,2}[:h]\d{2}\b|\b\d{1,2}\s?(?:h|hrs)"
        r"\b|\b(?:noon|midnight|o'?clock|mediodia|medianoche|en punto|tonight)\b"
        r"|\b(?:this|tomorrow|in the) (?:morning|afternoon|evening)\b"
        r"|\b(?:por|de|esta) la (?:manana|tarde|noche)\b|\besta (?:manana|tarde|noche)\b")),
    (Reason.DATE_LITERAL, re.compile(
        rf"(?:\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+|de\s+)?)?\b(?:{_WEEKDAYS}|{_MONTH_WORDS})\b"
        r"(?:,?\s+\d{1,2}(?:st|nd|rd|th)?\b)?|\bmay\.?\s+\d+|\d+\s+(?:de\s+)?may\b"
        r"|\b\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b|\b\d{1,2}(?:st|nd|rd|th)\b"
        r"|\b(?:today|tomorrow|yesterday|hoy|manana|ayer|pasado manana)\b"
        r"|\b(?:next|this) (?:week|month|weekend)\b|\b(?:proxima|esta) semana\b"
        r"|\bproximo (?:mes|lunes|martes|jueves|viernes|sabado|domingo)\b")),
    (Reason.NUMBER_LITERAL, re.compile(r"\d+")),
)  # fmt: skip


def literal_rules(prose: str) -> list[Rejection]:
    """Facts the model wrote itself in `prose` (folded text): URL, email, phone, date, time..."""
    out = []
    for code, pattern in _LITERALS:
        match = pattern.search(prose)
        if match:
            out.append(_r(code, f'the draft writes its own {code.split("_")[0]}: "{match[0]}"'))
            # One fact literal explains the refusal; a phone number is not also "a number".
            prose = pattern.sub(" ", prose)
    return out


# Stopwords that are unambiguous between the two languages ("a", "no", "me" appear in both).
_STOPWORDS = {
    "en": frozenset(
        "the and to of you your is are for with on at in be will please this we our it if or "  # noqa: SIM905
        "have has an can from by not us was were that would any about before after all do need "
        "thank thanks reply here when there what how visit".split()
    ),
    "es": frozenset(
        "el la los las de del y que en su sus por para con es un una usted le se lo al nos favor "  # noqa: SIM905
        "gracias esta este cita si como mas pero responda tiene hay puede aqui cuando donde visita "
        "antes despues muy ya".split()
    ),
}


def language_share(language: str, text: str) -> tuple[float, int]:
    """Share of stopword hits that belong to `language`, and how many hits there were."""
    words = re.findall(r"[a-z]+", fold(text))
    hits = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    total = sum(hits.values())
    return (hits[language] / total if total else 0.0), total


def language_rules(language: str, prose: str) -> list[Rejection]:
    """Reject `prose` that does not read as `language` (stopword share, a light heuristic)."""
    share, total = language_share(language, prose)
    # Short texts have few stopwords; only judge when there is something to judge by.
    if (total >= 3 and share < 0.6) or (total == 0 and len(prose.split()) >= 5):
        text = f"does not read as {language!r} ({share:.0%} of {total} function words)"
        return [_r(Reason.WRONG_LANGUAGE, text)]
    return []


def _subject_rules(language: str, subject: str) -> list[Rejection]:
    if not subject.strip() or len(subject) > EMAIL_SUBJECT_MAX_CHARS or "\n" in subject:
        limit = f"1-{EMAIL_SUBJECT_MAX_CHARS}"
        return [_r(Reason.SUBJECT_INVALID, f"subject must be one line of {limit} characters")]
    if "{" in subject or "}" in subject:
        return [_r(Reason.SUBJECT_INVALID, "subject may not contain placeholders")]
    return literal_rules(_prose(language, subject))

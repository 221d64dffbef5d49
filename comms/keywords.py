"""Classify what a patient texted back: opt-out/in, help, confirm/cancel/reschedule, NPS score.

Matching ignores case, surrounding whitespace, punctuation and accents ("¡Sí!" is "si"), and
looks at the whole message, as Twilio's keyword handling does, after dropping polite filler
("please", "thanks", "por favor", "gracias").

CANCEL means two things. Twilio's default opt-out keywords are STOP, STOPALL, UNSUBSCRIBE,
CANCEL, END, QUIT (plus REVOKE and OPTOUT), and Twilio blocks the number the moment one of them
arrives as the whole message: if we read a bare "CANCEL" as "cancel my appointment", Twilio
would still have opted the patient out and our confirmation would bounce with error 21610.
So, as carriers and Twilio do:

- a message that is exactly CANCEL (or CANCELAR) is an opt-out, in every context;
- "2", "cancel appointment", "cancel my appointment", "please cancel", "cancelar cita" are a
  cancellation when replying to a reminder.

The Spanish opt-out and opt-in words below are not Twilio defaults: configure the same words in
the Messaging Service's Advanced Opt-Out, or Twilio and our consent records will disagree.

YES is both a Twilio opt-in keyword and our reminder confirmation: it is an opt-in when the
patient is opted out (`opted_out=True`, the only case where Twilio acts on it) and a
confirmation otherwise. STOP and its family win over everything, including an NPS survey.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = ["INTENTS", "Reply", "parse_reply", "normalize"]

INTENTS = ("opt_out", "opt_in", "help", "confirm", "cancel", "reschedule", "nps", "unknown")


@dataclass(frozen=True)
class Reply:
    """The meaning of one inbound SMS."""

    intent: str  # one of INTENTS
    language: str  # 'en' or 'es'
    score: int | None = None  # 0-10 for intent 'nps', else None
    keyword: str | None = None  # the normalised words that matched, for the audit trail


# Twilio's own opt-out set plus phrases that mean the same; matched against the whole message.
_OPT_OUT_EXACT = {
    "stop": "en",
    "stopall": "en",
    "unsubscribe": "en",
    "cancel": "en",
    "end": "en",
    "quit": "en",
    "revoke": "en",
    "optout": "en",
    "cancelar": "es",
}
# Also opt-outs after filler is dropped ("stop please"); CANCEL is absent on purpose, see above.
_OPT_OUT_PHRASES = {
    "stop": "en",
    "stop all": "en",
    "stopall": "en",
    "unsubscribe": "en",
    "unsubscribe me": "en",
    "end": "en",
    "quit": "en",
    "revoke": "en",
    "optout": "en",
    "opt out": "en",
    "stop texting me": "en",
    "stop messaging me": "en",
    "stop sending messages": "en",
    "no more texts": "en",
    "no more messages": "en",
    "parar": "es",
    "para ya": "es",
    "detener": "es",
    "baja": "es",
    "dar de baja": "es",
    "darme de baja": "es",
    "alto": "es",
    "no mas": "es",
    "no mas mensajes": "es",
    "no me envien mas mensajes": "es",
}
_OPT_IN = {"start": "en", "unstop": "en", "comenzar": "es", "iniciar": "es", "reanudar": "es"}
_OPT_IN_WHEN_OPTED_OUT = {"yes": "en"}  # Twilio re-subscribes on YES only from the opted-out state
_HELP = {"help": "en", "info": "en", "ayuda": "es", "informacion": "es"}

# Neutral tokens (digits, single letters, OK) carry no language; None means "use the default".
_REMINDER = {
    "confirm": {
        "c": None,
        "1": None,
        "ok": None,
        "okay": "en",
        "yes": "en",
        "y": "en",
        "yep": "en",
        "yeah": "en",
        "confirm": "en",
        "confirmed": "en",
        "i confirm": "en",
        "yes confirm": "en",
        "see you then": "en",
        "si": "es",
        "confirmar": "es",
        "confirmo": "es",
        "confirmado": "es",
        "si confirmo": "es",
        "claro": "es",
    },
    "cancel": {
        "2": None,
        "cancel appointment": "en",
        "cancel appt": "en",
        "cancel my appointment": "en",
        "cancel the appointment": "en",
        "cancel my appt": "en",
        # A bare "cancel" only reaches here when the message had more in it, e.g. "please cancel"
        # or "cancel thanks": Twilio does not opt those out, so they cancel the appointment.
        "cancel": "en",
        "cancelar cita": "es",
        "cancelar mi cita": "es",
        "cancelar la cita": "es",
        "cancela mi cita": "es",
        "cancelar": "es",
        "anular cita": "es",
    },
    "reschedule": {
        "r": None,
        "3": None,
        "reschedule": "en",
        "reschedule appointment": "en",
        "reschedule my appointment": "en",
        "change": "en",
        "change appointment": "en",
        "change my appointment": "en",
        "reprogramar": "es",
        "reprogramar cita": "es",
        "reprogramar mi cita": "es",
        "cambiar": "es",
        "cambiar cita": "es",
        "cambiar mi cita": "es",
        "cambiar la cita": "es",
    },
}

_NUMBER_WORDS = {
    **{
        word: (n, "en")
        for n, word in enumerate(
            ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
        )
    },
    **{
        word: (n, "es")
        for n, word in enumerate(
            [
                "cero",
                "uno",
                "dos",
                "tres",
                "cuatro",
                "cinco",
                "seis",
                "siete",
                "ocho",
                "nueve",
                "diez",
            ]
        )
    },
}
# "9", "10/10", "9 out of 10", "9 de 10" all reduce to their first word.
_SCORE_PATTERN = re.compile(r"(\w+)(?: (?:out of |of |de )?10)?")
# Single words of the STOP family, for messages like "STOP STOP" or "stop. end."
_STOP_WORDS = frozenset(
    word for word in _OPT_OUT_PHRASES if " " not in word and not word.startswith("cancel")
)

_FILLER = frozenset(
    {"please", "pls", "plz", "thanks", "thx", "ty", "hi", "hello", "hey"}
    | {"por", "favor", "gracias", "muchas", "hola"}
)
# Common words that tell the language of a free-text reply the tables do not recognise.
_SPANISH_HINTS = frozenset(
    {"el", "la", "los", "las", "de", "que", "y", "en", "un", "una", "por", "para", "con", "mi"}
    | {"mis", "si", "es", "esta", "estoy", "gracias", "hola", "cita", "puedo", "quiero"}
    | {"necesito", "manana", "hoy", "doctora", "favor", "usted", "cambiar", "cancelar"}
)
_ENGLISH_HINTS = frozenset(
    {"the", "a", "an", "to", "of", "and", "in", "is", "it", "my", "i", "you", "can", "need"}
    | {"want", "please", "thanks", "hello", "appointment", "tomorrow", "today", "will", "be"}
    | {"there", "change", "cancel", "late", "running"}
)
_NON_WORD = re.compile(r"[^\w]+")


def normalize(body: str) -> str:
    """Lower-case, strip accents and punctuation, collapse whitespace: "¡Sí!" -> "si"."""
    decomposed = unicodedata.normalize("NFKD", body.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", plain).replace("_", " ").split())


def _guess_language(words: list[str], default: str) -> str:
    spanish = sum(word in _SPANISH_HINTS for word in words)
    english = sum(word in _ENGLISH_HINTS for word in words)
    if spanish > english:
        return "es"
    if english > spanish:
        return "en"
    return default


def _nps_score(core: str) -> tuple[int, str | None] | None:
    """Return (score 0-10, language or None) if `core` is a bare score, else None."""
    match = _SCORE_PATTERN.fullmatch(core)
    if match is None:
        return None
    word = match.group(1)
    if word.isascii() and word.isdigit() and int(word) <= 10:
        return int(word), None
    return _NUMBER_WORDS.get(word)


def parse_reply(
    body: str,
    expecting: Literal["reminder", "nps"] = "reminder",
    opted_out: bool = False,
    default_language: str = "en",
) -> Reply:
    """Classify an inbound SMS body.

    `expecting` says what we last asked: 'reminder' (confirm/cancel/reschedule, where 1/2/3 are
    menu choices) or 'nps' (a bare 0-10 is a score). `opted_out` is the patient's current consent
    state, which decides whether YES re-subscribes. `default_language` is used when the words
    carry no language of their own ("1", "C", "OK").
    """
    text = normalize(body)
    words = text.split()
    unthanked = f" {text} ".replace(" thank you ", " ").split()
    core = " ".join(word for word in unthanked if word not in _FILLER)

    def reply(intent: str, table_language: str | None, score: int | None = None) -> Reply:
        language = table_language or _guess_language(words, default_language)
        return Reply(intent, language, score, core or text or None)

    if text in _OPT_OUT_EXACT:
        return reply("opt_out", _OPT_OUT_EXACT[text])
    if core in _OPT_OUT_PHRASES:
        return reply("opt_out", _OPT_OUT_PHRASES[core])
    if core and all(word in _STOP_WORDS for word in core.split()):
        return reply("opt_out", _OPT_OUT_PHRASES[core.split()[0]])
    if core in _HELP:
        return reply("help", _HELP[core])
    if core in _OPT_IN:
        return reply("opt_in", _OPT_IN[core])
    if opted_out and core in _OPT_IN_WHEN_OPTED_OUT:
        return reply("opt_in", _OPT_IN_WHEN_OPTED_OUT[core])
    if expecting == "nps":
        scored = _nps_score(core)
        if scored is not None:
            return reply("nps", scored[1], scored[0])
        return reply("unknown", None)
    for intent, table in _REMINDER.items():
        if core in table:
            return reply(intent, table[core])
    return reply("unknown", None)

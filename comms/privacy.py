"""Identifier guard: nothing that identifies a patient may appear in a prompt sent to an LLM.

The prompts are built from non-identifying segment context only, so in normal operation the guard
never fires. It exists because "normal operation" is one careless template edit away from sending
a name or a birth date to a third party: every outgoing prompt is checked just before the call,
and a hit raises `IdentifierLeak` so the caller refuses to send.

Pure: plain data in, an exception (or nothing) out. No logging of the matched values — the
exception names only the *kinds* of identifier found, so it is safe to log.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

__all__ = ["IdentifierLeak", "PatientIdentifiers", "check_prompt", "fold", "prompt_texts"]

# Name particles are words of ordinary Spanish/English text; checking "de" from "de la Cruz"
# would refuse every Spanish prompt.
_NAME_PARTICLES = frozenset(
    "de del la las los el y e da das do dos di du van von der den le st mc".split()  # noqa: SIM905
)
_MONTH_LISTS = (
    "jan feb mar apr may jun jul aug sep oct nov dec",
    "january february march april may june july august september october november december",
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
)
_MONTHS = {m: i for names in _MONTH_LISTS for i, m in enumerate(names.split(), 1)}
_MONTHS.update({"sept": 9, "setiembre": 9, "ene": 1, "abr": 4, "ago": 8, "dic": 12})
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
# "5 March 1980", "5th of March, 1980", "5 de marzo de 1980"
_DAY_MONTH_YEAR = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+|de\s+)?({_MONTH_RE})\.?,?\s+(?:de\s+|del\s+)?"
    r"(\d{2,4})\b"
)
# "March 5, 1980", "Mar 5th 1980"
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{2,4}})\b")
# Three numbers with one kind of separator: 1980-03-05, 03/05/1980, 5.3.80, 05 03 1980.
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,4})([./\- ])(\d{1,2})\2(\d{2,4})(?!\d)")
_COMPACT_DATE = re.compile(r"(?<!\d)(\d{6}|\d{8})(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Nine or more digits with phone punctuation: any phone number with an area code. The prompt
# context never legitimately contains one, whoever the patient is.
_PHONE_LIKE = re.compile(r"(?<!\d)\+?\d(?:[\s().\-]*\d){8,}(?!\d)")
_SEP = r"[\s().\-/]*"


class IdentifierLeak(Exception):
    """An outgoing prompt contains a patient identifier; the call must not be made.

    `kinds` names what was found (e.g. ``("last_name", "phone")``), never the value itself.
    """

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(sorted(set(kinds)))
        super().__init__("prompt contains patient identifiers: " + ", ".join(self.kinds))


@dataclass(frozen=True)
class PatientIdentifiers:
    """What identifies one patient. Any field may be empty; empty fields are not checked."""

    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    date_of_birth: date | None = None
    record_number: str = ""
    address_lines: tuple[str, ...] = field(default_factory=tuple)


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'José NÚÑEZ' -> 'jose nunez'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def prompt_texts(messages: Iterable[Any]) -> list[str]:
    """Every string inside a chat `messages` payload (contents, content parts, names)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(list(messages))
    return found


def check_prompt(
    messages: Iterable[Any],
    identifiers: Iterable[PatientIdentifiers] = (),
    *,
    allow_first_name: bool = False,
) -> None:
    """Raise `IdentifierLeak` if any message content identifies a patient.

    Checks the given patients' identifiers and, whoever the patient, anything shaped like an
    email address or a full phone number. `allow_first_name` permits first names only.
    """
    text = fold("\n".join(prompt_texts(messages)))
    kinds: list[str] = []
    if _EMAIL.search(text):
        kinds.append("email_pattern")
    if _PHONE_LIKE.search(text):
        kinds.append("phone_pattern")
    for patient in identifiers:
        kinds.extend(_patient_hits(text, patient, allow_first_name=allow_first_name))
    if kinds:
        raise IdentifierLeak(kinds)


def _patient_hits(text: str, patient: PatientIdentifiers, *, allow_first_name: bool) -> list[str]:
    hits: list[str] = []
    if not allow_first_name and _name_in(text, patient.first_name):
        hits.append("first_name")
    if _name_in(text, patient.last_name):
        hits.append("last_name")
    if _phone_in(text, patient.phone):
        hits.append("phone")
    if _email_in(text, patient.email):
        hits.append("email")
    if patient.date_of_birth and _date_in(text, patient.date_of_birth):
        hits.append("date_of_birth")
    if _record_in(text, patient.record_number):
        hits.append("record_number")
    if any(_address_in(text, line) for line in patient.address_lines):
        hits.append("address")
    return hits


def _whole_word(text: str, needle: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", text) is not None


def _name_in(text: str, name: str) -> bool:
    name = fold(name).strip()
    if not name:
        return False
    if _whole_word(text, name):
        return True
    # Compound names ("García López", "Mary-Jane"): each significant part identifies too.
    parts = [p for p in re.split(r"[\s\-']+", name) if len(p) > 1 and p not in _NAME_PARTICLES]
    return any(_whole_word(text, part) for part in parts)


def _spaced_digits(digits: str) -> str:
    """Regex matching `digits` with any phone punctuation between them."""
    return _SEP.join(digits)


def _phone_in(text: str, phone: str) -> bool:
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return False
    # The national part may follow a country code, so no left boundary; the local seven digits
    # ("555-0123") stand alone.
    national = digits[-10:]
    if re.search(_spaced_digits(national) + r"(?!\d)", text):
        return True
    local = digits[-7:]
    return re.search(rf"(?<![\d\-]){_spaced_digits(local)}(?!\d)", text) is not None


def _email_in(text: str, email: str) -> bool:
    email = fold(email).strip()
    if not email:
        return False
    if email in text:
        return True
    local = email.split("@", 1)[0]
    return len(local) >= 5 and _whole_word(text, local)


def _record_in(text: str, record: str) -> bool:
    chars = re.sub(r"[^0-9a-z]", "", fold(record))
    if len(chars) < 4:
        return False
    pattern = rf"(?<![0-9a-z]){_SEP.join(map(re.escape, chars))}(?![0-9a-z])"
    return re.search(pattern, text) is not None


def _address_in(text: str, line: str) -> bool:
    collapsed = _collapse(text)
    for chunk in fold(line).split(","):
        chunk = _collapse(chunk)
        # A chunk identifies if it is specific: has a number ("12 oak st", "90210") or 2+ words.
        # A bare city name does not.
        specific = len(chunk) >= 5 and (re.search(r"\d", chunk) or " " in chunk)
        if specific and re.search(rf"(?<!\w){re.escape(chunk)}(?!\w)", collapsed):
            return True
    return False


def _collapse(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _date_in(text: str, dob: date) -> bool:
    for m in _DAY_MONTH_YEAR.finditer(text):
        if _same_date(dob, int(m[3]), _MONTHS[m[2]], int(m[1])):
            return True
    for m in _MONTH_DAY_YEAR.finditer(text):
        if _same_date(dob, int(m[3]), _MONTHS[m[1]], int(m[2])):
            return True
    for m in _NUMERIC_DATE.finditer(text):
        a, b, c = int(m[1]), int(m[3]), int(m[4])
        # Year first (ISO), or day/month in either order before the year (EU and US).
        if len(m[1]) == 4 and _same_date(dob, a, b, c):
            return True
        if _same_date(dob, c, a, b) or _same_date(dob, c, b, a):
            return True
    for m in _COMPACT_DATE.finditer(text):
        digits = m[1]
        if len(digits) == 8:
            ymd = (digits[:4], digits[4:6], digits[6:])
            dmy_mdy = (digits[4:], digits[:2], digits[2:4])
        else:
            ymd = (digits[:2], digits[2:4], digits[4:])
            dmy_mdy = (digits[4:], digits[:2], digits[2:4])
        y, m1, m2 = (int(x) for x in dmy_mdy)
        if _same_date(dob, *map(int, ymd)) or _same_date(dob, y, m1, m2):
            return True
        if _same_date(dob, y, m2, m1):
            return True
    return False


def _same_date(dob: date, year: int, month: int, day: int) -> bool:
    if year < 100:
        # Two-digit years are ambiguous by century; compare the last two digits only.
        return (year, month, day) == (dob.year % 100, dob.month, dob.day)
    return (year, month, day) == (dob.year, dob.month, dob.day)

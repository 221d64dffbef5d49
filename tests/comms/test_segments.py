"""SMS encoding and segment counting: what a message costs before it is sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comms.segments import (
    GSM7_BASIC,
    GSM7_EXT,
    SegmentInfo,
    count_segments,
    to_gsm_safe,
    ucs2_chars,
)

GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXT), max_size=700)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentInfo("GSM-7", 0, 0)),
        ("a", SegmentInfo("GSM-7", 1, 1)),
        ("a" * 160, SegmentInfo("GSM-7", 1, 160)),
        ("a" * 161, SegmentInfo("GSM-7", 2, 161)),
        ("a" * 306, SegmentInfo("GSM-7", 2, 306)),
        ("a" * 307, SegmentInfo("GSM-7", 3, 307)),
        ("€" * 80, SegmentInfo("GSM-7", 1, 160)),  # extension characters cost two septets
        ("€" * 81, SegmentInfo("GSM-7", 2, 162)),
        ("[" + "a" * 159, SegmentInfo("GSM-7", 2, 161)),
        ("a" * 152 + "{" + "a" * 5, SegmentInfo("GSM-7", 1, 159)),
        # 152 septets then an escape pair: the pair moves whole to the second part, so 306
        # septets need three parts where a plain 306 would fit in two.
        ("a" * 152 + "{" + "a" * 152, SegmentInfo("GSM-7", 3, 306)),
        ("á" * 70, SegmentInfo("UCS-2", 1, 70)),
        ("á" * 71, SegmentInfo("UCS-2", 2, 71)),
        ("á" * 134, SegmentInfo("UCS-2", 2, 134)),
        ("á" * 135, SegmentInfo("UCS-2", 3, 135)),
        ("😀" * 35, SegmentInfo("UCS-2", 1, 70)),  # outside the BMP: a surrogate pair each
        ("😀" * 36, SegmentInfo("UCS-2", 2, 72)),
        ("a" * 66 + "😀" + "a" * 66, SegmentInfo("UCS-2", 3, 134)),  # the pair is not split
        ("Mañana ¿10:00? ¡Ya! Ünd é", SegmentInfo("GSM-7", 1, 25)),
        ("Su cita es el día 5", SegmentInfo("UCS-2", 1, 19)),  # í is not GSM-7
    ],
)
def test_count_segments_table(text: str, expected: SegmentInfo) -> None:
    assert count_segments(text) == expected


def test_a_reminder_with_one_smart_quote_costs_more() -> None:
    plain = "Reminder: your appointment with Dr. O'Neil is on Tue 3 Mar at 9:30 AM. " * 2
    smart = plain.replace("'", "\u2019")
    assert count_segments(plain) == SegmentInfo("GSM-7", 1, 142)
    assert count_segments(smart) == SegmentInfo("UCS-2", 3, 142)
    assert ucs2_chars(smart) == ["\u2019"]
    assert to_gsm_safe(smart) == plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain ascii", []),
        ("¡Hola! ¿Mañana? é ü Ñ", []),
        ("día, publicación", ["í", "ó"]),
        ("a“b”c“", ["“", "”"]),
        ("ok 👍", ["👍"]),
        ("ç is lower-case only outside GSM-7; Ç is inside", ["ç"]),
    ],
)
def test_ucs2_chars(text: str, expected: list[str]) -> None:
    assert ucs2_chars(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("“Quoted” — ‘single’ – dash…", "\"Quoted\" - 'single' - dash..."),
        ("9:30\u202fAM\u00a0today", "9:30 AM today"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("«Cita» confirmada", '"Cita" confirmada'),
        # Accents GSM-7 lacks are kept unless asked: the clinic chooses readability or cost.
        ("Su cita es el día 5 a las 10:00. ¿Confirma? Responda SÍ", None),
    ],
)
def test_to_gsm_safe_keeps_accents_by_default(text: str, expected: str | None) -> None:
    assert to_gsm_safe(text) == (text if expected is None else expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("El día 5. ¿Confirma? Responda SÍ", "El dia 5. ¿Confirma? Responda SI"),
        ("Médico: Dr. Gómez, Peña, Güell, edición", "Médico: Dr. Gomez, Peña, Güell, edicion"),
        ("ÁÉÍÓÚ áéíóú ñÑ üÜ", "AÉIOU aéiou ñÑ üÜ"),
        ("François, âge", "Francois, age"),
        ("emoji stays 😀", "emoji stays 😀"),
    ],
)  # fmt: skip
def test_to_gsm_safe_transliterates_when_asked(text: str, expected: str) -> None:
    assert to_gsm_safe(text, transliterate_accents=True) == expected


@given(GSM_TEXT)
def test_gsm_text_stays_gsm_and_unchanged(text: str) -> None:
    info = count_segments(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text) + sum(char in GSM7_EXT for char in text)
    assert to_gsm_safe(text) == text
    assert ucs2_chars(text) == []


@given(st.text(max_size=400))
def test_segment_bounds(text: str) -> None:
    info = count_segments(text)
    single, multi = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    if info.units == 0:
        assert info.segments == 0
    elif info.units <= single:
        assert info.segments == 1
    else:
        # Never fewer than a perfect split, and at most one part wasted per unsplittable pair.
        assert info.segments >= -(-info.units // multi)
        assert info.segments <= -(-info.units // (multi - 1))
    assert (info.encoding == "UCS-2") == bool(ucs2_chars(text))


@given(st.text(max_size=300))
def test_transliteration_only_removes_ucs2_characters(text: str) -> None:
    safe = to_gsm_safe(text, transliterate_accents=True)
    assert set(ucs2_chars(safe)) <= set(ucs2_chars(text))

"""Benchmark the message writer against a loopback OpenAI server with realistic latency.

    python bench/writer.py                   # 10,000 reminders, 800 ms per LLM call
    python bench/writer.py --messages 2000 --latency 0.2 --json

Three measurements, one run:
1. cached: N reminders over realistic segments with a per-segment variant cache; the fake
   answers with a good draft, except every `--adversarial-every`-th call, which gets a bad one.
   Goal: LLM calls <= distinct segments.
2. uncached: a small sample (`--sample`) written with no cache (one LLM call per message);
   time per message is measured on the sample and extrapolated to N (said so in the output).
3. adversarial: every kind of bad output in the catalogue, for an English SMS and a Spanish
   email segment. Goal: all caught (template used, reason recorded, no bad text sent).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from comms.drafts import Segment  # noqa: E402
from comms.llm import LLMEngine  # noqa: E402
from comms.writer import MemoryVariantCache, Writer, WriteRequest  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Reply, adversarial_replies  # noqa: E402


def _demo_clinic_types() -> tuple[str, ...]:
    """The visit types of the demo clinic (`make demo`), so the figures are for that clinic."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from scheduling.demo import TYPES

    return tuple(row[0] for row in TYPES)


APPOINTMENT_TYPES = _demo_clinic_types()
# The demo clinic's mix (scheduling/demo.py): 30% of patients read Spanish; 70% have an e-mail
# address and a quarter of those prefer it, so about 17.5% of reminders go by e-mail.
LANGUAGE_SHARE = {"en": 0.7, "es": 0.3}
CHANNEL_SHARE = {"sms": 0.825, "email": 0.175}
TONES = {"sms": ("warm",), "email": ("warm", "formal")}
FACTS = {
    "en": {
        "date": "Thursday, June 12",
        "time": "10:15 AM",
        "provider": "Dr. Priya Natarajan",
        "location": "Riverside Clinic",
        "address": "400 Mill Road, Springfield",
        "link": "https://clinic.example.org/r/Qx81",
        "prep": "Do not eat for 8 hours before a blood test.",
        "clinic_phone": "+1 (555) 555-0100",
    },
    "es": {
        "date": "jueves 12 de junio",
        "time": "10:15",
        "provider": "Dra. Lucía Ortega",
        "location": "Clínica Ribera",
        "address": "Calle del Molino 400, Springfield",
        "link": "https://clinic.example.org/r/Qx81",
        "prep": "No coma durante 8 horas antes de un análisis de sangre.",
        "clinic_phone": "+1 (555) 555-0100",
    },
}
GOOD = {
    ("en", "sms"): "Hello! Your {appointment} with {provider} is on {date} at {time}, {location}. "
    "Reply C to confirm, R to reschedule, 2 to cancel. Reply STOP to opt out",
    ("es", "sms"): "Hola. Su cita de {appointment} con {provider} es el {date} a las {time}, "
    "{location}. Responda C para confirmar, R para reprogramar, 2 para cancelar. "
    "Responda PARAR para cancelar suscripcion",
    ("en", "email"): "This is a reminder of your {appointment} with {provider} on {date} at "
    "{time}.\n\nWhere: {location}, {address}\n\nBefore your visit:\n{prep}\n\nTo confirm, cancel "
    "or choose a new time, use this link: {link}\n\nQuestions? Call us at {clinic_phone}.",
    ("es", "email"): "Le recordamos su cita de {appointment} con {provider} el {date} a las "
    "{time}.\n\nLugar: {location}, {address}\n\nAntes de su visita:\n{prep}\n\nPara confirmar, "
    "cancelar o cambiar la cita, use este enlace: {link}\n\n¿Preguntas? Llámenos al "
    "{clinic_phone}.",
}
SUBJECT = {"en": "Your appointment reminder", "es": "Recordatorio de su cita"}


def segments() -> list[Segment]:
    """The realistic reminder segments: language x appointment type x channel x tone."""
    return [
        Segment("reminder", language, kind, channel, tone=tone)
        for language in ("en", "es")
        for kind in APPOINTMENT_TYPES
        for channel in ("sms", "email")
        for tone in TONES[channel]
    ]


def good_reply(body: dict[str, Any]) -> Reply:
    """What a cooperative model writes for the prompt in `body` (language, channel, type)."""
    user = body["messages"][1]["content"]
    language = "es" if "Escriba" in user else "en"
    channel = "sms" if "SMS" in user else "email"
    match = re.search(r"(?:Appointment type|Tipo de cita): (.+)", user)
    text = GOOD[(language, channel)].replace("{appointment}", match[1] if match else "visit")
    return Reply.draft(text, SUBJECT[language] if channel == "email" else "")


class ScriptedModel:
    """Responder that is good except every `every`-th call, which gets the next bad output."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.calls = 0
        self.adversarial: list[str] = []  # segment description per adversarial call

    def __call__(self, body: dict[str, Any]) -> Reply:
        self.calls += 1
        good = good_reply(body)
        if not self.every or self.calls % self.every:
            return good
        user = body["messages"][1]["content"]
        required = re.findall(r"\{([a-z_]+)\}", user.split("\n\n")[-1].split("\n")[0])
        draft = json.loads(good.content or "{}")["body"]
        kinds = adversarial_replies(draft, required or ["date"])
        # Timeouts and 500s are exercised in the adversarial pass; here, wrong content.
        names = [k for k in kinds if k not in ("timeout", "http_500")]
        name = names[len(self.adversarial) % len(names)]
        self.adversarial.append(name)
        return kinds[name]


def engine(fake: FakeOpenAI, timeout_s: float) -> LLMEngine:
    return LLMEngine(
        api_key="bench", model="bench", base_url=fake.base_url, timeout_s=timeout_s, max_retries=0
    )


def run_cached(args: argparse.Namespace, segs: list[Segment]) -> dict[str, Any]:
    model = ScriptedModel(args.adversarial_every)
    with FakeOpenAI(latency_s=args.latency, responder=model) as fake:
        writer = Writer(llm=engine(fake, args.timeout), cache=MemoryVariantCache())
        rng = random.Random(7)
        weights = [
            LANGUAGE_SHARE[seg.language] * CHANNEL_SHARE[seg.channel] / len(TONES[seg.channel])
            for seg in segs
        ]
        picks = rng.choices(segs, weights=weights, k=args.messages)
        sources: dict[Segment, set[str]] = {seg: set() for seg in picks}
        started = time.perf_counter()
        for seg in picks:
            sources[seg].add(writer.write(WriteRequest(seg, FACTS[seg.language])).source)
        elapsed = time.perf_counter() - started
        warm = picks[:2000]
        warm_started = time.perf_counter()
        for seg in warm:
            writer.write(WriteRequest(seg, FACTS[seg.language]))
        warm_ms = (time.perf_counter() - warm_started) * 1000 / len(warm)
    # The writer is sequential and the cache drafts each segment once, at its first message:
    # call k answered the k-th distinct segment, so we know which segments got a bad output.
    drafted = list(dict.fromkeys(picks))
    bad = {seg for k, seg in enumerate(drafted, 1) if model.every and k % model.every == 0}
    return {
        "llm_calls": len(fake.requests),
        "distinct_segments": len(drafted),
        "llm_messages": sum(1 for seg in picks if "llm" in sources[seg]),
        "adversarial_in_run": len(bad),
        "caught_in_run": sum(1 for seg in bad if sources[seg] == {"template"}),
        "good_refused": sum(1 for seg in set(drafted) - bad if "llm" not in sources[seg]),
        "ms_per_message": elapsed * 1000 / len(picks),
        "ms_per_message_warm": warm_ms,
    }


def run_uncached(args: argparse.Namespace, segs: list[Segment]) -> dict[str, Any]:
    with FakeOpenAI(latency_s=args.latency, responder=good_reply) as fake:
        writer = Writer(llm=engine(fake, args.timeout))
        rng = random.Random(11)
        started = time.perf_counter()
        for _ in range(args.sample):
            seg = rng.choice(segs)
            writer.write(WriteRequest(seg, FACTS[seg.language]))
        ms = (time.perf_counter() - started) * 1000 / args.sample
        return {"sample": args.sample, "llm_calls": len(fake.requests), "ms_per_message": ms}


def run_adversarial(args: argparse.Namespace) -> dict[str, Any]:
    cases = [Segment("reminder", "en", "eye exam", "sms"), Segment("reminder", "es", "eye exam",
                                                                   "email")]  # fmt: skip
    caught, total, missed = 0, 0, []
    with FakeOpenAI(latency_s=args.latency, responder=good_reply) as fake:
        writer = Writer(llm=engine(fake, args.timeout))
        for seg in cases:
            good = json.loads(good_reply(_fake_body(seg)).content or "{}")["body"]
            replies = adversarial_replies(good, list(seg.placeholders), seg.language)
            for name, reply in replies.items():
                if name == "timeout":
                    reply = Reply.hang(args.timeout + 1)
                fake.script(reply)
                message = writer.write(WriteRequest(seg, FACTS[seg.language]))
                total += 1
                ok = message.source == "template" and bool(message.fallback_reason)
                caught += ok
                if not ok:
                    missed.append(f"{seg.language}/{seg.channel}/{name}")
    return {"adversarial": total, "caught": caught, "missed": missed}


def _fake_body(seg: Segment) -> dict[str, Any]:
    """A minimal request body with the markers `good_reply` reads."""
    if seg.language == "es":
        channel = "mensaje de texto (SMS)" if seg.channel == "sms" else "correo"
        user = f"Escriba ... {channel}\n- Tipo de cita: {seg.appointment_type}"
    else:
        channel = "text message (SMS)" if seg.channel == "sms" else "email"
        user = f"Write ... {channel}\n- Appointment type: {seg.appointment_type}"
    return {"messages": [{"content": ""}, {"content": user}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.8, help="seconds per LLM reply")
    parser.add_argument("--sample", type=int, default=20, help="uncached messages to time")
    parser.add_argument("--adversarial-every", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=2.0, help="client timeout, seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    segs = segments()
    cached = run_cached(args, segs)
    uncached = run_uncached(args, segs)
    adversarial = run_adversarial(args)
    adversarial["adversarial"] += cached["adversarial_in_run"]
    adversarial["caught"] += cached["caught_in_run"]

    speedup = uncached["ms_per_message"] / cached["ms_per_message"]
    rows = [
        ("messages", args.messages),
        ("segments (distinct used)", f"{len(segs)} ({cached['distinct_segments']})"),
        ("LLM calls, cached", cached["llm_calls"]),
        ("LLM calls, uncached (one per message)", f"{args.messages} (extrapolated)"),
        ("messages from LLM / template", f"{cached['llm_messages']} / "
                                         f"{args.messages - cached['llm_messages']}"),
        ("good drafts refused (false rejections)", cached["good_refused"]),
        ("adversarial outputs / caught", f"{adversarial['adversarial']} / "
                                         f"{adversarial['caught']}"),
        ("ms per message, cached (incl. drafting)", f"{cached['ms_per_message']:.3f}"),
        ("ms per message, cached, warm", f"{cached['ms_per_message_warm']:.3f}"),
        (f"ms per message, uncached (sample of {args.sample}, extrapolated)",
         f"{uncached['ms_per_message']:.1f}"),
        ("speed-up cached vs uncached", f"{speedup:.0f}x"),
        ("LLM latency per call, ms", f"{args.latency * 1000:.0f}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if adversarial["missed"]:
        print("missed:", ", ".join(adversarial["missed"]))
    if args.json:
        print(json.dumps({
            "messages": args.messages,
            "segments": cached["distinct_segments"],
            "llm_calls": cached["llm_calls"],
            "llm_calls_uncached": args.messages,
            "adversarial": adversarial["adversarial"],
            "caught": adversarial["caught"],
            "good_refused": cached["good_refused"],
            "ms_per_message_cached": round(cached["ms_per_message"], 3),
            "ms_per_message_cached_warm": round(cached["ms_per_message_warm"], 3),
            "ms_per_message_uncached": round(uncached["ms_per_message"], 1),
            "latency_ms": args.latency * 1000,
        }))  # fmt: skip


if __name__ == "__main__":
    main()

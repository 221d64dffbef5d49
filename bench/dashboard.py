"""Benchmark: the insight dashboard on 200,000 responses vs a naive per-row ORM loop, same run.

    python bench/dashboard.py                    # seeds clinic_dash_bench once, then measures
    python bench/dashboard.py --responses 20000  # a smaller data set (re-seeds on a size change)
    python bench/dashboard.py --json             # ... and one JSON object as the last line

Needs PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/clinic_dash_bench);
the database is created if missing and reused while it holds the requested number of responses.
Seeding uses COPY. Each page view is a Django test Client GET /insights/ as a logged-in manager.
The naive loop walks responses one ORM row at a time (answers and comments fetched per row); it
runs on a sample of rows and its time is extrapolated to the full row count (printed as such).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clinic_dash_bench"
PROVIDERS, LOCATIONS, TYPES, DAYS = 50, 5, 4, 730
RESPONSE_SHARE = 0.7  # invitations answered
COMMENT_SHARE = 0.25
NAIVE_SAMPLE = 1500


def _setup(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# -- the figures, two ways (also imported by tests/surveys/test_insights.py) -------------------


def query_figures(f: Any) -> dict[str, float]:
    """Responses, NPS parts, top box per item and negative comments via aggregate queries."""
    from surveys import insights_queries as q

    counts = q.nps_counts(f)
    out: dict[str, float] = {k: float(v) for k, v in counts.items()}
    out["nps"] = q.nps(counts["promoters"], counts["detractors"], counts["nps_n"]) or 0.0
    for row in q.top_box(f):
        out[f"n_{row['code']}"] = float(row["n"])
        out[f"top_{row['code']}"] = float(row["top"])
    cc = q.comment_counts(f)
    out["comments"], out["negative"] = float(cc["comments"]), float(cc["negative"])
    return out


def naive_figures(f: Any, limit: int | None = None) -> tuple[dict[str, float], int, int]:
    """The same figures by looping over rows. Returns (figures, rows looped, rows in total)."""
    from surveys import insights_queries as q
    from surveys.models import Response

    codes = set(q.likert_codes())
    out: dict[str, float] = {"responses": 0, "nps_n": 0, "promoters": 0, "detractors": 0}
    out |= {"comments": 0, "negative": 0}
    qs = Response.objects.filter(visit_date__gte=f.start, visit_date__lte=f.end).order_by("pk")
    total = qs.count() if limit else 0
    looped = 0
    for r in qs[:limit] if limit else qs:
        looped += 1
        if r.completed_at is None:
            continue
        if f.location and r.location_id != f.location:
            continue
        if f.provider and r.provider_id != f.provider:
            continue
        if f.appointment_type and r.appointment_type_id != f.appointment_type:
            continue
        if f.channel and r.invite_channel != f.channel:
            continue
        out["responses"] += 1
        if r.nps is not None:
            out["nps_n"] += 1
            out["promoters"] += r.nps >= 9
            out["detractors"] += r.nps <= 6
        for a in r.answers.all():
            if a.code in codes and a.value_int is not None:
                out[f"n_{a.code}"] = out.get(f"n_{a.code}", 0) + 1
                out[f"top_{a.code}"] = out.get(f"top_{a.code}", 0) + (a.value_int == q.TOP_BOX)
        for c in r.comments.all():
            out["comments"] += 1
            out["negative"] += c.effective_sentiment == "negative"
    out = {k: float(v) for k, v in out.items()}
    out["nps"] = q.nps(int(out["promoters"]), int(out["detractors"]), int(out["nps_n"])) or 0.0
    return out, looped, total or looped


# -- seeding ------------------------------------------------------------------------------------


def _copy(model: Any, rows: Iterator[dict[str, Any]]) -> int:
    """COPY rows (dicts by attname; missing fields take the model default) into model's table."""
    from django.db import connection, models

    fields = model._meta.concrete_fields
    defaults = {f.attname: f.get_default() for f in fields if f.attname != "id"}
    is_json = {f.attname for f in fields if isinstance(f, models.JSONField)}
    cols = ", ".join(f'"{f.column}"' for f in fields)
    n = 0
    with (
        connection.cursor() as cur,
        cur.cursor.copy(f'COPY "{model._meta.db_table}" ({cols}) FROM STDIN') as copy,
    ):
        for row in rows:
            values = []
            for f in fields:
                v = row.get(f.attname, defaults.get(f.attname))
                values.append(json.dumps(v) if f.attname in is_json else v)
            copy.write_row(values)
            n += 1
    with connection.cursor() as cur:
        # Table names come from our own models, never from input.
        table = model._meta.db_table
        sql = f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
        sql += f'(SELECT COALESCE(MAX(id), 1) FROM "{table}"))'  # noqa: S608
        cur.execute(sql)
    return n


def seed(n_responses: int, seed_value: int = 7) -> None:
    """Locations, providers, types, patients, appointments, invitations, responses, answers,
    comments and themes over two years ending yesterday; deterministic for a given size."""
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.utils import timezone

    from scheduling import models as sm
    from surveys import models as m
    from surveys.insights_queries import LIKERT_CODES

    rng = random.Random(seed_value)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE surveys_responserollup, surveys_invitationrollup, surveys_appointmentrollup, "
            "surveys_commenttheme, surveys_comment, surveys_answer, surveys_ticket, "
            "surveys_response, surveys_invitation, scheduling_appointmentchange, "
            "scheduling_appointment, scheduling_patient RESTART IDENTITY CASCADE"
        )
    spec, _ = sm.Specialty.objects.get_or_create(name="Family Medicine")
    locations = [
        sm.Location.objects.get_or_create(
            name=f"Bench clinic {i}",
            defaults={"address_line1": "1 Main St", "city": "Chicago", "time_zone": "UTC"},
        )[0]
        for i in range(LOCATIONS)
    ]
    providers = []
    for i in range(PROVIDERS):
        p, _ = sm.Provider.objects.get_or_create(
            first_name=f"Bench{i}", last_name="Provider", defaults={"specialty": spec}
        )
        p.locations.set([locations[i % LOCATIONS]])
        providers.append(p)
    types = [
        sm.AppointmentType.objects.get_or_create(
            name=f"Bench visit {i}", defaults={"duration_minutes": 30}
        )[0]
        for i in range(TYPES)
    ]
    questions = {
        q.code: q for q in m.Question.objects.filter(survey__language="en", survey__active=True)
    }
    free_text = questions.get("do_better")
    likert = [questions[c] for c in LIKERT_CODES if c in questions]
    n_invitations = int(n_responses / RESPONSE_SHARE)
    n_appointments = int(n_invitations * 1.08)  # plus no-shows and cancellations
    n_patients = max(100, n_responses // 10)
    now = timezone.now()
    first_day = date.today() - timedelta(days=DAYS)
    _copy(
        sm.Patient,
        (
            {"id": i + 1, "first_name": f"P{i}", "last_name": "Bench",
             "date_of_birth": date(1970, 1, 1), "email": f"p{i}@bench.invalid",
             "home_location_id": locations[i % LOCATIONS].pk, "preferred_channel": "email",
             "created_at": now, "record_number": None}
            for i in range(n_patients)
        ),
    )  # fmt: skip
    per_provider = n_appointments // PROVIDERS + 1
    appts: list[tuple[int, int, int, int, date, str]] = []  # id, provider, location, type, day, st
    for k in range(n_appointments):
        p_idx, slot = k % PROVIDERS, k // PROVIDERS
        day = first_day + timedelta(days=slot * DAYS // per_provider)
        status = rng.choices(["completed", "no_show", "cancelled"], [0.926, 0.037, 0.037])[0]
        appts.append((k + 1, providers[p_idx].pk, locations[p_idx % LOCATIONS].pk,
                      types[k % TYPES].pk, day, status, slot))  # fmt: skip

    def appointment_rows() -> Iterator[dict[str, Any]]:
        for aid, pid, lid, tid, day, status, slot in appts:
            start = datetime.combine(day, dtime(8), tzinfo=UTC) + timedelta(
                minutes=40 * (slot % 12)
            )
            yield {"id": aid, "patient_id": aid % n_patients + 1, "provider_id": pid,
                   "location_id": lid, "appointment_type_id": tid, "start": start,
                   "end": start + timedelta(minutes=30), "blocked_until": start +
                   timedelta(minutes=30), "status": status, "created_via": "demo",
                   "created_at": now, "updated_at": now}  # fmt: skip

    _copy(sm.Appointment, appointment_rows())
    completed = [a for a in appts if a[5] == "completed"][:n_invitations]
    answered = set(rng.sample(range(len(completed)), min(n_responses, len(completed))))
    channels = ("sms", "email")

    def invitation_rows() -> Iterator[dict[str, Any]]:
        for i, (aid, *_rest) in enumerate(completed):
            day = _rest[3]
            yield {"id": i + 1, "appointment_id": aid, "patient_id": aid % n_patients + 1,
                   "channel": channels[i % 2],
                   "status": "completed" if i in answered else rng.choice(["sent", "expired"]),
                   "created_at": datetime.combine(day, dtime(18), tzinfo=UTC),
                   "expires_at": datetime.combine(day, dtime(18), tzinfo=UTC)
                   + timedelta(days=7)}  # fmt: skip

    _copy(m.Invitation, invitation_rows())
    response_ids = sorted(answered)
    answers: list[dict[str, Any]] = []
    comment_rows: list[dict[str, Any]] = []
    theme_rows: list[dict[str, Any]] = []
    texts = [("The wait was far too long", "negative", "wait_time"),
             ("Lovely friendly staff", "positive", "staff_manner"),
             ("Doctor explained everything clearly", "positive", "communication"),
             ("Could not get an appointment for weeks", "negative", "access"),
             ("It was fine", "neutral", "")]  # fmt: skip

    def response_rows() -> Iterator[dict[str, Any]]:
        for rid, i in enumerate(response_ids, start=1):
            aid, pid, lid, tid, day, _st, _slot = completed[i]
            done = datetime.combine(day, dtime(20), tzinfo=UTC)
            score = min(10, max(0, int(rng.gauss(8, 2.2))))
            yield {"id": rid, "invitation_id": i + 1, "channel": "web", "started_at": done,
                   "completed_at": done, "nps": score, "provider_rating": score,
                   "location_id": lid, "provider_id": pid, "appointment_type_id": tid,
                   "visit_date": day, "invite_channel": channels[i % 2]}  # fmt: skip
            for qn in likert:
                answers.append({"response_id": rid, "question_id": qn.pk, "code": qn.code,
                                "value_int": rng.choices((1, 2, 3, 4), (5, 10, 25, 60))[0],
                                "value_text": ""})  # fmt: skip
            if free_text and rng.random() < COMMENT_SHARE:
                text, sentiment, theme = rng.choice(texts)
                answers.append(
                    {
                        "response_id": rid,
                        "question_id": free_text.pk,
                        "code": "do_better",
                        "value_int": None,
                        "value_text": text,
                    }
                )
                comment_rows.append({"id": len(comment_rows) + 1, "answer_id": len(answers),
                                     "response_id": rid, "question_code": "do_better",
                                     "text": text, "textblob_polarity": 0.0,
                                     "sentiment": sentiment, "score": 0.0, "analysed_at": now,
                                     "visit_date": day, "location_id": lid, "provider_id": pid,
                                     "corrected_sentiment": ""})  # fmt: skip
                if theme:
                    theme_rows.append({"comment_id": len(comment_rows), "theme": theme,
                                       "sentiment": sentiment, "visit_date": day})  # fmt: skip

    _copy(m.Response, response_rows())
    _copy(m.Answer, ({"id": i, **a} for i, a in enumerate(answers, start=1)))
    _copy(m.Comment, iter(comment_rows))
    _copy(m.CommentTheme, ({"id": i, **t} for i, t in enumerate(theme_rows, start=1)))
    # COPY sends no signals: count the dashboard's roll-ups once, as migration 0005 does.
    from surveys import rollup

    rollup.rebuild(first_day - timedelta(days=1), date.today())
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    user, _ = User.objects.get_or_create(username="bench-manager")
    user.groups.add(Group.objects.get(name="Manager"))


# -- measuring ----------------------------------------------------------------------------------


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def measure(repeats: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from scheduling.models import AppointmentType, Location, Provider
    from surveys import insights_queries as q

    today = date.today()
    loc = Location.objects.filter(name__startswith="Bench").first()
    prov = Provider.objects.filter(first_name__startswith="Bench").first()
    vtype = AppointmentType.objects.filter(name__startswith="Bench").first()
    combos = {
        "last 90 days": {},
        "one location, 90 days": {"location": loc.pk},
        "one provider, 1 year": {"provider": prov.pk, "start": str(today - timedelta(days=365))},
        "email, visit type, 30 days": {
            "channel": "email", "appointment_type": vtype.pk,
            "start": str(today - timedelta(days=29)),
        },
        "everything, 2 years": {"start": str(today - timedelta(days=DAYS))},
    }  # fmt: skip
    client = Client()
    client.force_login(User.objects.get(username="bench-manager"))
    results: dict[str, Any] = {"combos": {}, "load_before": os.getloadavg()}
    all_page: list[float] = []
    naive_ms: list[float] = []
    for label, params in combos.items():
        f = q.Filters.from_query({k: str(v) for k, v in params.items()})
        client.get("/insights/", params)  # warm caches and connections
        page: list[float] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = client.get("/insights/", params)
            page.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as ctx:
            client.get("/insights/", params)
        t0 = time.perf_counter()
        fast = query_figures(f)
        fast_ms = (time.perf_counter() - t0) * 1000
        reset_queries()
        t0 = time.perf_counter()
        slow, looped, total = naive_figures(f, limit=NAIVE_SAMPLE)
        loop_ms = (time.perf_counter() - t0) * 1000
        extrapolated = loop_ms * total / max(looped, 1)
        naive_ms.append(extrapolated)
        all_page.extend(page)
        results["combos"][label] = {
            "page_p50_ms": statistics.median(page),
            "page_p95_ms": _p95(page),
            "queries_per_page": len(ctx.captured_queries),
            "figures_query_ms": fast_ms,
            "naive_ms": extrapolated,
            "naive_rows": total,
            "naive_sampled": looped < total,
            "responses_in_view": int(fast["responses"]),
        }
    results["load_after"] = os.getloadavg()
    results["page_p95_ms"] = _p95(all_page)
    results["naive_p95_ms"] = _p95(naive_ms)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    _setup(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    from surveys.models import Response

    if args.reseed or Response.objects.count() != args.responses:
        t0 = time.perf_counter()
        seed(args.responses)
        print(f"seeded {args.responses:,} responses in {time.perf_counter() - t0:.0f} s")
    else:
        print(f"reusing the seeded database ({args.responses:,} responses)")
    res = measure(args.repeats)
    print(f"{'view':32} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'figs ms':>8} "
          f"{'naive ms':>10}  naive rows")  # fmt: skip
    for label, r in res["combos"].items():
        note = f"{r['naive_rows']:,}" + (" (extrapolated)" if r["naive_sampled"] else "")
        print(f"{label:32} {r['page_p50_ms']:8.0f} {r['page_p95_ms']:8.0f} "
              f"{r['queries_per_page']:8d} {r['figures_query_ms']:8.0f} {r['naive_ms']:10.0f}  "
              f"{note}")  # fmt: skip
    ratio = res["naive_p95_ms"] / res["page_p95_ms"]
    start_load, end_load = (
        ", ".join(f"{x:.2f}" for x in res[k]) for k in ("load_before", "load_after")
    )
    print(f"load average (1/5/15 min): {start_load} at start, {end_load} at end, "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"page p95 {res['page_p95_ms']:.0f} ms (goal <= 300); naive loop p95 "
          f"{res['naive_p95_ms']:.0f} ms (figures only, sampled {NAIVE_SAMPLE} rows per view and "
          f"extrapolated); naive/page = {ratio:.1f}x")  # fmt: skip
    if args.json:
        print(json.dumps({"responses": args.responses, "page_p95_ms": round(res["page_p95_ms"], 1),
                          "naive_p95_ms": round(res["naive_p95_ms"], 1),
                          "ratio": round(ratio, 1), "load_before": res["load_before"],
                          "load_after": res["load_after"], "combos": res["combos"]}))  # fmt: skip


if __name__ == "__main__":
    main()

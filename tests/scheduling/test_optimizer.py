"""Batch optimiser: hard constraints hold, results reproduce, never worse than first-fit."""

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.instances import generate
from scheduling.optimizer import first_fit, optimize
from scheduling.slots import FreeTime, to_minute
from scheduling.suggest import BookingRequest

# A small work budget keeps each run well under a second and fully deterministic; the wall
# limit is only a safety cap far above it.
FAST = {"time_limit": 30.0, "work_limit": 0.3}


def check_feasible(inst, res) -> None:
    """Every hard constraint, re-checked from the raw input."""
    clinic = inst.clinic
    reqs = {r.id: r for r in inst.requests}
    types = {t.id: t for t in clinic.appointment_types}
    provs = {p.id: p for p in clinic.providers}
    lo = min(r.window_start for r in inst.requests)
    hi = max(r.window_end for r in inst.requests)
    free = FreeTime.build(clinic, lo, hi)  # availability with existing bookings removed
    per_provider, per_patient = {}, {}
    for a in res.assignments:
        req, t = reqs[a.request_id], types[reqs[a.request_id].type_id]
        s, e = to_minute(a.start), to_minute(a.end)
        assert e - s == t.duration
        assert req.window_start <= a.start and a.end <= req.window_end
        assert req.providers is None or a.provider_id in req.providers
        assert t.specialty is None or t.specialty in provs[a.provider_id].specialties
        blocked = (s, e + t.buffer_after)
        assert any(
            x <= blocked[0] and blocked[1] <= y
            for x, y, _ in free.intervals(a.provider_id, s, s + 1)
        ), a
        local = a.start.astimezone(ZoneInfo(clinic.locations[0].tz))
        assert local.minute % clinic.grid_minutes == 0
        per_provider.setdefault(a.provider_id, []).append(blocked)
        per_patient.setdefault(req.patient_id, []).append((s, e))
    for spans in (*per_provider.values(), *per_patient.values()):
        spans.sort()
        assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False)), spans
    assert len({a.request_id for a in res.assignments}) == len(res.assignments)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    requests=st.integers(5, 60),
    grid=st.sampled_from([5, 15]),
    existing=st.integers(0, 20),
)
def test_optimizer_output_is_always_feasible(seed, requests, grid, existing):
    inst = generate(providers=3, days=2, requests=requests, seed=seed, grid=grid, existing=existing)
    res = optimize(inst.clinic, inst.requests, seed=seed, time_limit=30.0, work_limit=0.15)
    check_feasible(inst, res)
    assert res.objective <= res.bound + 1e-6
    ff = first_fit(inst.clinic, inst.requests)
    check_feasible(inst, ff)
    assert res.objective >= ff.objective
    assert set(res.reasons) == {r.id for r in inst.requests}


def test_same_input_and_seed_give_same_schedule():
    inst = generate(providers=4, days=3, requests=120, seed=7)
    a = optimize(inst.clinic, inst.requests, seed=3, **FAST)
    b = optimize(inst.clinic, inst.requests, seed=3, **FAST)
    assert a.status != "time_cap"
    assert a.assignments == b.assignments and a.objective == b.objective


def test_beats_first_fit_under_load_and_reports_gap():
    inst = generate(providers=4, days=3, requests=150, seed=11)
    ff = first_fit(inst.clinic, inst.requests, with_bound=True)
    res = optimize(inst.clinic, inst.requests, **FAST)
    assert res.objective > ff.objective
    assert 0.0 <= res.gap < ff.gap
    assert res.bound == ff.bound
    assert res.status in ("feasible", "optimal")


def test_impossible_requests_get_reasons_and_others_still_scheduled():
    inst = generate(providers=3, days=2, requests=10, seed=1)
    good = inst.requests[0]
    bad = [
        BookingRequest("unknown", "x", "massage", good.window_start, good.window_end),
        BookingRequest(
            "nobody",
            "y",
            good.type_id,
            good.window_start,
            good.window_end,
            providers=frozenset({"ghost"}),
        ),
        BookingRequest(
            "weekend",
            "z",
            good.type_id,
            datetime.fromisoformat("2026-03-07T00:00-05:00"),
            datetime.fromisoformat("2026-03-08T00:00-05:00"),
        ),
    ]
    res = optimize(inst.clinic, [*inst.requests, *bad], **FAST)
    assert "unknown appointment type" in res.reasons["unknown"]
    assert "no provider" in res.reasons["nobody"]
    assert "no free time" in res.reasons["weekend"]
    assert len(res.assignments) == len(inst.requests)
    check_feasible(inst, res)


def test_no_requests_at_all():
    inst = generate(providers=2, days=1, requests=0, seed=1)
    res = optimize(inst.clinic, [], **FAST)
    assert res.assignments == () and res.status == "empty"


def _reference_first_fit(inst):
    """First-fit written directly on `candidate_starts` (the definition of the baseline)."""
    from scheduling.batch import Placed, Problem
    from scheduling.suggest import DEFAULT_WEIGHTS, candidate_starts

    pb = Problem(inst.clinic, inst.requests, DEFAULT_WEIGHTS)
    plan = pb.new_plan()
    for i in pb.preps:
        cands = candidate_starts(pb.preps[i], plan.free, pb.patient_busy(plan, i))
        if cands:
            t, pid, blk, part = min(cands, key=lambda c: (c[0], pb.rank[c[1]]))
            pb.place(plan, i, Placed(pid, t, blk, part, pb.points(i, pid, blk, part)))
    return pb.objective(plan), {pb.requests[i].id: pl.start for i, pl in plan.at.items()}


def test_first_fit_matches_its_definition():
    from scheduling.slots import to_minute

    for seed, grid, existing in ((2, 15, 0), (5, 5, 40)):
        inst = generate(providers=4, days=3, requests=140, seed=seed, grid=grid, existing=existing)
        objective, starts = _reference_first_fit(inst)
        ff = first_fit(inst.clinic, inst.requests)
        assert ff.objective == objective
        assert {a.request_id: to_minute(a.start) for a in ff.assignments} == starts


def test_cell_repairs_keep_the_schedule_feasible_and_never_lose(monkeypatch):
    import scheduling.lns as lns

    monkeypatch.setattr(lns, "CELL_SHARE", 1.0)  # cell repairs only
    inst = generate(providers=4, days=3, requests=200, seed=5)  # over-full: cells are scarce
    ff = first_fit(inst.clinic, inst.requests)
    a = optimize(inst.clinic, inst.requests, time_limit=30.0, work_limit=0.6, seed=2)
    b = optimize(inst.clinic, inst.requests, time_limit=30.0, work_limit=0.6, seed=2)
    check_feasible(inst, a)
    assert a.iterations > 0 and a.status != "time_cap"
    assert a.objective >= ff.objective and a.objective <= a.bound + 1e-6
    assert a.assignments == b.assignments

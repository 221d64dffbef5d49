"""Large-neighbourhood search for the batch optimiser: free a few provider-days, repair with
a small CP-SAT interval model, keep the answer only if the exact objective does not drop.

Every decision is driven by the seed and by CP-SAT deterministic time, so the same input and seed
give the same schedule; the wall-clock deadline is only a safety cap.
"""

from __future__ import annotations

import random
import time as clock

from ortools.sat.python import cp_model

from scheduling.batch import Placed, Plan, Problem
from scheduling.slots import Block

REPAIR_WORK = 0.05  # CP-SAT deterministic-time cap of one repair
OPTION_WORK = 0.0005  # work units charged per optional interval of a repair model
MAX_EXTRA = 8  # unplaced requests offered to one repair


def improve(
    pb: Problem, plan: Plan, rng: random.Random, budget: float, deadline: float, bound: float
) -> tuple[int, bool]:
    """Repair random neighbourhoods until `budget` work units are spent; edits `plan` in place.

    Returns (iterations, whether the wall-clock deadline cut the search short).
    """
    keys = sorted(pb.pdays)
    days: dict[int, list[str]] = {}
    for p, d in keys:
        days.setdefault(d, []).append(p)
    day_list = sorted(days)
    size, spent, iters = 3, 0.0, 0
    current = pb.objective(plan)
    while spent < budget and current < bound - 0.5:
        if clock.perf_counter() >= deadline:
            return iters, True
        nb = _neighbourhood(pb, plan, rng, size, keys, days, day_list)
        det, optimal, delta, n_opts = _repair(pb, plan, nb, rng, deadline)
        current += delta
        # Each step costs its deterministic time plus a charge per optional interval for
        # building and loading the model, which CP-SAT's deterministic time does not count.
        spent += det + OPTION_WORK * n_opts
        iters += 1
        size = min(size + 1, 6) if optimal else max(2, size - 1)
    return iters, False


def _neighbourhood(
    pb: Problem,
    plan: Plan,
    rng: random.Random,
    size: int,
    keys: list[tuple[str, int]],
    days: dict[int, list[str]],
    day_list: list[int],
) -> set[tuple[str, int]]:
    """Provider-days to free: an unplaced request's options, a day, or one provider's run."""
    mode = rng.random()
    unplaced = [i for i in pb.preps if i not in plan.at]
    if mode < 0.4 and unplaced:
        i = rng.choice(unplaced)
        opts = sorted({(o.pid, o.block.day) for o in pb.options[i]})
        if opts:
            return set(rng.sample(opts, min(size, len(opts))))
    if mode < 0.8:
        d = rng.choice(day_list)
        pids = days[d]
        return {(p, d) for p in rng.sample(pids, min(size, len(pids)))}
    p, d = rng.choice(keys)
    return {(p, d + k) for k in range(-size // 2, size - size // 2) if (p, d + k) in pb.pdays}


def _repair(
    pb: Problem, plan: Plan, nb: set[tuple[str, int]], rng: random.Random, deadline: float
) -> tuple[float, bool, int, int]:
    """Re-place everything on provider-days `nb` (plus some unplaced requests) with CP-SAT.

    Returns (deterministic time used, whether CP-SAT proved its sub-problem optimal, change in
    the objective, number of optional intervals). The plan changes only when the exact
    objective does not drop.
    """
    provs = sorted({p for p, _ in nb})
    before = sum(pb.provider_objective(plan, p) for p in provs)
    freed = sorted(
        i for p in provs for i in plan.by_provider.get(p, ()) if (p, plan.at[i].block.day) in nb
    )
    old = {i: pb.unplace(plan, i) for i in freed}
    spans = [pb.pdays[k] for k in sorted(nb)]
    lo_nb, hi_nb = min(s for s, _ in spans), max(e for _, e in spans)
    extra = [
        i
        for i, prep in pb.preps.items()
        if i not in plan.at
        and i not in old
        and prep.lo < hi_nb
        and prep.hi > lo_nb
        and any(p in nb_p for p in prep.providers for nb_p in (provs,))
    ]
    # Favour dense requests (points per blocked minute) but keep some chance for every one.
    extra.sort(
        key=lambda i: -pb.w.scheduled[pb.preps[i].urgency] / pb.preps[i].length * rng.random()
    )
    cands = freed + extra[:MAX_EXTRA]

    m = cp_model.CpModel()
    terms: list = []
    per_prov: dict[str, list] = {}
    per_block: dict[tuple[str, int], tuple[Block, list]] = {}
    per_patient: dict[str, list] = {}
    chosen: list[tuple[int, str, Block, str, cp_model.IntVar, cp_model.IntVar]] = []
    w = pb.w
    for i in cands:
        prep = pb.preps[i]
        busy = pb.patient_busy(plan, i)
        groups: dict[tuple[str, int, str], tuple[Block, list[int]]] = {}
        for pid in prep.providers:
            if pid not in provs:
                continue
            for a, b, blk in plan.free.intervals(pid, prep.lo, prep.hi):
                if (pid, blk.day) not in nb or (
                    prep.request.location_id not in (None, blk.location_id)
                ):
                    continue
                t = plan.free.align_up(max(a, prep.lo), blk)
                last = min(b - prep.length, prep.hi - prep.duration)
                while t <= last:
                    if not any(s < t + prep.duration and t < e for s, e in busy):
                        part = blk.part_of_day(t)
                        groups.setdefault((pid, blk.start, part), (blk, []))[1].append(t)
                    t += plan.free.grid
        pres_all = []
        hint = old.get(i)
        for (pid, _, part), (blk, starts) in groups.items():
            pres = m.new_bool_var("")
            start = m.new_int_var_from_domain(cp_model.Domain.from_values(starts), "")
            per_prov.setdefault(pid, []).append(
                m.new_optional_fixed_size_interval_var(start, prep.length, pres, "")
            )
            owners, ivs = per_patient.setdefault(prep.request.patient_id, (set(), []))
            owners.add(i)
            ivs.append(m.new_optional_fixed_size_interval_var(start, prep.duration, pres, ""))
            per_block.setdefault((pid, blk.start), (blk, []))[1].append((start, pres, prep.length))
            pts = pb.points(i, pid, blk, part)
            terms.append((pts + w.idle_per_minute * prep.length) * pres)
            pres_all.append(pres)
            chosen.append((i, pid, blk, part, pres, start))
            on = (
                hint is not None
                and hint.provider_id == pid
                and hint.block is blk
                and hint.part == part
            )
            m.add_hint(pres, on)
            if on:
                m.add_hint(start, hint.start)
        if len(pres_all) > 1:
            m.add_at_most_one(pres_all)
    for ivs in per_prov.values():
        if len(ivs) > 1:
            m.add_no_overlap(ivs)
    for owners, ivs in per_patient.values():
        if len(owners) > 1:  # one request's own options already exclude each other
            m.add_no_overlap(ivs)
    for blk, items in per_block.values():
        lo, hi = m.new_int_var(blk.start, blk.end, ""), m.new_int_var(blk.start, blk.end, "")
        m.add(lo <= hi)
        fixed = list(pb.fixed.get((blk.provider_id, blk.start), ())) + [
            (plan.at[j].start, plan.at[j].start + pb.preps[j].length)
            for j in plan.by_provider.get(blk.provider_id, ())
            if plan.at[j].block is blk
        ]
        if fixed:
            m.add(lo <= min(s for s, _ in fixed))
            m.add(hi >= max(e for _, e in fixed))
        for start, pres, length in items:
            m.add(lo <= start).only_enforce_if(pres)
            m.add(hi >= start + length).only_enforce_if(pres)
        terms.append(-w.idle_per_minute * (hi - lo))
    for pid in provs:
        lens = [(pres, pb.preps[i].length) for i, p, _, _, pres, _ in chosen if p == pid]
        fixed_load = pb.existing_load.get(pid, 0) + sum(
            pb.preps[j].length for j in plan.by_provider.get(pid, ())
        )
        over = m.new_int_var(0, 10**7, "")
        m.add(over >= fixed_load + sum(ln * pr for pr, ln in lens) - pb.target.get(pid, 0))
        terms.append(-w.overload_per_minute * over)
    m.maximize(sum(terms))

    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.num_workers, prm.random_seed = 1, rng.randrange(1 << 30)
    prm.cp_model_probing_level, prm.symmetry_level = 0, 0
    prm.max_deterministic_time = REPAIR_WORK
    prm.max_time_in_seconds = max(0.01, deadline - clock.perf_counter())
    status = solver.solve(m)
    det = solver.deterministic_time
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for i, pid, blk, part, pres, start in chosen:
            if solver.value(pres):
                t = solver.value(start)
                pb.place(plan, i, Placed(pid, t, blk, part, pb.points(i, pid, blk, part)))
        after = sum(pb.provider_objective(plan, p) for p in provs)
        if after >= before:
            return det, status == cp_model.OPTIMAL, after - before, len(chosen)
        for i in [i for i in cands if i in plan.at]:
            pb.unplace(plan, i)
    for i, pl in old.items():
        pb.place(plan, i, pl)
    return det, status == cp_model.OPTIMAL, 0, len(chosen)

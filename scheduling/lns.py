"""Large-neighbourhood search for the batch optimiser: free some working blocks, repair them
with a small CP-SAT model, keep the answer only if the exact objective does not drop.

Two repairs, drawn at random (`CELL_SHARE`):
  * cell repair: which requests fill which free interval of the blocks of several providers on
    one or two days, as an assignment model over grid cells with no start times; each interval
    is then laid out end to end (`moves.pack_interval`). Small and fast, so it covers many
    intervals at once and finds chains of swaps that fill the last few grid cells, which is
    where most of the gap sits once the clinic is full;
  * start repair: a few provider-days re-placed with an interval model that chooses start
    times (idle time, part of day, patient overlaps exactly).

Every decision is driven by the seed and by CP-SAT deterministic time, so the same input and seed
give the same schedule; the wall-clock deadline is only a safety cap.
"""

from __future__ import annotations

import random
import time as clock

from ortools.sat.python import cp_model

from scheduling.batch import Option, Placed, Plan, Problem
from scheduling.moves import cells_of, pack_interval
from scheduling.slots import Block

REPAIR_WORK = 0.05  # CP-SAT deterministic-time cap of one repair
OPTION_WORK = 0.0005  # work units charged per optional interval of a repair model
MAX_EXTRA = 8  # unplaced requests offered to one repair
CELL_SHARE = 0.9  # share of repairs that re-choose cells rather than start times
CELL_EXTRA = 40  # unplaced requests offered to one cell repair
CELL_WORK = 0.05  # CP-SAT deterministic-time cap of one cell repair
CELL_VAR_WORK = 0.0001  # work units charged per variable of a cell repair model


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
    cell_size = 4
    blocks = {(b.provider_id, b.start): b for bs in pb.base.blocks.values() for b in bs}
    per_pday: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for key, b in sorted(blocks.items()):
        per_pday.setdefault((b.provider_id, b.day), []).append(key)
    current = pb.objective(plan)
    while spent < budget and current < bound - 0.5:
        if clock.perf_counter() >= deadline:
            return iters, True
        if rng.random() < CELL_SHARE:
            # the blocks of `cell_size` providers on one day
            d = day_list[rng.randrange(len(day_list))]
            pids = rng.sample(days[d], min(cell_size, len(days[d])))
            nb = {key for p in pids for key in per_pday[(p, d)]}
            det, optimal, delta, n_vars = _cell_repair(pb, plan, nb, blocks, rng, deadline)
            cost = det + CELL_VAR_WORK * n_vars
            cell_size = min(cell_size + 1, 12) if optimal else max(2, cell_size - 1)
        else:
            nb = _neighbourhood(pb, plan, rng, size, keys, days, day_list)
            det, optimal, delta, n_opts = _repair(pb, plan, nb, rng, deadline)
            cost = det + OPTION_WORK * n_opts
            size = min(size + 1, 6) if optimal else max(2, size - 1)
        current += delta
        # Each step costs its deterministic time plus a charge per model variable for
        # building and loading the model, which CP-SAT's deterministic time does not count.
        spent += cost
        iters += 1
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

    solver = _small_solver(rng, REPAIR_WORK, deadline)
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


# -- cell repairs: which requests go in which free interval, decided without start times -------
def _cell_repair(
    pb: Problem,
    plan: Plan,
    nb: set[tuple[str, int]],
    blocks: dict[tuple[str, int], Block],
    rng: random.Random,
    deadline: float,
) -> tuple[float, bool, int, int]:
    """Re-choose which requests fill the free intervals of blocks `nb` (plus some unplaced
    ones) with a CP-SAT assignment model over grid cells, then lay each interval out end to
    end. Sequential packing turns any choice whose cells fit into a schedule, so the model
    needs no start times and covers many intervals at once (chains of swaps between them).

    Returns (deterministic time, proved optimal, change in the objective, variables). The
    plan changes only when the exact objective does not drop.
    """
    g, w = pb.base.grid, pb.w
    ivs = [(key, a, b) for key in sorted(nb) for a, b in pb.block_free.get(key, ())]
    members = [
        [k for k in plan.members.get(key, ()) if a <= plan.at[k].start < b] for key, a, b in ivs
    ]
    lo_nb = min(blocks[key].start for key in nb)
    hi_nb = max(blocks[key].end for key in nb)
    provs = {p for p, _ in nb}
    extra = [
        i
        for i in pb.preps
        if i not in plan.at
        and pb.preps[i].lo < hi_nb
        and pb.preps[i].hi > lo_nb
        and any(p in provs for p in pb.preps[i].providers)
    ]
    extra.sort(key=lambda i: -pb.w.scheduled[pb.preps[i].urgency] / cells_of(pb, i) * rng.random())
    cands = sorted({k for ks in members for k in ks}) + extra[:CELL_EXTRA]
    current = {k: n for n, ks in enumerate(members) for k in ks}

    m = cp_model.CpModel()
    xs: list[tuple[int, int, Option, cp_model.IntVar]] = []
    per_req: dict[int, list] = {}
    per_iv: dict[int, list] = {}
    per_prov: dict[str, list] = {}
    by_key: dict[tuple[str, int], list[int]] = {}
    for n, (key, _, _) in enumerate(ivs):
        by_key.setdefault(key, []).append(n)
    for i in cands:
        prep = pb.preps[i]
        c = cells_of(pb, i)
        hint = plan.at.get(i)
        for o in pb.options[i]:
            for n in by_key.get((o.pid, o.block.start), ()):
                _, a, b = ivs[n]
                if b <= o.lo or a > o.hi or b - a < prep.length:
                    continue
                x = m.new_bool_var("")
                xs.append((i, n, o, x))
                per_req.setdefault(i, []).append(x)
                per_iv.setdefault(n, []).append((x, c, o))
                per_prov.setdefault(o.pid, []).append((x, prep.length))
                on = current.get(i) == n and hint is not None and hint.part == o.part
                m.add_hint(x, on)
        if len(per_req.get(i, ())) > 1:
            m.add_at_most_one(per_req[i])
    terms = [
        (o.points - w.idle_per_minute * (cells_of(pb, i) * g - pb.preps[i].length)) * x
        for i, _, o, x in xs
    ]
    for n, items in per_iv.items():
        _, a, b = ivs[n]
        blk = blocks[ivs[n][0]]

        def up(t: int, blk: Block = blk) -> int:
            return t + (blk.phase - t) % g

        m.add(sum(c * x for x, c, _ in items) <= (up(b) - up(a)) // g)
        for cut in (blk.noon, blk.evening):
            if a < cut < b:  # whatever starts after the cut lies after it
                late = [(x, c) for x, c, o in items if o.lo >= cut]
                early = [(x, c) for x, c, o in items if o.lo < cut]
                if late:
                    m.add(sum(c * x for x, c in late) <= (up(b) - up(cut)) // g)
                if early:  # the last one starting before the cut may run past it
                    most = max(c for _, c in early)
                    m.add(sum(c * x for x, c in early) <= (up(cut) - up(a)) // g + most - 1)
    for pid in sorted(per_prov):
        fixed_load = pb.existing_load.get(pid, 0) + sum(
            pb.preps[j].length for j in plan.by_provider.get(pid, ()) if j not in current
        )
        over = m.new_int_var(0, 10**7, "")
        m.add(over >= fixed_load + sum(ln * x for x, ln in per_prov[pid]) - pb.target.get(pid, 0))
        terms.append(-w.overload_per_minute * over)
    m.maximize(sum(terms))

    solver = _small_solver(rng, CELL_WORK, deadline)
    status = solver.solve(m)
    det, optimal = solver.deterministic_time, status == cp_model.OPTIMAL
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return det, optimal, 0, len(xs)
    chosen: dict[int, list[tuple[int, Option]]] = {}
    for i, n, o, x in xs:
        if solver.value(x):
            chosen.setdefault(n, []).append((i, o))
    if all(sorted(k for k, _ in chosen.get(n, ())) == sorted(ks) for n, ks in enumerate(members)):
        return det, optimal, 0, len(xs)  # same requests in the same intervals
    keys = set(nb)
    before = pb.local(plan, keys)
    old = {k: pb.unplace(plan, k) for k in current}
    done: list[int] = []
    for n, (key, a, b) in enumerate(ivs):
        seq = sorted(
            chosen.get(n, ()),
            key=lambda io: (io[1].lo, old[io[0]].start if io[0] in old else 0, io[0]),
        )
        placed = pack_interval(pb, plan, key[0], blocks[key], a, b, seq)
        if placed is None:
            placed = pack_interval(pb, plan, key[0], blocks[key], a, b, [(i, None) for i, _ in seq])
        if placed is None:
            break
        done += placed
    else:
        delta = pb.local(plan, keys) - before
        if delta >= 0:
            return det, optimal, delta, len(xs)
    for k in done:
        pb.unplace(plan, k)
    for k, pl in old.items():
        pb.place(plan, k, pl)
    return det, optimal, 0, len(xs)


def _small_solver(rng: random.Random, work: float, deadline: float) -> cp_model.CpSolver:
    """A CP-SAT solver for one small repair: one worker, seeded from `rng`, no probing or
    symmetry search (their set-up costs more than such a model's search), capped by `work`
    (deterministic time) and by the wall-clock `deadline`."""
    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.num_workers, prm.random_seed = 1, rng.randrange(1 << 30)
    prm.cp_model_probing_level, prm.symmetry_level = 0, 0
    prm.max_deterministic_time = work
    prm.max_time_in_seconds = max(0.01, deadline - clock.perf_counter())
    return solver

"""Cheap deterministic local search for the batch optimiser, run before the CP-SAT repairs.

Two moves, each kept only if the exact objective (`Problem.local` over the working blocks it
touches, plus their providers' overload) rises:
  * relocate: a placed request moves to a better-valued option where it fits now;
  * insert: an unplaced request takes an option where it fits, or by evicting one of the
    `MAX_VICTIMS` lowest-valued requests of that block, which is then re-placed at its best
    feasible option (or left out).
The passes visit requests in a fixed order and stop when the shared `budget` of tries runs out,
so the result depends only on the input. `pack_interval` lays chosen requests end to end in a
free interval (the cell repairs of `scheduling.lns` use it).
"""

from __future__ import annotations

import math
import time as clock

from scheduling.batch import Option, Placed, Plan, Problem
from scheduling.slots import Block

MAX_VICTIMS = 3  # cheapest requests of a block tried as the one to evict


def _late(budget: list[int], deadline: float) -> bool:
    """Wall-clock safety cap, looked at every 64 tries; the budget of tries is the real limit."""
    return budget[0] % 64 == 0 and clock.perf_counter() >= deadline


def _key(pl: Placed) -> tuple[str, int]:
    return (pl.provider_id, pl.block.start)


def _best_place(pb: Problem, plan: Plan, i: int, floor: int = -1) -> Placed | None:
    """Highest-valued feasible option of request `i` worth more than `floor`."""
    busy = pb.patient_busy(plan, i)
    for o in pb.ranked[i]:
        if o.points <= floor:
            return None
        t = pb.earliest(plan.free, i, o, busy)
        if t is not None:
            return Placed(o.pid, t, o.block, o.part, o.points)
    return None


def relocate_pass(pb: Problem, plan: Plan, budget: list[int], deadline: float = math.inf) -> int:
    """Move placed requests to better options; returns the objective gained."""
    gained = 0
    for i in sorted(plan.at):
        if budget[0] <= 0 or _late(budget, deadline):
            break
        budget[0] -= 1
        cur = plan.at[i]
        if all(o.points <= cur.points for o in pb.options[i]):
            continue
        old = pb.unplace(plan, i)
        new = _best_place(pb, plan, i, floor=cur.points)
        if new is None:
            pb.place(plan, i, old)
            continue
        keys = {_key(old), _key(new)}
        pb.place(plan, i, new)
        after = pb.local(plan, keys)
        pb.unplace(plan, i)
        pb.place(plan, i, old)
        if after > pb.local(plan, keys):
            gained += after - pb.local(plan, keys)
            pb.unplace(plan, i)
            pb.place(plan, i, new)
    return gained


def insert_pass(pb: Problem, plan: Plan, budget: list[int], deadline: float = math.inf) -> int:
    """Place unplaced requests, evicting one cheaper request per try; returns the gain."""
    gained = 0
    unplaced = [i for i in pb.preps if i not in plan.at and pb.options[i]]
    unplaced.sort(key=lambda i: (-max(o.points for o in pb.options[i]), i))
    for i in unplaced:
        if budget[0] <= 0 or _late(budget, deadline):
            break
        busy = pb.patient_busy(plan, i)
        for o in pb.ranked[i]:
            if budget[0] <= 0 or i in plan.at:
                break
            t = pb.earliest(plan.free, i, o, busy)
            if t is not None:
                gained += _try(pb, plan, i, o, t)
                continue
            victims = sorted(
                (j for j in plan.by_provider.get(o.pid, ()) if plan.at[j].block is o.block),
                key=lambda j: (plan.at[j].points, j),
            )
            for j in victims[:MAX_VICTIMS]:
                budget[0] -= 1
                if budget[0] <= 0:
                    break
                gain = _evict(pb, plan, i, o, j)
                if gain:
                    gained += gain
                    break
    return gained


def _try(pb: Problem, plan: Plan, i: int, o: Option, t: int) -> int:
    keys = {(o.pid, o.block.start)}
    before = pb.local(plan, keys)
    pb.place(plan, i, Placed(o.pid, t, o.block, o.part, o.points))
    delta = pb.local(plan, keys) - before
    if delta > 0:
        return delta
    pb.unplace(plan, i)
    return 0


def _evict(pb: Problem, plan: Plan, i: int, o: Option, j: int) -> int:
    """Evict `j`, place `i` at option `o`, re-place `j` at its best; keep only if it pays."""
    old = plan.at[j]
    pb.unplace(plan, j)
    t = pb.earliest(plan.free, i, o, pb.patient_busy(plan, i))
    if t is None:
        pb.place(plan, j, old)
        return 0
    new_i = Placed(o.pid, t, o.block, o.part, o.points)
    pb.place(plan, i, new_i)
    moved = _best_place(pb, plan, j)
    keys = {(o.pid, o.block.start)}
    if moved is not None:
        keys.add(_key(moved))
        pb.place(plan, j, moved)
    after = pb.local(plan, keys)
    if moved is not None:
        pb.unplace(plan, j)
    pb.unplace(plan, i)
    pb.place(plan, j, old)
    before = pb.local(plan, keys)
    if after <= before:
        return 0
    pb.unplace(plan, j)
    pb.place(plan, i, new_i)
    if moved is not None:
        pb.place(plan, j, moved)
    return after - before


# -- packing: lay requests end to end in a free interval --------------------------------------
def cells_of(pb: Problem, i: int) -> int:
    """Grid cells request `i` blocks when placed (length rounded up to the grid)."""
    return -(-pb.preps[i].length // pb.base.grid)


def pack_interval(
    pb: Problem, plan: Plan, pid: str, blk: Block, a: int, b: int, seq: list
) -> list[int] | None:
    """Place `seq` [(request, option or None)] one after another in free interval [a, b) of
    `pid`'s block `blk`, each at its earliest feasible start (any of its options in the block,
    or the given one); None, with nothing placed, if one does not fit."""
    g, cursor, done = pb.base.grid, a, []
    for i, only in seq:
        prep = pb.preps[i]
        busy = pb.patient_busy(plan, i)
        best = None
        for o in [only] if only is not None else pb.options[i]:
            if o.block is not blk:
                continue
            t = max(cursor, o.lo)
            t += (blk.phase - t) % g
            last = min(o.hi, b - prep.length)
            while t <= last and any(s < t + prep.duration and t < e for s, e in busy):
                t += g
            if t <= last and (best is None or (t, -o.points) < (best[0], -best[1].points)):
                best = (t, o)
        if best is None:
            for j in done:
                pb.unplace(plan, j)
            return None
        t, o = best
        pb.place(plan, i, Placed(pid, t, blk, o.part, o.points))
        done.append(i)
        cursor = t + prep.length
    return done

"""Upper bound for the batch optimiser: an LP relaxation of placing requests in free time.

Variables: x[c] in [0, 1] per column c = (request, free interval of the clinic before any
request, part of day of the start), worth the best points of the request's options there (every
other option of the same column has the same coefficients and fewer points, so leaving it out
does not change the LP value); y[r] >= 0 idle minutes per interval. Maximise
sum points * x - idle_per_minute * sum y.

A placed request blocks `cells` = ceil(length / grid) grid cells: it starts on the grid and the
next start in the same interval is on the grid too, so the footprints [start, start + cells *
grid) of the requests in one interval are disjoint. With up(t) the first grid start >= t and
cells(s, t) = (up(t) - up(s)) / grid, every schedule satisfies, per interval [a, b):

* room:    sum cells * x <= cells(a, b)          (all footprints lie in [up(a), up(b)));
* suffix:  for a part-of-day boundary T (local 12:00, 17:00) inside the interval, the requests
  starting at or after T: sum cells * x <= cells(T, b);
* prefix:  those starting before T: sum cells * x <= cells(a, T) + most - 1, `most` the largest
  `cells` among them (all but the last end by its start, which is at most up(T) - grid);
* idle:    sum waste * x - y <= max waste, waste = cells * grid - length: between two
  consecutive requests of one interval lie at least `waste` free minutes of the first (the
  second starts on the grid), inside the block's span, so they count as idle; only the last
  request of an interval escapes;

plus each request placed at most once. Any schedule gives a feasible point worth at least its
objective (its idle is at least sum y, its overload penalty >= 0), so the LP value bounds the
objective from above. Left out: the overload penalty (rows per provider made GLOP 2-3x slower
for under 0.01 %), patient no-overlap, the idle around fixed bookings.

Large instances have 100-250k columns, too many for GLOP in a few seconds, so the LP is solved by
column generation: GLOP on a few columns per request, then every column is priced with numpy
against GLOP's duals and the improving ones join, for a fixed number of rounds (deterministic).
Whatever round it stops at, the Lagrangian bound with that round's prices u >= 0 (idle prices
clipped to their weight, so y contributes nothing),
    sum_rows rhs * u + sum_i max(0, max_c (points_c - coefficients_c . u)),
bounds the LP from above (weak duality), and equals it once no column prices out.
"""

from __future__ import annotations

import math
import time as clock
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from scheduling.batch import Problem

MAX_LP_ITERATIONS = 100_000  # simplex iterations per GLOP solve
ROUNDS = 12  # column-generation rounds at most
START_COLUMNS = 4  # best columns per request in the first round
ADD_COLUMNS = 3  # improving columns per request added per round


@dataclass
class LpModel:
    """The LP above. Row indices -1 mean "no such row" (numpy reads a trailing zero price)."""

    rhs: np.ndarray  # cells, per cell row (interval rooms, then suffix/prefix rows)
    idle_rhs: np.ndarray  # minutes, per idle row
    req: np.ndarray  # per column: request index
    pts: np.ndarray  # points
    cells: np.ndarray  # grid cells blocked
    rows: np.ndarray  # (columns, 3): its interval row and one row per part-of-day boundary
    idle_row: np.ndarray
    waste: np.ndarray  # minutes
    keys: list[tuple]  # pull key (request, provider, block start, part)


def lp_model(pb: Problem) -> LpModel:
    """The LP's rows and columns for `pb` (dominated columns dropped)."""
    g, w = pb.base.grid, pb.w
    ivl: dict[tuple[str, int], tuple[int, int, object]] = {}
    best: dict[tuple, tuple[int, tuple, int]] = {}
    for i, opts in pb.options.items():
        length = pb.preps[i].length
        for o in opts:
            phase = o.block.phase
            for a, b in pb.block_free.get((o.pid, o.block.start), ()):
                m = max(a, o.lo)
                if m + (phase - m) % g > min(b - length, o.hi):
                    continue
                ivl[(o.pid, a)] = (a, b, o.block)
                cur = best.get((i, o.pid, a, o.part))
                if cur is None or o.points > cur[0]:
                    key = (i, o.pid, o.block.start, o.part)
                    best[(i, o.pid, a, o.part)] = (o.points, key, o.lo)
    rhs: list[float] = []
    row_of: dict[tuple, int] = {}  # (provider, interval start[, cut, side]) -> cell row
    early: set[int] = set()  # prefix rows
    most: dict[int, int] = {}  # prefix row -> largest cells among its columns
    idle_of: dict[tuple[str, int], int] = {}
    idle_rhs: list[float] = []
    group: dict[tuple, tuple[int, int, int]] = {}  # (provider, interval, part) -> rows

    def rows_for(pid: str, a0: int, part: str, lo: int) -> tuple[int, int, int]:
        a, b, blk = ivl[(pid, a0)]
        ph = blk.phase
        up_a, up_b = a + (ph - a) % g, b + (ph - b) % g
        if (pid, a) not in row_of:
            row_of[(pid, a)] = len(rhs)
            rhs.append((up_b - up_a) // g)
        out = [row_of[(pid, a)], -1, -1]
        for slot, cut in ((1, blk.noon), (2, blk.evening)):
            up_c = cut + (ph - cut) % g
            if not up_a < up_c < up_b:
                continue
            side = lo >= cut  # starts at or after the cut
            if (pid, a, cut, side) not in row_of:
                row_of[(pid, a, cut, side)] = len(rhs)
                rhs.append((up_b - up_c) // g if side else (up_c - up_a) // g - 1)
                if not side:
                    early.add(len(rhs) - 1)
            out[slot] = row_of[(pid, a, cut, side)]
        return out[0], out[1], out[2]

    n = len(best)
    req, pts, cells = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    rows = np.full((n, 3), -1, np.int64)
    idle_row, waste = np.full(n, -1, np.int64), np.zeros(n)
    keys = []
    for k, ((i, pid, a, part), (p, key, lo)) in enumerate(sorted(best.items())):
        gk = (pid, a, part)
        if gk not in group:
            group[gk] = rows_for(pid, a, part, lo)
        r = group[gk]
        length = pb.preps[i].length
        c = -(-length // g)
        req[k], pts[k], cells[k], rows[k] = i, p, c, r
        keys.append(key)
        for row in r[1:]:
            if row in early:
                most[row] = max(most.get(row, 0), c)
        waste[k] = c * g - length
        if waste[k] > 0 and w.idle_per_minute > 0:
            if (pid, a) not in idle_of:
                idle_of[(pid, a)] = len(idle_rhs)
                idle_rhs.append(0.0)
            idle_row[k] = idle_of[(pid, a)]
            idle_rhs[idle_row[k]] = max(idle_rhs[idle_row[k]], waste[k])
    for r, c in most.items():
        rhs[r] += c
    return LpModel(
        np.array(rhs, dtype=float),
        np.array(idle_rhs, dtype=float),
        req,
        pts,
        cells,
        rows,
        idle_row,
        waste,
        keys,
    )


def upper_bound(
    pb: Problem, time_limit: float = 5.0
) -> tuple[float, dict[int, float], dict[tuple, float], bool, int]:
    """(bound, LP share placed per request, LP pull per option key, whether the wall cap hit,
    simplex iterations: a deterministic measure of the work done).

    The pull (50 points times the LP value, less than any real preference step) lets best-fit
    break ties towards the LP's choice. The wall cap (`time_limit`) is a safety net only.
    """
    stop = clock.perf_counter() + time_limit
    lp = lp_model(pb)
    if not len(lp.req):
        return 0.0, {}, {}, False, 0
    w = pb.w
    ci = lp.req
    # columns are grouped by request already (sorted); best points first within a request
    order = np.lexsort((np.arange(len(ci)), -lp.pts, ci))
    first = np.r_[0, np.flatnonzero(np.diff(ci[order])) + 1]
    nth = np.empty(len(ci), dtype=np.int64)
    nth[order] = np.arange(len(ci)) - np.repeat(first, np.diff(np.r_[first, len(ci)]))
    active = nth < START_COLUMNS
    best_bound, capped, iterations = math.inf, False, 0
    x = np.zeros(len(ci))
    n_req = int(ci.max()) + 1
    # one GLOP model, columns added round by round: GLOP restarts from the last basis
    solver = pywraplp.Solver.CreateSolver("GLOP")
    solver.SetSolverSpecificParametersAsString(f"max_number_of_iterations: {MAX_LP_ITERATIONS}")
    obj = solver.Objective()
    rows = [solver.Constraint(-solver.infinity(), c) for c in lp.rhs]
    idle = [solver.Constraint(-solver.infinity(), c) for c in lp.idle_rhs]
    for con in idle:
        slack = solver.NumVar(0, solver.infinity(), "")
        con.SetCoefficient(slack, -1)
        obj.SetCoefficient(slack, -w.idle_per_minute)
    req_rows = {i: solver.Constraint(0, 1) for i in np.unique(ci).tolist()}
    vs: dict[int, pywraplp.Variable] = {}
    for _ in range(ROUNDS):
        idx = np.flatnonzero(active)
        for k in idx.tolist():
            if k in vs:
                continue
            var = solver.NumVar(0, 1, "")
            req_rows[int(ci[k])].SetCoefficient(var, 1)
            for r in lp.rows[k].tolist():
                if r >= 0:
                    rows[r].SetCoefficient(var, float(lp.cells[k]))
            if lp.idle_row[k] >= 0:
                idle[int(lp.idle_row[k])].SetCoefficient(var, float(lp.waste[k]))
            obj.SetCoefficient(var, float(lp.pts[k]))
            vs[k] = var
        obj.SetMaximization()
        left = stop - clock.perf_counter()
        if left <= 0:
            capped = True
            break
        solver.SetTimeLimit(max(1, int(left * 1000)))
        status = solver.Solve()
        iterations += solver.iterations()
        if status != pywraplp.Solver.OPTIMAL:
            capped = clock.perf_counter() >= stop
            break
        # prices, each with a trailing zero for "no row"; idle prices clipped to the weight
        u = np.array([max(0.0, r.dual_value()) for r in rows] + [0.0])
        ui = np.array([min(w.idle_per_minute, max(0.0, r.dual_value())) for r in idle] + [0.0])
        vreq = np.zeros(n_req)
        for i, r in req_rows.items():
            vreq[i] = max(0.0, r.dual_value())
        x[:] = 0.0
        x[idx] = [vs[k].solution_value() for k in idx.tolist()]
        red = lp.pts - lp.cells * u[lp.rows].sum(axis=1) - lp.waste * ui[lp.idle_row]
        per_req = np.maximum.reduceat(red[order], first)
        lagr = float(lp.rhs @ u[:-1] + lp.idle_rhs @ ui[:-1])
        lagr += float(np.maximum(per_req, 0.0).sum())
        best_bound = min(best_bound, lagr * (1 + 1e-7) + 1e-6)
        improving = (red - vreq[ci] > 1e-6) & ~active
        if not improving.any():
            break
        # per request, its best ADD_COLUMNS improving columns
        rc = np.where(improving, red, -np.inf)
        order2 = np.lexsort((-rc, ci))
        pos = np.empty(len(ci), dtype=np.int64)
        pos[order2] = np.arange(len(ci)) - np.repeat(first, np.diff(np.r_[first, len(ci)]))
        active |= improving & (pos < ADD_COLUMNS)
    # prices zero give a bound too: every request at its best option
    trivial = float(np.maximum(np.maximum.reduceat(lp.pts[order], first), 0).sum())
    best_bound = min(best_bound, trivial * (1 + 1e-7) + 1e-6)
    if capped or not x.any():
        return best_bound, {}, {}, capped, iterations
    taken: dict[int, float] = {}
    pull: dict[tuple, float] = {}
    for k in np.flatnonzero(x > 1e-6).tolist():
        i = int(ci[k])
        taken[i] = taken.get(i, 0.0) + float(x[k])
        pull[lp.keys[k]] = 50.0 * float(x[k])
    return best_bound, taken, pull, capped, iterations

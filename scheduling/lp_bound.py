"""Upper bound for the batch optimiser: the LP relaxation of placing requests in free time.

Rows: each request placed at most once; each free interval of the clinic (before any request)
filled to at most its grid cells. Columns: one per request and free interval, worth the best
points of the request's options there; every other option in the same interval has the same
coefficients and fewer points, so leaving it out does not change the LP value. The penalties
(idle, overload) are >= 0 and left out, so the LP value bounds the objective from above.

Large instances have 100-250k columns, too many for GLOP in a few seconds, so the LP is solved by
column generation: GLOP on a few columns per request, then every column is priced with numpy
against GLOP's duals and the improving ones join, for a fixed number of rounds (deterministic).
Whatever round it stops at, the Lagrangian bound with that round's interval prices u >= 0,
    sum_r room_r * u_r + sum_i max(0, max_c (points_c - cells_i * u_row(c))),
bounds the LP from above (weak duality), and equals it once no column prices out.
"""

from __future__ import annotations

import math
import time as clock

import numpy as np
from ortools.linear_solver import pywraplp

from scheduling.batch import Problem

MAX_LP_ITERATIONS = 100_000  # simplex iterations per GLOP solve
ROUNDS = 12  # column-generation rounds at most
START_COLUMNS = 4  # best columns per request in the first round
ADD_COLUMNS = 3  # improving columns per request added per round


def columns(pb: Problem) -> tuple[dict[tuple[str, int], int], list[tuple[int, tuple, int, int]]]:
    """(room per interval row, [(request, pull key, row, points)]) with dominated ones dropped."""
    g = pb.base.grid
    room: dict[tuple[str, int], int] = {}
    best: dict[tuple[int, tuple[str, int]], tuple[int, tuple]] = {}
    for i, opts in pb.options.items():
        length = pb.preps[i].length
        for o in opts:
            phase = o.block.phase
            for a, b in pb.block_free.get((o.pid, o.block.start), ()):
                m = max(a, o.lo)
                if m + (phase - m) % g > min(b - length, o.hi):
                    continue
                row = (o.pid, a)
                if row not in room:
                    room[row] = (b + (phase - b) % g - a - (phase - a) % g) // g
                cur = best.get((i, row))
                if cur is None or o.points > cur[0]:
                    best[(i, row)] = (o.points, (i, o.pid, o.block.start, o.part))
    cols = [(i, key, row, pts) for (i, row), (pts, key) in best.items()]
    return room, cols


def upper_bound(
    pb: Problem, time_limit: float = 5.0
) -> tuple[float, dict[int, float], dict[tuple, float], bool]:
    """(bound, LP share placed per request, LP pull per option key, whether the wall cap hit).

    The pull (50 points times the LP value, less than any real preference step) lets best-fit
    break ties towards the LP's choice. The wall cap (`time_limit`) is a safety net only.
    """
    stop = clock.perf_counter() + time_limit
    room, cols = columns(pb)
    if not cols:
        return 0.0, {}, {}, False
    g = pb.base.grid
    row_ids = {r: n for n, r in enumerate(room)}
    cap = np.array([room[r] for r in room], dtype=float)
    ci = np.array([c[0] for c in cols], dtype=np.int64)
    crow = np.array([row_ids[c[2]] for c in cols], dtype=np.int64)
    cpts = np.array([c[3] for c in cols], dtype=float)
    ncell = np.zeros(max(pb.preps) + 1)
    for i, p in pb.preps.items():
        ncell[i] = math.ceil(p.length / g)
    ccell = ncell[ci]
    # columns grouped by request, best points first within a request
    order = np.lexsort((np.arange(len(cols)), -cpts, ci))
    ci, crow, cpts, ccell = ci[order], crow[order], cpts[order], ccell[order]
    first = np.r_[0, np.flatnonzero(np.diff(ci)) + 1]
    nth = np.arange(len(ci)) - np.repeat(first, np.diff(np.r_[first, len(ci)]))
    active = nth < START_COLUMNS
    best_bound, capped = math.inf, False
    x = np.zeros(len(ci))
    for _ in range(ROUNDS):
        idx = np.flatnonzero(active)
        solver = pywraplp.Solver.CreateSolver("GLOP")
        solver.SetSolverSpecificParametersAsString(f"max_number_of_iterations: {MAX_LP_ITERATIONS}")
        rows = [solver.Constraint(0, c) for c in cap]
        req_rows = {i: solver.Constraint(0, 1) for i in np.unique(ci).tolist()}
        obj = solver.Objective()
        vs = []
        for k in idx.tolist():
            var = solver.NumVar(0, 1, "")
            req_rows[int(ci[k])].SetCoefficient(var, 1)
            rows[int(crow[k])].SetCoefficient(var, float(ccell[k]))
            obj.SetCoefficient(var, float(cpts[k]))
            vs.append(var)
        obj.SetMaximization()
        left = stop - clock.perf_counter()
        if left <= 0:
            capped = True
            break
        solver.SetTimeLimit(max(1, int(left * 1000)))
        status = solver.Solve()
        if status != pywraplp.Solver.OPTIMAL:
            capped = clock.perf_counter() >= stop
            break
        u = np.array([max(0.0, r.dual_value()) for r in rows])
        vreq = np.zeros(len(ncell))
        for i, r in req_rows.items():
            vreq[i] = max(0.0, r.dual_value())
        x[:] = 0.0
        x[idx] = [v.solution_value() for v in vs]
        red = cpts - ccell * u[crow]
        per_req = np.maximum.reduceat(red, first)
        lagr = float(cap @ u) + float(np.maximum(per_req, 0.0).sum())
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
    trivial = float(np.maximum(np.maximum.reduceat(cpts, first), 0).sum()) * (1 + 1e-7) + 1e-6
    best_bound = min(best_bound, trivial)
    if capped or not x.any():
        return best_bound, {}, {}, capped
    taken: dict[int, float] = {}
    pull: dict[tuple, float] = {}
    keys = [cols[k][1] for k in order.tolist()]
    for k in np.flatnonzero(x > 1e-6).tolist():
        i = int(ci[k])
        taken[i] = taken.get(i, 0.0) + float(x[k])
        pull[keys[k]] = 50.0 * float(x[k])
    return best_bound, taken, pull, capped

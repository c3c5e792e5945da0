"""Site-selection models on a coverage matrix: maximal covering, set covering, capacity.

The pure core of site selection (STYLE.md 9): every function takes a sparse boolean
coverage matrix ``cover`` (demand groups x candidates: True where the candidate reaches
the group) and the groups' weights (elderly people not yet served), and knows nothing of
networks. :mod:`eldercare_coverage.siting` builds both from a run.

Models
------
``mclp`` (maximal covering, Church & ReVelle 1974)
    choose at most ``k`` candidates, maximise the weight of the groups covered:
    ``max sum_i w_i y_i`` s.t. ``y_i <= sum_{j in N_i} x_j``, ``sum_j x_j <= k``,
    ``x`` binary, ``0 <= y <= 1`` (``y`` needs no integrality: with ``x`` binary an
    optimal ``y`` is 0 or 1).
``lscp`` (location set covering, Toregas et al. 1971)
    the fewest candidates covering a weight of at least ``need``:
    ``min sum_j x_j`` s.t. ``sum_i w_i y_i >= need``, ``y_i <= sum_{j in N_i} x_j``; with
    ``need`` = None every group of positive weight must be covered
    (``sum_{j in N_i} x_j >= 1``), the classic form.
``capacity`` (capacitated maximal covering)
    at most ``k`` candidates, each serving at most ``capacity_j`` people of the groups it
    reaches: ``max sum z_ij`` s.t. ``sum_j z_ij <= w_i``, ``sum_i z_ij <= capacity_j x_j``,
    ``z_ij <= w_i x_j`` (a tightening), ``sum_j x_j <= k``, ``z >= 0``.

Solving
-------
Exactly, as a mixed-integer programme by HiGHS (``highspy``; ``scipy.optimize.milp``
when highspy is not installed), started from the greedy solution where the solver
takes one (``Highs.setSolution``). The solver stops at the time limit or when the
relative gap ``|bound - objective| / |objective|`` is below ``mip_rel_gap``; the
**bound** is the solver's dual bound: no solution is better than it, so the **gap** says
how far from optimal the reported solution can at most be (0: proven optimal). Without a
solver, or with ``solver="greedy"``, the greedy solution is returned without a bound (the
gap is then NaN).

Each model also has a simple bound (:func:`mclp_bound`, :func:`lscp_bound`,
:func:`capacity_bound`: the coverable weight and the ``k`` best candidates as if they
overlapped nowhere). When the greedy objective reaches it, the greedy solution is proven
optimal and returned at once (status :data:`PROVEN_BY_BOUND`); otherwise the solver's
bound is clamped to it (HiGHS stopped at the time limit may report a far weaker one).

Greedy: the candidate adding the most weight (or served people) is taken, one at a time
(lazy evaluation of marginal gains); for MCLP this is within ``1 - 1/e`` of optimal.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ._errors import CoverageError

log = logging.getLogger(__name__)

MODELS = ("mclp", "lscp", "capacity")
SOLVERS = ("highs", "scipy", "greedy")
DEFAULT_TIME_LIMIT_S = 600.0
DEFAULT_MIP_REL_GAP = 1e-4  # relative gap at which the solver stops: optimal in practice


class SiteSelectionError(CoverageError, ValueError):
    """A site-selection question cannot be answered as asked (model, target, capacity)."""


@dataclass(frozen=True)
class Solution:
    """A solved site-selection model.

    Attributes
    ----------
    chosen
        Indices of the chosen candidates (columns of the matrix), ascending.
    objective
        The model's objective at ``chosen``: weight covered (``mclp``), number of sites
        (``lscp``), people served (``capacity``).
    bound
        The solver's dual bound on the objective (== ``objective`` when proven optimal).
    gap
        ``|bound - objective| / max(|objective|, 1e-9)``; 0 when proven optimal, NaN
        when no bound is known (greedy alone).
    seconds
        Wall time of the solve.
    solver
        ``highs``, ``scipy`` or ``greedy``.
    status
        The solver's status text.
    greedy_objective
        The objective of the greedy solution (the starting point).
    assignment
        ``capacity`` only: people of each group served by each chosen candidate
        (groups x candidates, sparse).
    """

    chosen: np.ndarray
    objective: float
    bound: float
    gap: float
    seconds: float
    solver: str
    status: str
    greedy_objective: float
    assignment: sparse.csr_matrix | None = None


def _gap(objective: float, bound: float) -> float:
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.nan
    return abs(bound - objective) / max(abs(objective), 1e-9)


def _top_sum(values: np.ndarray, k: int) -> float:
    """Sum of the ``k`` largest of ``values`` (all of them when there are fewer)."""
    if k <= 0 or len(values) == 0:
        return 0.0
    if k >= len(values):
        return float(values.sum())
    return float(np.partition(values, len(values) - k)[len(values) - k:].sum())


def _reaches(objective: float, bound: float) -> bool:
    """Whether ``objective`` is at ``bound`` (up to rounding): proven optimal."""
    return math.isfinite(bound) and abs(bound - objective) <= 1e-9 * max(abs(bound), 1.0)


#: Status of a greedy solution proven optimal by the simple bound, without the solver.
PROVEN_BY_BOUND = "optimal (the greedy solution reaches the bound)"


def mclp_bound(cover: sparse.csc_matrix, weight: np.ndarray, k: int) -> float:
    """An upper bound of the MCLP objective: the coverable weight, and the weight the
    ``k`` candidates reaching the most reach together if they overlapped nowhere."""
    reach = np.asarray(cover.T @ weight).ravel()
    total = float(weight[np.diff(cover.tocsr().indptr) > 0].sum())
    return min(total, _top_sum(reach, k))


def lscp_bound(cover: sparse.csc_matrix, weight: np.ndarray, need: float | None) -> float:
    """A lower bound of the LSCP objective: the fewest candidates whose reached weights,
    added up as if they overlapped nowhere, reach ``need`` (None: all coverable weight)."""
    reach = np.sort(np.asarray(cover.T @ weight).ravel())[::-1]
    goal = float(weight[np.diff(cover.tocsr().indptr) > 0].sum()) if need is None \
        else float(need)
    if goal <= 0:
        return 0.0
    enough = np.flatnonzero(np.cumsum(reach) >= goal * (1 - 1e-12))
    return float(enough[0] + 1) if len(enough) else float(len(reach))


def capacity_bound(cover: sparse.csc_matrix, weight: np.ndarray, capacity: np.ndarray,
                   k: int) -> float:
    """An upper bound of the capacitated objective: the demand weight some candidate
    reaches, and the sum of the ``k`` largest ``min(capacity_j, weight reached by j)``."""
    reach = np.asarray(cover.T @ weight).ravel()
    total = float(weight[np.diff(cover.tocsr().indptr) > 0].sum())
    return min(total, _top_sum(np.minimum(capacity, reach), k))


def _check(cover: sparse.spmatrix, weight: np.ndarray) -> tuple[sparse.csc_matrix, np.ndarray]:
    cover = sparse.csc_matrix(cover, dtype=bool)
    weight = np.asarray(weight, dtype=float)
    if weight.shape != (cover.shape[0],):
        raise SiteSelectionError(f"weights: shape {weight.shape} but the coverage matrix has "
                                 f"{cover.shape[0]} demand rows")
    if (weight < 0).any() or not np.isfinite(weight).all():
        raise SiteSelectionError("weights must be finite and non-negative")
    cover.eliminate_zeros()
    return cover, weight


# --- greedy --------------------------------------------------------------------------------
def greedy_cover(cover: sparse.spmatrix, weight: np.ndarray, *, k: int | None = None,
                 need: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy order of candidates by marginal weight covered.

    Stops after ``k`` sites, once ``need`` weight is covered (``need`` None with ``k``
    None: everything coverable), or when nothing more is gained.

    Returns
    -------
    order, gains
        Chosen candidates in the order taken and the weight each added.

    Examples
    --------
    >>> cover = sparse.csc_matrix(np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=bool))
    >>> order, gains = greedy_cover(cover, np.array([5.0, 1.0, 3.0]), k=2)
    >>> order.tolist(), gains.tolist()
    ([0, 1], [6.0, 3.0])
    """
    cover, weight = _check(cover, weight)
    csr = cover.tocsr()
    left = weight.copy()
    gains0 = np.asarray(cover.T @ weight).ravel()
    heap = [(-g, j) for j, g in enumerate(gains0) if g > 0]
    heapq.heapify(heap)
    order: list[int] = []
    gains: list[float] = []
    covered = 0.0
    total = float(weight[np.diff(csr.indptr) > 0].sum())
    goal = total if need is None else float(need)
    while heap and (k is None or len(order) < k) and covered < goal - 1e-9 * max(goal, 1.0):
        neg, j = heapq.heappop(heap)
        rows = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
        gain = float(left[rows].sum())
        if gain <= 0:
            continue
        if heap and gain < -heap[0][0] - 1e-12:  # stale: put back with its true gain
            heapq.heappush(heap, (-gain, j))
            continue
        order.append(j)
        gains.append(gain)
        covered += gain
        left[rows] = 0.0
    return np.asarray(order, dtype=np.int64), np.asarray(gains, dtype=float)


def _greedy_capacity(cover: sparse.csc_matrix, weight: np.ndarray, capacity: np.ndarray,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy capacitated cover: take the site that can serve the most of what is left
    (``min(capacity, weight left in reach)``), serve it, repeat up to ``k`` times.

    Returns the chosen candidates and the people served per nonzero of ``cover`` (in
    its column-major order)."""
    left = weight.copy()
    served = np.zeros(cover.nnz)
    chosen: list[int] = []
    for _ in range(k):
        gain = np.minimum(np.asarray(cover.T @ left).ravel(), capacity)
        gain[chosen] = -1.0
        j = int(np.argmax(gain)) if len(gain) else 0
        if not len(gain) or gain[j] <= 0:
            break
        budget = float(capacity[j])
        for pos in range(cover.indptr[j], cover.indptr[j + 1]):  # in row order
            i = cover.indices[pos]
            take = min(left[i], budget)
            left[i] -= take
            served[pos] = take
            budget -= take
            if budget <= 0:
                break
        chosen.append(j)
    return np.asarray(chosen, dtype=np.int64), served


# --- the exact solver ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Milp:
    """``sense * cost @ v`` over ``row_lo <= matrix @ v <= row_hi``,
    ``col_lo <= v <= col_hi``, ``v[integer]`` integral."""

    cost: np.ndarray
    matrix: sparse.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    maximize: bool


def _solve(milp: _Milp, start: np.ndarray | None, *, time_limit_s: float, mip_rel_gap: float,
           solver: str) -> tuple[np.ndarray, float, float, str, str]:
    """(values, objective, dual bound, solver used, status) of ``milp``; the ``start``
    (greedy) with no bound when the solver finds nothing better in time."""
    try:
        if solver == "highs":
            try:
                return _solve_highspy(milp, start, time_limit_s=time_limit_s,
                                      mip_rel_gap=mip_rel_gap)
            except ImportError:
                log.warning("highspy is not installed: solving with scipy.optimize.milp")
        return _solve_scipy(milp, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    except SiteSelectionError as exc:
        if start is None:
            raise
        log.warning("%s: keeping the greedy solution", exc)
        return start, float(milp.cost @ start), math.nan, "greedy", f"greedy ({exc})"


@contextlib.contextmanager
def _no_stdout() -> Iterator[None]:
    """Send what C code writes to standard output (file descriptor 1) to nowhere: HiGHS
    prints its banner on construction, before any option can silence it, and a CLI's or
    script's standard output is the user's."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (some embedded interpreters): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _solve_highspy(milp: _Milp, start: np.ndarray | None, *, time_limit_s: float,
                   mip_rel_gap: float) -> tuple[np.ndarray, float, float, str, str]:
    import highspy

    with _no_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = milp.matrix.shape[1], milp.matrix.shape[0]
    lp.col_cost_ = milp.cost
    lp.col_lower_, lp.col_upper_ = milp.col_lo, np.where(np.isinf(milp.col_hi), inf, milp.col_hi)
    lp.row_lower_ = np.where(np.isinf(milp.row_lo), -inf, milp.row_lo)
    lp.row_upper_ = np.where(np.isinf(milp.row_hi), inf, milp.row_hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = milp.matrix.indptr
    lp.a_matrix_.index_ = milp.matrix.indices
    lp.a_matrix_.value_ = milp.matrix.data.astype(float)
    lp.sense_ = highspy.ObjSense.kMaximize if milp.maximize else highspy.ObjSense.kMinimize
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in milp.integer]
    h.passModel(lp)
    if start is not None:  # the greedy solution: an incumbent from the first node on
        sol = highspy.HighsSolution()
        sol.col_value = [float(v) for v in start]
        h.setSolution(sol)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    values = np.asarray(h.getSolution().col_value, dtype=float)
    if info.primal_solution_status == 0 or len(values) != len(milp.cost):
        raise SiteSelectionError(f"the solver found no feasible solution ({status})")
    objective = float(info.objective_function_value)
    if start is not None and abs(float(milp.cost @ values) - objective) \
            > 1e-7 * max(1.0, abs(objective)):
        # HiGHS 1.16 hands back the start instead of its own solution when presolve alone
        # solves the model: solve again without it (cheap: presolve solves it again)
        log.debug("highs returned the start, not its solution: solving again without it")
        return _solve_highspy(milp, None, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    return values, float(info.objective_function_value), float(info.mip_dual_bound), "highs", \
        status


def _solve_scipy(milp: _Milp, *, time_limit_s: float, mip_rel_gap: float
                 ) -> tuple[np.ndarray, float, float, str, str]:
    from scipy.optimize import Bounds, LinearConstraint
    from scipy.optimize import milp as scipy_milp

    sign = -1.0 if milp.maximize else 1.0
    res = scipy_milp(sign * milp.cost, integrality=milp.integer.astype(int),
                     bounds=Bounds(milp.col_lo, milp.col_hi),
                     constraints=LinearConstraint(milp.matrix, milp.row_lo, milp.row_hi),
                     options={"time_limit": float(time_limit_s), "mip_rel_gap": mip_rel_gap})
    if res.x is None:
        raise SiteSelectionError(f"the solver found no feasible solution ({res.message})")
    bound = getattr(res, "mip_dual_bound", math.nan)
    return res.x, float(sign * res.fun), float(sign * bound) if bound is not None else \
        math.nan, "scipy", str(res.message)


def _chosen(values: np.ndarray, n: int) -> np.ndarray:
    return np.flatnonzero(values[:n] > 0.5).astype(np.int64)


# --- the models ----------------------------------------------------------------------------
def _coverable(cover: sparse.csc_matrix, weight: np.ndarray) -> tuple[sparse.csc_matrix,
                                                                       np.ndarray]:
    """The rows that count: positive weight and reached by some candidate."""
    keep = (weight > 0) & (np.diff(cover.tocsr().indptr) > 0)
    return cover[keep], weight[keep]


def solve_mclp(cover: sparse.spmatrix, weight: np.ndarray, k: int, *,
               time_limit_s: float = DEFAULT_TIME_LIMIT_S,
               mip_rel_gap: float = DEFAULT_MIP_REL_GAP, solver: str = "highs") -> Solution:
    """Maximal covering: at most ``k`` candidates covering the most weight.

    Parameters
    ----------
    cover
        Demand groups x candidates, True where the candidate covers the group.
    weight
        Weight (people) of each group.
    k
        Number of sites.
    time_limit_s, mip_rel_gap
        The solver stops at this time or gap.
    solver
        ``highs`` (highspy; scipy when missing), ``scipy`` or ``greedy``.

    Returns
    -------
    Solution
    """
    t0 = time.perf_counter()
    cover, weight = _check(cover, weight)
    cover, weight = _coverable(cover, weight)
    m, n = cover.shape
    order, gains = greedy_cover(cover, weight, k=k)
    g_obj = float(gains.sum())
    cheap = mclp_bound(cover, weight, k)
    if m and k > 0 and _reaches(g_obj, cheap):
        return Solution(np.sort(order), g_obj, cheap, 0.0, time.perf_counter() - t0, "greedy",
                        PROVEN_BY_BOUND, g_obj)
    if solver == "greedy" or m == 0 or k <= 0 or n <= k:
        exact = m == 0 or k <= 0 or n <= k  # nothing to choose between: greedy takes all
        return Solution(np.sort(order), g_obj, g_obj if exact else math.nan,
                        0.0 if exact else math.nan, time.perf_counter() - t0, "greedy",
                        "optimal" if exact else "greedy", g_obj)
    matrix = sparse.bmat([[-cover.astype(float), sparse.identity(m, format="csc")],
                          [sparse.csc_matrix(np.ones((1, n))), None]], format="csc")
    milp = _Milp(np.concatenate([np.zeros(n), weight]), matrix,
                 np.full(m + 1, -np.inf), np.concatenate([np.zeros(m), [k]]),
                 np.zeros(n + m), np.ones(n + m),
                 np.concatenate([np.ones(n, bool), np.zeros(m, bool)]), maximize=True)
    x0 = np.zeros(n)
    x0[order] = 1.0
    start = np.concatenate([x0, (cover @ x0 > 0).astype(float)])
    values, obj, bound, used, status = _solve(milp, start, time_limit_s=time_limit_s,
                                              mip_rel_gap=mip_rel_gap, solver=solver)
    chosen = _chosen(values, n)
    obj = float(weight[np.asarray(cover[:, chosen].sum(axis=1)).ravel() > 0].sum())
    bound = min(bound, cheap) if math.isfinite(bound) else bound
    return Solution(chosen, obj, bound, _gap(obj, bound), time.perf_counter() - t0, used,
                    status, g_obj)


def solve_lscp(cover: sparse.spmatrix, weight: np.ndarray, *, need: float | None = None,
               time_limit_s: float = DEFAULT_TIME_LIMIT_S,
               mip_rel_gap: float = DEFAULT_MIP_REL_GAP, solver: str = "highs") -> Solution:
    """Set covering: the fewest candidates covering ``need`` weight (None: every group of
    positive weight that some candidate reaches).

    Raises
    ------
    SiteSelectionError
        ``need`` exceeds the weight all candidates together cover.
    """
    t0 = time.perf_counter()
    cover, weight = _check(cover, weight)
    cover, weight = _coverable(cover, weight)
    m, n = cover.shape
    total = float(weight.sum())
    if need is not None and need > total * (1 + 1e-12):
        raise SiteSelectionError(f"target needs {need:.1f} more people covered but all "
                                 f"candidates together cover {total:.1f}")
    order, _ = greedy_cover(cover, weight, need=need)
    g_obj = float(len(order))
    cheap = lscp_bound(cover, weight, need)
    if m and (need is None or need > 0) and _reaches(g_obj, cheap):
        return Solution(np.sort(order), g_obj, cheap, 0.0, time.perf_counter() - t0, "greedy",
                        PROVEN_BY_BOUND, g_obj)
    if solver == "greedy" or m == 0 or (need is not None and need <= 0):
        exact = m == 0 or (need is not None and need <= 0)
        chosen = np.empty(0, np.int64) if exact else np.sort(order)
        return Solution(chosen, float(len(chosen)), float(len(chosen)) if exact else math.nan,
                        0.0 if exact else math.nan, time.perf_counter() - t0, "greedy",
                        "optimal" if exact else "greedy", g_obj)
    x0 = np.zeros(n)
    x0[order] = 1.0
    if need is None:
        milp = _Milp(np.ones(n), cover.astype(float).tocsc(), np.ones(m), np.full(m, np.inf),
                     np.zeros(n), np.ones(n), np.ones(n, bool), maximize=False)
        start = x0
    else:
        matrix = sparse.bmat([[-cover.astype(float), sparse.identity(m, format="csc")],
                              [None, sparse.csc_matrix(weight.reshape(1, -1))]], format="csc")
        milp = _Milp(np.concatenate([np.ones(n), np.zeros(m)]), matrix,
                     np.concatenate([np.full(m, -np.inf), [need * (1 - 1e-12)]]),
                     np.concatenate([np.zeros(m), [np.inf]]), np.zeros(n + m), np.ones(n + m),
                     np.concatenate([np.ones(n, bool), np.zeros(m, bool)]), maximize=False)
        start = np.concatenate([x0, (cover @ x0 > 0).astype(float)])
    values, obj, bound, used, status = _solve(milp, start, time_limit_s=time_limit_s,
                                              mip_rel_gap=mip_rel_gap, solver=solver)
    chosen = _chosen(values, n)
    obj = float(len(chosen))
    bound = max(bound, cheap) if math.isfinite(bound) else bound
    return Solution(chosen, obj, bound, _gap(obj, bound), time.perf_counter() - t0, used,
                    status, g_obj)


def solve_capacity(cover: sparse.spmatrix, weight: np.ndarray, capacity: np.ndarray, k: int,
                   *, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                   mip_rel_gap: float = DEFAULT_MIP_REL_GAP, solver: str = "highs"
                   ) -> Solution:
    """Capacitated maximal covering: at most ``k`` candidates, each serving at most its
    ``capacity`` people of the groups it reaches; maximise the people served.

    ``Solution.assignment`` holds the people of each group served by each candidate.
    """
    t0 = time.perf_counter()
    cover, weight = _check(cover, weight)
    capacity = np.asarray(capacity, dtype=float)
    if capacity.shape != (cover.shape[1],) or (capacity < 0).any() \
            or not np.isfinite(capacity).all():
        raise SiteSelectionError("capacity: one finite, non-negative number per candidate")
    cover.sort_indices()
    m, n = cover.shape
    order, z0 = _greedy_capacity(cover, weight, capacity, k)
    g_obj = float(z0.sum())
    cheap = capacity_bound(cover, weight, capacity, k)
    rows, cols = cover.indices, np.repeat(np.arange(n), np.diff(cover.indptr))
    nnz = cover.nnz

    def assignment(z: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((z, (rows, cols)), shape=(m, n))

    if nnz and k > 0 and _reaches(g_obj, cheap):
        return Solution(np.sort(order), g_obj, cheap, 0.0, time.perf_counter() - t0, "greedy",
                        PROVEN_BY_BOUND, g_obj, assignment(z0))
    if solver == "greedy" or nnz == 0 or k <= 0:
        return Solution(np.sort(order), g_obj, math.nan if nnz and k > 0 else g_obj,
                        math.nan if nnz and k > 0 else 0.0, time.perf_counter() - t0,
                        "greedy", "greedy", g_obj, assignment(z0))
    eye = sparse.identity(nnz, format="csc")
    by_group = sparse.csc_matrix((np.ones(nnz), (rows, np.arange(nnz))), shape=(m, nnz))
    by_site = sparse.csc_matrix((np.ones(nnz), (cols, np.arange(nnz))), shape=(n, nnz))
    link = sparse.csc_matrix((-weight[rows], (np.arange(nnz), cols)), shape=(nnz, n))
    # a site serves at most what it reaches: min(capacity, reach) tightens the relaxation
    usable = np.minimum(capacity, np.asarray(cover.T @ weight).ravel())
    matrix = sparse.bmat([[None, by_group], [sparse.diags(-usable, format="csc"), by_site],
                          [link, eye], [sparse.csc_matrix(np.ones((1, n))), None]],
                         format="csc")
    milp = _Milp(np.concatenate([np.zeros(n), np.ones(nnz)]), matrix,
                 np.full(m + n + nnz + 1, -np.inf),
                 np.concatenate([weight, np.zeros(n + nnz), [k]]), np.zeros(n + nnz),
                 np.concatenate([np.ones(n), weight[rows]]),
                 np.concatenate([np.ones(n, bool), np.zeros(nnz, bool)]), maximize=True)
    x0 = np.zeros(n)
    x0[order] = 1.0
    values, obj, bound, used, status = _solve(milp, np.concatenate([x0, z0]),
                                              time_limit_s=time_limit_s,
                                              mip_rel_gap=mip_rel_gap, solver=solver)
    chosen = _chosen(values, n)
    z = np.clip(values[n:], 0.0, None)
    obj = float(z.sum())
    # HiGHS's dual bound can be far above what any k sites serve (stopped at the time
    # limit it may be the sum over every candidate): the simple bound is valid and tighter
    bound = min(bound, cheap) if math.isfinite(bound) else bound
    return Solution(chosen, obj, bound, _gap(obj, bound), time.perf_counter() - t0, used,
                    status, g_obj, assignment(z))

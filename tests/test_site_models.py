"""The site-selection models against independent answers: PySAL spopt's MCLP and LSCP (PuLP
and CBC) on the same coverage matrices, and brute force over every subset of candidates on
small instances (partial-target set covering, capacities, whose optimum is an LP per subset
solved by scipy's linprog)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import linprog

from eldercare_coverage.site_models import (
    PROVEN_BY_BOUND,
    SiteSelectionError,
    capacity_bound,
    greedy_cover,
    solve_capacity,
    solve_lscp,
    solve_mclp,
)

GAP_TOLERANCE = 1e-4  # the solver's default mip_rel_gap


def _instance(seed: int, m: int = 60, n: int = 14, density: float = 0.15
              ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cover = rng.random((m, n)) < density
    weight = rng.integers(1, 30, m).astype(float)
    return cover, weight


def _spopt_mclp(cover: np.ndarray, weight: np.ndarray, k: int) -> float:
    import pulp
    from spopt.locate import MCLP

    keep = cover.any(axis=1)
    with warnings.catch_warnings():
        # PuLP 3 announces its 4.0 API (LpVariable, PULP_CBC_CMD) on every call spopt makes
        warnings.simplefilter("ignore", DeprecationWarning)
        model = MCLP.from_cost_matrix(np.where(cover[keep], 0.0, 1.0), weight[keep], 0.5, k)
        model.solve(pulp.PULP_CBC_CMD(msg=False))
    return float(pulp.value(model.problem.objective))


def _spopt_lscp(cover: np.ndarray) -> int:
    import pulp
    from spopt.locate import LSCP

    keep = cover.any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = LSCP.from_cost_matrix(np.where(cover[keep], 0.0, 1.0), 0.5)
        model.solve(pulp.PULP_CBC_CMD(msg=False))
    return int(round(pulp.value(model.problem.objective)))


def _covered(cover: np.ndarray, weight: np.ndarray, subset: tuple[int, ...]) -> float:
    return float(weight[cover[:, list(subset)].any(axis=1)].sum()) if subset else 0.0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("solver", ["highs", "scipy"])
def test_mclp_objective_equals_spopt(seed, solver):
    cover, weight = _instance(seed)
    for k in (1, 3, 5):
        sol = solve_mclp(sparse.csc_matrix(cover), weight, k, solver=solver)
        assert sol.objective == pytest.approx(_spopt_mclp(cover, weight, k), abs=1e-6)
        assert len(sol.chosen) <= k
        assert sol.objective == pytest.approx(_covered(cover, weight, tuple(sol.chosen)))
        assert sol.gap <= GAP_TOLERANCE
        assert sol.greedy_objective <= sol.objective + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_lscp_sites_equal_spopt(seed):
    cover, weight = _instance(seed, density=0.2)
    sol = solve_lscp(sparse.csc_matrix(cover), weight)
    assert len(sol.chosen) == _spopt_lscp(cover)
    reached = cover[:, sol.chosen].any(axis=1)
    assert reached[cover.any(axis=1)].all()  # every coverable person covered
    assert sol.greedy_objective >= sol.objective
    assert sol.gap <= GAP_TOLERANCE


@pytest.mark.parametrize("seed", range(5))
def test_partial_lscp_is_optimal_by_brute_force(seed):
    cover, weight = _instance(seed, m=40, n=9)
    total = _covered(cover, weight, tuple(range(cover.shape[1])))
    for share in (0.3, 0.6, 0.9):
        need = share * total
        sol = solve_lscp(sparse.csc_matrix(cover), weight, need=need)
        assert _covered(cover, weight, tuple(sol.chosen)) >= need - 1e-9
        fewest = min(r for r in range(cover.shape[1] + 1)
                     for s in itertools.combinations(range(cover.shape[1]), r)
                     if _covered(cover, weight, s) >= need - 1e-9)
        assert len(sol.chosen) == fewest
        assert sol.greedy_objective >= sol.objective
    with pytest.raises(SiteSelectionError, match="candidates together cover"):
        solve_lscp(sparse.csc_matrix(cover), weight, need=total + 1.0)


def _served(cover: np.ndarray, weight: np.ndarray, capacity: np.ndarray,
            subset: tuple[int, ...]) -> float:
    """Most people a set of sites can serve: the transport LP, by scipy's linprog."""
    pairs = [(i, j) for j in subset for i in np.flatnonzero(cover[:, j])]
    if not pairs:
        return 0.0
    a_ub = np.zeros((cover.shape[0] + len(subset), len(pairs)))
    for p, (i, j) in enumerate(pairs):
        a_ub[i, p] = 1.0
        a_ub[cover.shape[0] + subset.index(j), p] = 1.0
    b_ub = np.concatenate([weight, capacity[list(subset)]])
    res = linprog(-np.ones(len(pairs)), A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    return float(-res.fun)


@pytest.mark.parametrize("seed", range(4))
def test_capacity_is_optimal_by_brute_force(seed):
    cover, weight = _instance(seed, m=30, n=7, density=0.3)
    capacity = np.random.default_rng(seed + 100).integers(20, 120, cover.shape[1]).astype(float)
    for k in (1, 2, 3):
        sol = solve_capacity(sparse.csc_matrix(cover), weight, capacity, k)
        best = max(_served(cover, weight, capacity, s)
                   for r in range(1, k + 1) for s in itertools.combinations(range(7), r))
        assert sol.objective == pytest.approx(best, rel=1e-6)
        assert sol.gap <= GAP_TOLERANCE
        assert sol.greedy_objective <= sol.objective + 1e-6
        z = sol.assignment.toarray()
        assert (z.sum(axis=1) <= weight + 1e-6).all()  # nobody served twice
        assert (z.sum(axis=0) <= capacity + 1e-6).all()  # no site beyond its capacity
        assert (z[:, np.setdiff1d(np.arange(7), sol.chosen)] <= 1e-9).all()
        assert (z[~cover] <= 1e-9).all()  # only people a site reaches


@pytest.mark.parametrize("seed", range(4))
def test_greedy_is_never_better_than_exact(seed):
    cover, weight = _instance(seed, m=200, n=40, density=0.06)
    for k in (2, 4, 8):
        exact = solve_mclp(sparse.csc_matrix(cover), weight, k)
        greedy = solve_mclp(sparse.csc_matrix(cover), weight, k, solver="greedy")
        assert greedy.objective <= exact.objective + 1e-9
        assert exact.greedy_objective == pytest.approx(greedy.objective)
        assert greedy.objective >= (1 - 1 / np.e) * exact.objective  # the greedy guarantee
        order, gains = greedy_cover(sparse.csc_matrix(cover), weight, k=k)
        assert (np.diff(gains) <= 1e-9).all()  # marginal gains never grow


def test_capacity_bound_is_the_k_best_sites_or_all_demand():
    # three groups of 100, 50, 30 people; site 0 reaches groups 0 and 1, site 1 group 1,
    # site 2 group 2: reached 150, 50, 30
    cover = sparse.csc_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool))
    weight = np.array([100.0, 50.0, 30.0])
    capacity = np.array([120.0, 500.0, 500.0])
    # min(capacity, reach) = 120, 50, 30: the two largest 170, below all demand (180)
    assert capacity_bound(cover, weight, capacity, 2) == pytest.approx(170.0)
    assert capacity_bound(cover, weight, capacity, 3) == pytest.approx(180.0)
    assert capacity_bound(cover, weight, np.full(3, 1000.0), 3) == pytest.approx(180.0)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_at_the_simple_bound_is_returned_as_proven(seed):
    """Sites far apart (no two reach the same group), each full: greedy is optimal, and
    is said to be at once without the solver."""
    rng = np.random.default_rng(seed)
    n, per = 12, 5
    cover = sparse.csc_matrix(np.kron(np.eye(n, dtype=bool), np.ones((per, 1), dtype=bool)))
    weight = rng.integers(10, 50, n * per).astype(float)
    capacity = np.full(n, 40.0)  # below what any site reaches (>= 50)
    for k in (1, 3, 6):
        sol = solve_capacity(cover, weight, capacity, k)
        assert sol.status == PROVEN_BY_BOUND and sol.solver == "greedy"
        assert sol.objective == pytest.approx(40.0 * k) and sol.gap == 0.0
        sol = solve_mclp(cover, weight, k)
        best = np.sort(weight.reshape(n, per).sum(axis=1))[::-1][:k].sum()
        assert sol.status == PROVEN_BY_BOUND and sol.objective == pytest.approx(best)
    sol = solve_lscp(cover, weight)
    assert sol.status == PROVEN_BY_BOUND and sol.objective == n and sol.gap == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_capacity_bound_stays_at_or_above_the_optimum(seed):
    cover, weight = _instance(seed, m=30, n=7, density=0.3)
    capacity = np.random.default_rng(seed + 7).integers(20, 400, 7).astype(float)
    for k in (1, 2, 3):
        sol = solve_capacity(sparse.csc_matrix(cover), weight, capacity, k)
        simple = capacity_bound(sparse.csc_matrix(cover), weight, capacity, k)
        assert sol.objective <= sol.bound + 1e-6 <= simple + 2e-6
        assert sol.bound <= weight[cover.any(axis=1)].sum() + 1e-6


@pytest.mark.slow
def test_demo_capacity_model_is_fast_or_honest(demo_problem):
    """k = 20 sites on the demo: proven within 10 s, or stopped there with a bound no
    higher than all the demand and the 20 best sites allow."""
    cover, weight = demo_problem.groups.cover, demo_problem.groups.weight
    for cap in (200.0, 1000.0):
        capacity = np.full(cover.shape[1], cap)
        sol = solve_capacity(cover, weight, capacity, 20, time_limit_s=10.0)
        assert sol.seconds < 20.0
        simple = capacity_bound(cover, weight, capacity, 20)
        assert sol.objective <= sol.bound + 1e-6 <= simple + 1e-6
        assert sol.gap == pytest.approx((sol.bound - sol.objective) / sol.objective)
        assert sol.gap <= 1e-4 or "time limit" in sol.status.lower()
        assert sol.gap < 0.1  # the bound of all demand, not of every candidate's reach


@pytest.mark.slow
def test_demo_matrix_mclp_and_lscp_equal_spopt(demo_problem):
    """The demo county's own coverage matrix (demand groups x street candidates)."""
    cover = demo_problem.groups.cover.toarray()
    weight = demo_problem.groups.weight
    keep = cover.any(axis=0)
    cover = cover[:, keep]  # candidates that reach no unserved person cannot matter
    for k in (3, 5):
        sol = solve_mclp(sparse.csc_matrix(cover), weight, k)
        assert sol.objective == pytest.approx(_spopt_mclp(cover, weight, k), rel=1e-9)
        assert sol.gap <= GAP_TOLERANCE
    assert len(solve_lscp(sparse.csc_matrix(cover), weight).chosen) == _spopt_lscp(cover)


@pytest.fixture(scope="module")
def demo_problem(tmp_path_factory):
    from eldercare_coverage import run
    from eldercare_coverage.demo import write_demo_inputs
    from eldercare_coverage.siting import siting_problem

    d = write_demo_inputs(tmp_path_factory.mktemp("demo-inputs"))
    result = run(d.network, d.facilities, d.population, d.boundaries,
                 circles=["walk_1500m"], progress=False)
    return siting_problem(result, "walk_1500m", spacing_m=400.0)


def test_without_highspy_scipy_solves_and_a_failed_solve_keeps_greedy(monkeypatch):
    import eldercare_coverage.site_models as models

    cover, weight = _instance(11)
    exact = solve_mclp(sparse.csc_matrix(cover), weight, 3)
    monkeypatch.setitem(__import__("sys").modules, "highspy", None)  # import highspy fails
    sol = solve_mclp(sparse.csc_matrix(cover), weight, 3)
    assert sol.solver == "scipy" and sol.objective == pytest.approx(exact.objective)

    def fails(*args, **kwargs):
        raise SiteSelectionError("the solver found no feasible solution (time limit)")

    monkeypatch.setattr(models, "_solve_scipy", fails)
    sol = solve_mclp(sparse.csc_matrix(cover), weight, 3)
    assert sol.solver == "greedy" and np.isnan(sol.gap)
    assert sol.objective == pytest.approx(sol.greedy_objective)

"""Batched projected Levenberg–Marquardt: same answers as scipy, bounds honoured, rows independent."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from recscale.laws.batch_lsq import least_squares_rows

T = np.linspace(0.0, 4.0, 12)


def _problems(R: int, seed: int = 0):
    """Rows y = a·exp(−k·t) + c + noise with their true (a, k, c)."""
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(0.5, 2, R), rng.uniform(0.3, 2, R), rng.uniform(-0.5, 0.5, R)])
    Y = truth[:, :1] * np.exp(-truth[:, 1:2] * T) + truth[:, 2:] + rng.normal(0, 0.01, (R, T.size))
    return truth, Y


def _resid_for(Y):
    def resid(th, rows):
        return th[:, :1] * np.exp(-th[:, 1:2] * T) + th[:, 2:] - Y[rows]
    return resid


def test_batched_solutions_match_scipy_row_by_row():
    """Check every row's minimum equals scipy's trust-region solution of that row alone."""
    truth, Y = _problems(20)
    lower, upper = np.array([0.0, 0.01, -5.0]), np.array([10.0, 10.0, 5.0])
    res = least_squares_rows(_resid_for(Y), np.tile([1.0, 1.0, 0.0], (20, 1)), lower, upper)
    assert res.converged.all()
    for i in range(20):
        ref = optimize.least_squares(lambda th: th[0] * np.exp(-th[1] * T) + th[2] - Y[i], [1.0, 1.0, 0.0],
                                     bounds=(lower, upper), xtol=1e-14, ftol=1e-14, gtol=1e-14)
        assert res.sse[i] <= 2 * ref.cost * (1 + 1e-6) + 1e-15
        assert np.allclose(res.x[i], ref.x, rtol=1e-4, atol=1e-6)
    assert np.abs(res.x - truth).max() < 0.2  # and near the planted parameters


def test_active_bounds_are_honoured_and_rows_are_independent():
    """Check a bound that cuts off the minimum is held, and a row's answer does not depend on its batch."""
    truth, Y = _problems(8, seed=1)
    lower = np.array([0.0, 0.01, -5.0])
    upper = np.tile([10.0, 10.0, 5.0], (8, 1))
    upper[3, 1] = 0.5 * truth[3, 1]  # row 3: the decay rate capped at half its true value
    res = least_squares_rows(_resid_for(Y), np.tile([1.0, 0.2, 0.0], (8, 1)), lower, upper)
    assert np.all(res.x >= lower - 1e-12) and np.all(res.x <= upper + 1e-12)
    assert res.x[3, 1] == upper[3, 1]
    alone = least_squares_rows(lambda th, rows: _resid_for(Y[3:4])(th, rows * 0), np.array([[1.0, 0.2, 0.0]]),
                               lower, upper[3:4])
    assert np.array_equal(alone.x[0], res.x[3]) and alone.sse[0] == res.sse[3]


def test_forward_difference_jacobian_reaches_the_analytic_solution():
    """Check the solver without an analytic Jacobian finds the same minimum as with one."""
    _, Y = _problems(6, seed=2)
    resid = _resid_for(Y)

    def jac(th, rows):
        e = np.exp(-th[:, 1:2] * T)
        return np.stack([e, -th[:, :1] * T * e, np.ones_like(e)], axis=-1)

    lower, upper = np.array([0.0, 0.01, -5.0]), np.array([10.0, 10.0, 5.0])
    a = least_squares_rows(resid, np.tile([1.0, 1.0, 0.0], (6, 1)), lower, upper, jac=jac)
    b = least_squares_rows(resid, np.tile([1.0, 1.0, 0.0], (6, 1)), lower, upper)
    assert np.allclose(a.sse, b.sse, rtol=1e-6) and np.allclose(a.x, b.x, rtol=1e-4, atol=1e-6)

"""Check that long curves fit in bounded memory with the numbers of a row-by-row fit, and that unrepresentable y is refused."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import recscale.laws.bootstrap as bootstrap_mod
import recscale.laws.solve as solve_mod
from recscale.cli.main import main
from recscale.errors import RecscaleError
from recscale.laws import fit_power_law

CPS = np.unique((np.geomspace(1024, 2**24, 12) // 256 * 256).astype(float))


def curve(rows: int, seed: int = 0):
    """One curve with each checkpoint repeated (seeds and trials of a study's export)."""
    rng = np.random.default_rng(seed)
    x = np.repeat(CPS, -(-rows // CPS.size))[:rows]
    return x, (0.1 * (x / 1e3) ** -0.3 + 0.7) * np.exp(rng.normal(0.0, 0.003, x.size))


@pytest.mark.parametrize("space", ["log", "linear"])
def test_aggregated_fit_equals_row_by_row_fit(space, monkeypatch):
    """Check that fitting the distinct x (weights, means) gives the row-level estimate and matching intervals."""
    x, y = curve(6_000)
    agg = fit_power_law(x, y, bootstrap=200, seed=0, space=space)
    monkeypatch.setattr(solve_mod, "AGGREGATE_MIN_ROWS", 10**9)  # row by row
    rows = fit_power_law(x, y, bootstrap=200, seed=0, space=space)
    for k in ("alpha", "beta", "gamma"):
        assert agg.params[k] == pytest.approx(rows.params[k], rel=1e-6)
    assert agg.sse == pytest.approx(rows.sse, rel=1e-9)  # diagnostics still come from every row
    lo_a, hi_a = agg.ci()["beta"]
    lo_r, hi_r = rows.ci()["beta"]
    width = hi_r - lo_r
    assert abs(lo_a - lo_r) < 0.15 * width and abs(hi_a - hi_r) < 0.15 * width  # same bootstrap, up to Monte-Carlo noise


def test_normal_limit_of_group_sums_matches_exact_draws(monkeypatch):
    """Check that the normal-limit bootstrap (huge groups) gives intervals matching the exact draws."""
    x, y = curve(24_000)
    exact = fit_power_law(x, y, bootstrap=300, seed=1)
    monkeypatch.setattr(bootstrap_mod, "EXACT_DRAWS_MAX", 0)
    clt = fit_power_law(x, y, bootstrap=300, seed=1)
    assert clt.params == exact.params
    for k in ("beta", "gamma"):
        (lo_e, hi_e), (lo_c, hi_c) = exact.ci()[k], clt.ci()[k]
        assert abs(lo_c - lo_e) < 0.15 * (hi_e - lo_e) and abs(hi_c - hi_e) < 0.15 * (hi_e - lo_e)


@pytest.mark.parametrize("rows", [100_000, 400_000])  # exact draws (B × rows = 10^8), and their normal limit
def test_memory_does_not_grow_with_bootstrap_times_rows(rows):
    """Check that 1,000 refits of 10^5 (4·10^5) rows allocate far less than B × rows × 8 bytes (0.8 GB, 3.2 GB)."""
    x, y = curve(rows)
    tracemalloc.start()
    try:
        fit = fit_power_law(x, y, bootstrap=1000, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150e6, f"peak {peak / 1e6:.0f} MB"
    assert fit.beta == pytest.approx(0.3, abs=0.005) and fit.draws["beta"].size == 1000


def test_chunked_bootstrap_is_deterministic_and_equals_unchunked(monkeypatch):
    """Check that drawing the row-level bootstrap in chunks gives the draws of one (B, n) draw (same seed, same numbers)."""
    x, y = curve(400)
    seeds = np.arange(x.size) % 5
    for resample in ("residuals", "points", "seeds"):
        one = fit_power_law(x, y, seeds=seeds, bootstrap=60, seed=3, resample=resample)
        monkeypatch.setattr(bootstrap_mod, "CHUNK_VALUES", 7 * x.size)  # 7 replicates a chunk
        many = fit_power_law(x, y, seeds=seeds, bootstrap=60, seed=3, resample=resample)
        monkeypatch.undo()
        for k in ("beta", "gamma"):
            np.testing.assert_allclose(many.draws[k], one.draws[k], rtol=1e-12, err_msg=resample)


@pytest.mark.parametrize("bad", [1e308, -1e200, 1e-200])
def test_unrepresentable_y_is_one_line(bad):
    """Check that a y the fit's sums of squares cannot hold is refused, naming the index and value."""
    x, y = curve(40)
    y[7] = bad
    with pytest.raises(RecscaleError, match=r"y\[7\] = " + f"{bad!r}".replace("+", r"\+")):
        fit_power_law(x, y, bootstrap=0, space="linear" if bad < 0 else "log")


def test_cli_fit_unrepresentable_y_exit_2(tmp_path, capsys):
    """Check that `recscale fit` on a CSV with y = 1e308 exits 2 with one line and no numpy warnings."""
    x, y = curve(40)
    y[3] = 1e308
    p = tmp_path / "c.csv"
    p.write_text("samples,ne\n" + "\n".join(f"{a:.0f},{float(b)!r}" for a, b in zip(x, y)) + "\n")
    assert main(["fit", str(p), "--x", "samples", "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1e+308" in err[0], err

"""Check that recscale's metrics equal independent implementations (scikit-learn) on random inputs."""

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from recscale.errors import RecscaleError
from recscale import metrics


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn(seed):
    """Check log loss, NE and AUC against scikit-learn to 1e-9 on random inputs (ties included)."""
    rng = np.random.default_rng(seed)
    n = 5000
    p = rng.uniform(0.01, 0.99, n)
    if seed % 2:  # ties in the scores
        p = np.round(p, 2)
    y = (rng.random(n) < p).astype(np.float64)
    z = logit(p)
    assert abs(metrics.log_loss(y, p) - sk_log_loss(y, p)) < 1e-9
    assert abs(metrics.log_loss_from_logits(y, z) - sk_log_loss(y, p)) < 1e-9
    assert abs(metrics.auc(y, z) - roc_auc_score(y, z)) < 1e-9
    ctr = y.mean()
    h = -(ctr * np.log(ctr) + (1 - ctr) * np.log(1 - ctr))
    ev = metrics.evaluate(y, z)
    assert abs(ev.ne - sk_log_loss(y, p) / h) < 1e-9
    assert abs(ev.calibration - p.mean() / y.mean()) < 1e-9
    assert ev.rows == n and ev.base_ctr == pytest.approx(ctr)


def test_ne_of_base_rate_predictor_is_one():
    """Check that always predicting the eval CTR gives NE exactly 1."""
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.2).astype(float)
    z = np.full(1000, logit(y.mean()))
    assert metrics.evaluate(y, z).ne == pytest.approx(1.0, abs=1e-12)


def test_ne_uses_given_base_ctr():
    """Check that NE is normalised by the CTR given, not the eval set's, when one is given."""
    y = np.array([0, 1, 0, 0.0])
    p = np.array([0.2, 0.6, 0.1, 0.3])
    ne = metrics.normalized_entropy(y, p, base_ctr=0.5)
    assert ne == pytest.approx(sk_log_loss(y, p) / np.log(2))


def test_extreme_logits_stay_finite():
    """Check that logits of ±60 give finite log loss, not log(0)."""
    y = np.array([1.0, 0.0, 1.0, 0.0])
    z = np.array([60.0, -60.0, -60.0, 60.0])
    ll = metrics.log_loss_from_logits(y, z)
    assert np.isfinite(ll) and ll == pytest.approx(30.0, rel=1e-9)
    assert expit(60.0) == 1.0  # the reason logits are used


def test_errors_name_the_problem():
    """Check errors for single-class labels, NaN predictions and length mismatches."""
    with pytest.raises(RecscaleError, match="all labels equal"):
        metrics.evaluate(np.zeros(10), np.zeros(10))
    with pytest.raises(RecscaleError, match="1 predictions are NaN"):
        metrics.evaluate(np.array([0, 1.0]), np.array([0.0, np.nan]))
    with pytest.raises(RecscaleError, match="differ in length: 2 vs 3"):
        metrics.evaluate(np.array([0, 1.0]), np.zeros(3))

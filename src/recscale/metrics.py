"""Evaluation metrics of a CTR model: normalized entropy (NE), log loss, AUC, calibration.

NE (He et al. 2014, the metric of Ardalani et al. 2022) is the log loss divided by the entropy of
the average CTR: the log loss of a model that always predicts the base rate. NE = 1 means the model
knows nothing beyond the base CTR; lower is better. Which CTR normalises it matters when train and
eval CTR differ, so :func:`evaluate` records it (``base_ctr``); the default is the eval set's own.

Everything is computed in float64 from logits where possible, so very confident predictions do not
round to log(0). numpy and scipy only (no torch): the data, the trainer, the study and the report
all score with these same functions, so this module sits below all of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit, log_expit
from scipy.stats import rankdata

from recscale.errors import RecscaleError


def binary_entropy(p: float | np.ndarray) -> float | np.ndarray:
    """Entropy in nats of a Bernoulli(p); 0 at p in {0, 1}."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    return np.where((p <= 0) | (p >= 1), 0.0, h)[()]


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise RecscaleError(f"labels and predictions differ in length: {y.size} vs {s.size}")
    if y.size == 0:
        raise RecscaleError("cannot evaluate on zero rows")
    if not np.all(np.isfinite(s)):
        raise RecscaleError(f"{int(np.sum(~np.isfinite(s)))} predictions are NaN or infinite")
    return y, s


def log_loss_from_logits(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean binary cross-entropy, -[y log σ(z) + (1-y) log(1-σ(z))], computed stably from logits."""
    y, z = _check(labels, logits)
    return float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities (clipped to [1e-15, 1 - 1e-15])."""
    y, p = _check(labels, probs)
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def normalized_entropy(labels: np.ndarray, probs: np.ndarray, base_ctr: float | None = None) -> float:
    """Log loss over the entropy of ``base_ctr`` (default: the mean label)."""
    y, _ = _check(labels, probs)
    ctr = float(np.mean(y)) if base_ctr is None else float(base_ctr)
    return log_loss(labels, probs) / _entropy_or_raise(ctr)


def _entropy_or_raise(ctr: float) -> float:
    if not 0.0 < ctr < 1.0:
        raise RecscaleError(f"NE is undefined when the base CTR is {ctr} (all labels equal); need 0 < CTR < 1")
    return float(binary_entropy(ctr))


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties counted half."""
    y, s = _check(labels, scores)
    n_pos = float(np.sum(y))
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((np.sum(ranks[y == 1]) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one model on one evaluation set.

    Attributes:
        ne: Log loss over the entropy of ``base_ctr``.
        logloss: Mean binary cross-entropy in nats.
        auc: ROC AUC (NaN only if the eval set has a single class, which NE already rejects).
        calibration: Mean prediction over mean label; 1 is perfectly calibrated on average.
        base_ctr: The CTR that normalises NE.
        rows: Number of evaluation rows.
    """

    ne: float
    logloss: float
    auc: float
    calibration: float
    base_ctr: float
    rows: int

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(labels: np.ndarray, logits: np.ndarray, base_ctr: float | None = None) -> Evaluation:
    """All metrics from labels and logits. ``base_ctr`` defaults to the eval set's mean label."""
    y, z = _check(labels, logits)
    ctr = float(np.mean(y)) if base_ctr is None else float(base_ctr)
    ll = log_loss_from_logits(y, z)
    return Evaluation(
        ne=ll / _entropy_or_raise(ctr),
        logloss=ll,
        auc=auc(y, z),
        calibration=float(np.mean(expit(z)) / np.mean(y)),
        base_ctr=ctr,
        rows=int(y.size),
    )

"""The built-in synthetic CTR world: Criteo-shaped data from a known teacher, so the floor is known.

Rows look like Criteo's: 13 count-like dense features (stored as log1p, as real ingest does) and 26
categorical features whose cardinalities span several decades and whose ids follow Zipf laws. Labels
are Bernoulli draws from a random *teacher* whose click probability p(x) is known exactly, so:

* the **Bayes NE**, E[H(p)] / H(E[p]), is the floor no model can beat; it is estimated on a large
  independent sample and recorded with its standard error in ``meta.json``;
* the **seen-id oracle** (the teacher, with the effects of ids not yet seen in the first D training
  rows replaced by their prior mean of zero) shows how much of a student's gap at D is missing data
  and how much is the student.

Why the teacher looks like this (measured on a throwaway prototype; see the experiment-engine issue):
most signal sits in per-id effects with Zipf tails, because learning ever rarer ids is what makes NE
fall as a power law in data; interactions sit on a few strong pairs of low/mid-cardinality features
(rank ``interaction_rank``), so a student needs embedding dimension to express them; a nonlinear
function of the dense features and dense × id interactions reward MLP width. The logit is a weighted
sum of these unit-variance parts, with a scale and bias solved so that the base CTR and the Bayes NE
hit their targets.

Such a teacher is what a DLRM's dot interaction already expresses. The ``higher_order`` world
(``WORLDS``) adds low-rank three-way terms among small features, sum_r F_a[x_a,r] F_b[x_b,r] F_c[x_c,r],
weighted so that a chosen share of the logit's variance is genuinely higher-order, with factor means
that leave lower-order projections for SGD to follow, and keeps per-id effects on small features so
the first-order part saturates early. For every world the teacher's exact variance shares of the
logit (first-order, pairwise, higher-order, dense: a functional ANOVA, see ``Teacher.anova``) are
recorded in ``meta.json``.

Everything is drawn from ``numpy.random.Generator`` streams split from one seed, in fixed chunks, so
the same seed gives the same rows, and the first N rows of a larger dataset equal a smaller one's.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from recscale.data.shards import Dataset, DatasetWriter
from recscale.errors import SpecError
from recscale.metrics import binary_entropy

CHUNK = 65_536  # rows drawn per generator call; fixed so outputs never depend on how they are split
_CALIBRATION_ROWS = 200_000
_BAYES_ROWS = 1_000_000


@dataclass(frozen=True)
class WorldConfig:
    """The synthetic world's shape and difficulty; every default lives here.

    Attributes:
        n_dense: Dense (count-like) features.
        n_sparse: Categorical features.
        min_cardinality: Smallest categorical id space.
        max_cardinality: Largest; cardinalities are log-spaced between the two.
        zipf_exponent: Exponent s of the id frequencies, P(rank k) ∝ k^-s.
        ctr: Target base click-through rate.
        bayes_ne: Target Bayes NE (the irreducible NE); lower means more predictable clicks.
        interaction_rank: Rank of each pairwise interaction between two features' ids.
        interaction_pairs: Number of interacting feature pairs (drawn among low/mid cardinalities).
        interaction_max_cardinality: Features above this cardinality take part in no pair.
        dense_hidden: Width of the teacher's hidden layer on dense features.
        dense_sparse_features: Features whose ids interact with the dense features.
        share_id: Share of logit variance from per-id effects.
        share_pairs: Share from pairwise id interactions.
        share_dense: Share from the nonlinear function of the dense features.
        share_dense_sparse: Share from dense × id interactions.
        share_higher: Share of the logit's variance that is genuinely higher-order (ANOVA: not a sum
            of functions of fewer than three sparse features). 0 (the default) adds no such part;
            otherwise the part is scaled so this share is met exactly, and the four shares above set
            the relative weights of the rest.
        higher_order: Features in each higher-order term (3 or more).
        higher_terms: Number of higher-order terms (feature tuples, drawn among eligible features).
        higher_rank: Rank R of each term, sum_r prod_j F_j[x_j, r].
        higher_factor_mean: Mean of the factors F_j: non-zero gives each term lower-order projections
            (pairwise and first-order parts) that SGD can follow; zero-mean terms are not learned.
        higher_max_cardinality: Features above this cardinality take part in no higher-order term.
        id_max_cardinality: Features above this cardinality get no per-id effect (0: every feature
            does), so the first-order part can be learned, and saturate, early.
    """

    n_dense: int = 13
    n_sparse: int = 26
    min_cardinality: int = 4
    max_cardinality: int = 200_000
    zipf_exponent: float = 1.15
    ctr: float = 0.15
    bayes_ne: float = 0.75
    interaction_rank: int = 8
    interaction_pairs: int = 12
    interaction_max_cardinality: int = 20_000
    dense_hidden: int = 32
    dense_sparse_features: int = 4
    share_id: float = 0.55
    share_pairs: float = 0.25
    share_dense: float = 0.10
    share_dense_sparse: float = 0.10
    share_higher: float = 0.0
    higher_order: int = 3
    higher_terms: int = 8
    higher_rank: int = 4
    higher_factor_mean: float = 0.4
    higher_max_cardinality: int = 2_000
    id_max_cardinality: int = 0

    @classmethod
    def named(cls, name: str, where: str = "world") -> "WorldConfig":
        """A built-in world by name (see ``WORLDS``)."""
        return cls.from_dict({"world": name}, where)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "world") -> "WorldConfig":
        """Build from a (TOML) dict, reporting every unknown or invalid field at once.

        ``world = NAME`` starts from a built-in world (``WORLDS``); other keys override its fields.
        """
        known = {f.name: f for f in fields(cls)}
        problems = [
            f"{where}.{k}: unknown field; allowed: world, {', '.join(known)}" for k in d if k not in known and k != "world"
        ]
        name = d.get("world", "default")
        if not isinstance(name, str) or name not in WORLDS:
            problems.append(f"{where}.world: unknown world {name!r}; allowed: {', '.join(WORLDS)}")
            name = "default"
        kw = dict(WORLDS[name])
        for k, v in d.items():
            if k not in known:
                continue
            want = float if known[k].type in ("float", float) else int
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (want is int and not float(v).is_integer()):
                problems.append(f"{where}.{k}: expected {want.__name__}, got {v!r}")
            else:
                kw[k] = want(v)
        cfg = cls(**kw)
        problems += cfg.problems(where)
        if problems:
            raise SpecError(problems)
        return cfg

    def problems(self, where: str = "world") -> list[str]:
        """Every constraint this config violates, one line each."""
        p = []
        if not 0.0 < self.ctr < 0.5:
            p.append(f"{where}.ctr: must be in (0, 0.5), got {self.ctr}")
        if not 0.05 < self.bayes_ne < 0.99:
            p.append(f"{where}.bayes_ne: must be in (0.05, 0.99), got {self.bayes_ne}")
        for name in ("n_dense", "n_sparse", "min_cardinality", "interaction_rank", "dense_hidden"):
            if getattr(self, name) < 1:
                p.append(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")
        if self.max_cardinality < self.min_cardinality:
            p.append(f"{where}.max_cardinality: must be >= min_cardinality ({self.min_cardinality}), got {self.max_cardinality}")
        if self.zipf_exponent <= 1.0:
            p.append(f"{where}.zipf_exponent: must be > 1, got {self.zipf_exponent}")
        shares = [self.share_id, self.share_pairs, self.share_dense, self.share_dense_sparse]
        if min(shares) < 0 or sum(shares) <= 0:
            p.append(f"{where}.share_*: must be non-negative and not all zero, got {shares}")
        if not 0.0 <= self.share_higher < 0.95:
            p.append(f"{where}.share_higher: must be in [0, 0.95), got {self.share_higher}")
        for name in ("higher_terms", "higher_rank"):
            if getattr(self, name) < 1:
                p.append(f"{where}.{name}: must be >= 1, got {getattr(self, name)}")
        if self.higher_order < 3:
            p.append(f"{where}.higher_order: must be >= 3 (pairs are interaction_pairs), got {self.higher_order}")
        if self.id_max_cardinality < 0:
            p.append(f"{where}.id_max_cardinality: must be >= 0 (0: no limit), got {self.id_max_cardinality}")
        eligible = sum(2 <= c <= self.higher_max_cardinality for c in self.cardinalities)
        if self.share_higher > 0 and eligible < self.higher_order:
            p.append(
                f"{where}.higher_max_cardinality: {self.higher_max_cardinality} leaves {eligible} eligible features, "
                f"fewer than higher_order ({self.higher_order})"
            )
        return p

    @property
    def cardinalities(self) -> list[int]:
        """Log-spaced id-space sizes from min to max cardinality."""
        c = np.geomspace(self.min_cardinality, self.max_cardinality, self.n_sparse)
        return [int(round(x)) for x in c]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The built-in worlds by name: overrides of WorldConfig's defaults (``world = NAME`` in a spec).
WORLDS: dict[str, dict[str, Any]] = {
    "default": {},
    # Where a richer interaction than DLRM's dot can pay within a CPU-sized study (tuned on throwaway
    # prototypes, see the issue): per-id effects and 4 pairs only on the 8 features of at most 50 ids,
    # whose ids are all seen within ~10^4 rows, and 35% of the logit's variance in rank-4 three-way
    # terms among them, with factor means of 0.5 that leave lower-order projections for SGD to follow
    # (at 0.3, DCNv2 and DLRM did not differ beyond seed noise at 0.5M rows).
    "higher_order": {
        "max_cardinality": 20_000,
        "bayes_ne": 0.7,
        "id_max_cardinality": 50,
        "interaction_max_cardinality": 50,
        "interaction_pairs": 4,
        "higher_max_cardinality": 50,
        "share_id": 0.5,
        "share_pairs": 0.2,
        "share_dense": 0.15,
        "share_dense_sparse": 0.15,
        "share_higher": 0.35,
        "higher_factor_mean": 0.5,
    },
}


class Teacher:
    """The world's true click model. Built deterministically from (config, seed)."""

    def __init__(self, world: WorldConfig, seed: int):
        self.world = world
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        w, r = world, world.interaction_rank
        self.cards = np.array(w.cardinalities)
        self.dense_mu = rng.normal(1.0, 0.8, w.n_dense)
        self.dense_load = rng.normal(0.0, 0.8, (4, w.n_dense))
        self.id_effect = [rng.standard_normal(c).astype(np.float32) for c in self.cards]
        eligible = [f for f in range(w.n_sparse) if self.cards[f] <= w.interaction_max_cardinality]
        all_pairs = [(a, b) for i, a in enumerate(eligible) for b in eligible[i + 1 :]]
        take = rng.choice(len(all_pairs), size=min(w.interaction_pairs, len(all_pairs)), replace=False)
        self.pairs = [all_pairs[i] for i in sorted(take)]
        used = sorted({f for p in self.pairs for f in p})
        self.pair_emb = {f: rng.standard_normal((self.cards[f], r)).astype(np.float32) for f in used}
        self.w1 = rng.normal(0, 1 / math.sqrt(w.n_dense), (w.n_dense, w.dense_hidden))
        self.b1 = rng.normal(0, 0.5, w.dense_hidden)
        self.v1 = rng.normal(0, 1 / math.sqrt(w.dense_hidden), w.dense_hidden)
        mid = [f for f in range(w.n_sparse) if f not in used] or list(range(w.n_sparse))
        self.ds_features = sorted(rng.choice(mid, size=min(w.dense_sparse_features, len(mid)), replace=False).tolist())
        self.ds_proj = rng.normal(0, 1 / math.sqrt(w.n_dense), (w.n_dense, r))
        self.ds_emb = {f: rng.standard_normal((self.cards[f], r)).astype(np.float32) for f in self.ds_features}
        id_cap = w.id_max_cardinality or max(self.cards)
        self.id_features = [f for f in range(w.n_sparse) if self.cards[f] <= id_cap]
        self.higher: list[tuple[tuple[int, ...], list[np.ndarray]]] = []  # (features, factor tables [card, R])
        if w.share_higher > 0:  # its own stream, so every other part equals the world without it
            hr = np.random.default_rng(np.random.SeedSequence([seed, 3]))
            eligible = [f for f in range(w.n_sparse) if 2 <= self.cards[f] <= w.higher_max_cardinality]
            tuples = list(itertools.combinations(eligible, w.higher_order))
            take = hr.choice(len(tuples), size=min(w.higher_terms, len(tuples)), replace=False)
            for i in sorted(take):
                self.higher.append((tuples[i], [self._factor(hr, f) for f in tuples[i]]))
        # Unit-variance normalisers, the higher-order weight and the final scale/bias come from calibrate().
        self.norm = np.ones(4)
        self.higher_weight = 0.0
        self.scale, self.bias = 1.0, 0.0
        self.variances: dict[str, float] = {}

    def _factor(self, rng: np.random.Generator, f: int) -> np.ndarray:
        """A factor table [card, R] of a higher-order term: mean higher_factor_mean, unit deviations.

        Each column is centred and scaled under the feature's id distribution, so how a term splits
        into first-order, pairwise and three-way parts is set by the factor mean, not by the draw
        (a few-id feature's raw Zipf-weighted mean would otherwise be anywhere in ±1).
        """
        raw = rng.standard_normal((self.cards[f], self.world.higher_rank))
        pmf = self.id_pmf(f)
        dev = raw - pmf @ raw
        return (self.world.higher_factor_mean + dev / np.sqrt(pmf @ dev**2)).astype(np.float32)

    # ---- sampling -------------------------------------------------------------------------------
    def sample_features(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense features [n, n_dense] (float32, log1p of counts) and ids [n, n_sparse] (int32)."""
        w = self.world
        latent = rng.standard_normal((n, 4))
        log_rate = self.dense_mu + latent @ self.dense_load
        counts = rng.poisson(np.exp(np.clip(log_rate, -5, 8)))
        dense = np.log1p(counts).astype(np.float32)
        # Bounded continuous power law, floored: P(rank ≈ k) ∝ k^-s on [1, K+1).
        s1 = 1.0 - w.zipf_exponent
        u = rng.random((n, w.n_sparse), dtype=np.float32)
        top = ((self.cards + 1.0) ** s1 - 1.0).astype(np.float32)
        # (1 + u·(top − 1))^(1/s1) as exp(log1p(·)/s1): float32 exp/log are several times faster than pow.
        ranks = np.floor(np.exp(np.log1p(u * top) * np.float32(1.0 / s1))) - 1.0
        sparse = np.clip(ranks, 0, self.cards - 1).astype(np.int32)
        return dense, sparse

    def components(self, dense: np.ndarray, sparse: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        """The four raw logit parts [4, n]; ``known`` [n, F] zeroes the effects of unseen ids."""
        n = dense.shape[0]
        k = None if known is None else known.astype(np.float32)
        x = (dense - 1.0) / 1.0
        out = np.zeros((4, n))
        for f in self.id_features:
            e = self.id_effect[f][sparse[:, f]]
            out[0] += e if k is None else e * k[:, f]
        for a, b in self.pairs:
            ea, eb = self.pair_emb[a][sparse[:, a]], self.pair_emb[b][sparse[:, b]]
            dot = np.einsum("nr,nr->n", ea, eb)
            out[1] += dot if k is None else dot * k[:, a] * k[:, b]
        out[2] = np.tanh(x @ self.w1 + self.b1) @ self.v1
        proj = np.tanh(x @ self.ds_proj)
        for f in self.ds_features:
            dot = np.einsum("nr,nr->n", self.ds_emb[f][sparse[:, f]], proj)
            out[3] += dot if k is None else dot * k[:, f]
        return out

    def higher_part(self, sparse: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        """The raw higher-order part [n]: sum over terms of sum_r prod_j F_j[x_j, r].

        An unseen id (``known`` False) takes its factors' prior mean, ``higher_factor_mean``.
        """
        out = np.zeros(sparse.shape[0])
        mu = np.float32(self.world.higher_factor_mean)
        for feats, tables in self.higher:
            prod = None
            for f, t in zip(feats, tables):
                v = t[sparse[:, f]]
                if known is not None:
                    v = np.where(known[:, f, None], v, mu)
                prod = v if prod is None else prod * v
            out += prod.sum(axis=1)
        return out

    def _weights(self) -> np.ndarray:
        w = self.world
        shares = np.array([w.share_id, w.share_pairs, w.share_dense, w.share_dense_sparse])
        return np.sqrt(shares / shares.sum()) / self.norm

    def logit(self, dense: np.ndarray, sparse: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        """True logit of a click for each row."""
        z = self._weights() @ self.components(dense, sparse, known)
        if self.higher_weight:
            z = z + self.higher_weight * self.higher_part(sparse, known)
        return self.scale * z + self.bias

    def prob(self, dense: np.ndarray, sparse: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        return expit(self.logit(dense, sparse, known))

    def calibrate(self, rng: np.random.Generator) -> None:
        """Solve the normalisers, scale and bias so the world hits its target CTR and Bayes NE."""
        w = self.world
        dense, sparse = self.sample_features(rng, _CALIBRATION_ROWS)
        comp = self.components(dense, sparse)
        self.norm = np.maximum(comp.std(axis=1), 1e-12)
        self.scale, self.bias = 1.0, 0.0
        if self.higher:
            self.higher_weight = self._solve_higher_weight(dense)
        self.variances = self.anova(dense)
        z = self.logit(dense, sparse)

        def bias_for(scale: float) -> float:
            return brentq(lambda b: expit(scale * z + b).mean() - w.ctr, -80.0, 80.0, xtol=1e-12)

        def ne_at(scale: float) -> float:
            p = expit(scale * z + bias_for(scale))
            return float(binary_entropy(p).mean() / binary_entropy(w.ctr))

        scale = brentq(lambda s: ne_at(s) - w.bayes_ne, 1e-3, 15.0, xtol=1e-10)
        self.scale, self.bias = scale, bias_for(scale)

    # ---- variance decomposition -----------------------------------------------------------------
    def id_pmf(self, f: int) -> np.ndarray:
        """Exact probability of each id of feature f under the sampler's floored power law."""
        s1, k = 1.0 - self.world.zipf_exponent, int(self.cards[f])
        cdf = (np.arange(1, k + 2, dtype=np.float64) ** s1 - 1.0) / ((k + 1.0) ** s1 - 1.0)
        return np.diff(cdf)

    @property
    def variance_shares(self) -> dict[str, float]:
        """Shares of the logit's variance: first-order, pairwise, higher-order (sparse ANOVA) and dense."""
        total = sum(self.variances.values())
        return {k: v / total for k, v in self.variances.items()}

    def anova(self, dense: np.ndarray) -> dict[str, float]:
        """Variance of the (unscaled) logit split by the number of sparse features each part depends on.

        Ids of different features are independent, and every sparse part is a sum of products of
        per-feature tables, so its functional ANOVA is exact given each feature's id pmf: expand each
        factor as mean + deviation and group the products by the set S of features whose deviations
        they hold; parts with different S are uncorrelated. |S| = 1 is first-order, 2 pairwise, 3+
        higher-order. Everything that depends on the dense features (their main effect and dense × id
        interactions) is "dense"; its moments come from the sample ``dense``.
        """
        return self._anova(dense, [self.higher_weight])[0]

    def _anova(self, dense: np.ndarray, higher_weights: list[float]) -> list[dict[str, float]]:
        """anova() at each weight of the higher-order part (the rest is computed once)."""
        wt, r = self._weights(), self.world.interaction_rank
        x = (np.asarray(dense, dtype=np.float64) - 1.0) / 1.0
        h = np.tanh(x @ self.ds_proj)  # [n, r], the dense side of dense × id
        pmf = {f: self.id_pmf(f) for f in range(self.world.n_sparse)}
        # (coefficients [R], features, tables [card, R], is higher-order) of every sum of products
        blocks = [(np.array([wt[0]]), (f,), [self.id_effect[f][:, None]], False) for f in self.id_features]
        blocks += [(np.full(r, wt[1]), (a, b), [self.pair_emb[a], self.pair_emb[b]], False) for a, b in self.pairs]
        blocks += [(wt[3] * h.mean(axis=0), (f,), [self.ds_emb[f]], False) for f in self.ds_features]  # E[dense × id | id]
        blocks += [(np.ones(t[0].shape[1]), feats, t, True) for feats, t in self.higher]
        groups: dict[tuple[int, ...], list] = {}
        for coef, feats, tables, hi in blocks:
            tables = [np.asarray(t, dtype=np.float64) for t in tables]
            means = [pmf[f] @ t for f, t in zip(feats, tables)]
            for size in range(1, len(feats) + 1):
                for sub in itertools.combinations(range(len(feats)), size):
                    k = coef * np.prod([means[j] for j in range(len(feats)) if j not in sub], axis=0)
                    devs = [tables[j] - means[j] for j in sub]
                    groups.setdefault(tuple(feats[j] for j in sub), []).append((k, np.full(k.size, hi), devs))
        # what varies with the dense features alone, and the dense × id deviations
        ds_mean = sum((pmf[f] @ np.asarray(self.ds_emb[f], dtype=np.float64) for f in self.ds_features), np.zeros(r))
        dense_var = float((wt[2] * (np.tanh(x @ self.w1 + self.b1) @ self.v1) + wt[3] * (h @ ds_mean)).var())
        cov_h = np.cov(h, rowvar=False, bias=True).reshape(r, r)
        for f in self.ds_features:  # E[(sum_r dev_f,r h_r)^2] summed over f
            dev = np.asarray(self.ds_emb[f], dtype=np.float64) - pmf[f] @ np.asarray(self.ds_emb[f], dtype=np.float64)
            dense_var += float(wt[3] ** 2 * np.sum((dev.T @ (dev * pmf[f][:, None])) * cov_h))
        out = [{"first_order": 0.0, "pairwise": 0.0, "higher_order": 0.0, "dense": dense_var} for _ in higher_weights]
        for feats, items in groups.items():
            k, hi = np.concatenate([it[0] for it in items]), np.concatenate([it[1] for it in items])
            gram = np.ones((k.size, k.size))
            for pos, f in enumerate(feats):
                dev = np.concatenate([it[2][pos] for it in items], axis=1)
                gram *= dev.T @ (dev * pmf[f][:, None])
            kind = ("first_order", "pairwise")[len(feats) - 1] if len(feats) < 3 else "higher_order"
            for o, c in zip(out, higher_weights):
                kc = np.where(hi, c * k, k)
                o[kind] += float(kc @ gram @ kc)
        return out

    def _solve_higher_weight(self, dense: np.ndarray) -> float:
        """The higher-order part's weight c at which its pure higher-order variance is share_higher.

        The total variance is quadratic in c, V(c) = A + 2Bc + Cc², the pure part P·c²; solve
        P·c² = s·V(c) for the positive root.
        """
        w = self.world
        s = w.share_higher
        v = dict(zip((0.0, 1.0, -1.0), self._anova(dense, [0.0, 1.0, -1.0])))
        tot = {c: sum(d.values()) for c, d in v.items()}
        a, p = tot[0.0], v[1.0]["higher_order"]
        b, cc = (tot[1.0] - tot[-1.0]) / 4, (tot[1.0] + tot[-1.0]) / 2 - a
        lead = p - s * cc
        if lead <= 0:
            raise SpecError([
                f"world.share_higher: {s} is more than the higher-order terms can carry at higher_factor_mean "
                f"{w.higher_factor_mean} (at most {p / cc:.2f}); lower one of them"
            ])
        return float((s * b + math.sqrt(s * s * b * b + lead * s * a)) / lead)


def bayes_ne(prob: np.ndarray) -> tuple[float, float, float]:
    """Bayes NE E[H(p)] / H(E[p]) of a sample of true probabilities, its delta-method SE, and E[p]."""
    p = np.asarray(prob, dtype=np.float64)
    h = binary_entropy(p)
    m1, m2 = h.mean(), p.mean()
    hm = float(binary_entropy(m2))
    grad = np.array([1.0 / hm, -m1 * math.log((1 - m2) / m2) / hm**2])
    cov = np.cov(np.stack([h, p])) / p.size
    return m1 / hm, float(math.sqrt(grad @ cov @ grad)), float(m2)


def _streams(seed: int) -> dict[str, np.random.SeedSequence]:
    names = ("calibrate", "train", "eval", "bayes")
    return dict(zip(names, np.random.SeedSequence([seed, 2]).spawn(len(names))))


def build_teacher(world: WorldConfig, seed: int) -> Teacher:
    """The calibrated teacher of the world (world, seed): deterministic, a few seconds."""
    t = Teacher(world, seed)
    t.calibrate(np.random.default_rng(_streams(seed)["calibrate"]))
    return t


@functools.lru_cache(maxsize=4)
def shared_teacher(world: WorldConfig, seed: int) -> Teacher:
    """build_teacher, calibrated once per process and shared read-only.

    A new study's driver needs the teacher twice (to generate the rows, then to score the seen-id
    oracle on them); calibration is the slow part of both (about 4 s of the default world's).
    """
    return build_teacher(world, seed)


def _chunk(teacher: Teacher, stream: np.random.SeedSequence, k: int):
    """Chunk k of a stream: CHUNK rows from its own child seed (chunks could be drawn in parallel)."""
    rng = np.random.default_rng(np.random.SeedSequence(stream.entropy, spawn_key=(*stream.spawn_key, k)))
    dense, sparse = teacher.sample_features(rng, CHUNK)
    p = teacher.prob(dense, sparse)
    labels = (rng.random(CHUNK) < p).astype(np.float32)
    return dense, sparse, labels, p.astype(np.float32)


def _rows(teacher: Teacher, stream: np.random.SeedSequence, n: int):
    """Yield (dense, sparse, labels, prob) chunks totalling n rows, in order (the last truncated)."""
    for k in range(-(-n // CHUNK)):
        dense, sparse, labels, p = _chunk(teacher, stream, k)
        take = min(CHUNK, n - k * CHUNK)
        yield dense[:take], sparse[:take], labels[:take], p[:take]


def generate(
    world: WorldConfig,
    out: str | os.PathLike,
    *,
    rows: int,
    eval_rows: int,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
) -> Dataset:
    """Generate ``rows`` training and ``eval_rows`` evaluation rows of the world into ``out``.

    ``meta.json`` gets a ``world`` section: the config, seed, achieved CTR and Bayes NE with SE.
    """
    from recscale.errors import DataError

    if rows < 1 or eval_rows < 1:
        raise DataError(f"--rows and --eval-rows must be positive, got {rows} and {eval_rows}")
    teacher = shared_teacher(world, seed)
    streams = _streams(seed)
    prob_sample = np.concatenate([c[3] for c in _rows(teacher, streams["bayes"], _BAYES_ROWS)])
    ne, ne_se, ctr = bayes_ne(prob_sample)
    names_d = [f"I{i + 1}" for i in range(world.n_dense)]
    names_s = [f"C{i + 1}" for i in range(world.n_sparse)]
    bar = _progress(progress, rows + eval_rows, f"synthesising {Path(out).name}")
    with DatasetWriter(out, names_d, names_s, with_prob=True, overwrite=overwrite) as writer:
        for split, n in (("train", rows), ("eval", eval_rows)):
            for dense, sparse, labels, p in _rows(teacher, streams[split], n):
                writer.append(split, dense, sparse, labels, p)
                bar(len(labels))
        meta_world = {
            "config": world.to_dict(),
            "seed": seed,
            "ctr": ctr,
            "bayes_ne": ne,
            "bayes_ne_se": ne_se,
            "bayes_rows": _BAYES_ROWS,
            "scale": teacher.scale,
            "bias": teacher.bias,
            "variance_shares": teacher.variance_shares,
        }
        ds = writer.commit(
            {"source": {"kind": "synthetic", "seed": seed}, "world": meta_world},
            cardinalities=world.cardinalities,
        )
    bar(None)
    return ds


def _progress(enabled: bool, total: int, label: str):
    """A rich progress bar as a callable: bar(k) advances by k rows, bar(None) closes it."""
    if not enabled:
        return lambda k: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                    TimeRemainingColumn(), transient=True)
    task = prog.add_task(label, total=total)
    prog.start()

    def step(k: int | None) -> None:
        if k is None:
            prog.stop()
        else:
            prog.advance(task, k)

    return step

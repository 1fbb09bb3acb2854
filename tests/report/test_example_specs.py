"""Check the two specs the report is built around: the demo (examples/quick.toml) and the full design
(examples/paper.toml) validate and have the shape the paper's analysis needs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recscale.study.spec import SCHEMES, load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _decades(spec) -> float:
    cps = spec.checkpoint_samples()
    return math.log10(cps[-1] / cps[0])


@pytest.mark.parametrize("name, min_sizes, min_seeds, min_decades", [("quick", 4, 2, 2.0), ("paper", 5, 3, 3.0)])
def test_spec_has_the_papers_shape(name, min_sizes, min_seeds, min_decades):
    """Check: synthetic world (known Bayes NE), all four schemes with enough sizes, seeds and decades of data,
    and the base model standing in every scheme."""
    spec = load_spec(EXAMPLES / f"{name}.toml")
    assert spec.data.synthetic is not None
    assert set(spec.schemes) == set(SCHEMES)
    assert all(len(v) >= min_sizes for v in spec.schemes.values()), spec.schemes
    assert len(spec.seeds) >= min_seeds
    assert _decades(spec) >= min_decades
    dlrm = [t for t in spec.trials() if t.architecture == "dlrm"]
    base = [t for t in dlrm if len(t.memberships) == len(SCHEMES)]
    assert len(base) == len(spec.seeds), "the base model must be one of the values of every scheme"


def test_paper_spec_is_sized_for_a_gpu_or_cluster():
    """Check the full design: 1e8 synthetic rows, the paper's 60 DLRM trials, every scheme over at least
    a decade of its size, and DCNv2 and Wukong each over at least two decades of FLOPs per sample."""
    from recscale.model.cost import model_cost

    spec = load_spec(EXAMPLES / "paper.toml")
    assert spec.data.synthetic.rows >= 100_000_000
    assert len([t for t in spec.trials() if t.architecture == "dlrm"]) == 60
    for values in spec.schemes.values():
        assert math.log10(max(values) / min(values)) >= 1.0
    w = spec.data.synthetic.world
    for arch in ("dcnv2", "wukong"):
        flops = [model_cost(t.model.config(w.n_dense, w.cardinalities)).flops_per_sample
                 for t in spec.trials() if t.architecture == arch]
        assert math.log10(max(flops) / min(flops)) >= 2.0, arch


def test_architectures_example_compares_three_architectures_along_compute():
    """Check the architectures example: the higher-order world, DLRM, DCNv2 and Wukong each with at least
    3 sizes spanning about a decade of FLOPs per sample, on the same data, with Adam."""
    from recscale.model.cost import model_cost

    spec = load_spec(EXAMPLES / "architectures.toml")
    assert spec.architectures == ("dlrm", "dcnv2", "wukong")
    w = spec.data.synthetic.world
    assert w.share_higher > 0.3
    assert (spec.train.dense_optimizer, spec.train.sparse_optimizer) == ("adam", "adam")
    for arch in spec.architectures:
        flops = [model_cost(t.model.config(w.n_dense, w.cardinalities)).flops_per_sample
                 for t in spec.trials() if t.architecture == arch and t.seed == spec.seeds[0]]
        assert len(flops) >= 3 and max(flops) / min(flops) >= 8, (arch, flops)


def test_plugins_example_compares_two_plugins_with_the_builtins():
    """Check the plugins example: DeepFM and GDCN (shipped plugin modules, named by import path) beside
    the three built-ins on the higher-order world, each plugin with at least 3 sizes and its FLOPs measured."""
    from recscale.model.cost import model_cost

    spec = load_spec(EXAMPLES / "plugins.toml")
    assert spec.architectures == ("dlrm", "dcnv2", "wukong", "DeepFM", "GDCN") and spec.plugins() == ["DeepFM", "GDCN"]
    assert spec.train_for("dcnv2").lr_dense == spec.train.lr_dense / 2
    w = spec.data.synthetic.world
    assert w.share_higher > 0.3
    for arch, min_span in (("DeepFM", 8), ("GDCN", 2.5)):
        costs = [model_cost(t.model.config(w.n_dense, w.cardinalities)) for t in spec.trials() if t.architecture == arch]
        flops = [c.flops_per_sample for c in costs]
        assert len(flops) >= 3 and max(flops) / min(flops) >= min_span and {c.flops_source for c in costs} == {"measured"}

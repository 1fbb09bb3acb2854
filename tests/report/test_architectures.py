"""Check that a multi-architecture report recovers planted per-architecture compute laws, orders the
architectures correctly at equal compute, and leaves a single-architecture report unchanged."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from recscale.report import ReportOptions, analyze, load_study
from recscale.report.analysis import beta_determined
from recscale.report.architectures import architectures_of, compare_architectures
from recscale.report.document import architecture_findings, architecture_section, terminal_summary
from recscale.report.figures import fig_architectures
from tests.report.planted import ARCH_FLOOR_SE, ARCH_LAWS, arch_frame, arch_ne, arch_study

BOOT = 40
LEVEL = 0.95


@pytest.fixture(scope="module")
def comparison():
    return compare_architectures(arch_study(arch_frame()), level=LEVEL, bootstrap=BOOT, seed=0, determined=beta_determined)


def test_architectures_of_defaults_to_dlrm():
    """Check that a table without the column is all DLRM, and DLRM comes first."""
    f = arch_frame()
    assert architectures_of(f.drop(columns="architecture")) == ["dlrm"]
    assert architectures_of(f) == ["dlrm", "dcnv2", "wukong"]


def test_recovers_planted_compute_betas(comparison):
    """Check that each architecture's compute β interval holds its planted β and is determined."""
    for arch, (_, _, beta, gamma, _) in ARCH_LAWS.items():
        law = comparison.laws[(arch, "compute")]
        lo, hi = law.fit.ci(LEVEL)["beta"]
        assert lo <= beta <= hi, (arch, law.fit.beta, lo, hi)
        assert law.determined
        assert law.fit.gamma == pytest.approx(gamma, abs=0.002)


def test_beta_differences_have_the_planted_sign(comparison):
    """Check that the interval of each compute β difference excludes 0 on the side of the planted difference."""
    for p in comparison.pairs:
        if p.axis != "compute":
            continue
        truth = ARCH_LAWS[p.b][2] - ARCH_LAWS[p.a][2]
        assert p.diff.lo <= truth <= p.diff.hi or abs(p.diff.diff - truth) < 0.03, (p.a, p.b, p.diff)
        assert p.diff.distinguishable and np.sign(p.diff.diff) == np.sign(truth)
        assert p.overlap is False


def test_orders_architectures_at_equal_compute(comparison):
    """Check the best NE at the top of the common compute range against the planted laws there."""
    b = comparison.at_budget
    top = min(3.0 * max(fps) * 1_048_576 for _, fps, *_ in ARCH_LAWS.values())
    assert b.compute == pytest.approx(top, rel=1e-6)
    truth = {a: float(arch_ne(a, b.measured[a][0])) for a in ARCH_LAWS}
    assert b.order == tuple(sorted(truth, key=truth.get))
    assert b.noise_se == ARCH_FLOOR_SE
    assert b.beyond_noise == (b.gap > 1.96 * ARCH_FLOOR_SE)
    for a, (ne, lo, hi) in b.predicted.items():  # each law at C agrees with the planted NE there
        assert ne == pytest.approx(float(arch_ne(a, b.compute)), abs=0.002)


def test_equal_exponents_are_said_to_overlap():
    """Check that two architectures planted with the same β get overlapping intervals, an interval of the
    difference that includes 0, and a sentence that says so."""
    laws = {"dlrm": ARCH_LAWS["dlrm"], "wukong": ("layers", [2e5, 4e5, 8e5, 1.6e6], 0.20, 0.755, 0.08)}
    c = compare_architectures(arch_study(arch_frame(laws, noise=0.002)), level=LEVEL, bootstrap=BOOT, seed=0, determined=beta_determined)
    a = SimpleNamespace(architectures=c, options=ReportOptions(bootstrap=BOOT))  # all the findings read
    p = next(p for p in c.pairs if p.axis == "compute")
    assert p.overlap is True and not p.diff.distinguishable
    text = " ".join(architecture_findings(a))
    assert "the two intervals overlap" in text and "includes 0" in text
    assert "DLRM's compute exponent is β 0.2" in text


def test_report_from_a_table(tmp_path):
    """Check that a CSV with three architectures gives the comparison figure, section and fits.json entry,
    and per-architecture scheme sections (the other figures are the single-architecture ones, tested elsewhere)."""
    csv = tmp_path / "arch.csv"
    arch_frame(seeds=(0,)).to_csv(csv, index=False)
    a = analyze(load_study(csv), ReportOptions(bootstrap=8, joint_bootstrap=0, param_slices=1))
    fits = json.loads(json.dumps(a.to_dict(), allow_nan=False))
    assert [x["architecture"] for x in fits["architectures"]["laws"]][::2] == ["dlrm", "dcnv2", "wukong"]
    assert set(fits["study"]["schemes"]) == {"dlrm/mlp_width", "dcnv2/cross_layers", "wukong/layers"}
    fig = fig_architectures(a)
    fig.savefig(tmp_path / "a.png", dpi=60)
    assert (tmp_path / "a.png").stat().st_size > 5_000
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sum(lab.startswith(("DLRM", "DCNv2", "Wukong")) for lab in labels) == 3
    text = json.dumps([b.__dict__ for b in architecture_section(a)], default=str)
    assert "Architectures compared" in text and "top of the common range" in text
    assert "noise of a single NE on the eval rows is unknown" in text  # a CSV carries no eval-rows floor
    summary = terminal_summary(a)
    assert "lowest NE within C" in summary and "noise unknown" in summary


def test_single_architecture_report_unchanged(small_ledger):
    """Check that an all-DLRM architecture column changes nothing: same fits.json, no comparison."""
    from recscale.report.study import load_study

    st = load_study(small_ledger)
    opts = ReportOptions(bootstrap=10, joint_bootstrap=0)
    plain = analyze(st, opts).to_dict()
    tagged = analyze(dataclasses.replace(st, frame=st.frame.assign(architecture="dlrm")), opts).to_dict()
    for d in (plain, tagged):
        d.pop("analysis_wall_s")
    assert "architectures" not in plain
    assert json.dumps(plain, sort_keys=True) == json.dumps(tagged, sort_keys=True)


# Shared embedding tables that dominate every total, as in examples/architectures.toml (264,664 embedding
# parameters; dense ones 5.9e3-1.6e5): four models per architecture spanning 1.5 decades of FLOPs per sample.
SHARED_EMBEDDINGS = 264_664
WIDE_LAWS = {a: (s, [1e5, 3e5, 1e6, 3e6], b, g, e) for a, (s, _, b, g, e) in ARCH_LAWS.items()}


def test_parameter_frontier_is_along_dense_parameters(tmp_path):
    """Check that, when shared embedding tables dominate the total, each architecture's parameter frontier is drawn
    and fitted along dense parameters, spans at least a decade (the total spans under 0.2), and says so in the
    figure's axis label, the section's text and table, and fits.json."""
    frame = arch_frame(WIDE_LAWS, seeds=(0,), dense_per_flop=0.05, sparse=SHARED_EMBEDDINGS)
    c = compare_architectures(arch_study(frame), level=LEVEL, bootstrap=0, seed=0, determined=beta_determined)
    assert c.param_col == "params_dense"
    for arch in WIDE_LAWS:
        law = c.laws[(arch, "params")]
        assert law.x_col == "params_dense"
        assert np.log10(law.mean_x.max() / law.mean_x.min()) >= 1.0, (arch, law.mean_x)
        total = frame[frame["architecture"] == arch]["params_total"]
        assert np.log10(total.max() / total.min()) < 0.2  # what the old axis gave
    a = SimpleNamespace(architectures=c, options=ReportOptions(bootstrap=0), study=arch_study(frame))
    fig = fig_architectures(a)
    assert fig.axes[1].get_xlabel() == "dense (non-embedding) parameters N"
    blocks = architecture_section(a)
    table = next(b for b in blocks if b.kind == "table")
    assert "dense (non-embedding) parameters (frontier)" in table.header
    assert "(dense (non-embedding) parameters, seed-mean NE)" in blocks[1].text
    assert c.to_dict(LEVEL)["param_col"] == "params_dense"


def test_parameter_frontier_falls_back_to_total_without_dense_counts():
    """Check that a table whose dense parameters are zero somewhere compares along total parameters and says why."""
    frame = arch_frame(WIDE_LAWS, seeds=(0,), dense_per_flop=0.05, sparse=SHARED_EMBEDDINGS)
    frame.loc[frame["architecture"] == "wukong", "params_dense"] = 0
    c = compare_architectures(arch_study(frame), level=LEVEL, bootstrap=0, seed=0, determined=beta_determined)
    assert c.param_col == "params_total" and c.laws[("dlrm", "params")].x_col == "params_total"
    assert any("along total parameters" in n for n in c.notes)

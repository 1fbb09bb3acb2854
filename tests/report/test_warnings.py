"""Check the report's sanity warnings: a free floor below the Bayes NE, curves that do not decrease, engine flags,
and the errors a user can cause (missing file, missing columns, bad options)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recscale.errors import RecscaleError
from recscale.report import ReportOptions, analyze, load_study
from recscale.report.document import build_document, terminal_summary
from recscale.study.ledger import export_frame
from tests.report.planted import BAYES_NE, CHECKPOINTS, write_ledger

FAST = ReportOptions(bootstrap=40, joint_bootstrap=0)


def _study_csv(tmp_path, name="s", schemes=("embedding_dim",), **kw):
    db = tmp_path / f"{name}.db"
    write_ledger(db, schemes=list(schemes), **kw)
    df = export_frame(db)
    csv = tmp_path / f"{name}.csv"
    df.to_csv(csv, index=False)
    return db, csv, df


def test_floor_below_bayes_is_flagged(tmp_path):
    """Check that a study whose curves flatten below the recorded Bayes NE gets a floor_below_bayes warning per curve."""
    _, csv, df = _study_csv(tmp_path)
    df["bayes_ne"] = BAYES_NE + 0.05  # the curves' floors (0.755–0.785) now lie below the claimed Bayes NE
    df.to_csv(csv, index=False)
    a = analyze(load_study(csv), FAST)
    below = [w for w in a.warnings if w.code == "floor_below_bayes"]
    assert below and all("(free fit)" in w.where for w in below)
    assert any(w.where.startswith("model:embedding_dim:") for w in below)
    assert "lies below the Bayes NE 0.8000" in below[0].message
    assert "floors below the Bayes NE beyond their interval" in terminal_summary(a)


def test_curve_that_rises_is_flagged(tmp_path):
    """Check that a data curve turning up by 5% near its end gets a not_decreasing warning naming it (and so does the
    parameter curve at the largest data size, where that model is now the worst)."""

    def turn_up(D, ne):
        ne = ne.copy()
        ne[-2:] *= 1.05
        return ne

    db, _, _ = _study_csv(tmp_path, overrides={("embedding_dim", 32): turn_up})
    a = analyze(load_study(db), FAST)
    rising = [w for w in a.warnings if w.code == "not_decreasing"]
    assert [w.where for w in rising] == ["model:embedding_dim:32", f"params:embedding_dim:{CHECKPOINTS[-1]}"]
    assert "rises 1 time(s) beyond noise" in rising[0].message
    assert "from samples = 2.6e5 to 5.2e5" in rising[0].message
    assert "does not fall with embedding parameters" in rising[1].message


def test_engine_flags_become_warnings(tmp_path):
    """Check that flags of the laws engine (here: under two decades of data) appear as warnings with the curve's key."""
    db, _, _ = _study_csv(tmp_path, checkpoints=CHECKPOINTS[:6])  # 1k–32k samples: 1.5 decades
    a = analyze(load_study(db), FAST)
    narrow = {w.where for w in a.warnings if w.code == "narrow_range"}
    assert "model:embedding_dim:2 (free fit)" in narrow
    blocks = build_document(a, [])
    warn_table = next(b for b in blocks if b.kind == "table" and b.header[:2] == ["changes a conclusion", "warning (count)"])
    line = next(r for r in warn_table.rows if "x spans under 2 decades" in r[1])
    assert "embedding dimension: data frontier, compute frontier" in line[3]
    assert "train to 4× more samples (to 1.3e5)" in line[4]  # 1.5 decades of data: 4× (not 2×) reaches 2


def test_two_sizes_give_no_parameter_law_but_a_note(tmp_path):
    """Check a scheme with two sizes still reports data and compute laws, and says why there is no parameter law."""
    db, _, df = _study_csv(tmp_path)
    keep = df[df["value"] != 32]
    csv = tmp_path / "two.csv"
    keep.to_csv(csv, index=False)
    a = analyze(load_study(csv), FAST)
    assert ("embedding_dim", "params") not in a.headlines
    assert ("embedding_dim", "data") in a.headlines and ("embedding_dim", "compute") in a.headlines
    assert any("2 model sizes × 2 seed(s); a parameter law needs at least 3 sizes" in n for n in a.notes)


def test_load_errors_name_the_fix(tmp_path):
    """Check a missing file, a table without the study columns and an empty table each raise a message naming the problem."""
    with pytest.raises(RecscaleError, match=r"nope\.db: no such file"):
        load_study(tmp_path / "nope.db")
    p = tmp_path / "x.csv"
    pd.DataFrame({"samples": [1, 2], "ne": [0.9, 0.8]}).to_csv(p, index=False)
    with pytest.raises(RecscaleError, match=r"missing column\(s\) scheme, value, seed"):
        load_study(p)
    cols = ["scheme", "value", "seed", "samples", "ne", "params_dense", "params_sparse", "params_total", "train_flops"]
    pd.DataFrame({c: [np.nan] for c in cols}).to_csv(p, index=False)
    with pytest.raises(RecscaleError, match="no finished evaluations"):
        load_study(p)


def test_bad_options_are_all_reported():
    """Check every bad report option is named in one error."""
    with pytest.raises(RecscaleError, match=r"bootstrap must be an integer >= 0, got -1.*level must be in \(0, 1\)"):
        ReportOptions(bootstrap=-1, level=1.5)


def test_a_trial_that_never_trained_is_left_out_and_named(tmp_path):
    """Check that a trial whose NE stays at the base rate's at every checkpoint is left out of the study
    (its curve's seed means are the other seeds'), is named once as a warning that changes a conclusion,
    and that a study where nothing trained is refused."""
    from recscale.report.advice import KINDS, kind_of

    _, csv, df = _study_csv(tmp_path)
    dead = df["trial_id"].iloc[0]
    df.loc[df["trial_id"] == dead, "ne"] = 1.0002
    df.to_csv(csv, index=False)
    study = load_study(csv)
    assert list(study.untrained) == [dead] and dead not in set(study.frame["trial_id"])
    assert len(study.frame) == (df["trial_id"] != dead).sum()
    a = analyze(study, FAST)
    ws = [w for w in a.warnings if w.code == "did_not_train"]
    assert len(ws) == 1 and dead in ws[0].message and "left out of every fit" in ws[0].message
    assert KINDS[kind_of(ws[0])].conclusion == "always"
    assert all(dead not in (f.curve.trial_ids or ()) for fs in a.models.values() for f in fs)
    df["ne"] = 1.0001
    df.to_csv(csv, index=False)
    with pytest.raises(RecscaleError, match=r"no trial trained"):
        load_study(csv)

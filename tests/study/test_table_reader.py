"""Check the one reader of tables of runs: CSV, TSV, Parquet and ledgers, and its errors."""

import numpy as np
import pandas as pd
import pytest

from recscale.errors import RecscaleError
from recscale.study.ledger import Ledger, TrialRow, export_frame
from recscale.study.table_reader import read_table


def _runs(n=20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"scheme": ["emb"] * n, "value": np.arange(n) % 4, "seed": 0, "samples": 2 ** np.arange(n),
                         "flops_per_sample": 1000 * (1 + np.arange(n) % 4), "ne": rng.uniform(0.7, 0.9, n)})  # fmt: skip


def test_formats_and_errors(tmp_path):
    """Check CSV, TSV and Parquet reading and the errors for missing, unknown, unreadable files and directories."""
    df = _runs()
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    df.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.tsv", "t.parquet"):
        got = read_table(tmp_path / name)
        assert list(got.columns) == list(df.columns) + ["train_flops"] and len(got) == 20
        assert (got.train_flops == 3 * got.flops_per_sample * got.samples).all()  # derived as the ledger does
    with pytest.raises(RecscaleError, match=r"nope\.csv: no such file; give a \.csv, \.tsv, \.parquet"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "t.txt").write_text("hello")
    with pytest.raises(RecscaleError, match=r"unknown table format \.txt; allowed: \.csv"):
        read_table(tmp_path / "t.txt")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(RecscaleError, match=r"bad\.parquet: cannot read as parquet"):
        read_table(tmp_path / "bad.parquet")
    with pytest.raises(RecscaleError, match=r"is a directory; give a \.csv, \.parquet or ledger file"):
        read_table(tmp_path)


def test_a_ledger_reads_as_its_export_whatever_its_suffix(tmp_path):
    """Check that an SQLite ledger (any suffix) reads as the ledger's export, train_flops included."""
    path = tmp_path / "study.ledger"
    with Ledger(path) as led:
        led.add_trials([TrialRow("a", 0, "a", {"embedding_dim": 4, "embedding_rows": 10, "bottom_mlp": [4], "top_mlp": [4]},
                                 1, 2, 3, 10, (("emb", 4),))])  # fmt: skip
        led.record_trial("a", [{"samples": 256, "ne": 0.9, "logloss": 0.5, "auc": 0.6, "calibration": 1.0,
                                "base_ctr": 0.2, "wall_s": 1.0}], 1.0)  # fmt: skip
    got = read_table(path)
    pd.testing.assert_frame_equal(got, export_frame(path))
    assert got.train_flops.tolist() == [3 * 10 * 256] and got.bottom_mlp.tolist() == ["4"]


def _rows_frame(cards, rows, dim=8, arch="dlrm", other=()):
    """An export-like frame of an embedding_rows scheme whose params_sparse are the built-in tables' exact counts."""
    from recscale.model import DLRMConfig
    from recscale.model.cost import model_cost

    recs = []
    for r in rows:
        cfg = DLRMConfig(n_dense=2, cardinalities=tuple(cards), embedding_dim=dim, embedding_rows=r)
        recs.append({"scheme": "embedding_rows", "architecture": arch, "embedding_dim": dim, "embedding_rows": r,
                     "params_sparse": model_cost(cfg).params_sparse})
    recs += [{"scheme": s, "architecture": arch, "embedding_dim": dim, "embedding_rows": 64, "params_sparse": 1} for s in other]
    return pd.DataFrame(recs)


def test_the_embedding_rows_axis_ends_where_every_id_has_its_own_row():
    """Check the end is model_cost's count with no row cap, only for the embedding_rows scheme, and none for rows
    whose counts are not the built-in tables' (a plugin's other embeddings, or rows from other data)."""
    from recscale.model import DLRMConfig
    from recscale.model.cost import embedding_params, model_cost
    from recscale.study.table_reader import param_axis_ends

    cards = [4, 300, 20_000, 50_000]
    uncapped = model_cost(DLRMConfig(n_dense=2, cardinalities=tuple(cards), embedding_dim=8)).params_sparse
    assert uncapped == 8 * sum(cards) == embedding_params(cards, 8)
    assert param_axis_ends(_rows_frame(cards, [64, 512, 4096], other=["mlp_width"]), cards) == {
        ("dlrm", "embedding_rows"): float(uncapped)}
    two = pd.concat([_rows_frame(cards, [64, 4096]), _rows_frame(cards, [64, 4096], dim=16, arch="wukong")])
    assert param_axis_ends(two, cards) == {("dlrm", "embedding_rows"): 8.0 * sum(cards),
                                           ("wukong", "embedding_rows"): 16.0 * sum(cards)}
    odd = _rows_frame(cards, [64, 512, 4096])
    odd.loc[1, "params_sparse"] += 8
    assert param_axis_ends(odd, cards) == {}
    assert param_axis_ends(_rows_frame(cards, [64, 512]), [4, 300]) == {}  # the counts came from other cardinalities
    assert param_axis_ends(_rows_frame(cards, [64, 512]), []) == {}

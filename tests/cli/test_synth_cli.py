"""Check ``recscale data synth``: a built-in world by name, the variance shares it prints, bad names."""

from __future__ import annotations

import re

from recscale.cli.main import main
from recscale.data import synthetic
from recscale.data.shards import Dataset
from recscale.data.synthetic import WorldConfig


def test_synth_higher_order_world_prints_its_shares(tmp_path, capsys, monkeypatch):
    """Check that --world higher_order writes that world and prints the shares recorded in its meta."""
    monkeypatch.setattr(synthetic, "_BAYES_ROWS", 100_000)  # the Bayes NE's precision is not checked here
    out = tmp_path / "ho"
    code = main(["data", "synth", "--out", str(out), "--world", "higher_order", "--rows", "2000", "--eval-rows", "500"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    shares = Dataset(out).meta["world"]["variance_shares"]
    line = next(x for x in cap.out.splitlines() if x.startswith("logit variance: "))
    printed = dict(re.findall(r"([a-z-]+) ([0-9.]+)%", line))
    assert set(printed) == {"first-order", "pairwise", "higher-order", "dense"}
    for k, v in printed.items():
        assert float(v) / 100 == round(shares[k.replace("-", "_")], 3)
    assert float(printed["higher-order"]) / 100 == WorldConfig.named("higher_order").share_higher


def test_synth_unknown_world_exits_2(tmp_path, capsys):
    """Check that an unknown --world is one line naming the allowed worlds, exit 2, nothing written."""
    code = main(["data", "synth", "--out", str(tmp_path / "x"), "--world", "nope", "--rows", "10", "--eval-rows", "10"])
    err = capsys.readouterr().err
    assert code == 2
    assert "options.world: unknown world 'nope'; allowed: default, higher_order" in err
    assert "Traceback" not in err and not (tmp_path / "x").exists()

"""Check the dry run's table keeps whole model ids when its output is not a terminal (a file, a pager)."""

from __future__ import annotations

from types import SimpleNamespace

from recscale.cli.study import print_estimate


def test_piped_dry_run_keeps_whole_model_ids(capsys):
    """Check ids far wider than 80 columns come out whole, one row each, with the totals after them."""
    labels = [f"wukong-D64-R1048576-B512x512x512-T1024x1024x1024-L{i}-F{8 * i}-r16-m256x256-dot" for i in (1, 2, 3)]
    models = [SimpleNamespace(label=lab, flops_source="closed_form", trials=3, params_total=123_456_789, flops_per_sample=9_876_543, step_s=0.0123,
                              eval_s=4.5) for lab in labels]
    est = SimpleNamespace(trials=9, models=models, checkpoints=[1024, 2048, 4096], samples=4096, train_flops=1.2e12,
                          workers=2, estimated_s=600.0)
    print_estimate("wide", est)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "wukong-" in line]
    assert len(rows) == 3 and all(lab in row for lab, row in zip(labels, rows))
    assert "estimated wall time with 2 worker(s): 10.0 min" in out

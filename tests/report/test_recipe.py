"""Check that the report says how the trials were trained and what the seeds vary (from the ledger's spec)."""

from __future__ import annotations

import re

from recscale.report.document import _recipe_item, _stream_sentence
from recscale.report.study import Study
from recscale.study.spec import parse_spec
from recscale.train.config import TrainConfig

RAW = {"name": "a", "seeds": [0, 1], "data": {"synthetic": {"rows": 5000, "eval_rows": 500}},
       "train": {"checkpoints": {"start": 256, "stop": 1024}}, "model": {"embedding_dim": 8}, "schemes": {"embedding_dim": [4, 8]}}


def _study(spec: dict | None) -> Study:
    return Study(frame=None, source="x.db", kind="ledger", name="a", bayes_ne=None, bayes_ne_se=None,
                 bayes_source=None, provenance=None if spec is None else {"spec": spec})


def test_recipe_states_the_schedule_the_trainer_runs():
    """Check the recipe line's numbers against TrainConfig's own schedule and resolved rates."""
    spec = parse_spec(RAW).to_dict()
    text = _recipe_item(spec["train"])
    cfg = TrainConfig()
    first, full = cfg.batch_size_at(0), cfg.batch_size
    first_until = next(s for s in range(0, 10**6, first) if cfg.batch_size_at(s) != first)
    full_from = next(s for s in range(0, 10**6, first) if cfg.batch_size_at(s) == full)
    m = re.search(r"batch (\d+) after a batch ramp \((\d+)-sample batches to ([\d,]+) samples, then doubling every "
                  r"(\d+) steps; (\d+) from ([\d,]+) samples on\)", text)
    assert m, text
    got = [int(g.replace(",", "")) for g in m.groups()]
    assert got == [full, first, first_until, cfg.batch_ramp_steps, full, full_from]
    assert f"MLPs adam at {cfg.lr_dense:g}" in text and f"embeddings adam at {cfg.lr_embedding:g}" in text
    assert "embedding rows from U(±1/√rows)" in text and text.endswith("stream shared.")
    no_ramp = _recipe_item(parse_spec({**RAW, "train": {**RAW["train"], "batch_ramp": 1, "embedding_init": 0.05}}).to_dict()["train"])
    assert "ramp" not in no_ramp and "U(±0.05)" in no_ramp
    assert _recipe_item({}) == ""


def test_the_intro_says_what_the_seeds_vary():
    """Check the stream clause for each stream, and silence for a ledger that recorded none (older recscale)."""
    shared = parse_spec(RAW).to_dict()
    per_seed = parse_spec({**RAW, "train": {**RAW["train"], "stream": "per_seed"}}).to_dict()
    assert "seeds vary the initialisation only" in _stream_sentence(_study(shared))
    assert "the seed spread holds the stream's" in _stream_sentence(_study(per_seed))
    old = dict(shared, train={k: v for k, v in shared["train"].items() if k != "stream"})
    assert _stream_sentence(_study(old)) == "" and _stream_sentence(_study(None)) == ""

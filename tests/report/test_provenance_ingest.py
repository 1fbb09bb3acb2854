"""Check that the report's provenance line carries the ingest's duplicate counts and warnings (issue 19)."""

from __future__ import annotations

from recscale.report.document import _dataset_checks


def test_dataset_line_shows_duplicates_and_warnings():
    """Check the sentence added after the dataset's path, exact and sampled, and nothing for old datasets."""
    dups = {"records": 300, "duplicate_records": 250, "eval_records": 30, "eval_in_train": 30, "exact": True}
    meta = {"stats": {"duplicates": dups}, "warnings": ["column 'Id' (--dense) looks like a row id"]}
    assert _dataset_checks(meta) == (" Ingest: 250 exact duplicate records of 300; 30 of 30 eval records also in train."
                                     " **Ingest warning**: column 'Id' (--dense) looks like a row id.")
    sampled = {"stats": {"duplicates": dups | {"exact": False}}}
    assert _dataset_checks(sampled).startswith(" Ingest: about 250 exact duplicate records of 300; about 30 of 30")
    assert _dataset_checks({"world": {}}) == ""  # a synthetic or older dataset records no counts

"""Reports built once per session from the planted study (a ledger, and a CSV export of a smaller one)."""

from __future__ import annotations

import pytest

from recscale.report import ReportOptions, build_report
from recscale.study.ledger import export
from tests.report.planted import write_ledger

BOOTSTRAP = 60  # enough for intervals in tests; the reports' default is 1000
JOINT_BOOTSTRAP = 20  # joint-law refits are ~100x dearer than a power law's; the default is min(bootstrap, 200)


@pytest.fixture(scope="session")
def planted_ledger(tmp_path_factory):
    """The planted study, all four schemes, 2 seeds."""
    p = tmp_path_factory.mktemp("planted") / "planted.db"
    write_ledger(p)
    return p


@pytest.fixture(scope="session")
def ledger_report(planted_ledger, tmp_path_factory):
    """The report of the planted ledger."""
    return build_report(planted_ledger, tmp_path_factory.mktemp("rep") / "planted", ReportOptions(bootstrap=BOOTSTRAP, joint_bootstrap=JOINT_BOOTSTRAP))


@pytest.fixture(scope="session")
def small_ledger(tmp_path_factory):
    """The planted study with one scheme (embedding_dim), for the CSV and CLI paths."""
    p = tmp_path_factory.mktemp("small") / "small.db"
    write_ledger(p, schemes=["embedding_dim"])
    return p


@pytest.fixture(scope="session")
def small_csv(small_ledger):
    out = small_ledger.with_suffix(".csv")
    export(small_ledger, out)
    return out


@pytest.fixture(scope="session")
def csv_report(small_csv, tmp_path_factory):
    """The report of the small study's exported CSV (no provenance)."""
    return build_report(small_csv, tmp_path_factory.mktemp("rep") / "csv", ReportOptions(bootstrap=BOOTSTRAP, joint_bootstrap=JOINT_BOOTSTRAP))

"""Fits run with single-threaded BLAS, nested fits included, and the limit is lifted afterwards."""

from __future__ import annotations

import numpy  # noqa: F401  (loads the BLAS being limited)
from threadpoolctl import threadpool_info

from recscale.laws._common import single_threaded_blas


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_blas_limit_holds_when_nested_and_is_lifted_after():
    """Check BLAS runs on one thread inside the limit and inside a nested one, and the old count returns after."""
    before = _blas_threads()
    assert before, "numpy's BLAS should be loaded (recscale.laws imports numpy)"
    with single_threaded_blas():
        assert _blas_threads() <= {1}
        with single_threaded_blas():
            assert _blas_threads() <= {1}
        assert _blas_threads() <= {1}  # leaving the nested limit does not lift the outer one
    assert _blas_threads() == before

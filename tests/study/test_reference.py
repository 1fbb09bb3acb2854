"""Check the study's reference curves on a synthetic world."""

from recscale.study.reference import seen_id_oracle_ne


def test_seen_id_oracle_approaches_bayes(small_synth):
    """Check that the seen-id oracle's NE falls with data toward (and never clearly below) Bayes."""
    ne = seen_id_oracle_ne(small_synth, [256, 4096, 40_000])
    bayes = small_synth.meta["world"]["bayes_ne"]
    assert ne[256] > ne[4096] > ne[40_000]
    assert ne[40_000] > bayes - 0.02

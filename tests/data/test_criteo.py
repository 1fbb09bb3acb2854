"""Check Criteo ingest against a slow, obviously-correct per-line reference, and its handling of bad input."""

from __future__ import annotations

import gzip
import math
import zlib
from collections import Counter

import numpy as np
import pytest

from recscale.data.criteo import hex8_to_int, ingest_criteo, ingest_torchrec, parse_line
from recscale.data.hashing import splitmix64
from recscale.data.ingest_options import IngestOptions
from recscale.data.shards import Dataset
from recscale.errors import DataError
from tests.data.criteo_fixtures import corrupt, criteo_bytes, write_torchrec_day

MASK = (1 << 64) - 1


# ------------------------------------------------------------------------------------------
# The reference: plain Python, one line at a time, written from the documented conventions


def ref_splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def ref_is_eval(file_index: int, line: int, fraction: float, seed: int) -> bool:
    salt = ref_splitmix64(seed & MASK)
    u = ref_splitmix64(((file_index << 40) | line) ^ salt) >> 11
    return u * 2.0**-53 < fraction


def ref_parse(line: str):
    """None for a bad line, else (label, dense floats, keys or None)."""
    f = line.removesuffix("\r").split("\t")
    if not line or len(f) > 40 or f[0] not in ("0", "1"):
        return None
    f += [""] * (40 - len(f))  # trailing fields missing are empty
    dense = []
    for v in f[1:14]:
        x = int(v) if v else 0
        dense.append(np.float32(math.log1p(max(x, 0))))
    keys = [int(v, 16) if v else None for v in f[14:]]
    return int(f[0]), dense, keys


def ref_ingest(files: list[bytes], *, hash_size=None, min_count=None, eval_files=None, fraction=0.0, seed=0):
    """Expected (train, eval) arrays and cardinalities, from the documented conventions."""
    rows = {"train": [], "eval": []}
    for fi, data in enumerate(files):
        for ln, line in enumerate(data.decode().split("\n")[:-1], start=1):
            r = ref_parse(line)
            if r is None:
                continue
            if eval_files is not None:
                split = "eval" if fi >= len(files) - eval_files else "train"
            else:
                split = "eval" if ref_is_eval(fi, ln, fraction, seed) else "train"
            rows[split].append(r)

    def bucket(k):
        return 1 + ref_splitmix64(k) % (hash_size - 1) if hash_size else k

    if min_count is None:
        cards = [hash_size] * 26
        ident = [None] * 26
    else:
        ident, cards = [], []
        for j in range(26):
            c = Counter(bucket(r[2][j]) for r in rows["train"] if r[2][j] is not None)
            kept = sorted((k for k, n in c.items() if n >= min_count), key=lambda k: (-c[k], k))
            ident.append({k: i + 1 for i, k in enumerate(kept)})
            cards.append(len(kept) + 1)

    def ids(keys):
        out = []
        for j, k in enumerate(keys):
            if k is None:
                out.append(0)
            elif min_count is None:
                out.append(bucket(k))
            else:
                out.append(ident[j].get(bucket(k), 0))
        return out

    arrays = {}
    for split, rs in rows.items():
        arrays[split] = (
            np.array([r[1] for r in rs], dtype=np.float32).reshape(-1, 13),
            np.array([ids(r[2]) for r in rs], dtype=np.int64).reshape(-1, 26),
            np.array([r[0] for r in rs], dtype=np.float32),
        )
    return arrays, cards


def assert_dataset_equals(ds: Dataset, expected, cards):
    assert ds.cardinalities == cards
    for split, (dense, sparse, labels) in expected.items():
        s = ds.split(split)
        np.testing.assert_array_equal(s.labels, labels)
        np.testing.assert_array_equal(s.dense, dense)
        np.testing.assert_array_equal(s.sparse, sparse)


@pytest.fixture(scope="module")
def lines10k() -> bytes:
    return criteo_bytes(10_000, seed=1, scale=0.002)


SMALL = dict(workers=2, chunk_bytes=128 << 10)


# ------------------------------------------------------------------------------------------
# Equality with the reference


def test_splitmix64_matches_published_value():
    """Check that splitmix64 is the published SplitMix64: seeded with 0, its first output is 0xE220A8397B1DCDAF."""
    assert int(splitmix64(np.array([0], np.uint64))[0]) == 0xE220A8397B1DCDAF
    xs = [1, 2**32 - 1, 2**63 + 5, 123456789]
    assert [int(v) for v in splitmix64(np.array(xs, np.uint64))] == [ref_splitmix64(x) for x in xs]


def test_hex_swar_matches_int_base_16():
    """Check that the vectorised hex parser agrees with int(s, 16), upper and lower case."""
    rng = np.random.default_rng(0)
    vals = np.concatenate([[0, 0xFFFFFFFF, 0x12345678], rng.integers(0, 2**32, 1000)]).astype(np.uint64)
    texts = [f"{v:08x}" if i % 2 else f"{v:08X}" for i, v in enumerate(vals)]
    words = np.frombuffer("".join(texts).encode(), dtype="<u8")
    assert hex8_to_int(words).tolist() == [int(t, 16) for t in texts]


def test_10k_lines_equal_per_line_reference_hash_mode(tmp_path, lines10k):
    """Check that 10,000 realistic lines (missing values, negatives) give exactly the reference's shards."""
    p = tmp_path / "train.txt"
    p.write_bytes(lines10k)
    res = ingest_criteo([p], tmp_path / "ds", IngestOptions(hash_size=1000, eval_fraction=0.2, seed=7, **SMALL))
    expected, cards = ref_ingest([lines10k], hash_size=1000, fraction=0.2, seed=7)
    assert_dataset_equals(res.dataset, expected, cards)
    assert res.report.valid == 10_000 and res.report.bad == 0
    assert 1500 < res.dataset.rows("eval") < 2500


@pytest.mark.parametrize("hash_size", [None, 257])
def test_10k_lines_equal_reference_vocabulary_mode_split_by_file(tmp_path, lines10k, hash_size):
    """Check vocabulary mode (two passes, train counts only, ids by descending count) and the split by file."""
    parts = lines10k.split(b"\n")
    a, b = b"\n".join(parts[:8000]) + b"\n", b"\n".join(parts[8000:-1]) + b"\n"
    (tmp_path / "day_0").write_bytes(a)
    (tmp_path / "day_1").write_bytes(b)
    opts = IngestOptions(min_count=3, hash_size=hash_size, eval_files=1, **SMALL)
    res = ingest_criteo([tmp_path / "day_0", tmp_path / "day_1"], tmp_path / "ds", opts)
    expected, cards = ref_ingest([a, b], hash_size=hash_size, min_count=3, eval_files=1)
    assert_dataset_equals(res.dataset, expected, cards)
    assert res.dataset.rows("train") == 8000 and res.dataset.rows("eval") == 2000
    meta = res.dataset.meta
    assert meta["options"]["min_count"] == 3 and meta["options"]["categorical"] == "vocab"
    assert meta["stats"]["vocab_sizes"]["C1"] == cards[0] - 1


def test_result_does_not_depend_on_chunks_workers_or_gzip(tmp_path, lines10k):
    """Check that chunk size, thread count and gzip (even multi-member) change nothing in the shards."""
    plain = tmp_path / "a.txt"
    plain.write_bytes(lines10k)
    gz = tmp_path / "a.gz"
    half = len(lines10k) // 2
    cut = lines10k.index(b"\n", half) + 1
    gz.write_bytes(gzip.compress(lines10k[:cut]) + gzip.compress(lines10k[cut:]))
    runs = [
        ingest_criteo([plain], tmp_path / "one", IngestOptions(workers=1, chunk_bytes=1 << 24)).dataset,
        ingest_criteo([plain], tmp_path / "two", IngestOptions(workers=2, chunk_bytes=4096)).dataset,
        ingest_criteo([gz], tmp_path / "gz", IngestOptions(workers=2, chunk_bytes=50_000)).dataset,
    ]
    for ds in runs[1:]:
        for split in ("train", "eval"):
            a, b = runs[0].split(split), ds.split(split)
            np.testing.assert_array_equal(a.dense, b.dense)
            np.testing.assert_array_equal(a.sparse, b.sparse)
            np.testing.assert_array_equal(a.labels, b.labels)


def test_crlf_line_endings_are_accepted(tmp_path, lines10k):
    """Check that a CRLF file gives the same rows as the LF file."""
    data = b"\n".join(lines10k.split(b"\n")[:500]) + b"\n"
    (tmp_path / "lf").write_bytes(data)
    (tmp_path / "crlf").write_bytes(data.replace(b"\n", b"\r\n"))
    a = ingest_criteo([tmp_path / "lf"], tmp_path / "a", IngestOptions(eval_fraction=0.0)).dataset.split("train")
    res = ingest_criteo([tmp_path / "crlf"], tmp_path / "b", IngestOptions(eval_fraction=0.0))
    b = res.dataset.split("train")
    assert res.report.bad == 0
    np.testing.assert_array_equal(a.sparse, b.sparse)
    np.testing.assert_array_equal(a.dense, b.dense)


# ------------------------------------------------------------------------------------------
# Criteo files as they circulate: trailing empty fields stripped, CRLF, a header line

HEADER = ("\t".join(["label", *[f"I{i}" for i in range(1, 14)], *[f"C{i}" for i in range(1, 27)]]) + "\r\n").encode()


def _circulating(lines10k: bytes, n: int = 3000) -> tuple[bytes, bytes, Counter]:
    """(canonical file, the same rows as they circulate, field counts of the circulating lines).

    Lines 7, 70, ... lose C24..C26 (37 fields) and lines 8, 80, ... lose C25..C26 (38 fields) in both
    versions; the circulating one strips every line's trailing empty fields, uses CRLF and a header.
    Lines 100 and 2000 are bad in both (an invalid hex, 41 fields).
    """
    rows = lines10k.split(b"\n")[:n]
    for i in range(n):
        f = rows[i].split(b"\t")
        keep = 37 if i % 63 == 6 else 38 if i % 72 == 7 else 40
        rows[i] = b"\t".join(f[:keep] + [b""] * (40 - keep))
    rows[99], rows[1999] = corrupt(rows[99], "bad_hex"), corrupt(rows[1999], "wrong_field_count")
    stripped = [r.rstrip(b"\t") for r in rows]
    counts = Counter(r.count(b"\t") + 1 for r in stripped)
    canonical = b"".join(r + b"\n" for r in rows)
    return canonical, HEADER + b"".join(r + b"\r\n" for r in stripped), counts


@pytest.mark.parametrize("options", [dict(eval_fraction=0.2, seed=1), dict(min_count=2, hash_size=5000)], ids=["hash", "vocab"])
def test_circulating_file_gives_the_canonical_shards(tmp_path, lines10k, options):
    """Check that 37-, 38- and 40-field lines, CRLF and a header give byte-identical shards, with notes counted."""
    canonical, circulating, fields = _circulating(lines10k)
    assert fields[37] >= 40 and fields[38] >= 30 and fields[40] > 1000 and fields[41] == 1
    (tmp_path / "canon.txt").write_bytes(canonical)
    (tmp_path / "circ.txt").write_bytes(circulating)
    opts = IngestOptions(workers=2, chunk_bytes=32 << 10, **options)
    a = ingest_criteo([tmp_path / "canon.txt"], tmp_path / "a", opts)
    b = ingest_criteo([tmp_path / "circ.txt"], tmp_path / "b", opts)
    for f in sorted((tmp_path / "a").rglob("*.npy")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes(), f
    assert a.dataset.meta["stats"] == b.dataset.meta["stats"] and a.dataset.cardinalities == b.dataset.cardinalities
    short = sum(n for k, n in fields.items() if k < 40) - 1  # the bad-hex line is short, and bad
    assert a.report.notes == {} and b.report.notes == {"header": 1, "trailing_fields_missing": short}
    assert a.report.counts == b.report.counts == {"wrong_field_count": 1, "bad_hex": 1}
    assert b.report.records == a.report.records == 3000 and b.report.valid == a.report.valid == 2998
    assert b.report.examples["bad_hex"][0].startswith(f"{tmp_path / 'circ.txt'}:101: field C7")  # the header is line 1
    assert f"{short:,} lines had trailing fields missing; read as empty" in b.report.lines()
    assert b.dataset.meta["ingest_report"]["notes"] == {"header": 1, "trailing_fields_missing": short}


def test_strict_reads_short_lines_and_rejects_long_ones(tmp_path, lines10k):
    """Check that --strict keeps short lines and the header (notes, not errors) but stops at 41 fields."""
    canonical, circulating, _ = _circulating(lines10k)
    drop = lambda data, n: b"".join(x for i, x in enumerate(data.splitlines(keepends=True)) if i not in n)  # noqa: E731
    (tmp_path / "canon.txt").write_bytes(drop(canonical, {99, 1999}))
    (tmp_path / "circ.txt").write_bytes(drop(circulating, {100, 2000}))
    a = ingest_criteo([tmp_path / "canon.txt"], tmp_path / "a", IngestOptions(strict=True))
    b = ingest_criteo([tmp_path / "circ.txt"], tmp_path / "b", IngestOptions(strict=True))
    assert b.report.bad == 0 and b.report.notes["header"] == 1 and b.report.notes["trailing_fields_missing"] > 60
    np.testing.assert_array_equal(a.dataset.split("eval").sparse, b.dataset.split("eval").sparse)
    (tmp_path / "long.txt").write_bytes(circulating)
    with pytest.raises(DataError, match=r"long\.txt:101: field C7: 'xyz12345' is not 8 hex digits \[bad_hex; --strict"):
        ingest_criteo([tmp_path / "long.txt"], tmp_path / "c", IngestOptions(strict=True))
    (tmp_path / "long.txt").write_bytes(drop(circulating, {100}))
    with pytest.raises(DataError, match=r"long\.txt:2000: expected at most 40 tab-separated fields, got 41 \[wrong_field_count"):
        ingest_criteo([tmp_path / "long.txt"], tmp_path / "c", IngestOptions(strict=True))


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_last_line_rule_stripped_is_read_cut_mid_field_is_truncated(tmp_path, lines10k, strict):
    """Check the one rule for a last line without newline, with and without --strict.

    A stripped line (38 fields, ending on a field boundary) is read like the same line elsewhere in
    the file, and noted as short; a line cut inside a categorical value is 'truncated_line':
    skipped and reported, or under --strict an error naming it.
    """
    rows = [r for r in lines10k.split(b"\n")[:20]]
    rows[19] = b"\t".join(rows[19].split(b"\t")[:37] + [b"0123abcd"])  # 38 fields, the last one whole
    p = tmp_path / "stripped.txt"
    p.write_bytes(b"\n".join(rows[:19]) + b"\n" + rows[19])
    res = ingest_criteo([p], tmp_path / "a", IngestOptions(strict=strict, eval_fraction=0.0))
    assert res.report.bad == 0 and res.report.valid == 20
    assert res.report.notes == {"trailing_fields_missing": 1}
    same = tmp_path / "same.txt"  # the same line with its newline: the same row
    same.write_bytes(b"\n".join(rows) + b"\n")
    other = ingest_criteo([same], tmp_path / "b", IngestOptions(strict=strict, eval_fraction=0.0)).dataset.split("train")
    np.testing.assert_array_equal(res.dataset.split("train").sparse, other.sparse)
    q = tmp_path / "cut.txt"
    q.write_bytes(b"\n".join(rows[:19]) + b"\n" + rows[19][:-3])  # a download cut inside C26's value
    if strict:
        with pytest.raises(DataError, match=r"cut\.txt:20: last line has no newline and is incomplete \(field C\d+: '0123a' is not 8 hex digits\) \[truncated_line"):
            ingest_criteo([q], tmp_path / "c", IngestOptions(strict=True))
        assert not (tmp_path / "c").exists()
        return
    rep = ingest_criteo([q], tmp_path / "c", IngestOptions()).report
    assert rep.counts == {"truncated_line": 1} and rep.valid == 19


def test_header_is_detected_only_when_every_field_is_a_name():
    """Check header detection: names are a header (BOM allowed); a data or bad line never is."""
    from recscale.data.criteo import is_header

    assert is_header(HEADER) and is_header(b"\xef\xbb\xbfclick\tI1\n") and is_header(b"label\tI1")
    assert not is_header(b"1\t5\t\n") and not is_header(b"hello\n") and not is_header(b"label\t5\n")
    assert not is_header(b"x\tdeadbeef\t\n")  # an empty field: not a header line


def test_meta_records_counts_ctr_rates_and_options(tmp_path, lines10k):
    """Check that meta.json has row counts, CTR, cardinalities, missing rates and every option."""
    p = tmp_path / "t.txt"
    p.write_bytes(lines10k)
    ds = ingest_criteo([p], tmp_path / "ds", IngestOptions(seed=3)).dataset
    m = ds.meta
    assert m["source"]["kind"] == "criteo" and m["source"]["inputs"] == [str(p)]
    assert m["options"] == {
        "categorical": "hash", "hash_size": 1_000_000, "min_count": None, "eval_files": None,
        "eval_fraction": 0.1, "seed": 3, "strict": False, "workers": 2, "chunk_bytes": 8 << 20,
    }
    assert m["cardinalities"] == [1_000_000] * 26
    assert m["stats"]["rows"] == 10_000
    ref = [ref_parse(x) for x in lines10k.decode().split("\n")[:-1]]
    assert m["stats"]["ctr"] == pytest.approx(np.mean([r[0] for r in ref]))
    i1_missing = np.mean([x.split("\t")[1] == "" for x in lines10k.decode().split("\n")[:-1]])
    assert m["stats"]["dense_missing_rate"]["I1"] == pytest.approx(i1_missing, abs=1e-6)
    i2 = [x.split("\t")[2] for x in lines10k.decode().split("\n")[:-1]]
    i2_negative = np.mean([v.startswith("-") for v in i2])
    assert i2_negative > 0.005 and m["stats"]["dense_negative_rate"]["I2"] == pytest.approx(i2_negative, abs=1e-6)
    assert m["stats"]["sparse_missing_rate"]["C22"] > 0.6
    assert m["ingest_report"]["bad"] == 0


# ------------------------------------------------------------------------------------------
# Bad input


def _corpus(lines10k: bytes, bad_at: dict[int, str]) -> tuple[bytes, list[str]]:
    lines = lines10k.split(b"\n")[:3000]
    for ln, kind in bad_at.items():
        lines[ln - 1] = corrupt(lines[ln - 1], kind)
    return b"\n".join(lines) + b"\n", lines


BAD_AT = {
    5: "wrong_field_count", 17: "bad_dense", 18: "bad_label", 400: "bad_hex", 401: "undecodable",
    1200: "bad_dense", 1201: "bad_dense", 2999: "wrong_field_count", 3000: "bad_hex",
}


def test_corrupt_corpus_counts_kinds_and_line_numbers(tmp_path, lines10k):
    """Check that each kind of bad line is counted, reported with file:line and field, and skipped."""
    data, lines = _corpus(lines10k, BAD_AT)
    p = tmp_path / "bad.txt"
    p.write_bytes(data)
    res = ingest_criteo([p], tmp_path / "ds", IngestOptions(eval_fraction=0.0, chunk_bytes=64 << 10))
    rep = res.report
    assert rep.counts == {"undecodable": 1, "wrong_field_count": 2, "bad_label": 1, "bad_dense": 3, "bad_hex": 2}
    assert rep.records == 3000 and rep.valid == 3000 - len(BAD_AT)
    assert rep.examples["wrong_field_count"] == (
        f"{p}:5: expected at most 40 tab-separated fields, got 41",
        f"{p}:2999: expected at most 40 tab-separated fields, got 41",
    )
    assert rep.examples["bad_dense"][0] == f"{p}:17: field I5: '12a' is not an integer"
    assert rep.examples["bad_label"] == (f"{p}:18: field label: '2' is not 0 or 1",)
    assert rep.examples["bad_hex"][0] == f"{p}:400: field C7: 'xyz12345' is not 8 hex digits"
    assert rep.examples["undecodable"][0].startswith(f"{p}:401: bytes b'\\xff")
    good = b"".join(x + b"\n" for i, x in enumerate(lines, start=1) if i not in BAD_AT)
    expected, cards = ref_ingest([good], hash_size=1_000_000)
    assert_dataset_equals(res.dataset, {"train": expected["train"]}, cards)
    assert res.dataset.meta["ingest_report"]["counts"]["bad_dense"] == 3


def test_first_examples_are_capped_but_all_counted(tmp_path, lines10k):
    """Check that only the first five examples of a kind are kept, in line order, while all are counted."""
    bad = {ln: "bad_label" for ln in range(100, 3000, 100)}
    data, _ = _corpus(lines10k, bad)
    p = tmp_path / "bad.txt"
    p.write_bytes(data)
    rep = ingest_criteo([p], tmp_path / "ds", IngestOptions(chunk_bytes=16 << 10)).report
    assert rep.counts == {"bad_label": 29}
    assert [e.split(":")[1] for e in rep.examples["bad_label"]] == ["100", "200", "300", "400", "500"]


def test_strict_stops_at_first_bad_line_and_leaves_nothing(tmp_path, lines10k):
    """Check that --strict raises at the first bad line, naming file, line and field, and writes nothing."""
    data, _ = _corpus(lines10k, BAD_AT)
    p = tmp_path / "bad.txt"
    p.write_bytes(data)
    out = tmp_path / "sub" / "ds"
    with pytest.raises(DataError, match=r"bad\.txt:5: expected at most 40 tab-separated fields, got 41 \[wrong_field_count; --strict"):
        ingest_criteo([p], out, IngestOptions(strict=True, chunk_bytes=4096))
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_strict_in_vocabulary_mode_also_stops(tmp_path, lines10k):
    """Check that --strict stops during the counting pass too, leaving nothing behind."""
    data, _ = _corpus(lines10k, {17: "bad_dense"})
    p = tmp_path / "bad.txt"
    p.write_bytes(data)
    with pytest.raises(DataError, match=r"bad\.txt:17: field I5: '12a' is not an integer"):
        ingest_criteo([p], tmp_path / "ds", IngestOptions(strict=True, min_count=2))
    assert list(tmp_path.iterdir()) == [p]


def test_truncated_last_line(tmp_path, lines10k):
    """Check that an incomplete last line without newline is 'truncated_line', and a complete one is kept."""
    lines = lines10k.split(b"\n")[:50]
    p = tmp_path / "cut.txt"
    p.write_bytes(b"\n".join(lines[:49]) + b"\n" + lines[49][:-30])
    rep = ingest_criteo([p], tmp_path / "a", IngestOptions()).report
    assert rep.counts == {"truncated_line": 1} and rep.valid == 49
    assert rep.examples["truncated_line"][0].startswith(f"{p}:50: last line has no newline and is incomplete (")
    q = tmp_path / "whole.txt"
    q.write_bytes(b"\n".join(lines))  # valid last line, no newline
    rep = ingest_criteo([q], tmp_path / "b", IngestOptions()).report
    assert rep.bad == 0 and rep.valid == 50


def test_truncated_gzip_keeps_complete_lines(tmp_path, lines10k):
    """Check that a gzip file cut short keeps every complete line before the cut and reports where it broke."""
    full = gzip.compress(lines10k, compresslevel=1)
    p = tmp_path / "cut.gz"
    p.write_bytes(full[: len(full) // 2])
    res = ingest_criteo([p], tmp_path / "ds", IngestOptions(eval_fraction=0.0))
    rep = res.report
    d = zlib.decompressobj(wbits=31)
    got = d.decompress(full[: len(full) // 2])
    complete = got.count(b"\n")
    assert rep.counts == {"truncated_gzip": 1} and rep.valid == complete
    assert rep.examples["truncated_gzip"][0] == (
        f"{p}:{complete + 1}: gzip stream ends early (truncated file?) after {complete:,} complete lines; "
        "the rest of the file and the partial line before it is lost"
    )
    expected, cards = ref_ingest([got[: got.rindex(b"\n") + 1]], hash_size=1_000_000)
    assert_dataset_equals(res.dataset, {"train": expected["train"]}, cards)
    with pytest.raises(DataError, match=r"cut\.gz:\d+: gzip stream ends early"):
        ingest_criteo([p], tmp_path / "strict", IngestOptions(strict=True))
    assert not (tmp_path / "strict").exists()


def test_corrupt_gzip_is_reported(tmp_path, lines10k):
    """Check that garbage inside a gzip stream is 'corrupt_gzip', with the lines before it kept."""
    full = bytearray(gzip.compress(lines10k, compresslevel=1))
    full[len(full) // 2 : len(full) // 2 + 64] = b"\x00" * 64
    p = tmp_path / "bad.gz"
    p.write_bytes(bytes(full))
    rep = ingest_criteo([p], tmp_path / "ds", IngestOptions()).report
    assert rep.counts.get("corrupt_gzip") == 1 and 0 < rep.valid < 10_000
    assert "gzip stream is corrupt" in rep.examples["corrupt_gzip"][0]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"empty\.txt: empty input \(0 bytes\)"),
        # mtime=0: a timestamped header would give each pytest-xdist worker a different test id
        (gzip.compress(b"", mtime=0), r"empty\.txt: empty input \(no lines after gzip decompression\)"),
        (b"hello\nworld\n", r"empty\.txt: none of its 2 records is valid; the first problem: .*empty\.txt:1: field label: 'hello'"),
        (b"label\tI1\tC1\r\n", r"empty\.txt: empty input \(no lines after the header\)"),
    ],
    ids=["empty", "empty-gzip", "no-valid-line", "header-only"],
)
def test_empty_or_all_bad_input_is_an_error(tmp_path, content, match):
    """Check that an empty input, or one without a valid line, raises and leaves no dataset."""
    p = tmp_path / "empty.txt"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        ingest_criteo([p], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_missing_input_is_an_error(tmp_path):
    """Check that a missing input is named."""
    with pytest.raises(DataError, match=r"nope\.txt: no such file"):
        ingest_criteo([tmp_path / "nope.txt"], tmp_path / "ds")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hash_size": 1}, r"--hash-size must be at least 2 \(id 0 is reserved for missing\), got 1"),
        ({"min_count": 0}, r"--min-count must be at least 1, got 0"),
        ({"eval_files": 1, "eval_fraction": 0.1}, r"--eval-files 1 and --eval-fraction 0.1 conflict"),
        ({"eval_fraction": 1.0}, r"--eval-fraction must be in \[0, 1\), got 1.0"),
        ({"eval_files": -1}, r"--eval-files must be 0 or more, got -1"),
        ({"workers": 0}, r"--workers must be at least 1, got 0"),
        ({"chunk_bytes": 10}, r"chunk_bytes must be at least 1024, got 10"),
    ],
)
def test_bad_options_are_named(kwargs, match):
    """Check that each invalid option is reported with its flag and value."""
    with pytest.raises(DataError, match=match):
        IngestOptions(**kwargs)


def test_eval_files_must_leave_a_training_input(tmp_path, lines10k):
    """Check that --eval-files as large as the input count is refused."""
    p = tmp_path / "a.txt"
    p.write_bytes(lines10k[:5000])
    with pytest.raises(DataError, match=r"--eval-files 1 leaves no training input: only 1 input\(s\) given"):
        ingest_criteo([p], tmp_path / "ds", IngestOptions(eval_files=1))


def test_existing_output_is_refused(tmp_path, lines10k):
    """Check that an existing dataset is kept unless overwrite is asked for."""
    p = tmp_path / "a.txt"
    p.write_bytes(lines10k)
    ingest_criteo([p], tmp_path / "ds")
    with pytest.raises(DataError, match=r"ds already exists; choose another --out or pass --overwrite"):
        ingest_criteo([p], tmp_path / "ds")
    ingest_criteo([p], tmp_path / "ds", overwrite=True)


def test_parse_line_reports_field_and_value():
    """Check the per-line parser's messages for each kind."""
    good = "\t".join(["1"] + ["5"] * 13 + ["0a1b2c3d"] * 26).encode()
    assert parse_line(good)[0] == 1
    assert parse_line(good.replace(b"\t5\t", b"\t+5\t", 1)) == ("bad_dense", "field I1: '+5' is not an integer")
    assert parse_line(good.replace(b"\t5\t", b"\t99999999999999999999\t", 1)) == (
        "bad_dense", "field I1: '99999999999999999999' is not an integer within int64")
    assert parse_line(good.replace(b"0a1b2c3d", b"0a1b2c3", 1)) == ("bad_hex", "field C1: '0a1b2c3' is not 8 hex digits")
    assert parse_line(good + b"\t1") == ("wrong_field_count", "expected at most 40 tab-separated fields, got 41")
    assert parse_line(b"") == parse_line(b"\r") == ("wrong_field_count", "empty line (expected 40 tab-separated fields)")
    assert parse_line(b"1\t2") == (1, [2] + [None] * 12, [-1] * 26)  # trailing fields missing: read as empty


# ------------------------------------------------------------------------------------------
# TorchRec interop


def test_torchrec_arrays_match_tsv_ingest(tmp_path, lines10k):
    """Check that TorchRec's preprocessed arrays give the same shards as the TSV they came from."""
    parts = lines10k.split(b"\n")
    days = [b"\n".join(parts[:6000]) + b"\n", b"\n".join(parts[6000:-1]) + b"\n"]
    tr = tmp_path / "torchrec"
    tr.mkdir()
    for i, d in enumerate(days):
        (tmp_path / f"day_{i}").write_bytes(d)
        write_torchrec_day(tr, i, d)
    opts = IngestOptions(hash_size=5000, eval_files=1)
    a = ingest_criteo([tmp_path / "day_0", tmp_path / "day_1"], tmp_path / "a", opts).dataset
    res = ingest_torchrec(tr, tmp_path / "b", opts)
    b = res.dataset
    assert b.meta["source"]["days"] == [0, 1] and res.report.valid == 10_000
    for split in ("train", "eval"):
        x, y = a.split(split), b.split(split)
        np.testing.assert_array_equal(x.labels, y.labels)
        np.testing.assert_array_equal(x.sparse, y.sparse)
        np.testing.assert_allclose(x.dense, y.dense, rtol=2e-6, atol=0)
    assert b.meta["stats"]["dense_missing_rate"] is None  # TorchRec stores missing as 0


def test_torchrec_bad_labels_are_reported_by_row(tmp_path, lines10k):
    """Check that labels other than 0/1 in TorchRec arrays are counted and named by file and row."""
    tr = tmp_path / "tr"
    tr.mkdir()
    write_torchrec_day(tr, 0, b"\n".join(lines10k.split(b"\n")[:100]) + b"\n")
    lab = np.load(tr / "day_0_labels.npy")
    lab[[3, 10, 20, 30, 40, 50, 60]] = 7
    np.save(tr / "day_0_labels.npy", lab)
    rep = ingest_torchrec(tr, tmp_path / "ds").report
    assert rep.counts == {"bad_label": 7} and rep.valid == 93
    assert rep.examples["bad_label"][0] == "day_0_labels.npy: row 4: field label: 7 is not 0 or 1"
    assert len(rep.examples["bad_label"]) == 5


def test_torchrec_errors_name_the_file(tmp_path, lines10k):
    """Check errors for a missing directory, missing arrays and mismatched shapes."""
    with pytest.raises(DataError, match=r"nowhere: no such directory"):
        ingest_torchrec(tmp_path / "nowhere", tmp_path / "ds")
    tr = tmp_path / "tr"
    tr.mkdir()
    with pytest.raises(DataError, match=r"tr: no day_N_dense\.npy"):
        ingest_torchrec(tr, tmp_path / "ds")
    write_torchrec_day(tr, 0, b"\n".join(lines10k.split(b"\n")[:100]) + b"\n")
    (tr / "day_0_labels.npy").unlink()
    with pytest.raises(DataError, match=r"day 0 lacks day_0_labels\.npy; days with files: \[0\]"):
        ingest_torchrec(tr, tmp_path / "ds")
    np.save(tr / "day_0_labels.npy", np.zeros(99, np.int32))
    with pytest.raises(DataError, match=r"day_0 arrays differ in rows: dense 100, sparse 100, labels 99"):
        ingest_torchrec(tr, tmp_path / "ds")
    np.save(tr / "day_0_sparse.npy", np.zeros((100, 3), np.int32))
    with pytest.raises(DataError, match=r"day_0_sparse\.npy: expected shape \(rows, 26\), got \(100, 3\)"):
        ingest_torchrec(tr, tmp_path / "ds")
    with pytest.raises(DataError, match=r"day 5 lacks day_5_dense\.npy"):
        ingest_torchrec(tr, tmp_path / "ds", days=[5])
    assert not (tmp_path / "ds").exists()


def test_interrupted_ingest_leaves_nothing(tmp_path, lines10k):
    """Check that an ingest interrupted half-way (Ctrl-C) leaves no dataset and no temporary folder."""
    p = tmp_path / "in" / "a.txt"
    p.parent.mkdir()
    p.write_bytes(lines10k)
    calls = []

    def interrupt(name, records):
        calls.append(records)
        if len(calls) == 3:
            raise KeyboardInterrupt

    out = tmp_path / "out" / "ds"
    with pytest.raises(KeyboardInterrupt):
        ingest_criteo([p], out, IngestOptions(chunk_bytes=64 << 10), progress=interrupt)
    assert calls[-1] < 10_000 and list(out.parent.iterdir()) == []


TRICKY = [  # (field index, value): odd values each path must judge alike
    (0, "-0"), (0, "01"), (0, ""), (0, "-1"), (0, "1 "), (1, "-"), (1, "5-"), (1, "--5"), (1, "-07"),
    (2, " 5"), (2, "0x10"), (2, "1a"), (2, "99999999999999999999"), (3, "9223372036854775807"),
    (3, "9223372036854775808"), (14, "ABCDEF01"), (14, "1234-678"), (14, "1234567"), (14, "123456789"),
    (15, "-1234567"), (16, "é1234567"), (20, "0000000g"),
]


def test_fast_path_and_recovery_agree_with_per_line_parser_on_tricky_lines(lines10k):
    """Check that a chunk full of odd lines gives exactly what the per-line parser gives, line by line."""
    from recscale.data.criteo import _Chunk, _pad_short_lines, _parse_chunk, _slow

    rng = np.random.default_rng(3)
    lines = lines10k.split(b"\n")[:4000]
    for i in rng.choice(4000, 400, replace=False):
        f = lines[i].split(b"\t")
        pos, val = TRICKY[i % len(TRICKY)]
        f[pos] = val.encode()
        lines[i] = b"\t".join(f)
    for i in rng.choice(4000, 40, replace=False):
        lines[i] = [b"", b"\t" * 39, lines[i] + b"\r", lines[i] + b"\tx", b"\xff" + lines[i]][i % 5]
    for i in rng.choice(4000, 300, replace=False):  # trailing fields stripped, some lines also bad
        lines[i] = b"\t".join(lines[i].split(b"\t")[: [37, 38, 39, 20, 2][i % 5]]) + [b"", b"\r"][i % 2]
    buf = b"\n".join(lines) + b"\n"
    chunk = _Chunk(buf, 1, 4000, 0)
    got = _parse_chunk(chunk, "f")
    want = _slow(lines, np.arange(1, 4001), chunk, "f")
    assert [str(p) for p in got.problems] == [str(p) for p in want.problems]
    assert 250 < len(want.problems) < 440
    assert got.notes == want.notes and 200 < want.notes["trailing_fields_missing"] <= 300
    for field in ("records", "labels", "dense", "keys", "missing", "dense_missing", "dense_negative", "sparse_missing"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    assert got.n_records == want.n_records == 4000
    # The screen flags every bad line (so recovery needs no bisection here) and few good ones.
    from recscale.data.criteo import _screen

    a = np.frombuffer(_pad_short_lines(chunk)[0].buf, dtype=np.uint8)
    flagged = set((np.flatnonzero(_screen(a, np.flatnonzero(a == 10))) + 1).tolist())
    bad = {p.line for p in want.problems}
    assert bad <= flagged and len(flagged - bad) < 0.2 * len(bad)
    clean = np.frombuffer(lines10k, dtype=np.uint8)
    assert not _screen(clean, np.flatnonzero(clean == 10)).any()


def test_torchrec_array_format_errors(tmp_path, lines10k):
    """Check errors for unreadable arrays, non-integer ids, bad label shapes and empty days."""
    tr = tmp_path / "tr"
    tr.mkdir()
    write_torchrec_day(tr, 0, b"\n".join(lines10k.split(b"\n")[:10]) + b"\n")
    (tr / "day_0_dense.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"day_0_dense\.npy: not a readable \.npy array"):
        ingest_torchrec(tr, tmp_path / "ds")
    write_torchrec_day(tr, 0, b"\n".join(lines10k.split(b"\n")[:10]) + b"\n")
    np.save(tr / "day_0_labels.npy", np.zeros((10, 2), np.int32))
    with pytest.raises(DataError, match=r"day_0_labels\.npy: expected shape \(rows,\) or \(rows, 1\), got \(10, 2\)"):
        ingest_torchrec(tr, tmp_path / "ds")
    np.save(tr / "day_0_labels.npy", np.zeros(10, np.int32))
    np.save(tr / "day_0_sparse.npy", np.zeros((10, 26), np.float32))
    with pytest.raises(DataError, match=r"day_0_sparse\.npy: expected integer ids, got dtype float32"):
        ingest_torchrec(tr, tmp_path / "ds")
    for name, shape in (("dense", (0, 13)), ("sparse", (0, 26)), ("labels", (0,))):
        np.save(tr / f"day_0_{name}.npy", np.zeros(shape, np.int32))
    with pytest.raises(DataError, match=r"tr: day_0 is empty \(0 rows\)"):
        ingest_torchrec(tr, tmp_path / "ds")


def test_torchrec_raw_integer_dense_and_non_finite_values(tmp_path, lines10k):
    """Check that integer dense arrays are taken as raw counts, and non-finite dense rows are bad."""
    tr = tmp_path / "tr"
    tr.mkdir()
    write_torchrec_day(tr, 0, b"\n".join(lines10k.split(b"\n")[:50]) + b"\n")
    d = np.load(tr / "day_0_dense.npy")
    raw = np.rint(np.exp(d.astype(np.float64)) - 3).astype(np.int64)
    np.save(tr / "day_0_dense.npy", raw)
    a = ingest_torchrec(tr, tmp_path / "a", IngestOptions(eval_fraction=0.0)).dataset.split("train")
    np.testing.assert_array_equal(a.dense, np.log1p(np.maximum(raw, 0).astype(np.float64)).astype(np.float32))
    d[7, 3] = np.inf
    np.save(tr / "day_0_dense.npy", d)
    rep = ingest_torchrec(tr, tmp_path / "b").report
    assert rep.counts == {"bad_dense": 1}
    assert rep.examples["bad_dense"][0].startswith("day_0_dense.npy: row 8: dense [")


def test_inputs_must_be_files(tmp_path):
    """Check that a directory or an empty input list is refused."""
    with pytest.raises(DataError, match=r": not a file"):
        ingest_criteo([tmp_path], tmp_path / "ds")
    with pytest.raises(DataError, match=r"no input given"):
        ingest_criteo([], tmp_path / "ds")


def test_vocabulary_counts_survive_many_merges(monkeypatch):
    """Check that counts merged chunk by chunk equal one global count, ids ordered by count then key."""
    from recscale.data.vocab import VocabCounter

    monkeypatch.setattr(VocabCounter, "MERGE_AT", 4)
    rng = np.random.default_rng(0)
    keys = rng.zipf(1.5, 20_000).astype(np.uint64) % np.uint64(300)
    c = VocabCounter(1)
    for part in np.array_split(keys, 37):
        c.add(0, *VocabCounter.unique_counts(part))
    vocab = c.finalize(min_count=5)
    counts = Counter(keys.tolist())
    kept = sorted((k for k, n in counts.items() if n >= 5), key=lambda k: (-counts[k], k))
    got = vocab.lookup(0, np.array(kept + [10**9], dtype=np.uint64))
    assert got.tolist() == list(range(1, len(kept) + 1)) + [0]
    assert vocab.distinct == [len(counts)] and vocab.sizes == [len(kept)]

"""Criteo ingest throughput: ``recscale data criteo`` against pandas.read_csv plus the same transforms.

    .venv/bin/python benchmarks/ingest_throughput.py                      # 1M lines
    .venv/bin/python benchmarks/ingest_throughput.py --memory-lines 10000000   # also peak RSS on 10M
    .venv/bin/python benchmarks/ingest_throughput.py --circulating             # also the file as it circulates

Both sides start from the same generated Criteo-format file (realistic missing rates, negatives,
Zipf categorical values) and end with the same arrays on disk: dense ``log(1 + max(x, 0))``
float32, hashed categorical ids (``1 + splitmix64(key) mod (H - 1)``, 0 for missing) and labels, with
a seeded 10% eval split. The pandas baseline is written the way a careful user would: one
``read_csv`` (C engine, explicit dtypes), vectorised numpy for the dense transform, and hex parsed
once per *distinct* value (``pd.factorize``, then ``int(s, 16)``) rather than per row. Each side runs
``--repeat`` times, alternating, and its best time counts (the machine is shared). The last line reads
``ingest: X.XXx pandas, N rows/s``.

``--circulating`` also writes the same rows as many copies circulate (trailing empty fields stripped,
CRLF, a header line) and times recscale on it against the canonical file, alternating; it prints
``circulating: X.XXx the canonical file's time`` and checks that the shards are the same.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.data.criteo_fixtures (the generator)

from recscale.cli.main import main as recscale_main  # noqa: E402
from recscale.data.criteo import COLUMN_NAMES, DENSE_NAMES, SPARSE_NAMES  # noqa: E402
from recscale.data.hashing import eval_mask, hash_buckets  # noqa: E402
from recscale.data.sources import transform_dense  # noqa: E402
from tests.data.criteo_fixtures import write_criteo  # noqa: E402

HASH_SIZE = 1_000_000


def pandas_ingest(path: Path, out: Path) -> int:
    """pandas.read_csv plus the same transforms and split; writes .npy files like the shards."""
    import pandas as pd

    df = pd.read_csv(
        path, sep="\t", header=None, names=COLUMN_NAMES,
        dtype={"label": np.int8, **{n: "float64" for n in DENSE_NAMES}, **{n: str for n in SPARSE_NAMES}},
    )
    n = len(df)
    dense = np.empty((n, len(DENSE_NAMES)), np.float32)
    for j, name in enumerate(DENSE_NAMES):
        x = df[name].to_numpy()
        dense[:, j] = transform_dense(x, np.isnan(x))
    sparse = np.empty((n, len(SPARSE_NAMES)), np.int32)
    for j, name in enumerate(SPARSE_NAMES):
        codes, uniques = pd.factorize(df[name])
        keys = np.array([int(u, 16) for u in uniques], dtype=np.uint64)
        ids = hash_buckets(keys, HASH_SIZE).astype(np.int32)
        sparse[:, j] = np.where(codes < 0, 0, ids[np.maximum(codes, 0)])
    labels = df["label"].to_numpy().astype(np.float32)
    is_eval = eval_mask(0, np.arange(1, n + 1), 0.1, 0)
    out.mkdir(parents=True, exist_ok=True)
    for split, m in (("train", ~is_eval), ("eval", is_eval)):
        (out / split).mkdir(exist_ok=True)
        np.save(out / split / "dense.npy", dense[m])
        np.save(out / split / "sparse.npy", sparse[m])
        np.save(out / split / "labels.npy", labels[m])
    return n


def recscale_ingest(path: Path, out: Path, workers: int) -> None:
    code = recscale_main(["data", "criteo", str(path), "--out", str(out), "--hash-size", str(HASH_SIZE),
                          "--eval-fraction", "0.1", "--workers", str(workers), "--quiet"])
    if code != 0:
        raise SystemExit(f"recscale data criteo exited {code}")


def write_circulating(src: Path, dst: Path) -> int:
    """``src`` with every line's trailing empty fields stripped, CRLF endings and a header; returns short lines."""
    short = 0
    with open(src, "rb") as f, open(dst, "wb") as g:
        g.write("\t".join(COLUMN_NAMES).encode() + b"\r\n")
        for line in f:
            s = line.rstrip(b"\n").rstrip(b"\t")
            short += s.count(b"\t") < len(COLUMN_NAMES) - 1
            g.write(s + b"\r\n")
    return short


def time_circulating(src: Path, work: Path, workers: int, repeat: int) -> None:
    """Best time of recscale on the circulating file over the canonical one, alternating."""
    circ = work / (src.stem + "_circulating.tsv")
    short = write_circulating(src, circ)
    best = {"canonical": float("inf"), "circulating": float("inf")}
    for _ in range(repeat):
        for name, path in (("canonical", src), ("circulating", circ)):
            out = work / f"out_{name}"
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            recscale_ingest(path, out, workers)
            best[name] = min(best[name], time.perf_counter() - t)
    same = all(
        np.array_equal(np.load(work / "out_canonical" / s / a), np.load(work / "out_circulating" / s / a))
        for s in ("train", "eval") for a in ("dense.npy", "sparse.npy", "labels.npy")
    )
    print(f"circulating file: {short:,} short lines, CRLF, a header; same shards: {same}")
    print(f"circulating: {best['circulating'] / best['canonical']:.2f}x the canonical file's time "
          f"({best['canonical']:.2f}s vs {best['circulating']:.2f}s)")


def peak_rss_of_cli(path: Path, out: Path, workers: int) -> float:
    """Peak resident memory (GB) of ``recscale data criteo`` in a fresh process."""
    cmd = [sys.executable, "-m", "recscale.cli.main", "data", "criteo", str(path), "--out", str(out),
           "--workers", str(workers), "--quiet"]
    subprocess.run(cmd, check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6  # KB -> GB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-lines", type=int, default=0, help="also measure peak RSS on a file this long")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--circulating", action="store_true", help="also time the file with trailing fields stripped")
    args = ap.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="recscale-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        src = work / f"criteo_{args.lines}.tsv"
        if not src.exists():
            t = time.perf_counter()
            write_criteo(src, args.lines, seed=0)
            print(f"generated {src} ({src.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")
        best = {"recscale": float("inf"), "pandas": float("inf")}
        for r in range(args.repeat):
            for name in ("recscale", "pandas"):
                out = work / f"out_{name}"
                shutil.rmtree(out, ignore_errors=True)
                t = time.perf_counter()
                if name == "recscale":
                    recscale_ingest(src, out, args.workers)
                else:
                    pandas_ingest(src, out)
                dt = time.perf_counter() - t
                best[name] = min(best[name], dt)
                print(f"run {r + 1} {name:8s}: {dt:6.2f}s  {args.lines / dt:>12,.0f} rows/s")
        a, b = (work / "out_recscale" / "train" / "sparse.npy"), (work / "out_pandas" / "train" / "sparse.npy")
        same = np.array_equal(np.load(a), np.load(b))
        print(f"same sparse ids as pandas: {same}")
        if args.circulating:
            time_circulating(src, work, args.workers, args.repeat)
        if args.memory_lines:
            big = work / f"criteo_{args.memory_lines}.tsv"
            if not big.exists():
                write_criteo(big, args.memory_lines, seed=1)
            shutil.rmtree(work / "out_big", ignore_errors=True)
            t = time.perf_counter()
            gb = peak_rss_of_cli(big, work / "out_big", args.workers)
            dt = time.perf_counter() - t
            print(f"peak memory on {args.memory_lines:,} lines ({big.stat().st_size / 1e9:.1f} GB): {gb:.2f} GB "
                  f"(limit 2 GB); {dt:.1f}s, {args.memory_lines / dt:,.0f} rows/s")
        ratio = best["pandas"] / best["recscale"]
        print(f"ingest: {ratio:.2f}x pandas, {args.lines / best['recscale']:,.0f} rows/s")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

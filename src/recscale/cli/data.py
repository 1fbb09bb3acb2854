"""``recscale data ...``: turn a source into a shards dataset (see recscale.data.shards)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Create shards datasets: synthetic, Criteo, your own tables.", no_args_is_help=True)


@app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Dataset directory to create."),
    rows: int = typer.Option(1_000_000, "--rows", help="Training rows."),
    eval_rows: int = typer.Option(100_000, "--eval-rows", help="Held-out evaluation rows."),
    seed: int = typer.Option(0, "--seed", help="Seed of the world (teacher) and its samples."),
    ctr: float = typer.Option(None, "--ctr", help="Target base CTR (default: the world's default)."),
    bayes_ne: float = typer.Option(None, "--bayes-ne", help="Target Bayes NE (default: the world's default)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
) -> None:
    """Generate the built-in synthetic CTR world, whose Bayes NE is known.

    Example: recscale data synth --out data/synth --rows 1000000 --eval-rows 100000 --seed 0
    """
    from recscale.data.synthetic import WorldConfig, generate

    overrides = {k: v for k, v in {"ctr": ctr, "bayes_ne": bayes_ne}.items() if v is not None}
    world = WorldConfig.from_dict(overrides, where="options")
    ds = generate(world, out, rows=rows, eval_rows=eval_rows, seed=seed, overwrite=overwrite, progress=True)
    w = ds.meta["world"]
    typer.echo(
        f"wrote {out}: {rows:,} train + {eval_rows:,} eval rows, CTR {w['ctr']:.4f}, "
        f"Bayes NE {w['bayes_ne']:.4f} ± {w['bayes_ne_se']:.4f}"
    )

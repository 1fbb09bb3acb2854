"""``recscale fit`` and ``recscale plan``: scaling laws from a table of runs (CSV, Parquet, ledger).

Thin layer over :func:`recscale.laws.groups.fit_groups` and :func:`~recscale.laws.groups.plan_groups`:
parse, call, print. A readable table by default, JSON with ``--json``. User errors raise
:class:`~recscale.errors.RecscaleError`, which ``recscale.cli.main`` prints on one line with exit code 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from recscale.errors import RecscaleError, printable
from recscale.laws.options import DEFAULT_BOOTSTRAP


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _gamma_bounds(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise RecscaleError(f"--gamma-bounds must be LO,HI (two numbers); got {value!r}") from None
    return lo, hi


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _interval(est: Any, ci: tuple[Any, Any] | None) -> str:
    if ci is None:
        return _fmt(est)
    return f"{_fmt(est)} [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _where(key: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items()) + ": " if key else ""


def _print_table(rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    # Group values come from the user's table or ledger: no escape codes reach the terminal, no 20 MB cell.
    rows = [{printable(c, 120): printable(v, 120) for c, v in r.items()} for r in rows]
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    typer.echo("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        typer.echo("  ".join(r[c].ljust(widths[c]) for c in cols))


def parse_fit_from(value: str) -> str | float:
    """``--fit-from``: ``auto``, ``all`` or a number (the first x of each fit)."""
    if value in ("auto", "all"):
        return value
    try:
        x0 = float(value)
    except ValueError:
        raise RecscaleError(f"--fit-from must be auto, all or a number (the first x of each fit); got {value!r}") from None
    if not (math.isfinite(x0) and x0 > 0):
        raise RecscaleError(f"--fit-from must be a positive number, auto or all; got {value!r}")
    return x0


FIT_FROM_HELP = ("Where each fit starts: auto (after the optimiser's start-up, if the curve shows one; see "
                 "recscale.laws.fitrange), all (every point) or an x value.")


def _print_fit_ranges(results) -> None:
    """One line per group whose fit leaves points out (the in-regime check's failures are flags)."""
    for r in results:
        fr = getattr(r, "fit_range", None)
        if fr is not None and fr.n_left_out:
            typer.echo(f"  {_where(r.key)}fit range: {fr.reason} ({fr.n_left_out} points left out)")


def _common_kwargs(form, bootstrap, seed, gamma, gamma_bounds) -> dict[str, Any]:
    return {"form": form, "bootstrap": bootstrap, "seed": seed, "gamma": gamma, "gamma_bounds": _gamma_bounds(gamma_bounds)}


def _trained_rows(table: Path):
    """The table's rows without the trials that never trained, as the report reads them (one curve, one answer).

    A notice naming each left-out trial goes to stderr (stdout stays a table or JSON).
    """
    from recscale.laws.table import UNTRAINED_NE, untrained_trials
    from recscale.study.table_reader import read_table

    df = read_table(table)
    if not {"trial_id", "samples", "ne", "scheme"} <= set(df.columns):
        return df
    dead = untrained_trials(df.dropna(subset=["ne", "samples"]))
    for tid, u in dead.items():
        typer.echo(f"left out: trial {tid} never trained (NE >= {UNTRAINED_NE} at all {u['checkpoints']} checkpoints), "
                   "as in the report", err=True)
    return df[~df["trial_id"].isin(list(dead))].reset_index(drop=True)


def _study(table: Path):
    """The study a table holds (:func:`recscale.report.study.load_study`), or None when it is not one."""
    from recscale.report.study import load_study

    try:
        return load_study(table)
    except RecscaleError:
        return None


def _axis_end(study, x: str):
    """A group's rows → where its x axis ends, as the report reads it (embedding rows along their parameters), or None."""
    if study is None or not study.axis_ends or x != "params_sparse":
        return None

    def end(rows) -> float | None:
        schemes = set(rows["scheme"].astype(str)) if "scheme" in rows.columns else set()
        archs = set(rows["architecture"].astype(str)) if "architecture" in rows.columns else {""}
        if len(schemes) != 1 or len(archs) != 1:
            return None
        return study.axis_ends.get((archs.pop(), schemes.pop()))

    return end


def _floor_kwargs(study, kw: dict[str, Any], free_floor: bool) -> tuple[dict[str, Any], str]:
    """Bound γ below by the study's known floor, as the report does, unless --free-floor, --gamma or --gamma-bounds.

    Returns the fit keyword arguments and a phrase for the header saying which floor was used.
    """
    user = kw["gamma"] is not None or kw["gamma_bounds"] is not None
    if free_floor and user:
        raise RecscaleError("--free-floor leaves the floor free; drop it, or drop --gamma/--gamma-bounds")
    if user:
        return kw, "floor as given"
    if study is None or study.floor is None:
        return kw, "gamma >= 0 (no known floor)"
    if free_floor:
        return kw, f"free floor gamma >= 0 (--free-floor; the {study.floor_name} is {study.floor:.4f})"
    return ({**kw, "gamma_bounds": (study.floor, math.inf)},
            f"gamma >= {study.floor:.4f}, the {study.floor_name}, as in the report (--free-floor: gamma >= 0)")


def _gamma_cell(f, ci: dict[str, Any]) -> str:
    """γ with its interval; a γ on its lower bound reads "at bound 0" or "at floor 0.7566", never 4.941e-324."""
    lo = f.method.gamma_bounds[0]
    if f.form != "powerlaw" and "gamma" in f.free and abs(f.gamma - lo) <= 1e-6 * max(abs(f.gamma), 1e-12) + 1e-12:
        where = "floor" if lo > 0 else "bound"
        hi = ci.get("gamma", (None, None))[1]
        return f"at {where} {_fmt(lo)}" + (f" [-, {_fmt(hi)}]" if hi is not None and hi > lo * (1 + 1e-9) + 1e-12 else "")
    return _interval(f.gamma, ci.get("gamma"))


def _regime_cell(r) -> str:
    """The regime's label; a gain per doubling only where the regime is determined (never for β at its bound)."""
    if r.regime is None:
        return "-"
    if not r.regime.determined or r.regime.beta_at_bound:
        return r.regime.text
    reg = r.regime
    per = " to the axis's end" if reg.x_end is not None and reg.x_end < 2 * reg.x_max else "/doubling"
    return f"{reg.label} ({reg.gain_rel:.2%}{per})"


def _flag_codes(f) -> str:
    return ",".join(dict.fromkeys(f.flag_codes)) or "-"


def fit_command(
    table: Path = typer.Argument(..., help="CSV, Parquet or recscale ledger."),
    x: str = typer.Option(None, "--x", help="Column of the resource (e.g. samples, params_total, train_flops)."),
    y: str = typer.Option("ne", "--y", help="Column of the metric."),
    group: str = typer.Option(None, "--group", help="Comma-separated columns; one law per combination."),
    joint: bool = typer.Option(False, "--joint", help="Fit the joint law NE(N, D) = E + A/N^alpha + B/D^beta (needs --n, --d)."),
    n_col: str = typer.Option(None, "--n", help="With --joint: column of the model size N (e.g. params_total)."),
    d_col: str = typer.Option(None, "--d", help="With --joint: column of the data size D (e.g. samples)."),
    where: list[str] = typer.Option(None, "--where", help="Keep rows with COL=VALUE (repeatable)."),
    form: str = typer.Option("powerlaw_const", "--form", help="powerlaw_const, powerlaw, broken_powerlaw, m4 or auto (chosen by backtest)."),
    frontier: bool = typer.Option(False, "--frontier", help="Fit the Pareto frontier of each group."),
    bootstrap: int = typer.Option(DEFAULT_BOOTSTRAP, "--bootstrap", help="Bootstrap refits (0: no intervals)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    gamma: float = typer.Option(None, "--gamma", help="Fix the floor at this value (e.g. a known Bayes NE)."),
    gamma_bounds: str = typer.Option(None, "--gamma-bounds", help="Bound the floor: LO,HI."),
    forms_check: bool = typer.Option(True, "--forms-check/--no-forms-check",
                                     help="Also backtest M4 and the broken law on each curve (flags and plan warnings)."),
    fit_from: str = typer.Option("auto", "--fit-from", help=FIT_FROM_HELP),
    free_floor: bool = typer.Option(False, "--free-floor",
                                    help="Leave the floor free (gamma >= 0) even where the study knows one."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Fit NE = alpha * x^-beta + gamma per group, with bootstrap intervals, flags and regime.

    Examples:
        recscale fit runs.csv --x samples --y ne --group scheme,value
        recscale fit study.parquet --x train_flops --group scheme --frontier --json
        recscale fit runs.csv --x samples --where scheme=emb --gamma-bounds 0.70,0.76
        recscale fit runs.csv --joint --n params_dense --d samples --where scheme=mlp_width
    """
    from recscale.laws.groups import fit_groups, parse_where

    if joint:
        if x is not None or group:
            raise RecscaleError("--joint fits one law NE(N, D) over all (filtered) rows: drop --x and --group, and give "
                                "--n COLUMN --d COLUMN (select rows with --where COL=VALUE)")
        _joint_command(_trained_rows(table), n_col, d_col, y, parse_where(where), bootstrap, seed, level, as_json)
        return
    if x is None:
        raise RecscaleError("--x COLUMN is required (the resource, e.g. samples), unless --joint with --n and --d")
    df = _trained_rows(table)
    study = _study(table)
    kw, floor_txt = _floor_kwargs(study, _common_kwargs(form, bootstrap, seed, gamma, gamma_bounds), free_floor)
    results = fit_groups(df, x, y, group=_split(group), where=parse_where(where), frontier=frontier, level=level,
                         forms_check=forms_check, fit_from=parse_fit_from(fit_from), axis_end=_axis_end(study, x), **kw)
    if as_json:
        typer.echo(json.dumps([r.to_dict(level) for r in results], indent=2, allow_nan=False))
        return
    rows = []
    for r in results:
        row = {k: str(v) for k, v in r.key.items()}
        if r.fit is None:
            row.update({"n": str(r.n_rows), **({"form": "-"} if form == "auto" else {}), "beta": "-", "alpha": "-",
                        "gamma": "-", "corr(b,g)": "-", "rmse_log": "-", "regime": "-", "flags": f"error: {r.error}"})
        else:
            f = r.fit
            ci = f.ci(level) if f.draws else {}
            row.update({
                "n": str(f.n_points),
                **({"form": f.form} if form == "auto" else {}),
                "beta": _interval(f.beta, ci.get("beta")),
                "alpha": _fmt(f.alpha),
                "gamma": _gamma_cell(f, ci),
                "corr(b,g)": _fmt(f.beta_gamma_corr, 2),
                "rmse_log": _fmt(f.rmse_log, 3),
                "regime": _regime_cell(r),
                "flags": _flag_codes(f),
            })
        rows.append(row)
    chose = "; form auto: chosen per group by backtest (column 'form')" if form == "auto" else ""
    typer.echo(f"{y} = alpha * {x}^-beta + gamma   ({form}; {floor_txt}; {int(level * 100)}% intervals, "
               f"{bootstrap} bootstrap refits{chose}; fit from: {fit_from})")
    _print_table(rows)
    _print_fit_ranges(results)
    for r in results:
        if r.regime is not None:
            typer.echo(printable(f"  {_where(r.key)}regime: {r.regime.finding}", 400))
        for fl in _unique_flags(r.fit.flags if r.fit else ()):
            typer.echo(printable(f"  {_where(r.key)}{fl.code}: {fl.message}", 400))


def _unique_flags(flags):
    """Each flag once (the same code and message can come from two checks)."""
    return list({(f.code, f.message): f for f in flags}.values())


def _joint_command(df, n_col, d_col, y, where, bootstrap, seed, level, as_json) -> None:
    """``recscale fit --joint``: rows → :func:`recscale.laws.fit_joint_law` → a table or JSON."""
    from recscale.laws import fit_joint_law
    from recscale.laws.groups import _filter
    from recscale.laws.table import require_columns

    missing = [opt for opt, v in (("--n", n_col), ("--d", d_col)) if not v]
    if missing:
        raise RecscaleError(f"--joint needs {' and '.join(missing)} COLUMN (e.g. --n params_total --d samples)")
    require_columns(df, [n_col, d_col, y], where="recscale fit --joint")
    df = _filter(df, where).dropna(subset=[n_col, d_col, y])
    ids = df["trial_id"].tolist() if "trial_id" in df.columns else None
    fit = fit_joint_law(df[n_col].to_numpy(dtype=float), df[d_col].to_numpy(dtype=float), df[y].to_numpy(dtype=float),
                        bootstrap=bootstrap, seed=seed, trial_ids=ids)
    names = ("E", "A", "B", "alpha", "beta")
    if as_json:
        d = fit.to_dict(level)
        out = {k: d["params"][k] for k in names} | {"se": fit.se, "ci": d["ci"], "level": level, "n": n_col, "d": d_col,
                                                    "y": y, "n_points": fit.n_points, "method": d["method"]}
        typer.echo(json.dumps(out, indent=2, allow_nan=False))
        return
    typer.echo(f"{y} = E + A/{n_col}^alpha + B/{d_col}^beta   (Hoffmann et al. approach 3; {fit.n_points} rows; "
               f"{int(level * 100)}% intervals, {bootstrap} bootstrap refits)")
    ci = fit.ci(level) if fit.draws else {}
    _print_table([{"param": k, "estimate": _fmt(getattr(fit, k)), "se": _fmt(fit.se[k] if fit.se else None),
                   "interval": _interval(getattr(fit, k), ci.get(k))[len(_fmt(getattr(fit, k))) + 1:] or "-"}
                  for k in names])


def plan_command(
    table: Path = typer.Argument(..., help="CSV, Parquet or recscale ledger."),
    target_ne: float = typer.Option(None, "--target-ne", help="NE to reach (or --lower-by)."),
    lower_by: float = typer.Option(None, "--lower-by",
                                   help="Lower NE by this fraction from the edge of the data instead (0.01 = 1%): "
                                        "prints how many times more x, its interval never below 1x."),
    x: str = typer.Option(..., "--x", help="Column of the resource to scale (e.g. samples)."),
    y: str = typer.Option("ne", "--y", help="Column of the metric."),
    group: str = typer.Option(None, "--group", help="Comma-separated columns; one plan per combination."),
    where: list[str] = typer.Option(None, "--where", help="Keep rows with COL=VALUE (repeatable)."),
    form: str = typer.Option("powerlaw_const", "--form", help="powerlaw_const, powerlaw, broken_powerlaw, m4 or auto (chosen by backtest)."),
    frontier: bool = typer.Option(False, "--frontier", help="Fit the Pareto frontier of each group."),
    bootstrap: int = typer.Option(DEFAULT_BOOTSTRAP, "--bootstrap", help="Bootstrap refits (0: no intervals)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    gamma: float = typer.Option(None, "--gamma", help="Fix the floor at this value."),
    gamma_bounds: str = typer.Option(None, "--gamma-bounds", help="Bound the floor: LO,HI."),
    bytes_per_param: float = typer.Option(4.0, "--bytes-per-param", help="Bytes per embedding parameter (memory)."),
    forms_check: bool = typer.Option(True, "--forms-check/--no-forms-check",
                                     help="Also backtest M4 and the broken law on each curve (flags and plan warnings)."),
    fit_from: str = typer.Option("auto", "--fit-from", help=FIT_FROM_HELP),
    free_floor: bool = typer.Option(False, "--free-floor",
                                    help="Leave the floor free (gamma >= 0) even where the study knows one."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """How much x a target NE needs, with its interval and the implied samples, parameters, FLOPs, memory.

    Examples:
        recscale plan runs.csv --target-ne 0.74 --x samples --where scheme=emb --where value=8
        recscale plan runs.csv --lower-by 0.01 --x samples --group scheme,value
        recscale plan study.parquet --target-ne 0.74 --x train_flops --group scheme --frontier --json
    """
    from recscale.laws.groups import parse_where, plan_groups

    df = _trained_rows(table)
    study = _study(table)
    kw, floor_txt = _floor_kwargs(study, _common_kwargs(form, bootstrap, seed, gamma, gamma_bounds), free_floor)
    results = plan_groups(df, target_ne, x, y, group=_split(group), where=parse_where(where), frontier=frontier,
                          level=level, bytes_per_param=bytes_per_param, forms_check=forms_check, rel_gain=lower_by,
                          fit_from=parse_fit_from(fit_from), axis_end=_axis_end(study, x), **kw)
    if as_json:
        typer.echo(json.dumps([r.to_dict(level) for r in results], indent=2, allow_nan=False))
        return
    rows = []
    for r in results:
        row = {k: str(v) for k, v in r.key.items()}
        if r.plan is None:
            row.update({**({"form": "-"} if form == "auto" else {}), "status": f"error: {r.error}", f"{x} needed": "-",
                        "floor": "-", "beyond data": "-", **({"x more": "-"} if lower_by is not None else {})})
            row.update({col: "-" for col in ("samples", "params_total", "train_flops") if col != x})
            row["emb memory"] = "-"
            rows.append(row)
            continue
        p = r.plan
        imp = p.implied

        def iv(col: str) -> str:
            d = imp.get(col)
            if not d or d.get("value") is None:
                return "-"
            if d.get("constant"):  # does not change along x: no interval
                return f"{_fmt(d['value'])} (fixed)"
            return _interval(d["value"], (d["lo"], d["hi"]) if d.get("lo") is not None or d.get("hi") is not None else None)

        mem = imp.get("embedding_memory_bytes", {}).get("value")
        row.update({
            **({"form": r.fit.form} if form == "auto" else {}),
            "status": p.status,
            f"{x} needed": (_interval(p.x_needed, p.x_interval) if p.reachable else
                            "never" if p.status == "unreachable" else p.status),
            "floor": _gamma_cell(r.fit, {"gamma": p.floor_interval} if p.floor_interval else {}),
            "beyond data": f"{p.extrapolation_decades:.2f} dec" if p.extrapolation_decades is not None else "-",
        })
        if lower_by is not None:
            row["x more"] = (f"{p.factor:.3g}x" + (f" [{p.factor_interval[0]:.3g}, {_fmt(p.factor_interval[1], 3)}]"
                                                   if p.factor_interval else "")) if p.factor is not None else "-"
        for col in ("samples", "params_total", "train_flops"):
            if col != x:
                row[col] = iv(col)
        row["emb memory"] = f"{mem / 2**30:.3g} GiB" if mem is not None else "-"
        rows.append(row)
    chose = "; form auto: chosen per group by backtest (column 'form')" if form == "auto" else ""
    what = f"target {y} = {target_ne:g}" if lower_by is None else f"lower {y} by {lower_by:.3g} (relative) from the data's edge"
    typer.echo(f"{what} along {x}   ({floor_txt}; {int(level * 100)}% intervals; '-' upper end = unbounded{chose})")
    _print_table(rows)
    _print_fit_ranges(results)
    for r in results:
        for note in (r.plan.notes if r.plan else ()):
            typer.echo(printable(f"  {_where(r.key)}{note}", 400))
        for fl in _unique_flags(r.fit.flags if r.fit else ()):
            if fl.code == "backtest_outside_interval":  # the README's promise: the law's own backtest missed
                typer.echo(printable(f"  {_where(r.key)}warning: {fl.message}", 400))


def register(app: typer.Typer) -> None:
    """Add the top-level ``fit`` and ``plan`` commands to the ``recscale`` app."""
    app.command("fit")(fit_command)
    app.command("plan")(plan_command)

"""``recscale study ...``: run a study spec into a ledger, show its status, export it."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run scaling studies and read their ledgers.", no_args_is_help=True)

"""Check that the command starts without importing torch (only commands that train import it)."""

import subprocess
import sys


def test_cli_import_does_not_load_torch():
    """Check that importing the CLI (what `recscale --help` does) leaves torch unimported."""
    code = "import sys, recscale.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_help_lists_every_command_group():
    """Check that --help lists the command groups, so a failed optional registration cannot go unnoticed."""
    from recscale.cli.main import main

    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--help"]) == 0
    for name in ("data", "study", "fit", "plan", "design", "report", "demo"):
        assert f" {name} " in buf.getvalue()

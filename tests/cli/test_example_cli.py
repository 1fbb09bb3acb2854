"""Check `recscale example`: it lists the packaged specs and prints one that loads as it is."""

from __future__ import annotations

from recscale import examples
from recscale.cli.main import main
from recscale.study.spec import load_spec


def test_example_lists_every_packaged_spec_with_its_purpose(capsys):
    """Check one line per example: its name, a tab, and the first line of its opening comment."""
    assert main(["example"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == examples.names() == ["architectures", "criteo", "movielens", "paper", "plugins", "quick", "tiny"]
    assert all(len(line.split("\t")[1]) > 10 for line in lines)


def test_example_prints_a_spec_to_start_from(tmp_path, capsys):
    """Check that `recscale example quick > my.toml` gives a file that loads as the quick study."""
    assert main(["example", "quick"]) == 0
    out = capsys.readouterr().out
    assert out == examples.path("quick").read_text()
    (tmp_path / "my.toml").write_text(out)
    assert load_spec(tmp_path / "my.toml").to_dict() == load_spec("quick").to_dict()


def test_unknown_example_exits_2_listing_them(capsys):
    """Check an unknown name is one line naming it and the examples, exit 2."""
    assert main(["example", "huge"]) == 2
    err = capsys.readouterr().err
    assert err == "error: example 'huge' does not exist; examples: architectures, criteo, movielens, paper, plugins, quick, tiny\n"


def test_example_descriptions_are_whole_first_sentences(capsys):
    """Check each listed description is its spec's first sentence, whole, even where it spans comment lines."""
    assert main(["example"]) == 0
    listed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    for name, description in listed.items():
        comment = " ".join(c.lstrip("#").strip() for c in examples.path(name).read_text().splitlines() if c.startswith("#"))
        assert description.endswith(".") and comment.startswith(description), name
    assert listed["architectures"].endswith("(every trial sees the same training stream and eval rows).")  # its 2nd line

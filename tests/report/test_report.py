"""Check the report's files: the HTML parses and embeds decodable, non-blank images; fits.json round-trips;
the figures exist as PNG and SVG; the laws recover the planted truth; CSV and ledger agree."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from recscale.report import ReportOptions, analyze, load_study
from recscale.report.figures import FIGURES
from recscale.report.document import fits_dict
from tests.report.planted import BAYES_NE, BETA, law, model_of


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs: list[dict] = []
        self.links: list[str] = []
        self.scripts = 0
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        if tag == "script":
            self.scripts += 1
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def _parse(path) -> _Collect:
    c = _Collect()
    c.feed(path.read_text(encoding="utf-8"))
    c.close()
    return c


def test_html_parses_and_is_self_contained(ledger_report):
    """Check the page is well-formed XML, has no scripts or remote links, and its sections come in reading order."""
    text = ledger_report.html.read_text(encoding="utf-8")
    ET.fromstring(re.sub(r"^<!DOCTYPE html>\s*", "", text))  # strict: every tag closed, only XML entities
    c = _parse(ledger_report.html)
    assert c.scripts == 0
    assert not [h for h in c.links if h.startswith(("http:", "https:", "//"))]
    assert c.headings == ["Key findings", "Joint law and compute-optimal allocation", "Warnings", "Figures", "Tables",
                          "Provenance"]


def test_every_embedded_image_decodes_and_is_not_blank(ledger_report):
    """Check one embedded PNG per figure, each decoding to an image with real content (not one flat colour)."""
    import matplotlib.image as mpimg

    c = _parse(ledger_report.html)
    assert len(c.imgs) == len(FIGURES) == len(ledger_report.figures)
    for img in c.imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        arr = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert arr.ndim == 3 and arr.shape[0] > 300 and arr.shape[1] > 300
        rgb = arr[..., :3]
        ink = np.mean(np.any(rgb < 0.9, axis=-1))
        assert rgb.std() > 0.02 and ink > 0.01, f"{img.get('alt')}: looks blank (std {rgb.std():.3f}, ink {ink:.3f})"
        assert img.get("alt")


def test_figures_are_written_as_png_and_svg(ledger_report):
    """Check every figure has a PNG and a well-formed SVG file, named after its figure."""
    names = {f.name for f in ledger_report.figures}
    assert names == {name for name, *_ in FIGURES}
    for f in ledger_report.figures:
        assert f.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        ET.parse(f.svg)


def test_figures_drawn_in_processes_equal_those_drawn_in_one(small_ledger, tmp_path, monkeypatch):
    """Check that figures drawn by forked workers are byte-identical (PNG and SVG) to one process's, in
    report order: the parallel path changes only the time (four of the figures, for time)."""
    from recscale.report import figures

    monkeypatch.setattr(figures, "FIGURES", figures.FIGURES[:4])
    a = analyze(load_study(small_ledger), ReportOptions(bootstrap=20, joint_bootstrap=0))
    one = figures.save_figures(a, tmp_path / "one", workers=1)
    two = figures.save_figures(a, tmp_path / "two", workers=2)
    assert [f.name for f in two] == [f.name for f in one] == [name for name, *_ in FIGURES[:4]]
    for f, g in zip(one, two):
        assert f.png.read_bytes() == g.png.read_bytes() and f.svg.read_bytes() == g.svg.read_bytes(), f.name
        assert (f.title, f.caption) == (g.title, g.caption)


def test_joint_laws_fitted_in_processes_equal_those_fitted_in_one(planted_ledger):
    """Check that the joint laws fitted by forked workers equal one process's, number for number."""
    opts = {"bootstrap": 10, "joint_bootstrap": 10}
    one = fits_dict(analyze(load_study(planted_ledger), ReportOptions(workers=1, **opts)))
    two = fits_dict(analyze(load_study(planted_ledger), ReportOptions(workers=2, **opts)))
    assert len(one["joint"]) == 4 and json.dumps(one["joint"], sort_keys=True) == json.dumps(two["joint"], sort_keys=True)


def test_fits_json_round_trips(ledger_report):
    """Check fits.json is strict JSON (no NaN), equals the analysis it was written from, and re-serialises identically."""
    text = ledger_report.fits_json.read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data == json.loads(json.dumps(fits_dict(ledger_report.analysis), allow_nan=False))
    assert data["warning_summary"] and sum(g["count"] for g in data["warning_summary"]) == len(data["warnings"])
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["bayes"]["ne"] == BAYES_NE
    assert {(h["scheme"], h["axis"]) for h in data["headlines"]} == {
        (s, ax) for s in ("mlp_width", "overarch_width", "embedding_dim", "embedding_rows") for ax in ("data", "params", "compute")
    }
    assert data["provenance"]["spec_toml"].startswith("# planted test study")


def test_laws_recover_the_planted_truth(ledger_report):
    """Check every model's data law: β within its interval of the planted 0.30, γ near the planted floor, RMSE small."""
    a = ledger_report.analysis
    for s in a.schemes:
        for f in a.models[s]:
            alpha, beta, gamma = law(model_of(s, int(f.value)))
            fit = f.primary
            lo, hi = fit.ci(0.95)["beta"]
            assert lo - 0.005 <= beta <= hi + 0.005, (f.key, fit.beta, (lo, hi))
            assert abs(fit.gamma - gamma) < 0.01, (f.key, fit.gamma, gamma)
            assert f.curve_rmse_log < 0.005
            assert fit.gamma >= BAYES_NE
    for s in a.schemes:
        h = a.headlines[(s, "data")]
        assert abs(h.fitted.primary.beta - BETA) < 0.02
        assert h.regime.label == "high-return"
        assert h.factor is not None and 1.0 < h.factor < 5.0


def test_clean_study_has_no_sanity_warnings(ledger_report):
    """Check the planted study (decreasing curves, floors above the Bayes NE) raises no sanity warning."""
    codes = {w.code for w in ledger_report.analysis.warnings}
    assert not codes & {"floor_below_bayes", "not_decreasing", "fit_failed"}
    assert not any(c["below_bayes"] for c in ledger_report.analysis.floor_checks())


def test_summary_md_and_terminal_summary(ledger_report):
    """Check summary.md leads with key findings (exponents, floors, plan) and links every figure; the terminal summary is short."""
    md = ledger_report.markdown.read_text(encoding="utf-8")
    order = [md.index(h) for h in ("## Key findings", "### Exponents and regimes", "### Floors against the known floor",
                                   "## Warnings", "## Figures", "## Tables", "## Provenance")]
    assert order == sorted(order)
    for f in ledger_report.figures:
        assert f"](figures/{f.name}.png)" in md
    assert "Bayes NE 0.7500" in md and "Last `study run`: 12.5 s wall" in md
    lines = ledger_report.summary.splitlines()
    assert len(lines) <= 26 and any("0 of" in line and "below the Bayes NE" in line for line in lines)


def test_report_from_csv_has_no_provenance_and_matches_the_ledger(csv_report, small_ledger):
    """Check a report builds from an exported CSV, says provenance is unavailable, and fits what the ledger fits."""
    assert csv_report.analysis.study.kind == "table"
    assert csv_report.analysis.study.bayes_ne == pytest.approx(BAYES_NE)
    assert csv_report.analysis.study.bayes_ne_se is None
    md = csv_report.markdown.read_text(encoding="utf-8")
    assert "**Provenance unavailable**" in md
    c = _parse(csv_report.html)
    assert len(c.imgs) == len(FIGURES)
    from_ledger = analyze(load_study(small_ledger), ReportOptions(bootstrap=0))
    for key, h in csv_report.analysis.headlines.items():
        assert h.fitted.primary.params == pytest.approx(from_ledger.headlines[key].fitted.primary.params, rel=1e-9)


def test_report_never_imports_torch(small_ledger):
    """Check the report modules and an analysis of a ledger import no torch, and recscale.report alone no matplotlib."""
    code = (
        "import sys\n"
        "import recscale.report\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported by recscale.report'\n"
        "import recscale.report.figures, recscale.report.html, recscale.report.document, recscale.cli.report\n"
        "from recscale.report import ReportOptions, analyze, load_study\n"
        "from recscale.report.figures import fig_scaling_efficiency\n"
        f"a = analyze(load_study({str(small_ledger)!r}), ReportOptions(bootstrap=0))\n"
        "fig_scaling_efficiency(a).savefig(__import__('io').BytesIO(), format='png')\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_fmt_and_law_text():
    """Check numbers and equations print compactly and a flat law says so."""
    from recscale.report.analysis import fmt_num

    assert fmt_num(4096, 2) == "4.1e3" and fmt_num(524288, 2) == "5.2e5" and fmt_num(0.75031, 3) == "0.75"
    assert fmt_num(None) == "–" and fmt_num(math.nan) == "–"


def test_scheme_titles_name_the_architecture():
    """Check a multi-architecture scheme key reads as "DCNv2: cross rank", a plain one as before, an unknown one as itself."""
    from recscale.report.analysis import scheme_title

    assert scheme_title("dcnv2/cross_rank") == "DCNv2: cross rank"
    assert scheme_title("wukong/fm_rank") == "Wukong: FM rank"
    assert scheme_title("dlrm/mlp_width") == "DLRM: bottom MLP width"
    assert scheme_title("mlp_width") == "bottom MLP width" and scheme_title("my_knob") == "my_knob"


# ---- the joint-law section (here, to share the planted report built once per test worker) ----------


def test_joint_section_gives_numbers_or_says_why_not(ledger_report):
    """Check every scheme has a joint-law entry: identified with SEs and an allocation, or a stated reason, never both."""
    fits = json.loads(ledger_report.fits_json.read_text())
    joint = {j["scheme"]: j for j in fits["joint"]}
    assert set(joint) == {"mlp_width", "overarch_width", "embedding_dim", "embedding_rows"}
    md = ledger_report.markdown.read_text()
    assert "## Joint law and compute-optimal allocation" in md
    for s, j in joint.items():
        assert j["fit"] is not None and j["fit"]["n_points"] == len(j["points"]["N"])
        if j["identified"]:
            assert j["reason"] is None and all(j["fit"]["se"][k] > 0 for k in ("E", "A", "B", "alpha", "beta"))
        else:
            assert j["reason"] and j["compute_optimal"] is None
    # The planted embedding-rows models all cost the same FLOPs per sample: no allocation, and the report says why.
    rows = joint["embedding_rows"]
    assert rows["flops_ratio"] == 1.0 and rows["compute_optimal"] is None
    assert "differ in FLOPs per sample by only 1.00×" in rows["compute_optimal_reason"] or not rows["identified"]
    # Where an allocation is given, it spends the budget: C = 3 · FLOPs/sample(N*) · D*.
    for j in joint.values():
        o = j["compute_optimal"]
        if o:
            c, f, d = (np.array(o[k]) for k in ("compute", "flops_per_sample", "D"))
            np.testing.assert_allclose(f * d, c, rtol=1e-9)  # C = training FLOPs per sample · D*


def test_joint_figure_is_drawn(ledger_report):
    """Check the joint figure exists as PNG and SVG."""
    fig = [f for f in ledger_report.figures if f.name == "joint"]
    assert fig and fig[0].png.stat().st_size > 10_000 and fig[0].svg.exists()


# ---- the extrapolation check: every law form's backtest (here, to share the planted report) ----------------------


def _with_cut(a):
    """Headline extrapolations where form='auto' could hold points out (the planted frontiers: 11+ distinct x)."""
    return [e for e in a.extrapolations.values() if e.forms_cut is not None]


def test_extrapolation_carries_every_forms_backtest(ledger_report):
    """Check each headline curve with enough points carries all three forms' backtests (finite RMSE, parameters that
    reproduce their predictions), a chosen form among them, and the same cut and power law + constant error as the
    report's own backtest; curves too short to hold out keep each form's error string."""
    from recscale.laws.auto import CANDIDATES
    from recscale.laws.forms import predict

    a = ledger_report.analysis
    with_cut = _with_cut(a)
    assert len(with_cut) == 8  # data and compute frontiers of the four schemes
    for e in with_cut:
        assert set(e.forms) == set(CANDIDATES) and e.chosen in CANDIDATES, (e.key, e.forms.keys(), e.chosen)
        for form, b in e.forms.items():
            assert math.isfinite(b["rmse_log"]) and b["rmse_log"] >= 0, (e.key, form)
            assert np.allclose(predict(form, b["params"], b["x_test"]), b["predicted"], rtol=1e-9), (e.key, form)
        assert e.forms_cut == e.x_cut  # one cut by default (ReportOptions.holdout is auto's)
        assert e.forms["powerlaw_const"]["rmse_log"] == pytest.approx(e.rmse_log, rel=1e-6), e.key
        assert e.forms_rule and "backtest" in e.forms_rule
    for e in a.extrapolations.values():
        if e.forms_cut is None:  # parameter slices: 3 model sizes
            assert e.chosen is None and e.forms_error and all("error" in b for b in e.forms.values()), e.key


def test_extrapolation_prediction_interval_holds_at_least_the_curve_band(ledger_report):
    """Check the held-out count uses the prediction interval: at least as wide as the curve's confidence band at every
    held-out x, so it holds at least as many held-out seed means, on the same backtests."""
    inside = band = 0
    for e in ledger_report.analysis.extrapolations.values():
        if e.fit is None or not e.fit.draws:
            continue
        lo_c, hi_c = e.fit.predict_interval(e.x_test, level=ledger_report.analysis.options.level)
        assert np.all(e.lo <= lo_c) and np.all(e.hi >= hi_c), e.key
        in_band = int(np.sum((e.y_test >= lo_c) & (e.y_test <= hi_c)))
        assert e.inside_interval >= in_band, e.key
        inside += e.inside_interval
        band += in_band
    assert inside > 0 and inside >= band


def test_fits_json_extrapolation_has_each_forms_backtest(ledger_report):
    """Check fits.json's extrapolation entries hold each form's backtest, the chosen form and the rule, as strict JSON."""
    data = json.loads(ledger_report.fits_json.read_text(encoding="utf-8"),
                      parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    entries = [x for x in data["extrapolation"] if x["forms"]["x_cut"] is not None]
    assert len(entries) == 8
    for x in entries:
        assert x["forms"]["chosen"] in x["forms"]["backtests"]
        assert all(b["rmse_log"] is not None and len(b["params"]) >= 3 for b in x["forms"]["backtests"].values())
        assert x["interval"]["kind"] == "prediction" and "inside_interval" in x


def test_extrapolation_figure_draws_each_form_per_panel(ledger_report):
    """Check the figure draws one line per backtested form in every headline panel (none where nothing was held out),
    a zoom inset where there are held-out points, the chosen form in its box, and a single legend."""
    import matplotlib as mpl

    from recscale.report.analysis import AXES, FORM_SHORT
    from recscale.report.figures import _RC, fig_extrapolation

    a = ledger_report.analysis
    with mpl.rc_context(_RC):
        fig = fig_extrapolation(a)
    axes = np.asarray(fig.axes).reshape(len(a.schemes), len(AXES))
    for i, s in enumerate(a.schemes):
        for j, axis in enumerate(AXES):
            ax, e = axes[i, j], a.extrapolations[(s, axis)]
            forms = sorted(l.get_gid()[5:] for l in ax.get_lines() if (l.get_gid() or "").startswith("form:"))
            texts = " ".join(t.get_text() for t in ax.texts)
            if e.forms_cut is None:
                assert forms == [] and "no check" in texts, e.key
                continue
            assert forms == sorted(e.forms), e.key
            assert f"auto → {FORM_SHORT[e.chosen]}" in texts, e.key
            assert len(ax.child_axes) == 1 and len([l for l in ax.child_axes[0].get_lines() if l.get_gid()]) == 3
            assert ax.get_legend() is None
    assert len(fig.legends) == 1


def test_extrapolation_table_has_each_forms_rmse_and_autos_rule(ledger_report):
    """Check the document's extrapolation table has a column per other form and auto's choice, and quotes auto's rule."""
    md = ledger_report.markdown.read_text(encoding="utf-8")
    section = md[md.index("### Extrapolation check\n\n|"):]
    header = section.splitlines()[2]
    for col in ("RMSE plc", "RMSE M4", "RMSE broken", "auto chose", "inside 95% prediction interval"):
        assert f"| {col} |" in header, col
    rule = _with_cut(ledger_report.analysis)[0].forms_rule
    assert rule in section


def test_backtest_misses_and_form_disagreement_are_warnings(ledger_report):
    """Check every headline backtest with held-out means outside its prediction interval is a warning, and only those."""
    a = ledger_report.analysis
    missed = {f"{e.key} (backtest)" for e in a.extrapolations.values()
              if e.inside_interval is not None and e.inside_interval < e.x_test.size}
    warned = {w.where for w in a.warnings if w.code == "backtest_outside_interval"}
    assert missed and warned == missed  # the planted compute frontier of overarch_width switches models: a miss
    disagree = {f"{h.fitted.key} (plan)" for h in a.headlines.values()
                if h.plan is not None and any(n.startswith("extrapolation unreliable") for n in h.plan.notes)}
    assert {w.where for w in a.warnings if w.code == "forms_disagree"} == disagree

"""``write_report``: every file, valid figures with the expected axes, and the numbers in results.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from stability.plots.report import FIGURES, FigureParameters, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"

#: Axes per figure: panels (+ colorbars for the root loci).
EXPECTED_AXES = {
    "measures_grid": 21,
    "figure3_lemma3": 1,
    "gd_portraits": 4,
    "lemma1_basin": 1,
    "root_locus_rho": 4,
    "root_locus_anchor": 4,
    "update_rules": 6,  # three toys' rate bars, two stability maps, one colorbar
}


@dataclass
class FakeRow:
    lemma: str
    system: str
    measure: str
    equilibrium: str
    eigenvalues: list = field(default_factory=list)
    closed_form: list = field(default_factory=list)
    agree: bool = True


class FakeReport:
    """The interface of the lead's LemmaReport: rows, to_dict, format_table, all_agree."""

    rows = [
        FakeRow("Lemma 1", "Dirac GAN", "p_d", "(0, 0)", [complex(-0.5, 0.866)], [complex(-0.5, 0.866)], True),
        FakeRow("Lemma 3", "Lemma 3 system", "mu_gp", "theta = 0", [0.0, -1.0], [0.0, -1.0], False),
    ]
    all_agree = False
    rho, anchor = 1.0, 2.0

    def to_dict(self) -> dict:
        return {"rows": [vars(r) for r in self.rows], "all_agree": self.all_agree}

    def format_table(self) -> str:
        return "lemma | agree\nLemma 1 | yes"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    written = write_report(out, FakeReport(), progress=False)
    return out, written


def test_every_file_is_written(report_dir):
    out, written = report_dir
    names = {"report.md", "report.html", "results.json"}
    names |= {f"{spec.name}.{ext}" for spec in FIGURES for ext in ("png", "pdf")}
    assert set(written) == names
    for name in names:
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    for spec in FIGURES:
        assert (out / f"{spec.name}.png").read_bytes().startswith(PNG_MAGIC)
        assert (out / f"{spec.name}.pdf").read_bytes().startswith(PDF_MAGIC)
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_results_json_has_lemmas_and_figure_numbers(report_dir):
    out, _ = report_dir
    results = json.loads((out / "results.json").read_text())
    assert results["parameters"] == {"rho": 1.0, "anchor": 2.0}
    assert results["lemmas"]["rows"][0]["lemma"] == "Lemma 1"
    assert results["all_agree"] is False
    figures = {f["name"]: f for f in results["figures"]}
    assert {name: f["axes"] for name, f in figures.items()} == EXPECTED_AXES
    # Figure 3: nullclines at ψ = −3/(4ρ) = −2 and ψ = 0 (Appendix B, ρ = 3/8)
    assert figures["figure3_lemma3"]["data"]["nullclines_psi"] == {"psi_dot": [-2.0], "theta_dot": [0.0]}
    # Lemma 1 test mass exp(−ψ² − θ²): R = 1, and the origin attracts a positive share of the box
    basin = figures["lemma1_basin"]["data"]
    assert basin["R"] == pytest.approx(1.0)
    assert 0.1 < basin["basin"]["fractions"]["(psi=0, theta=0)"] < 0.5
    # every penalised Dirac panel has a stable origin; the WGAN one a center
    grid = figures["measures_grid"]["data"]["equilibria"]
    assert grid["dirac/wgan"][0]["classification"] == "center"
    assert all(grid[f"dirac/{m}"][0]["classification"] == "stable focus" for m in ("p_d", "p_g", "mu_gp", "mu_mid"))
    # root loci stay in the closed left half-plane (Lemmas 1, 2: stable for every ρ > 0)
    assert figures["root_locus_rho"]["data"]["dirac"]["max_real_part"] < 0


def test_markdown_and_html(report_dir):
    out, _ = report_dir
    markdown = (out / "report.md").read_text()
    assert "| lemma | system | measure |" in markdown and "**no**" in markdown
    assert "Some lemma checks disagree" in markdown
    for spec in FIGURES:
        assert f"]({spec.name}.png)" in markdown and f"({spec.name}.pdf)" in markdown
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(FIGURES)  # self-contained images
    assert 'src="http' not in page and "<table>" in page and 'class="no"' in page


@pytest.mark.parametrize("lemma_report", [None, object()], ids=["none", "no-methods"])
def test_report_without_lemma_checks_degrades(tmp_path, lemma_report):
    written = write_report(
        tmp_path, lemma_report, progress=False, figures=("root_locus_rho",), parameters=FigureParameters(0.5, 1.0)
    )
    assert set(written) == {"root_locus_rho.png", "root_locus_rho.pdf", "report.md", "report.html", "results.json"}
    assert "No lemma checks were given" in (tmp_path / "report.md").read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["lemmas"] is None and results["figures"][0]["axes"] == 4


def test_report_with_table_only(tmp_path):
    class TableOnly:
        def format_table(self) -> str:
            return "Lemma 2 | psi x^2 | yes"

    write_report(tmp_path, TableOnly(), progress=False, figures=("root_locus_anchor",))
    assert "Lemma 2 | psi x^2 | yes" in (tmp_path / "report.md").read_text()
    assert "<pre>Lemma 2 | psi x^2 | yes</pre>" in (tmp_path / "report.html").read_text()

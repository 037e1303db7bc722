"""The self-contained report of ``ganstab lemmas --out DIR``.

:func:`write_report` draws every figure (PNG for screens, PDF for papers),
and writes ``report.md``, ``report.html`` (PNGs embedded as base64 data URIs,
so the one file can be mailed around) and ``results.json`` (the lemma checks'
``to_dict()`` plus the numbers behind every figure). Figures:

========================  =====================================================
``measures_grid``         every toy × every penalty measure (Table 1 of ``003_…``)
``figure3_lemma3``        Figure 3 of ``003_…`` (Lemma 3, ρ = 3/8)
``root_locus_rho``        spectra against ρ (Lemmas 1 and 2)
``root_locus_anchor``     spectra against the anchor A of μ_g,anc
``lemma1_basin``          basin of the Dirac GAN with a test mass, Lemma 1's R
``gd_portraits``          flow vs simultaneous vs alternating GD
``update_rules``          fastest rate per update rule; stability maps (issue 24)
========================  =====================================================

Figures are drawn in this process by default. ``workers=2`` (or
``GANSTAB_REPORT_WORKERS=2``) draws them in forked worker processes (Linux);
on a busy 2-core machine that measured *slower* than one process, so it is
opt-in.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stability.spec.serialize import jsonable
from stability.util.atomic import atomic_write
from stability.util.tables import markdown_table


@dataclass(frozen=True)
class FigureParameters:
    """ρ and the anchor A the figures are drawn at: those of the lemma results the report renders."""

    rho: float = 1.0
    anchor: float = 2.0

    @classmethod
    def of(cls, lemma_report: Any, default: FigureParameters | None = None) -> FigureParameters:
        """Read ρ and A from a lemma report (``.rho``, ``.anchor``); ``default`` (or the defaults) without them."""
        base = default or cls()
        return cls(float(getattr(lemma_report, "rho", base.rho)), float(getattr(lemma_report, "anchor", base.anchor)))


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report: file stem, title, caption and the function drawing it."""

    name: str
    title: str
    caption: str
    draw: Callable[[FigureParameters, bool], tuple[Any, dict]]


def _measures_grid(params: FigureParameters, progress: bool) -> tuple[Any, dict]:
    from stability.plots.grid import measures_grid

    summary: dict = {}
    fig, _ = measures_grid(rho=params.rho, anchor=params.anchor, progress=progress, summary=summary)
    return fig, {"equilibria": summary}


def _figure3(params: FigureParameters, progress: bool) -> tuple[Any, dict]:
    from stability.plots.paper import FIGURE3_RHO, figure3, figure3_nullcline_positions

    fig, _ = figure3()
    positions = figure3_nullcline_positions()
    return fig, {
        "rho": str(FIGURE3_RHO),
        "nullclines_psi": positions,
        "expected_psi": {"psi_dot": -3 / (4 * float(FIGURE3_RHO)), "theta_dot": 0.0},
    }


def _locus_rho(params: FigureParameters, progress: bool) -> tuple[Any, dict]:
    from stability.plots.gallery import root_locus_rho

    return root_locus_rho(anchor=params.anchor)


def _locus_anchor(params: FigureParameters, progress: bool) -> tuple[Any, dict]:
    from stability.plots.gallery import root_locus_anchor

    return root_locus_anchor(rho=params.rho)


def _basin(params: FigureParameters, progress: bool) -> tuple[Any, dict]:
    from stability.plots.gallery import lemma1_basin

    return lemma1_basin(rho=params.rho, progress=progress)


def _gd(params: FigureParameters, progress: bool) -> tuple[Any, dict]:
    from stability.plots.gallery import gd_portraits

    return gd_portraits(rho=params.rho)


def _update_rules(params: FigureParameters, progress: bool) -> tuple[Any, dict]:
    from stability.analysis.tuning import paper_update_summary
    from stability.plots.stability_map import update_rules_figure

    summary = paper_update_summary(rho=params.rho, anchor=params.anchor, progress=progress)
    data = {k: v for k, v in summary.items() if k != "maps"}
    data["maps"] = {title: smap.to_dict() for title, smap in summary["maps"]}
    return update_rules_figure(summary), data


#: The report's figures, heaviest first (so that two workers finish together).
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "update_rules",
        "Which update rule converges fastest (issue 24, §6 of Kim et al.)",
        "Top: per toy and penalty measure (ρ and A as above), 1 − the fastest local rate per gradient evaluation "
        "each update rule reaches at the stable equilibrium (Dirac GAN (0, 0); ψx² toy (0, −1); Lemma 3 transverse "
        "to its continuum at (−1, 0), μ_g,anc at its non-hyperbolic (0, 0), where no step contracts: ×). The rate is "
        "radius^(1/G) of the rule's linearised map at its best step (and momentum), G its gradient evaluations per "
        "step: sim and alt 2, eg 4, ogd 2. Adam (β₁ = 0.5, β₂ = 0.9, t = ∞) at an assumed frozen second moment: "
        "at g = 0 its map depends on lr and v only through lr/(√(β₂v) + ε), so its best rate over lr is the same for "
        "every v. Bottom: spectral radius of alternating GD with heavy-ball momentum on the ψx² toy at (0, 1) over "
        "step × β, μ_mid with the simple penalty against WGAN-GP (μ_GP, gp form); white: radius 1; star: the "
        "fastest point. WGAN-GP's flow is not differentiable there (∇ₓD = 0 at ψ = 0): its linearisation, with "
        "sign(0) = 0, is the unpenalised center, which only negative momentum with alternating steps makes "
        "contract (Gidel et al. 2019).",
        _update_rules,
    ),
    FigureSpec(
        "measures_grid",
        "Penalty measures across the toy systems",
        "Rows: Dirac GAN (Definition 5), the ψx² toy (Lemma 2), the Lemma 3 system. Columns: no penalty (WGAN), "
        "p_d, p_g, μ_GP, μ_mid, μ_g,anc and the non-zero-centred WGAN-GP form on μ_GP. Filled markers: stable "
        "equilibria; hollow: unstable, saddle, center or non-hyperbolic; lines: continua of equilibria (solid where "
        "they attract, dashed where they repel). The WGAN-GP column is non-smooth (the flow jumps where ∇ₓD = 0; "
        "drawn with sign(0) = 0) and its equilibria come from a numeric search.",
        _measures_grid,
    ),
    FigureSpec(
        "figure3_lemma3",
        "Figure 3 of Kim et al. (Lemma 3, ρ = 3/8)",
        "Phase portrait of (D₂ = ψx², δ₀, δ_θ, μ_GP): ψ̇ = −θ² − (4/3)ρψθ², θ̇ = 2ψθ. Nullclines ψ = 0 and "
        "ψ = −3/(4ρ) = −2; the ψ-axis is a continuum of equilibria. Areas A (ψ < −2), B (−2 < ψ < 0), C (ψ > 0) as "
        "read from the paper's caption: no solution curve converges to (0, 0).",
        _figure3,
    ),
    FigureSpec(
        "gd_portraits",
        "Continuous flow vs discrete gradient descent",
        "Trajectories of the flow (solve_ivp) and of simultaneous and alternating gradient descent (ψ first) at "
        "h = 0.1. Without a penalty the Dirac GAN flow keeps ψ² + θ² constant, simultaneous GD spirals out by a "
        "factor 1 + h² per step, alternating GD stays on an ellipse.",
        _gd,
    ),
    FigureSpec(
        "lemma1_basin",
        "Basin of attraction and Lemma 1's radius",
        "Dirac GAN with p_d and the finite penalty measure of mass M(ψ, θ) = exp(−ψ² − θ²). Each grid start is "
        "integrated by RK4 and coloured by its limit; the dashed circle is Lemma 1's ball of radius "
        "R = max{η : 2M + ψ∂_ψM ≥ 0 on the η-disk} = 1, which must lie inside the basin.",
        _basin,
    ),
    FigureSpec(
        "root_locus_rho",
        "Root locus against ρ",
        "Eigenvalues of the Jacobian at the desired equilibrium as ρ grows: Dirac GAN at (0, 0), "
        "λ = (−ρ ± √(ρ² − 4))/2 for every probability measure (Lemma 1); ψx² toy at (0, 1), "
        "λ = −2ρE_μ[x²] ± √(4ρ²E_μ[x²]² − 4/9) (Lemma 2). The imaginary axis is the stability boundary.",
        _locus_rho,
    ),
    FigureSpec(
        "root_locus_anchor",
        "Root locus against the anchor A of μ_g,anc",
        "ψx² toy at (0, 1) with μ_g,anc (E_μ[x²] = A²/3 + 1/9) and the Lemma 3 system at (0, 0), where one "
        "eigenvalue stays 0 for every A (linearisation inconclusive).",
        _locus_anchor,
    ),
)


def _render(spec: FigureSpec, out_dir: Path, params: FigureParameters, progress: bool) -> dict:
    """Draw one figure and save it as PNG and PDF; return its metadata."""
    from stability.plots.style import save_figure

    start = time.perf_counter()
    fig, info = spec.draw(params, progress)
    png = save_figure(fig, out_dir / f"{spec.name}.png", dpi=120)
    pdf = save_figure(fig, out_dir / f"{spec.name}.pdf")
    return {
        "name": spec.name,
        "title": spec.title,
        "caption": spec.caption,
        "png": png.name,
        "pdf": pdf.name,
        "axes": len(fig.axes),
        "data": info,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _render_by_name(name: str, out_dir: Path, params: FigureParameters) -> dict:
    spec = next(s for s in FIGURES if s.name == name)
    return _render(spec, out_dir, params, False)


def _workers(requested: int | None) -> int:
    if requested is None:
        requested = int(os.environ.get("GANSTAB_REPORT_WORKERS", "1") or 1)
    if requested > 1 and "fork" not in multiprocessing.get_all_start_methods():
        return 1  # spawn would re-import everything: slower than drawing here
    return max(1, requested)


def write_report(
    out_dir: Path,
    lemma_report: Any,
    progress: bool = True,
    workers: int | None = None,
    figures: tuple[str, ...] | None = None,
    parameters: FigureParameters | None = None,
) -> dict[str, Path]:
    """Draw every figure and write ``report.md``, ``report.html`` and ``results.json`` into ``out_dir``.

    Args:
        out_dir: created if missing; existing report files are replaced.
        lemma_report: the lemma checks (``.rows``, ``.to_dict()``,
            ``.format_table()``, ``.all_agree``); ``None`` or a partial object
            gives a report without (some of) them.
        progress: tqdm bar over the figures (on stderr).
        workers: processes drawing figures (default ``$GANSTAB_REPORT_WORKERS`` or 1;
            more than 1 needs the ``fork`` start method).
        figures: names of the figures to draw (default: all of :data:`FIGURES`).
        parameters: ρ and A for a ``lemma_report`` that does not carry them (Figure 3 always uses ρ = 3/8);
            a lemma report's own ``.rho`` and ``.anchor`` win, so figures and table cannot disagree.

    Returns:
        ``{file name: path}`` of everything written.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = FigureParameters.of(lemma_report, parameters)
    rho, anchor = params.rho, params.anchor
    specs = [s for s in FIGURES if figures is None or s.name in figures]
    started = time.perf_counter()
    n_workers = min(_workers(workers), len(specs)) if specs else 1
    results: dict[str, dict] = {}
    if n_workers > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
            futures = {pool.submit(_render_by_name, s.name, out_dir, params): s.name for s in specs}
            bar = tqdm(
                total=len(specs), desc="report figures", unit="fig", disable=None if progress else True
            )  # after the forks
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.set_postfix_str(futures[future])
                bar.update()
    else:
        bar = tqdm(total=len(specs), desc="report figures", unit="fig", disable=None if progress else True)
        for spec in specs:
            bar.set_postfix_str(spec.name)
            results[spec.name] = _render(spec, out_dir, params, progress)
            bar.update()
    bar.close()
    metas = [results[s.name] for s in specs]
    written: dict[str, Path] = {}
    for meta in metas:
        written[meta["png"]] = out_dir / meta["png"]
        written[meta["pdf"]] = out_dir / meta["pdf"]
    lemmas = _lemma_dict(lemma_report)
    table = _lemma_table(lemma_report)
    results_json = {
        "generated_by": "ganstab lemmas",
        "parameters": {"rho": rho, "anchor": anchor},
        "lemmas": lemmas,
        "all_agree": getattr(lemma_report, "all_agree", None) if lemma_report is not None else None,
        "figures": metas,
        "seconds": round(time.perf_counter() - started, 3),
    }
    written["results.json"] = _write_text(out_dir / "results.json", json.dumps(jsonable(results_json), indent=2))
    written["report.md"] = _write_text(out_dir / "report.md", _markdown(table, lemma_report, metas, rho, anchor))
    written["report.html"] = _write_text(
        out_dir / "report.html", _html(table, lemma_report, metas, rho, anchor, out_dir)
    )
    return written


# ---- the lemma table, whatever the lemma report provides ------------------------------


def _lemma_dict(report: Any) -> Any:
    if report is None:
        return None
    to_dict = getattr(report, "to_dict", None)
    if callable(to_dict):
        try:
            return to_dict()
        except Exception as exc:  # noqa: BLE001 - a broken report must not lose the figures
            return {"error": f"lemma_report.to_dict() failed: {exc}"}
    rows = _rows(report)
    return {"rows": rows} if rows else None


def _rows(report: Any) -> list[dict]:
    rows = getattr(report, "rows", None) if report is not None else None
    if not rows:
        return []
    out = []
    for row in rows:
        if isinstance(row, dict):
            out.append(row)
        elif dataclasses.is_dataclass(row):
            out.append(dataclasses.asdict(row))  # keeps complex eigenvalues complex (to_dict splits them)
        elif callable(getattr(row, "to_dict", None)):
            out.append(row.to_dict())
        elif hasattr(row, "__dict__"):
            out.append(dict(vars(row)))
        else:
            return []
    return out


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]
    text: str | None = None  # a preformatted table when there are no rows


def _lemma_table(report: Any) -> _Table | None:
    if report is None:
        return None
    rows = _rows(report)
    if rows:
        header = list(rows[0])
        return _Table(header, [[_cell(row.get(k)) for k in header] for row in rows])
    format_table = getattr(report, "format_table", None)
    if callable(format_table):
        try:
            return _Table([], [], str(format_table()))
        except Exception:  # noqa: BLE001
            return None
    return None


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, complex):
        return _complex(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(v, (int, float)) for v in value) and not isinstance(value[0], bool):
            return str([_cell(v) for v in value]).replace("'", "")
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return str(value)


def _complex(z: complex) -> str:
    if abs(z.imag) < 1e-12:
        return f"{z.real:.6g}"
    return f"{z.real:.6g}{'+' if z.imag >= 0 else '−'}{abs(z.imag):.6g}i"


# ---- writers -----------------------------------------------------------------------


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, text, fsync=False)


def _verdict(report: Any) -> str:
    agree = getattr(report, "all_agree", None) if report is not None else None
    if agree is True:
        return "All lemma checks agree with the paper's closed forms."
    if agree is False:
        return "**Some lemma checks disagree with the paper's closed forms** (rows marked *no*)."
    return ""


def _header(rho: float, anchor: float) -> list[str]:
    return [
        "# ganstab report: local stability of the SGP μ-WGAN toy systems",
        "",
        f"Generated by `ganstab lemmas` with ρ = {rho:g} and anchor A = {anchor:g} (Figure 3 uses the paper's "
        "ρ = 3/8). Source: Kim et al., *Local Stability and Performance of Simple Gradient Penalty μ-WGAN* "
        "(Definition 4 flow; Lemmas 1–3, Appendices A and B). Numbers behind every figure: `results.json`.",
        "",
    ]


def _markdown(table: _Table | None, report: Any, metas: list[dict], rho: float, anchor: float) -> str:
    lines = _header(rho, anchor) + ["## Lemma checks", ""]
    if table is None:
        lines += ["No lemma checks were given to the report.", ""]
    elif table.text is not None:
        lines += ["```", table.text, "```", ""]
    else:
        lines += [markdown_table(table.header, table.rows), ""]
    verdict = _verdict(report)
    if verdict:
        lines += [verdict, ""]
    lines += ["## Figures", ""]
    for meta in metas:
        lines += [
            f"### {meta['title']}",
            "",
            f"![{meta['title']}]({meta['png']})",
            "",
            f"{meta['caption']} ([PDF]({meta['pdf']}))",
            "",
        ]
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.no { background: #fde2e2; font-weight: bold; }
figure { margin: 2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
"""


def _html(table: _Table | None, report: Any, metas: list[dict], rho: float, anchor: float, out_dir: Path) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>ganstab report</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    header = _header(rho, anchor)
    parts.append(f"<h1>{e(header[0].lstrip('# '))}</h1>")
    parts.append(f"<p>{e(header[2]).replace('`', '')}</p>")
    parts.append("<h2>Lemma checks</h2>")
    if table is None:
        parts.append("<p>No lemma checks were given to the report.</p>")
    elif table.text is not None:
        parts.append(f"<pre>{e(table.text)}</pre>")
    else:
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in table.header) + "</tr></thead><tbody>")
        for row in table.rows:
            cells = []
            for c in row:
                klass = ' class="no"' if c == "**no**" else ""
                cells.append(f"<td{klass}>{e(c.replace('**', ''))}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
    verdict = _verdict(report)
    if verdict:
        parts.append(f"<p>{e(verdict.replace('**', ''))}</p>")
    parts.append("<h2>Figures</h2>")
    for meta in metas:
        data = base64.b64encode((out_dir / meta["png"]).read_bytes()).decode("ascii")
        parts.append(
            f'<figure id="{e(meta["name"])}"><h3>{e(meta["title"])}</h3>'
            f'<img alt="{e(meta["title"])}" src="data:image/png;base64,{data}">'
            f'<figcaption>{e(meta["caption"])} <a href="{e(meta["pdf"])}">PDF</a></figcaption></figure>'
        )
    parts.append("</body></html>")
    return "\n".join(parts)

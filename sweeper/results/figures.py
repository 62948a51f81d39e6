"""Figures and HTML of the sweep report: a heatmap of zero-shot deltas over the ``none`` baseline
and the Markdown report rendered as an HTML page (pure: no Ray, no MLflow).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from markdown_it import MarkdownIt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from sweeper.config import NO_INTERMEDIATE
from sweeper.results.report import Report


@dataclass(frozen=True)
class DeltaGrid:
    """Zero-shot deltas over the ``none`` baseline, one row per intermediate task.

    Attributes:
        intermediates: row labels: the intermediate tasks other than ``none``, by name.
        targets: column labels: the targets with a baseline, in the report's order.
        deltas: ``deltas[i][j]``: XTREME task score (0–100) of intermediate ``i`` on target ``j``
            minus the ``none`` baseline's, in points; ``None`` where the cell has no completed,
            zero-shot-scored trial.
        selected: the (intermediate, target) cells that selection chose.
    """

    intermediates: tuple[str, ...]
    targets: tuple[str, ...]
    deltas: tuple[tuple[float | None, ...], ...]
    selected: frozenset[tuple[str, str]]


def delta_grid(report: Report) -> DeltaGrid | None:
    """The report's ``Δ vs none`` column as a grid; ``None`` when no cell has a delta (no
    ``none`` baseline, or no intermediate task besides it)."""
    deltas: dict[tuple[str, str], float] = {}
    selected = set()
    for target, rows in report.rows.items():
        for row in rows:
            intermediate = row.record.intermediate_task
            if intermediate != NO_INTERMEDIATE and row.delta_vs_none is not None:
                deltas[intermediate, target] = row.delta_vs_none
                if row.selected:
                    selected.add((intermediate, target))
    if not deltas:
        return None
    intermediates = tuple(sorted({intermediate for intermediate, _ in deltas}))
    targets = tuple(target for target in report.rows if any(key[1] == target for key in deltas))
    return DeltaGrid(
        intermediates=intermediates,
        targets=targets,
        deltas=tuple(tuple(deltas.get((i, t)) for t in targets) for i in intermediates),
        selected=frozenset(selected),
    )


def plot_delta_heatmap(grid: DeltaGrid, path: Path, title: str) -> None:
    """Write ``grid`` as a PNG heatmap to ``path``.

    Rows are intermediate tasks, columns targets; each cell is annotated with its signed delta
    (one decimal, ``–`` without a value); a diverging colormap (``RdBu``: red below the baseline,
    blue above) is centred on 0 with symmetric limits; selected cells are outlined in black.
    Drawn on matplotlib's Agg canvas (``Figure`` without pyplot: no display, no global backend).
    """
    values = np.array([[math.nan if v is None else v for v in row] for row in grid.deltas], dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    limit = max(float(finite.max()) if finite.size else 0.0, 1.0)
    figure = Figure(figsize=(1.6 + 1.1 * len(grid.targets), 1.2 + 0.55 * len(grid.intermediates)))
    axes = figure.subplots()
    image = axes.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(len(grid.targets)), grid.targets)
    axes.set_yticks(range(len(grid.intermediates)), grid.intermediates)
    axes.set_xlabel("target task")
    axes.set_ylabel("intermediate task")
    axes.set_title(title, fontsize=10)
    for i, intermediate in enumerate(grid.intermediates):
        for j, target in enumerate(grid.targets):
            value = values[i, j]
            text = "–" if math.isnan(value) else f"{value:+.1f}"
            colour = "white" if not math.isnan(value) and abs(value) > 0.6 * limit else "black"
            axes.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
            if (intermediate, target) in grid.selected:
                axes.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
    figure.colorbar(image, ax=axes, label="Δ zero-shot score vs none (points)")
    figure.savefig(path, dpi=120, bbox_inches="tight")


def to_html(markdown: str, title: str, image: str | None = None) -> str:
    """The Markdown report as a standalone HTML page (CommonMark + tables, markdown-it-py; raw HTML escaped).

    Args:
        image: a relative path to the delta heatmap, shown at the end; ``None``: no image.
    """
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)  # raw HTML in names is escaped
    if image is not None:
        body += (
            f'<h2>Δ vs none</h2>\n<figure><img src="{html.escape(image)}" alt="zero-shot delta over the none baseline">'
            "<figcaption>Zero-shot score minus the <code>none</code> baseline's, per intermediate and target task; "
            "selected cells outlined.</figcaption></figure>\n"
        )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:80em}"
        "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
        "th:first-child,td:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{style}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )

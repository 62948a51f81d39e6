"""Delta heatmap data, the PNG and the HTML report, on hand-built trial records with known numbers."""

from _records import record
from matplotlib.image import imread

from sweeper.results.figures import delta_grid, plot_delta_heatmap, to_html
from sweeper.results.report import build_report
from sweeper.results.report_text import to_markdown


def grid_records():
    """panx: none 50, anli 58 (selected, dev 82), mnli 47; tydiqa: none 40 (selected), anli 45; mnli no completed trial."""
    return [
        record("none", "panx", dev=80.0, score=50.0),
        record("anli", "panx", dev=82.0, score=58.0),
        record("mnli", "panx", dev=79.0, score=47.0),
        record("none", "tydiqa", dev=70.0, score=40.0),
        record("anli", "tydiqa", dev=60.0, score=45.0),
        record("mnli", "tydiqa", dev=None, outcome="early_stopped"),
    ]


def test_delta_grid_holds_the_deltas_over_none_per_intermediate_and_target():
    grid = delta_grid(build_report(grid_records(), {"panx": "f1", "tydiqa": "f1"}))
    assert grid.intermediates == ("anli", "mnli"), "the baseline itself is no row"
    assert grid.targets == ("panx", "tydiqa")
    assert grid.deltas == ((8.0, 5.0), (-3.0, None)), "mnli has no completed tydiqa trial"
    assert grid.selected == {("anli", "panx")}, "tydiqa selected none, which has no row"


def test_no_grid_without_a_baseline():
    assert delta_grid(build_report([record("anli", "panx", dev=82.0, score=58.0)], {"panx": "f1"})) is None


def test_heatmap_png_is_written(tmp_path):
    grid = delta_grid(build_report(grid_records(), {"panx": "f1", "tydiqa": "f1"}))
    path = tmp_path / "deltas.png"
    plot_delta_heatmap(grid, path, "t: Δ vs none")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(path).shape
    assert width > height > 100, "two target columns, two intermediate rows, a colour bar"


def test_html_renders_the_markdown_tables_and_the_figure():
    markdown = to_markdown(build_report(grid_records(), {"panx": "f1", "tydiqa": "f1"}), "sweeper report: <s>")
    page = to_html(markdown, "sweeper report: <s>", "report_deltas.png")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>sweeper report: &lt;s&gt;</title>" in page
    assert "<h2>panx: selected intermediate task <code>anli</code></h2>" in page
    assert "<td>anli</td>\n<td>✓</td>\n<td>82.0</td>" in page
    assert page.count("<table>") == 4, "the overview, panx, tydiqa and the XTREME aggregate"
    assert '<img src="report_deltas.png"' in page
    assert "<img" not in to_html(markdown, "t")

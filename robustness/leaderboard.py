"""The leaderboard: every model of every run under a folder on one self-contained HTML page
(``python -m robustness leaderboard reports/``), with the columns of the report's method comparison,
sortable in the browser, and each run's settings beside it. A pure function of the runs' results.json, and of the
benchmark records under the folder (robustness/benchmark_board.py: the suite's benchmark.json, RobustBench's model_info).
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.colors

from robustness import comparison
from robustness.benchmark_board import board_html, find_entries
from robustness.errors import SuiteError, warn
from robustness.figures import family_colour
from robustness.formatting import eps_label, pct
from robustness.results import read_results, write_atomic
from robustness.results_check import READ_ERRORS, unreadable

RUN_COLUMNS = ("run", "preset", "data", "arch", "epochs", "seeds", "attacks", "headline ε", "device")

SORTER = """
document.querySelectorAll("table.sortable th").forEach((th, column) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
  const up = th.dataset.order !== "up"; th.dataset.order = up ? "up" : "down";
  const key = row => row.cells[column].dataset.sort;
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "") return 1; if (y === "") return -1;  // missing values last, either way
    const d = isNaN(x) || isNaN(y) ? x.localeCompare(y) : x - y;
    return up ? d : -d;
  });
  rows.forEach(row => body.appendChild(row));
}));
"""
STYLE = ("body{font-family:system-ui,sans-serif;max-width:90em;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0;font-size:.88em}td,th{border:1px solid #ccc;padding:.25em .5em}"
         "th{background:#f3f3f3;cursor:pointer;user-select:none}th:hover{background:#e6e6e6}"
         ".swatch{display:inline-block;width:.8em;height:.8em;margin-right:.35em;border-radius:2px}")


def find_runs(root: str | Path) -> list[dict]:
    """The results of every run under ``root`` (any depth), oldest run id first; unreadable ones are skipped with
    a warning (a run still in progress has no results.json yet)."""
    root = Path(root)
    if not root.is_dir():
        raise SuiteError(f"{root} is not a folder; pass the folder that holds your runs, e.g. reports")
    runs = []
    for path in sorted(root.rglob("results.json")):
        try:
            runs.append(read_results(path.parent) | {"_dir": str(path.parent.relative_to(root))})
        except SuiteError as err:
            warn(f"leaderboard leaves out {path.parent}: {err}")
    if not runs:
        raise SuiteError(f"no run under {root} has a results.json; run run_all.py first (or point at its --out folder)")
    return runs


def run_settings(results: dict) -> dict[str, str]:
    cfg, data, env = results["config"], results["data"], results["environment"]
    attacks = results.get("attacks")
    return {
        "run": results["_dir"], "preset": cfg["preset"],
        "data": f"{data['name']} ({data['n_train']}/{data['n_test']})", "arch": cfg["train"]["arch"],
        "epochs": str(cfg["train"]["epochs"]), "seeds": ", ".join(map(str, cfg["clean"]["seeds"])),
        "attacks": ", ".join(cfg["attack"]["attacks"]) if attacks else "–",
        "headline ε": eps_label(attacks["heatmap_eps"], attacks["threat_model"]) if attacks else "–", "device": env["device"],
    }


def model_rows(runs: list[dict]) -> list[dict]:
    """One row per model per run: which run, and the comparison's columns."""
    return [{"run": results["_dir"]} | comparison.model_row(results, name)
            for results in runs for name in results["models"]]


def _cell(text: str, sort: str | float | None) -> str:
    key = "" if sort is None else str(sort)
    return f'<td data-sort="{html.escape(key)}">{text}</td>'


def _row_html(row: dict) -> str:
    colour = matplotlib.colors.to_hex(family_colour(row["family"]))
    cells = [_cell(html.escape(row["run"]), row["run"]), _cell(html.escape(row["model"]), row["model"]),
             _cell(f'<span class="swatch" style="background:{colour}"></span>{html.escape(row["display"])}', row["display"])]
    for key, _ in comparison.COLUMNS:
        value = row[key]
        shown = "–" if value is None else pct(value) if key in comparison.PERCENT else f"{value:.3g}"
        cells.append(_cell(shown, value))
    return "<tr>" + "".join(cells) + "</tr>"


def render(runs: list[dict], benchmarks: list[dict] = ()) -> str:
    rows = model_rows(runs)
    header = ["run", "model", "method"] + [title for _, title in comparison.COLUMNS]
    models = ("<table class=\"sortable\"><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
              + "</tr></thead><tbody>" + "".join(_row_html(row) for row in rows) + "</tbody></table>")
    settings = [run_settings(results) for results in runs]
    table = ("<table class=\"sortable\"><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in RUN_COLUMNS)
             + "</tr></thead><tbody>" + "".join("<tr>" + "".join(_cell(html.escape(s[c]), s[c]) for c in RUN_COLUMNS)
                                                + "</tr>" for s in settings) + "</tbody></table>")
    intro = (f"{len(rows)} models from {len(runs)} runs. Click a column to sort. Errors in %, at each run's headline ε; "
             "transfer columns: the mean error of examples crafted on the other families' models (and on the same "
             "family's other seeds) against this model; label-noise columns: the model's family at 50% noise in the "
             "same run. Numbers from runs with other data, models or ε are not comparable: the runs' settings are below.")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Leaderboard</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>Leaderboard</h1>\n<p>{html.escape(intro)}</p>\n{models}\n"
            f"{board_html(list(benchmarks))}\n"
            f"<h2>Runs</h2>\n{table}\n<script>{SORTER}</script>\n</body></html>\n")


def build_leaderboard(root: str | Path, out: str | Path | None = None) -> Path:
    """Write the leaderboard of every run under ``root`` to ``out`` (default ``<root>/leaderboard.html``)."""
    runs = find_runs(root)
    path = Path(out) if out else Path(root) / "leaderboard.html"
    try:
        page = render(runs, find_entries(root))
    except READ_ERRORS as err:  # the results check missed something: still one line, not a traceback
        raise unreadable(f"a results.json under {root}", err) from None
    write_atomic(path, page.encode())
    return path

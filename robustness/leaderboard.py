"""The leaderboard: every model of every run under a folder on one self-contained HTML page
(``python -m robustness leaderboard reports/``), sortable in the browser, and each run's settings beside it.
A pure function of the runs' results.json (and, for a run of an older schema, its units' per-image results), and
of the benchmark records under the folder (robustness/benchmark_board.py: the suite's benchmark.json, RobustBench's model_info).

Models are ranked only against models whose numbers mean the same thing: one table per *board*, the runs
of one preset on one data set with the same test images, threat model and headline ε, so a ``tiny`` run is
never ranked beside a ``quick`` one (each row also names its preset and image count). Within a board each
model is ranked by the worst case and by each white-box attack at the headline ε, each error shown with
its 95% interval; two neighbours in a ranking whose difference the data cannot settle share a rank
("2="): models of one run are compared image by image (the exact McNemar test and the paired bootstrap of
robustness/statistics.py), models of two runs by Newcombe's interval for two independent proportions.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import matplotlib.colors

from robustness import comparison
from robustness import statistics as st
from robustness.benchmark_board import board_html as benchmark_board_html
from robustness.benchmark_board import find_entries
from robustness.errors import SuiteError, warn
from robustness.figures import family_colour
from robustness.formatting import attack_name, eps_label, evidence, pct, threat_model_label, with_ci
from robustness.report.numbers import headline_metric
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
            results = read_results(path.parent)
        except SuiteError as err:
            warn(f"leaderboard leaves out {path.parent}: {err}")
            continue
        try:  # a run of an older schema: its comparisons and per-image results from its units
            results = st.with_statistics(results, path.parent)
        except READ_ERRORS:
            pass  # numbers the comparisons cannot read: the run is shown, its ties judged without per-image results
        runs.append(results | {"_dir": str(path.parent.relative_to(root))})
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


# --- boards, ranks and ties ------------------------------------------------------------------------


def board_key(results: dict) -> tuple:
    """What makes two runs' numbers comparable: preset, data set, test images, threat model, headline ε."""
    attacks = results["attacks"]
    return (results["config"]["preset"], results["data"]["name"], attacks["n"], attacks["threat_model"],
            attacks["heatmap_eps"])


def board_title(key: tuple, runs: int) -> str:
    preset, data, n, threat, eps = key
    return (f"{data}, {n} test images, {threat_model_label(threat)} ε = {eps_label(eps, threat)}, preset {preset} "
            f"({runs} run{'s' * (runs != 1)})")


def metrics(results: dict) -> list[str]:
    """The rankings of a run: the worst case (when it ran) and each white-box attack, in the run's order."""
    attacks = list(dict.fromkeys(c["attack"] for c in results["attacks"]["cells"]))
    return (["worst case"] if results["attacks"].get("worst_case") else []) + attacks


def entry(results: dict, model: str, metric: str) -> dict | None:
    """One model's number for a ranking: ``error``, ``error_ci`` and, where results.json (or the run's units) kept
    them, its per-image ``bits``; None when the run did not measure it."""
    attacks, eps = results["attacks"], results["attacks"]["heatmap_eps"]
    if metric == "worst case":
        rows = [r for r in attacks["worst_case"]["sweep"] if r["target"] == model and r["eps"] == eps and r["kind"] == "all"]
        kind, attack = "worst-case", "all"
    else:
        rows = [c for c in attacks["cells"] if c["attack"] == metric and c["eps"] == eps and c["source"] == c["target"] == model]
        kind, attack = "white-box", metric
    if not rows:
        return None
    try:
        bits = st.model_bits(results, model, kind, attack, eps)
    except (SuiteError, *READ_ERRORS):
        bits = None  # no per-image results: this entry's ties are judged from its interval
    return {"error": rows[0]["error"], "error_ci": rows[0]["error_ci"], "bits": bits, "run": results["_dir"]}


def newcombe(a: dict, b: dict) -> tuple[float, float]:
    """Newcombe's (1998, method 10) 95% interval for error(a) − error(b) of two independent proportions, from
    each one's Wilson interval: the interval two runs' numbers allow when their images cannot be paired."""
    (pa, (la, ua)), (pb, (lb, ub)) = (a["error"], a["error_ci"]), (b["error"], b["error_ci"])
    d = pa - pb
    return d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def settled(a: dict, b: dict, stats: dict) -> bool:
    """Whether the data break the tie between two entries: paired (McNemar and the bootstrap on the same images)
    within one run, Newcombe's interval between runs."""
    if a["run"] == b["run"] and a["bits"] is not None and b["bits"] is not None and len(a["bits"]) == len(b["bits"]):
        return st.compare_bits(a["bits"][None], b["bits"][None], resamples=stats.get("resamples", st.RESAMPLES),
                               seed=stats.get("seed", 0), alpha=stats.get("alpha", 0.05)).verdict != "not settled"
    low, high = newcombe(a, b)
    return not low <= 0 <= high


def ranks(entries: list[dict | None], stats: dict) -> list[str]:
    """Rank labels in the entries' order: 1 for the lowest error; a model whose difference from the one ranked
    just above it the data cannot settle shares its rank, marked '=' ('2=', '2='); '–' where not measured."""
    order = sorted((k for k, e in enumerate(entries) if e is not None), key=lambda k: entries[k]["error"])
    rank: dict[int, int] = {}
    for position, k in enumerate(order):
        above = order[position - 1] if position else None
        tied = above is not None and not settled(entries[above], entries[k], stats)
        rank[k] = rank[above] if tied else position + 1
    shared = {r for r in rank.values() if list(rank.values()).count(r) > 1}
    return [f"{rank[k]}{'=' * (rank[k] in shared)}" if k in rank else "–" for k in range(len(entries))]


def board_rows(runs: list[dict]) -> tuple[list[str], list[list[tuple[str, object]]]]:
    """One board's header and rows (each cell: shown text and sort key), ranked by the first metric."""
    names = list(dict.fromkeys(m for results in runs for m in metrics(results)))
    per_model = [(results, model) for results in runs for model in results["models"]]
    ranked = {}
    for metric in names:
        entries = [entry(results, model, metric) if metric in metrics(results) else None for results, model in per_model]
        ranked[metric] = (entries, ranks(entries, runs[0].get("statistics") or {}))
    header = ["run", "model", "method", "preset", "images"]
    for metric in names:
        title = metric if metric == "worst case" else f"white-box {attack_name(metric)}"
        header += [f"rank: {title}", f"{title} (%), 95% interval"]
    header += ["family against the baseline (worst case; points, 95% interval, p)"]
    header += [title for _, title in comparison.COLUMNS]
    rows = []
    for k, (results, model) in enumerate(per_model):
        record = comparison.model_row(results, model)
        colour = matplotlib.colors.to_hex(family_colour(record["family"]))
        cells = [(html.escape(results["_dir"]), results["_dir"]), (html.escape(model), model),
                 (f'<span class="swatch" style="background:{colour}"></span>{html.escape(record["display"])}',
                  record["display"]),
                 (html.escape(results["config"]["preset"]), results["config"]["preset"]),
                 (str(results["attacks"]["n"]), results["attacks"]["n"])]
        for metric in names:
            entries, labels = ranked[metric]
            e = entries[k]
            cells += [(labels[k], None if e is None else float(labels[k].rstrip("="))),
                      ("–" if e is None else with_ci(e["error"], e["error_ci"]), None if e is None else e["error"])]
        verdict = headline_metric(results, record["family"])
        cells.append(("–" if verdict is None else html.escape(f"{evidence(verdict)}: {verdict['verdict']}"),
                      None if verdict is None else verdict["difference"]))
        for key, _ in comparison.COLUMNS:
            value = record[key]
            cells.append(("–" if value is None else pct(value) if key in comparison.PERCENT else f"{value:.3g}", value))
        rows.append(cells)
    first = names[0] if names else None
    if first:
        rows.sort(key=lambda row: (row[6][1] is None, row[6][1] if row[6][1] is not None else 0))
    return header, rows


def _cell(text: str, sort: str | float | None) -> str:
    key = "" if sort is None else str(sort)
    return f'<td data-sort="{html.escape(key)}">{text}</td>'


def board_html(key: tuple, runs: list[dict]) -> str:
    header, rows = board_rows(runs)
    body = "".join("<tr>" + "".join(_cell(text, sort) for text, sort in row) + "</tr>" for row in rows)
    return (f"<h2>{html.escape(board_title(key, len(runs)))}</h2>\n<table class=\"sortable\"><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header) + f"</tr></thead><tbody>{body}</tbody></table>")


def boards(runs: list[dict]) -> dict[tuple, list[dict]]:
    """The runs that attacked models, grouped by ``board_key``, in the order their first run appears."""
    out: dict[tuple, list[dict]] = {}
    for results in runs:
        if results.get("attacks") and results["models"]:
            out.setdefault(board_key(results), []).append(results)
    return out


def render(runs: list[dict], benchmarks: list[dict] = ()) -> str:
    grouped = boards(runs)
    models = "\n".join(board_html(key, members) for key, members in grouped.items())
    count = sum(len(results["models"]) for members in grouped.values() for results in members)
    settings = [run_settings(results) for results in runs]
    table = ("<table class=\"sortable\"><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in RUN_COLUMNS)
             + "</tr></thead><tbody>" + "".join("<tr>" + "".join(_cell(html.escape(s[c]), s[c]) for c in RUN_COLUMNS)
                                                + "</tr>" for s in settings) + "</tbody></table>")
    intro = (f"{count} models from {len(runs)} runs, ranked only against models of the same preset, data set, test "
             "images, threat model and headline ε (one table each), so a tiny run is never ranked beside a full one. "
             "Each table is ranked by the worst case over every attack and by each white-box attack at the headline ε, "
             "each error with its 95% interval over the test images; '2=' marks models whose difference from the one "
             "ranked just above the data cannot settle (the same run: the exact McNemar test and the paired bootstrap on "
             "the same images; two runs: Newcombe's interval), so their order is not a finding. The family column is "
             "the report's verdict: the model's family against the baseline (ERM) over its seeds and images. Click a "
             "column to sort. Transfer columns: the mean error of examples crafted on the other families' models (and "
             "on the same family's other seeds) against this model; label-noise columns: the model's family at 50% "
             "noise in the same run. The runs' settings are below.")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Leaderboard</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>Leaderboard</h1>\n<p>{html.escape(intro)}</p>\n{models}\n"
            f"{benchmark_board_html(list(benchmarks))}\n"
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

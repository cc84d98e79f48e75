"""The leaderboard's benchmark section: every RobustBench-comparable record under a folder (the suite's
``benchmark.json`` files, and RobustBench ``model_info`` files a user drops in), one table per data set, threat
model and ε, ranked by AutoAttack robust accuracy as RobustBench ranks its leaderboards.

RobustBench's own files go anywhere under the folder in its layout, ``model_info/<dataset>/<Linf|L2>/<name>.json``
(copy the folder, or a few files of it, from github.com/RobustBench/robustbench). A file that cannot be read is left
out with a warning, as the leaderboard does with a run.
"""

from __future__ import annotations

import html
from pathlib import Path

from robustness.benchmark_record import RECORD_NAME, read_entry
from robustness.errors import SuiteError, warn
from robustness.formatting import eps_label

COLUMNS = ("rank", "model", "from", "clean accuracy", "AutoAttack robust accuracy", "AutoAttack", "images",
           "architecture")


def find_entries(root: str | Path) -> list[dict]:
    """Every benchmark record under ``root``: the suite's (``benchmark.json``) and RobustBench's (``model_info``)."""
    root = Path(root)
    paths = [(p, f"run {p.parent.relative_to(root)}") for p in sorted(root.rglob(RECORD_NAME))]
    paths += [(p, "RobustBench model_info") for folder in sorted(root.rglob("model_info"))
              if folder.is_dir() and not folder.is_symlink()  # a link could lead out of root
              for p in sorted(folder.rglob("*.json"))]
    entries = []
    for path, where in paths:
        if path.is_symlink() or not path.is_file():
            continue
        try:
            entries.append(read_entry(path, where))
        except SuiteError as err:
            warn(f"leaderboard leaves out {path}: {err}")
    return entries


def board_html(entries: list[dict]) -> str:
    """The section's HTML: a heading and one sortable table per (data set, threat model, ε); empty without entries."""
    if not entries:
        return ""
    groups: dict[tuple, list[dict]] = {}
    for entry in entries:
        groups.setdefault((entry["dataset"], entry["threat_model"], round(entry["eps"], 6)), []).append(entry)
    intro = ("<p>Each table holds one data set, threat model and ε, ranked by AutoAttack robust accuracy: the share of "
             "the first n test images the model gets right clean and under the attack. Rows from RobustBench's "
             "model_info ran its standard AutoAttack on 10,000 images (ImageNet: 5,000); rows from this suite name the "
             "variant that ran and the images it ran on, so compare a row with a RobustBench row only when they ran "
             "the same.</p>")
    parts = ["<h2>Benchmarks (RobustBench's clean and AutoAttack robust accuracy)</h2>", intro]
    for (dataset, threat, eps), rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda e: -e["robust"])
        title = f"{dataset}, {threat}, ε = {eps_label(eps, threat)}"
        body = "".join(_row(rank, entry) for rank, entry in enumerate(rows, 1))
        parts.append(f"<h3>{html.escape(title)}</h3>\n<table class=\"sortable\"><thead><tr>"
                     + "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS) + f"</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(parts)


def _row(rank: int, entry: dict) -> str:
    name = html.escape(entry["name"])
    if entry["link"]:
        name = f'<a href="{html.escape(entry["link"], quote=True)}">{name}</a>'
    images = entry["n_examples"]
    cells = [(str(rank), rank), (name, entry["name"]), (html.escape(entry["where"]), entry["where"]),
             (f"{entry['clean']:.2f}%", entry["clean"]), (f"{entry['robust']:.2f}%", entry["robust"]),
             (html.escape(entry["variant"]), entry["variant"]),
             ("–" if images is None else f"{images:,}", images), (html.escape(entry["architecture"]), entry["architecture"])]
    return "<tr>" + "".join(f'<td data-sort="{html.escape("" if key is None else str(key))}">{text}</td>'
                            for text, key in cells) + "</tr>"

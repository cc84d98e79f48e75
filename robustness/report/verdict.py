"""The verdict: the report's first screen (the question, each family's answer with its interval, what would
settle an open one, and the figure that shows every comparison) and the table "Is it really more robust?".

Both read results.json's ``statistics`` (robustness/statistics.py; docs/statistics.md): each family against the
baseline (ERM) at the heatmap ε on the same test images, a difference in error with its 95% interval from the
two-level bootstrap, the stratified exact McNemar p, and a verdict.
"""

from __future__ import annotations

from pathlib import Path

from robustness import figures
from robustness.formatting import (attack_name, compared, count_words, interval_words, p_words, signed)
from robustness.report.numbers import (SWEEP, baseline_name, compared_families, eps_at, headline_metric,
                                       worst_case_words)

VERDICT_FIGURE = "verdict.png"


def statistics_of(results: dict) -> dict:
    return results.get("statistics") or {"families": [], "noise": [], "left_out": []}


def row_label(results: dict, row: dict) -> str:
    """'clean', 'FGSM', 'worst case', or for the headline's images 'worst case + AutoAttack, Square (50 images)'."""
    if row["kind"] == "clean":
        return "clean"
    if row["kind"] == "white-box":
        return attack_name(row["attack"] or "")
    if row["kind"] == "transfer":
        return f"transfer {attack_name(row['attack'] or '')}"
    if row["part"] != "headline":
        return "worst case" if row["attack"] == "all" else f"worst case ({row['attack']})"
    head = (((results.get("attacks") or {}).get("worst_case") or {}).get("headline")) or {}
    images = f"{head['n']} images" if "n" in head else "the headline's images"
    if row["attack"] != "all":
        return f"{attack_name(row['attack'] or '')}, {images}"
    extra = ", ".join(attack_name(a) for a in head.get("headline_attacks", []))
    return f"worst case + {extra} ({images})" if extra else f"worst case ({images})"


def metric_words(results: dict, row: dict) -> str:
    """Which number answers the question: 'the worst case over FGSM, PGD and transfer, 540 images'."""
    if row["kind"] == "worst-case" and (results["attacks"] or {}).get("worst_case"):
        return f"the worst case over {worst_case_words(results, SWEEP)}"
    return f"white-box {attack_name(row['attack'] or '')}, {row['n_images']} images"


def seeds_words(row: dict) -> str:
    counts = {len(row["models_a"]), len(row["models_b"])}
    if len(counts) == 1:
        count = counts.pop()
        return f"{count} seed{'s' * (count != 1)} per family"
    return f"{len(row['models_a'])} seeds of {row['family_a']}, {len(row['models_b'])} of {row['family_b']}"


def answer(results: dict, family: str) -> str | None:
    """'mixup: +3.0 points [−3.6, +9.0], p = 0.041: not settled by this run; about 62 seeds per family would …'."""
    row = headline_metric(results, family)
    if row is None:
        return None
    said = f"**{family}** {compared(row)}"
    if row["resampled"] == "images only":
        said += " (one seed per family: the interval covers the test images only, not seed-to-seed variation)"
    return said


def verdict_blocks(results: dict, fig_dir: Path) -> list:
    """The title, one paragraph that answers "Is it really more robust than ERM?" per family, and its figure."""
    title = ("h1", f"Robustness report: {results['run_id']}")
    stats, base = statistics_of(results), baseline_name(results)
    families = [f for f in compared_families(results) if headline_metric(results, f)]
    question = f"**Is it really more robust than {base}?**"
    if not families:
        reason = stats["left_out"][0] if stats["left_out"] else f"the run has no family besides {base}"
        return [title, ("p", f"{question} This run cannot say: {reason}.")]
    first = headline_metric(results, families[0])
    answers = [a for a in (answer(results, f) for f in families) if a]
    eps = eps_at(results, stats["eps"]) if stats.get("eps") is not None else "the headline ε"
    text = (f"{question} The difference in test error against {base}, in points (below 0: a lower error, more "
            f"robust), at ε = {eps} under {metric_words(results, first)}, {seeds_words(first)}, with its 95% "
            f"interval and p: " + "; ".join(answers) + ". A verdict needs the interval to exclude 0 and p < "
            f"{first['alpha']:g}; the figure shows every comparison, the table \"Is it really more robust?\" gives "
            "them in numbers, and docs/statistics.md says how they are made.")
    rows = stats["families"]
    labels = [f"{r['family_a']}: {row_label(results, r)}" for r in rows]
    figure = figures.verdict_forest(rows, labels, base, f"against {base} at ε = {eps}: difference in error, 95% interval",
                                    fig_dir / VERDICT_FIGURE)
    return [title, ("p", text), ("figure", figure, f"Each family against {base}: difference in error with its 95% "
                                                   "interval, coloured by verdict")]


def settle_cell(row: dict) -> str:
    """The table's 'would settle' column: '62 seeds', '3,100 images', both, or '–'."""
    if row["verdict"] != "not settled":
        return "–"
    parts = ([f"{count_words(row['seeds_needed'])} seeds"] if row["seeds_needed"] else []) + \
        ([f"{count_words(row['images_needed'])} images"] if row["images_needed"] else [])
    return " or ".join(parts) or "–"


def design(row: dict) -> str:
    """'2 + 2 × 540': models of each side × test images (seeds only for seed-level numbers)."""
    models = f"{len(row['models_a'])} + {len(row['models_b'])}"
    return models if row["n_images"] is None else f"{models} × {row['n_images']}"


def verdict_cell(row: dict) -> str:
    """The verdict as the table says it: for clean errors, 'lower' or 'higher clean error'."""
    if row["kind"] == "clean" and row["verdict"] != "not settled":
        return "lower clean error" if row["verdict"] == "more robust" else "higher clean error"
    return row["verdict"]


def comparison_table(results: dict, rows: list[dict], first: str, label) -> tuple:
    """A table of comparison rows: ``first`` column header, ``label(row)`` the rest of each row's name."""
    base = baseline_name(results)
    header = [first, "cell", "error (%)", f"{base} (%)", "difference (points)", "95% interval", "p",
              "models × images", "would settle", "verdict"]
    body = [[*label(row), f"{row['error_a']:.1f}", f"{row['error_b']:.1f}", signed(row["difference"]),
             interval_words(row["interval"]), p_words(row["p_value"]), design(row), settle_cell(row), verdict_cell(row)]
            for row in rows]
    return ("table", header, body)


def notes_blocks(rows: list[dict], left_out: list[str]) -> list:
    """The rows' notes, each once, and the comparisons that could not be made."""
    notes = list(dict.fromkeys(note for row in rows for note in row["notes"]))
    return ([("bullets", [f"{note[:1].upper()}{note[1:]}." for note in notes])] if notes else []) + \
        ([("p", "Not compared: " + "; ".join(left_out) + ".")] if left_out else [])


def robustness_table_blocks(results: dict) -> list:
    """"Is it really more robust?": per family against the baseline at the headline ε, clean, each white-box
    attack and the worst case: difference, interval, p, verdict, and the seeds or images that would settle it."""
    stats, base = statistics_of(results), baseline_name(results)
    rows = stats["families"]
    blocks = [("h2", "Is it really more robust?")]
    if not rows:
        return blocks + [("p", "No comparison: " + ("; ".join(stats["left_out"]) or f"no family besides {base}") + ".")]
    eps = eps_at(results, stats["eps"]) if stats.get("eps") is not None else "the headline ε"
    blocks.append(("p", f"Each family against {base} at ε = {eps}, on the same test images: its error, {base}'s, and "
                        f"the difference (points; below 0 a lower error: more robust). The 95% interval is a two-level "
                        f"bootstrap ({count_words(stats['resamples'])} resamples, seed {stats['seed']}): the seeds "
                        "within each family, then the test images, the same images for both, so the pairing is kept. "
                        "p is the stratified exact McNemar test over the seed-matched pairs of models (the images "
                        "only one of the two got wrong). Verdict: more or less robust when the interval excludes 0 "
                        f"and p < {stats['alpha']:g}, else not settled (which is not the same as equal); 'would "
                        f"settle': the seeds per family (at these images) or the images (at these seeds) that would "
                        f"detect a gap of this size with {100 * stats['power']:.0f}% power."))
    blocks.append(comparison_table(results, rows, "family", lambda r: [r["family_a"], row_label(results, r)]))
    return blocks + notes_blocks(rows, stats["left_out"])

"""The report: figures, report.md and a self-contained report.html, from results.json alone.

The document is a list of blocks (heading, paragraph, bullets, table, figure; see render.py) rendered twice, to
Markdown and to HTML, so both always say the same. ``SECTIONS`` is the report's order: ``build_report`` walks
it, and each section is one function of results.json (with the figure folder when it draws) returning its
blocks. A new section is a function in one of the modules below (or a new one) and one entry in ``SECTIONS``.

    numbers.py          the lookups the tables and sentences share (attack_stat, worst_stat, comparison, eps_at, …)
    verdict.py          the first screen (the question, each family's answer, its figure) and "Is it really more robust?"
    readings.py         the plain-language sentences and the "Reading" section
    headline.py         the lines printed at the end of a run
    run_setup.py, methods_compared.py, clean.py, whitebox.py, worst_case.py, transfer.py,
    score_based.py, paper_table.py, between.py, checks.py
                        one group of sections each, in the report's order
    render.py           blocks -> Markdown and HTML
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from noise.report import noise_blocks, noise_only_blocks
from robustness.report.between import between_blocks
from robustness.report.checks import checks_blocks
from robustness.report.clean import clean_blocks
from robustness.report.headline import headline, worst_case_headline
from robustness.report.methods_compared import comparison_blocks
from robustness.report.paper_table import paper_table3_blocks
from robustness.report.readings import (attack_reading, chance_warnings, method_reading, reading_blocks, survival,
                                        worst_case_reading)
from robustness.report.render import to_html, to_markdown
from robustness.report.score_based import score_based_blocks
from robustness.report.run_setup import setup_blocks, what_ran
from robustness.report.transfer import transfer_blocks
from robustness.report.verdict import robustness_table_blocks, verdict_blocks
from robustness.report.whitebox import whitebox_blocks
from robustness.report.worst_case import worst_case_blocks
from robustness.results import read_results, write_atomic
from robustness.results_check import READ_ERRORS, unreadable
from robustness.statistics import with_statistics

__all__ = ["SECTIONS", "Section", "attack_reading", "between_blocks", "build_report", "robustness_table_blocks",
           "verdict_blocks",
           "chance_warnings", "headline", "method_reading", "report_blocks", "setup_blocks", "survival", "what_ran",
           "worst_case_headline", "worst_case_reading"]


@dataclass(frozen=True)
class Section:
    """One part of the report: ``blocks(results)``, or ``blocks(results, fig_dir)`` when it ``draws`` figures."""

    name: str
    blocks: Callable[..., list]
    draws: bool = False

    def build(self, results: dict, fig_dir: Path) -> list:
        return self.blocks(results, fig_dir) if self.draws else self.blocks(results)


# The order of a report of a run that attacked models; a label-noise-only run (python -m noise) is noise_only_blocks.
# The verdict leads (the title, the answer to "is it really more robust than ERM?", its figure), the reading follows.
SECTIONS = [
    Section("verdict", verdict_blocks, draws=True),
    Section("reading", reading_blocks),
    Section("is it really more robust?", robustness_table_blocks),
    Section("setup", setup_blocks),
    Section("methods compared", comparison_blocks),
    Section("clean models", clean_blocks),
    Section("white box", whitebox_blocks, draws=True),
    Section("worst case", worst_case_blocks, draws=True),
    Section("transfer", transfer_blocks, draws=True),
    Section("score-based", score_based_blocks),
    Section("paper's Table 3", paper_table3_blocks),
    Section("between test points", between_blocks, draws=True),
    Section("sanity checks", checks_blocks),
    Section("label noise", noise_blocks, draws=True),
]


def report_blocks(results: dict, fig_dir: Path) -> list:
    """Every block of the report, section by section in ``SECTIONS``' order, drawing its figures into ``fig_dir``."""
    if results.get("attacks") is None:  # a label-noise-only run (python -m noise)
        return noise_only_blocks(results, fig_dir)
    return [block for section in SECTIONS for block in section.build(results, fig_dir)]


def build_report(run_dir: str | Path) -> Path:
    """Write figures/*.png, report.md and report.html into ``run_dir`` from its results.json; returns report.md.
    A results.json of schema 5 (before results.json kept per-image results and the comparisons) gets its
    comparisons computed from the run's units (``statistics.with_statistics``); results.json is not rewritten."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    try:
        results = with_statistics(results, run_dir)
        blocks = report_blocks(results, fig_dir)
        markdown, page = to_markdown(blocks, run_dir), to_html(blocks, blocks[0][1])
    except READ_ERRORS as err:  # the check missed something: still one line, not a traceback
        raise unreadable(str(run_dir / "results.json"), err) from None
    write_atomic(run_dir / "report.md", markdown.encode())
    write_atomic(run_dir / "report.html", page.encode())
    return run_dir / "report.md"

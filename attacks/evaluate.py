"""The attack stage's sections of results.json, assembled in one place from a transfer matrix:
``attacks`` (the matrix, its summary, the per-image worst case, the score-based black box),
``diagnostics``, ``checks`` and ``between_points``.

The suite computes the matrix and the headline-ε attacks in cached units (robustness/suite.py) and
calls ``evaluate_matrix``; ``evaluate_models`` computes both in memory first (tests, notebooks).
Either way the sections are the same function of the same numbers. The per-image bits the
units keep are used here and left out of results.json.
"""

from __future__ import annotations

from statistics import mean, pstdev

from torch import nn

from attacks.base import NORM_NAMES
from attacks.between import between_points
from attacks.checks import run_checks
from attacks.diagnostics import diagnose
from attacks.metrics import without_bits
from attacks.transfer import transfer_matrix
from attacks.worst import headline_attacks, headline_matrix, score_based, worst_case
from robustness.config import AttackConfig


def evaluate_matrix(matrix: dict, models: dict[str, nn.Module], families: dict[str, str], split, config: AttackConfig,
                    device, headline: dict | None = None, keep_bits: bool = False) -> dict:
    """The ``attacks``, ``diagnostics``, ``checks`` and ``between_points`` sections from ``matrix``
    (transfer_matrix's result for exactly ``models``) and ``headline`` (the headline-ε attacks'
    matrix, ``attacks.worst.headline_matrix``; None when none ran). ``keep_bits``: the clean records and
    cells keep their per-image ``wrong_bits`` (results.json from schema 6 on)."""
    chosen = headline_eps(matrix, config)
    kept = (lambda record: record) if keep_bits else without_bits
    plain = {"n": matrix["n"], "clean": {t: kept(r) for t, r in matrix["clean"].items()},
             "cells": [kept(c) for c in matrix["cells"]]}
    attacks = {**plain, "summary": summarize_attacks(plain, families), **chosen, "threat_model": NORM_NAMES[config.norm],
               "worst_case": worst_case(matrix, headline, config, families, chosen["heatmap_eps"]),
               "score_based": score_based(matrix, headline)}
    diagnostics = diagnose(models, split, device)
    return {"attacks": attacks, "diagnostics": diagnostics, "checks": run_checks(attacks, diagnostics, split.num_classes),
            "between_points": between_points(models, families, split, config, device)}


def evaluate_models(models: dict[str, nn.Module], families: dict[str, str], split, config: AttackConfig, device,
                    progress: bool = True) -> dict:
    """Attack every model with every attack and ε, transfer to every model, run the headline-ε attacks,
    and check the result, in memory."""
    matrix = transfer_matrix(models, split.test_x, split.test_y, config, device, progress)
    headline = None
    if headline_attacks(config):
        eps = headline_eps(matrix, config)["heatmap_eps"]
        headline = headline_matrix(models, split.test_x, split.test_y, config, eps, device)
    return evaluate_matrix(matrix, models, families, split, config, device, headline)


def headline_eps(matrix: dict, config: AttackConfig) -> dict:
    """The ε at which the report shows transfer matrices and headline numbers, and how it was picked:
    as configured, else the largest ε at which no white-box error reaches 100% (an ε where every image
    falls says nothing about who is more robust), else the middle ε."""
    if config.heatmap_eps is not None:
        return {"heatmap_eps": config.heatmap_eps, "heatmap_eps_rule": "given"}
    whitebox = [c for c in matrix["cells"] if c["source"] == c["target"]]
    below = [e for e in config.eps if e > 0 and all(c["error"] < 1 for c in whitebox if c["eps"] == e)]
    if below:
        return {"heatmap_eps": max(below), "heatmap_eps_rule": "largest ε at which no white-box error reaches 100%"}
    ordered = sorted(config.eps)
    return {"heatmap_eps": ordered[len(ordered) // 2], "heatmap_eps_rule": "middle ε (every white-box error reaches 100% above ε = 0)"}


def summarize_attacks(attacks: dict, families: dict[str, str]) -> list[dict]:
    """Mean ± std over models of white-box metrics per family, and of transfer metrics per
    (source family → target family) over every ordered pair of distinct models.

    ``mean``/``std`` are the top-1 error; ``top5`` and ``success_rate`` are
    ``{"mean", "std"}`` (None where a model has no top-5, i.e. ≤ 5 classes).
    """
    groups: dict[tuple, list[dict]] = {}
    for c in attacks["cells"]:
        src, tgt = families[c["source"]], families[c["target"]]
        kind = "white-box" if c["source"] == c["target"] else "transfer"
        groups.setdefault((c["attack"], c["eps"], kind, src, tgt), []).append(c)
    return [
        {"attack": a, "eps": e, "kind": k, "source_family": s, "target_family": t,
         "mean": mean(c["error"] for c in cells), "std": pstdev([c["error"] for c in cells]), "count": len(cells),
         "top5": _mean_std([c.get("top5_error") for c in cells]),
         "success_rate": _mean_std([c.get("success_rate") for c in cells])}
        for (a, e, k, s, t), cells in groups.items()
    ]


def _mean_std(values: list) -> dict | None:
    """{"mean", "std", "n"} over models, or None when any model lacks the value."""
    if any(v is None for v in values):
        return None
    return {"mean": mean(values), "std": pstdev(values), "n": len(values)}

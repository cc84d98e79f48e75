"""The per-image worst case over attacks, the flags of a weak evaluation, and the score-based black box.

Every cell keeps which test images it got wrong (``wrong_bits``, attacks/metrics.py). An image
counts against a model under the worst case if *any* attack got it wrong, so per target model
and ε the worst-case error is the share of the union of those sets (Croce & Hein's robust
accuracy is one minus it):

- ``white-box``: every gradient attack crafted on the model itself;
- ``transfer``: every attack crafted on any other model;
- ``all``: both, and score-based attacks on the model itself (Square).

The costly attacks (``attack.worst_case_attacks``: AutoAttack, Square) run at the headline ε only,
after the others, possibly on a stratified subset of the test images
(``attack.worst_case_images``). The ``headline`` part of the section is taken on that image
set, the other attacks' cells restricted to it, so every number there compares the same images.

A *flag* records images a weaker white-box attack broke and a stronger one missed (ranks:
``attacks.base.Attack.strength``): a stronger attack should break a superset, so many such
images mean the stronger one is too weak here, or that something masks its gradients.
"""

from __future__ import annotations

from dataclasses import replace
from statistics import mean, pstdev

import torch
from torch import nn

from attacks.metrics import Tally, unpack_bits
from attacks.registry import make_attack
from attacks.transfer import transfer_matrix
from robustness.config import AttackConfig
from robustness.sampling import stratified_subset

KINDS = ("white-box", "transfer", "all")


def headline_attacks(config: AttackConfig) -> list[str]:
    """The attacks that run at the headline ε only: ``worst_case_attacks`` not already run at every ε."""
    return [a for a in config.worst_case_attacks if a not in config.attacks]


def headline_images(y: torch.Tensor, config: AttackConfig) -> torch.Tensor:
    """Sorted indices of the test images the headline attacks run on: a stratified subset of
    ``worst_case_images``, seeded by ``attack.seed`` (every image when 0 or at least all of them)."""
    return stratified_subset(y.cpu(), config.worst_case_images, config.seed, "worst-case (attack.worst_case_images)")


def headline_matrix(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, config: AttackConfig, eps: float,
                    device, index: torch.Tensor | None = None) -> dict:
    """The headline attacks, white box, at ``eps`` on the images ``index`` (default: ``headline_images``), in
    memory: what the suite's worst-case units compute one attack × model at a time."""
    index = headline_images(y, config) if index is None else index
    cells, clean = [], {}
    for attack in headline_attacks(config):
        for name, model in models.items():
            part = headline_unit(attack, name, model, x, y, config, eps, device, index)
            cells += part["cells"]
            clean |= part["clean"]
    return {"eps": eps, "n": len(index), "index": index.tolist(), "clean": clean, "cells": cells}


def headline_unit(attack: str, name: str, model: nn.Module, x, y, config: AttackConfig, eps: float, device,
                  index: torch.Tensor) -> dict:
    """One headline attack crafted on one model at ``eps``, white box, on the images ``index``."""
    settings = replace(config, attacks=(attack,), eps=(eps,), heatmap_eps=eps)
    return transfer_matrix({name: model}, x[index], y[index], settings, device, progress=False)


# --- the worst case ------------------------------------------------------------------------


def ranks(names) -> dict[str, tuple[int | None, bool]]:
    """attack -> (strength, needs gradients), from the attack objects."""
    out = {}
    for name in names:
        cls = type(make_attack(name, AttackConfig(attacks=(name,))))
        out[name] = (cls.strength, cls.gradients)
    return out


def union_record(flags: list[torch.Tensor], clean_wrong: torch.Tensor) -> dict:
    """Counts, rates and 95% intervals of the images wrong under at least one of ``flags``."""
    wrong = clean_wrong.clone()
    for f in flags:
        wrong |= f
    tally = Tally(len(wrong))
    tally.add(wrong, None, clean_wrong)
    record = tally.cell_record()
    return {"n": tally.n, **{k: record[k] for k in ("wrong", "error", "error_ci", "correct_clean", "flipped",
                                                    "success_rate", "success_rate_ci")}}


def group_rows(cells: list[dict], clean_wrong: torch.Tensor, target: str, eps: float, info: dict) -> list[dict]:
    """The white-box, transfer and all rows of one target at one ε from ``cells`` (each with its ``flags``)."""
    mine = [c for c in cells if c["target"] == target and c["eps"] == eps]
    groups = {
        "white-box": [c for c in mine if c["source"] == target and info[c["attack"]][1]],
        "transfer": [c for c in mine if c["source"] != target],
        "all": mine,
    }
    return [{"target": target, "eps": eps, "kind": kind, "attacks": sorted({c["attack"] for c in groups[kind]}),
             "sources": sorted({c["source"] for c in groups[kind]}),
             **union_record([c["flags"] for c in groups[kind]], clean_wrong)}
            for kind in KINDS]


def weak_strong_flags(cells: list[dict], target: str, eps: float, info: dict, images: str, n: int,
                      only: set[str] | None = None) -> list[dict]:
    """Images a weaker white-box attack broke that a stronger one missed, per ranked pair (count > 0 only).
    ``only``: pairs with at least one of these attacks (the headline's own, so sweep pairs are not repeated)."""
    own = {c["attack"]: c["flags"] for c in cells if c["target"] == target == c["source"] and c["eps"] == eps}
    out = []
    for weak, weak_flags in own.items():
        for strong, strong_flags in own.items():
            (ws, _), (ss, _) = info[weak], info[strong]
            if ws is None or ss is None or ws >= ss or (only is not None and not {weak, strong} & only):
                continue
            count = int((weak_flags & ~strong_flags).sum())
            if count:
                out.append({"target": target, "eps": eps, "images": images, "weaker": weak, "stronger": strong,
                            "count": count, "share": count / n, "n": n})
    return out


def with_flags(cells: list[dict], n: int) -> list[dict]:
    return [{**c, "flags": unpack_bits(c["wrong_bits"], n)} for c in cells]


def worst_case(matrix: dict, headline: dict | None, config: AttackConfig, families: dict[str, str], eps: float) -> dict:
    """results.json's ``attacks.worst_case``: per target × ε over every test image (``sweep``), at the headline
    ε over the headline's images with the headline attacks (``headline``), the weak/strong ``flags``, and
    mean ± std per family (``summary``). ``headline`` is the headline attacks' matrix (``headline_matrix``,
    or the suite's units), None when none ran."""
    n = matrix["n"]
    targets = list(matrix["clean"])
    cells = with_flags(matrix["cells"], n)
    clean = {t: unpack_bits(matrix["clean"][t]["wrong_bits"], n) for t in targets}
    extra = [] if headline is None else with_flags(headline["cells"], headline["n"])
    info = ranks({c["attack"] for c in cells + extra})
    eps_list = list(dict.fromkeys(c["eps"] for c in matrix["cells"]))

    sweep, flags = [], []
    for e in eps_list:
        for target in targets:
            sweep += group_rows(cells, clean[target], target, e, info)
            flags += weak_strong_flags(cells, target, e, info, "all", n)

    index = None if headline is None else torch.as_tensor(headline["index"], dtype=torch.long)
    subset = index is not None and len(index) < n
    images = "subset" if subset else "all"
    here = [c for c in cells if c["eps"] == eps]
    if index is not None:  # the sweep's cells on the headline's images (an ensemble's part counts are of all images)
        here = [{**{k: v for k, v in c.items() if k != "parts"}, "flags": c["flags"][index]} for c in here]
    here += extra
    size = n if index is None else len(index)
    rows = []
    for target in targets:
        clean_here = clean[target] if index is None else clean[target][index]
        for c in here:
            if c["target"] == target == c["source"]:  # an ensemble's row also says which of its parts broke what
                rows.append({"target": target, "eps": eps, "kind": c["attack"], "attacks": [c["attack"]],
                             "sources": [target], **union_record([c["flags"]], clean_here),
                             **({"parts": c["parts"]} if c.get("parts") else {})})
        rows += group_rows(here, clean_here, target, eps, info)
        if extra:
            flags += weak_strong_flags(here, target, eps, info, images, size, only={c["attack"] for c in extra})
    section = {
        "n": n,
        "sweep": sweep,
        "headline": {"eps": eps, "n": size, "images": images, "subset_seed": config.seed if subset else None,
                     "attacks": list(dict.fromkeys(c["attack"] for c in here)),
                     "headline_attacks": list(dict.fromkeys(c["attack"] for c in extra)), "cells": rows},
        "flags": flags,
    }
    section["summary"] = summarize(section, families)
    return section


def summarize(section: dict, families: dict[str, str]) -> list[dict]:
    """Mean ± population std over models of each family, per part (sweep, headline), ε and kind."""
    groups: dict[tuple, list[float]] = {}
    for part, rows in (("sweep", section["sweep"]), ("headline", section["headline"]["cells"])):
        for row in rows:
            groups.setdefault((part, row["eps"], row["kind"], families[row["target"]]), []).append(row["error"])
    return [{"part": part, "eps": e, "kind": kind, "family": family, "mean": mean(errors), "std": pstdev(errors),
             "count": len(errors)}
            for (part, e, kind, family), errors in groups.items()]


def score_based(matrix: dict, headline: dict | None) -> list[dict]:
    """results.json's ``attacks.score_based``: per score-based attack, model and ε, the success rate (share of
    the images the model gets right that the attack flips) and the queries it spent on those it broke."""
    out = []
    parts = [(matrix["cells"], "all", matrix["n"])]
    if headline is not None:
        parts.append((headline["cells"], "subset" if headline["n"] < matrix["n"] else "all", headline["n"]))
    for cells, images, n in parts:
        for c in cells:
            if "queries" in c and c["source"] == c["target"]:
                out.append({"attack": c["attack"], "model": c["target"], "eps": c["eps"], "images": images, "n": n,
                            "correct_clean": c["correct_clean"], "flipped": c["flipped"],
                            "success_rate": c["success_rate"], "success_rate_ci": c["success_rate_ci"],
                            "queries": c["queries"]})
    return out

"""Per-example scores and the counts every cell of results.json is made of.

A cell counts, over the test images: top-1 mistakes, top-5 mistakes (only
where there are more than 5 classes, as the paper's Table 3), and among the
images the target classifies correctly when clean, those the attack flips
(attack success rate). Every rate carries a 95% Wilson interval over test images.
A cell also keeps which images it got wrong (``wrong_bits``: packed bits in test-image
order, base64), so the worst case over attacks can be taken per image, and for a
score-based attack's white-box cell the queries it spent (``queries``), and for an ensemble's
(AutoAttack's) white-box cell how many images each of its parts broke first (``parts``).
"""

from __future__ import annotations

import base64
import math
from statistics import NormalDist, median

import numpy as np
import torch
from torch import nn

from attacks.workers import INLINE, Workers

EVAL_BATCH = 256  # images per forward pass when only scoring: one batch's memory (1024 was also slower per image on a CPU)
TOP_K = 5
Z95 = NormalDist().inv_cdf(0.975)  # two-sided 95%: 1.959964…


def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
          workers: Workers = INLINE) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per example: top-1 wrong, and top-5 wrong (None with 5 classes or fewer). In ``EVAL_BATCH`` slices, or
    in the chunks of ``workers`` (on a CPU: cache-sized, on worker threads; same numbers)."""

    def rows_score(rows: slice) -> tuple[torch.Tensor, torch.Tensor | None]:
        with torch.no_grad():  # grad mode is per thread: a worker's must be switched off there
            logits, labels = model(x[rows]), y[rows]
            top5 = (logits.topk(TOP_K, 1).indices != labels[:, None]).all(1) if logits.shape[1] > TOP_K else None
            return logits.argmax(1) != labels, top5

    if workers.chunk:
        parts = workers.map(rows_score, len(x))
    else:
        parts = [rows_score(slice(i, i + EVAL_BATCH)) for i in range(0, len(x), EVAL_BATCH)]
    top5 = [t5 for _, t5 in parts if t5 is not None]
    return torch.cat([t1 for t1, _ in parts]), (torch.cat(top5) if top5 else None)


def wilson(k: int, n: int) -> list[float] | None:
    """95% Wilson score interval of the rate k / n (None when n = 0), as scipy's binomtest gives it."""
    if n == 0:
        return None
    p, z2 = k / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At k = 0 and k = n the bound is exactly 0 or 1; the formula leaves a rounding residue there.
    return [0.0 if k == 0 else centre - half, 1.0 if k == n else centre + half]


def rate(k: int | None, n: int) -> dict:
    """``{"rate", "ci"}``, or Nones where the count does not exist."""
    if k is None or n == 0:
        return {"rate": None, "ci": None}
    return {"rate": k / n, "ci": wilson(k, n)}


def without_bits(record: dict) -> dict:
    """A cell or clean record as results.json keeps it: the per-image bits stay in the units."""
    return {k: v for k, v in record.items() if k != "wrong_bits"}


def pack_bits(flags: torch.Tensor) -> str:
    """One bit per image (numpy.packbits, big-endian within a byte), base64: 540 images take 92 characters."""
    return base64.b64encode(np.packbits(flags.detach().cpu().numpy().astype(bool)).tobytes()).decode("ascii")


def unpack_bits(text: str, n: int) -> torch.Tensor:
    """The ``n`` booleans ``pack_bits`` packed."""
    return torch.from_numpy(np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool))


def query_summary(spent: list[int], budget: int) -> dict:
    """What a score-based attack spent on the images it broke: ``{"budget", "successes", "median", "mean"}``
    (queries per broken image; None without a success)."""
    return {"budget": budget, "successes": len(spent), "median": float(median(spent)) if spent else None,
            "mean": sum(spent) / len(spent) if spent else None}


class Tally:
    """Running counts of one cell (or of one model's clean predictions) over the batches of ``size`` test images.

    The per-image flags go into one tensor allocated up front, not one small tensor per batch kept to the
    end: the attack stage holds hundreds of cells, and their small blocks, allocated between each batch's
    large activation buffers, kept glibc from reusing the freed memory (at 10,000 test images the resident
    set grew to 1.1 GiB, and the stage ran slower than the naive loop).
    """

    def __init__(self, size: int):
        self.n = self.wrong = self.flipped = self.correct_clean = 0
        self.top5_wrong: int | None = 0
        self.flags = torch.zeros(size, dtype=torch.bool)  # which images are wrong, in test-image order
        self.last = 0  # images in the latest batch
        self.spent: list[int] | None = None  # queries of each image a score-based attack broke (its white-box cell)
        self.budget = 0
        self.parts: dict[str, int] | None = None  # an ensemble's white-box cell: part -> images it broke first

    def add(self, wrong1: torch.Tensor, wrong5: torch.Tensor | None, clean_wrong1: torch.Tensor | None = None) -> None:
        self.flags[self.n : self.n + len(wrong1)] = wrong1.cpu()
        self.last = len(wrong1)
        self.n += len(wrong1)
        self.wrong += int(wrong1.sum())
        self.top5_wrong = None if wrong5 is None or self.top5_wrong is None else self.top5_wrong + int(wrong5.sum())
        if clean_wrong1 is not None:
            self.correct_clean += int((~clean_wrong1).sum())
            self.flipped += int((wrong1 & ~clean_wrong1).sum())

    def clean_record(self) -> dict:
        err, top5 = rate(self.wrong, self.n), rate(self.top5_wrong, self.n)
        return {"error": err["rate"], "wrong": self.wrong, "error_ci": err["ci"],
                "top5_error": top5["rate"], "top5_wrong": self.top5_wrong, "top5_error_ci": top5["ci"],
                "wrong_bits": pack_bits(self.flags[: self.n]) if self.n else ""}

    def latest_flags(self) -> torch.Tensor:
        """Which images of the latest batch are wrong."""
        return self.flags[self.n - self.last : self.n]

    def add_queries(self, queries: torch.Tensor, broken: torch.Tensor, budget: int) -> None:
        """A score-based attack's queries per image of one batch, counted where it ``broken`` the image."""
        self.spent = (self.spent or []) + [int(q) for q in queries[broken.cpu()]]
        self.budget = budget

    def add_parts(self, broken_by: torch.Tensor, names: tuple[str, ...]) -> None:
        """An ensemble's record of one batch: per image the index in ``names`` of the part that broke it first (-1:
        none), as counts per part."""
        self.parts = self.parts or dict.fromkeys(names, 0)
        for index, name in enumerate(names):
            self.parts[name] += int((broken_by == index).sum())

    def state(self) -> dict:
        """Everything this tally has counted, as plain JSON (``Tally.joined`` adds tallies of consecutive images back
        together): what one batch's unit keeps, where a record's query median could not be added up."""
        return {"n": self.n, "wrong": self.wrong, "top5_wrong": self.top5_wrong, "correct_clean": self.correct_clean,
                "flipped": self.flipped, "bits": pack_bits(self.flags[: self.n]) if self.n else "", "spent": self.spent,
                "budget": self.budget, **({"parts": self.parts} if self.parts is not None else {})}

    @classmethod
    def joined(cls, states: list[dict]) -> Tally:
        """One tally of the images of ``states`` (``Tally.state``s of consecutive images, in order): the same counts,
        flags and queries as one tally that had seen every batch."""
        tally = cls(sum(s["n"] for s in states))
        for s in states:
            tally.flags[tally.n : tally.n + s["n"]] = unpack_bits(s["bits"], s["n"])
            tally.n += s["n"]
            tally.wrong += s["wrong"]
            tally.top5_wrong = None if s["top5_wrong"] is None or tally.top5_wrong is None else tally.top5_wrong + s["top5_wrong"]
            tally.correct_clean += s["correct_clean"]
            tally.flipped += s["flipped"]
            if s["spent"] is not None:
                tally.spent = (tally.spent or []) + s["spent"]
                tally.budget = s["budget"]
            if s.get("parts") is not None:  # an ensemble's counts per part (absent from units written before them)
                tally.parts = {name: (tally.parts or {}).get(name, 0) + count for name, count in s["parts"].items()}
        tally.last = states[-1]["n"] if states else 0
        return tally

    def cell_record(self) -> dict:
        success = rate(self.flipped, self.correct_clean)
        record = {**self.clean_record(), "correct_clean": self.correct_clean, "flipped": self.flipped,
                  "success_rate": success["rate"], "success_rate_ci": success["ci"]}
        if self.spent is not None:
            record["queries"] = query_summary(self.spent, self.budget)
        if self.parts is not None:
            record["parts"] = dict(self.parts)
        return record

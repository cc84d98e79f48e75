"""Paired comparisons of two families (or two models): a difference in error with a 95% interval, a test, a
verdict, and how many seeds and images a claim needs. Pure functions of results.json; no torch.

Two sources of chance make a family's error uncertain: which seeds were trained (seed variance), and which
test images were drawn (image variance). Both families are scored on the *same* images, so the difference is
taken image by image (paired), which removes the images' shared difficulty from it.

- The interval is a **hierarchical (two-level) bootstrap** (Davison & Hinkley 1997, §3.8; Field & Welsh 2007):
  each resample draws seeds with replacement within each family, then test images with replacement, the same
  images for both families (pairing kept), and takes the difference of the families' mean errors. The 2.5% and
  97.5% quantiles of ``resamples`` such differences (seeded by ``seed``) are the 95% interval.
- The test is the **exact McNemar test** (McNemar 1947) per pair of models, one of each family matched by seed,
  on the images exactly one of the two got wrong; the pairs are combined by the **stratified exact McNemar test**
  (each pair a stratum, the conditional form of Mantel-Haenszel for matched pairs): under "no difference" every
  discordant image of every pair is a fair coin, so the total count "A wrong, B right" over all D discordant
  images is exactly Binomial(D, 1/2). It is exact, weights each pair by how much it tells, and, unlike
  Fisher's combination of per-pair p-values, is not made conservative by their discreteness. It tests the
  models that were trained (chance over images); the interval is what also covers the seeds.
- The verdict: "more robust" (family A's error lower) or "less robust" when the interval excludes 0 *and*
  p < α; "not settled" otherwise.
- Power (80% at α = 0.05 by default): the difference's standard error in a design of k_A, k_B seeds and n
  images is ``sqrt(s_A²/k_A + s_B²/k_B + τ²/n)`` (s² the between-seed variance of a family's error, τ² the
  per-image variance of the paired difference between the families, from the discordant images, less what
  each model's own per-image noise adds: ``image_variance``); the smallest detectable
  difference is ``(z_{1-α/2} + z_{power})`` times it, and solving for k or n gives the seeds or images that
  would detect the observed difference.

Cells without per-image bits (label-noise runs: last-epoch test error, the share of corrupted labels fitted)
go through the same API on seed-level numbers only: the bootstrap resamples seeds, the test is an exact
permutation test over seeds, and the record says so. With one seed per family the bootstrap covers images
only, and the record says that too.

Example::

    results = with_unit_bits(json.loads(Path("reports/run/results.json").read_text()), "reports/run")
    c = compare(results, "mixup", "erm", "white-box", attack="pgd", eps=0.1)
    c.difference, c.interval, c.p_value, c.verdict   # points, (low, high) points, p, "not settled"
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from robustness.errors import SuiteError
from robustness.formatting import former_attack_names

KINDS = ("clean", "white-box", "transfer", "worst-case", "noise")
WORST_GROUPS = ("white-box", "transfer", "all")
PARTS = ("sweep", "headline")  # the worst case over the ε sweep's attacks, or at the headline ε with its own attacks
NOISE_METRICS = ("last_test_error", "best_test_error", "last_train_error_corrupted", "fitted_share")
VERDICTS = ("more robust", "less robust", "not settled")
RESAMPLES = 2000
MCNEMAR = "stratified exact McNemar (pairs matched by seed; Binomial(D, 1/2) on all D discordant images)"
PERMUTATION_PAIRED = "exact sign-flip permutation test over seed-paired differences"
PERMUTATION = "exact permutation test of the difference in means over seeds"
PERMUTATION_LIMIT = 20_000  # labelings enumerated at most; beyond it a seeded random sample of that many


class StatisticsError(SuiteError):
    """A comparison that cannot be made from these results (the message says which and what to do)."""


@dataclass(frozen=True)
class PairTest:
    """One pair of models on the same images: ``a_only`` images only A got wrong, ``b_only`` only B."""

    model_a: str
    model_b: str
    a_only: int
    b_only: int
    p_value: float


@dataclass(frozen=True)
class Comparison:
    """Family (or model) A against B on one kind of cell. Errors and differences are in points (percent);
    ``difference`` = error(A) − error(B), so a negative difference means A is more robust."""

    family_a: str
    family_b: str
    kind: str
    attack: str | None
    eps: float | None
    level: str  # "images" (per-image bits) or "seeds" (seed-level numbers only)
    resampled: str  # "seeds and images", "images only", "seeds only", or "nothing"
    models_a: tuple[str, ...]
    models_b: tuple[str, ...]
    n_images: int | None
    error_a: float
    error_b: float
    difference: float
    interval: tuple[float, float] | None
    resamples: int
    seed: int
    p_value: float | None
    test: str
    pairs: tuple[PairTest, ...]
    detectable: float | None  # smallest difference (points) this design detects at ``power``, α
    seeds_needed: int | None  # seeds per family that would detect the observed difference (current images)
    images_needed: int | None  # images that would detect it (current seeds)
    alpha: float
    power: float
    verdict: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        """Plain JSON types, for results.json."""
        out = asdict(self)
        out["interval"] = None if self.interval is None else list(self.interval)
        out["models_a"], out["models_b"] = list(self.models_a), list(self.models_b)
        out["pairs"] = [asdict(p) for p in self.pairs]
        out["notes"] = list(self.notes)
        return out


# --- the exact tests -------------------------------------------------------------------------------


def binomial_two_sided(k: int, d: int) -> float:
    """Exact two-sided p of k successes in d fair coins: 2·P(X ≤ min(k, d−k)), at most 1 (1 when d = 0)."""
    if d == 0:
        return 1.0
    low = min(k, d - k)
    tail = sum(math.comb(d, i) for i in range(low + 1))
    return min(1.0, 2 * tail / 2**d)  # Python's int / int is correctly rounded, even for huge 2**d


def mcnemar(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """Exact McNemar test of two models' per-image wrong bits: (A-only count, B-only count, two-sided p)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    a_only, b_only = int((a & ~b).sum()), int((b & ~a).sum())
    return a_only, b_only, binomial_two_sided(a_only, a_only + b_only)


def stratified_mcnemar(pairs: list[tuple[int, int]]) -> float:
    """Combined exact p over independent pairs (strata) of (A-only, B-only) counts: Binomial(ΣD, 1/2)."""
    return binomial_two_sided(sum(a for a, _ in pairs), sum(a + b for a, b in pairs))


def smallest_p(k: int, paired: bool) -> float:
    """The smallest two-sided p the exact permutation test can give with ``k`` seeds per family: 2/2^k for sign
    flips of ``k`` paired differences, 2/C(2k, k) for two families of ``k`` seeds relabelled."""
    return 2 / 2**k if paired else 2 / math.comb(2 * k, k)


def fewest_seeds_for_a_verdict(paired: bool, alpha: float) -> int:
    """The fewest seeds per family at which the exact permutation test can reach p < ``alpha`` at all (paired, at
    α = 0.05: 6, since 2/2^5 = 0.0625): below it no data settle a seed-level comparison, so no power count may say fewer."""
    k = 2
    while smallest_p(k, paired) >= alpha:
        k += 1
    return k


def permutation_p(a: np.ndarray, b: np.ndarray, paired: bool, seed: int = 0) -> float:
    """Exact two-sided permutation p of mean(a) − mean(b): sign flips of paired differences, or relabelings
    of the pooled values. Enumerated exactly up to ``PERMUTATION_LIMIT`` labelings, else sampled (seeded)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if paired:
        d = a - b
        observed = abs(d.mean())
        if 2 ** len(d) <= PERMUTATION_LIMIT:
            signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        else:
            signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(PERMUTATION_LIMIT, len(d)))
        stats = np.abs(signs @ d / len(d))
    else:
        pooled, k = np.concatenate([a, b]), len(a)
        observed = abs(a.mean() - b.mean())
        if math.comb(len(pooled), k) <= PERMUTATION_LIMIT:
            picks = [list(c) for c in itertools.combinations(range(len(pooled)), k)]
            mask = np.zeros((len(picks), len(pooled)), bool)
            for row, c in enumerate(picks):
                mask[row, c] = True
        else:
            rng = np.random.default_rng(seed)
            mask = np.argsort(rng.random((PERMUTATION_LIMIT, len(pooled))), 1) < k
        total = pooled.sum()
        first = mask @ pooled
        stats = np.abs(first / k - (total - first) / len(b))
    # A tolerance so that ties with the observed statistic count as "as extreme" despite rounding.
    return float(np.mean(stats >= observed - 1e-12))


# --- the bootstrap ---------------------------------------------------------------------------------


def draw_counts(rng: np.random.Generator, k: int, resamples: int) -> np.ndarray:
    """(resamples, k): how often each of k items is drawn in each resample of k draws with replacement.
    One bincount over offset indices: a quarter of ``rng.multinomial``'s time at 2,000 × 540."""
    picks = rng.integers(0, k, size=(resamples, k)) + k * np.arange(resamples)[:, None]
    return np.bincount(picks.ravel(), minlength=resamples * k).reshape(resamples, k)


def seed_weights(rng: np.random.Generator, k: int, resamples: int) -> np.ndarray:
    """(resamples, k): how often each seed is drawn in each resample, divided by k (rows sum to 1)."""
    return draw_counts(rng, k, resamples) / k


def bootstrap_bits(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Differences of mean error (fractions) over ``resamples`` two-level resamples of per-image results
    ``a`` (k_A seeds × n images) and ``b`` (k_B × n, the same images): seeds within each family, then images,
    the same images for both. Vectorised: an image resample is a row of counts, so every seed's error under
    every resample is one matrix product. Bits and counts are integers, so the sums are exact and identical
    results on both sides give exactly 0 (one division per side, at the end)."""
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    images = draw_counts(rng, n, resamples).astype(float)  # (R, n), the same for both sides
    wrong_a, wrong_b = images @ a.T.astype(float), images @ b.T.astype(float)  # (R, k): wrong per seed and resample
    total_a = (draw_counts(rng, a.shape[0], resamples) * wrong_a).sum(1)
    total_b = (draw_counts(rng, b.shape[0], resamples) * wrong_b).sum(1)
    return total_a / (a.shape[0] * n) - total_b / (b.shape[0] * n)


def bootstrap_values(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Differences of means over ``resamples`` resamples of seed-level numbers, seeds within each family."""
    rng = np.random.default_rng(seed)
    return seed_weights(rng, len(a), resamples) @ a - seed_weights(rng, len(b), resamples) @ b


def percentile_interval(diffs: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


# --- power -----------------------------------------------------------------------------------------


def power_numbers(difference: float, seed_var: tuple[float | None, float | None], seeds: tuple[int, int],
                  image_var: float, n: int | None, alpha: float, power: float) -> tuple[float, int | None, int | None]:
    """(smallest detectable difference, seeds per family, images) for a two-sided z test at ``alpha`` with
    ``power``: SE² = s_A²/k_A + s_B²/k_B + τ²/n (a missing s² counts as 0, and no seed count is given).
    All in fractions; ``image_var`` τ² is 0 and ``n`` None for seed-level numbers."""
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    var_a, var_b = seed_var
    seed_term = (var_a or 0.0) / seeds[0] + (var_b or 0.0) / seeds[1]
    image_term = image_var / n if n else 0.0
    detectable = z * math.sqrt(seed_term + image_term)
    target = (abs(difference) / z) ** 2  # the SE² at which the observed difference is just detected
    both = None if var_a is None or var_b is None else var_a + var_b  # None: a family's seed variance unmeasured
    seeds_needed = images_needed = None
    if difference != 0 and both is not None and target > image_term:
        seeds_needed = max(2, math.ceil(both / (target - image_term) - 1e-9))
    if difference != 0 and n and target > seed_term:
        images_needed = max(1, math.ceil(image_var / (target - seed_term) - 1e-9))
    return detectable, seeds_needed, images_needed


def sample_var(values: np.ndarray) -> float | None:
    return float(np.var(values, ddof=1)) if len(values) > 1 else None


# --- the comparisons on arrays ---------------------------------------------------------------------


def verdict_of(interval: tuple[float, float] | None, p: float | None, alpha: float) -> str:
    if interval is None or p is None or p >= alpha or interval[0] <= 0 <= interval[1]:
        return "not settled"
    return "more robust" if interval[1] < 0 else "less robust"


def compare_bits(a, b, *, names_a=None, names_b=None, family_a="A", family_b="B", kind="white-box",
                 attack=None, eps=None, resamples: int = RESAMPLES, seed: int = 0, alpha: float = 0.05,
                 power: float = 0.8) -> Comparison:
    """Compare per-image wrong bits ``a`` (k_A models × n images, one row per seed) with ``b`` (k_B × n, the
    same images in the same order). Rows are paired for McNemar in order (row i of A with row i of B)."""
    a, b = np.atleast_2d(np.asarray(a, bool)), np.atleast_2d(np.asarray(b, bool))
    if a.shape[1] != b.shape[1] or a.shape[1] == 0 or resamples < 1:
        raise StatisticsError(f"per-image results of {family_a} ({a.shape[1]} images) and {family_b} ({b.shape[1]}) "
                              "must cover the same non-empty image set, with resamples ≥ 1; compare cells of one run")
    names_a = tuple(names_a or (f"{family_a}[{i}]" for i in range(len(a))))
    names_b = tuple(names_b or (f"{family_b}[{i}]" for i in range(len(b))))
    n = a.shape[1]
    per_a, per_b = a.mean(1), b.mean(1)
    difference = float(per_a.mean() - per_b.mean())
    interval = percentile_interval(bootstrap_bits(a, b, resamples, seed), alpha)
    pairs = tuple(PairTest(names_a[i], names_b[i], *mcnemar(a[i], b[i])) for i in range(min(len(a), len(b))))
    p = stratified_mcnemar([(t.a_only, t.b_only) for t in pairs])
    image_var = image_variance(a, b)
    seed_var = (sample_var(per_a), sample_var(per_b))
    detectable, seeds_needed, images_needed = power_numbers(difference, seed_var, (len(a), len(b)), image_var, n,
                                                            alpha, power)
    notes = []
    one_seed = len(a) == 1 or len(b) == 1
    if one_seed:
        notes.append("one seed per family: the interval covers the images only, not seed-to-seed variation, and "
                     "no seed count can be given" if len(a) == len(b) == 1 else
                     f"one seed in {family_a if len(a) == 1 else family_b}: its seed variance is unmeasured (taken as 0)")
    if len(a) != len(b):
        notes.append(f"{abs(len(a) - len(b))} model(s) without a partner are left out of the McNemar test")
    for family, var, k in ((family_a, seed_var[0], len(a)), (family_b, seed_var[1], len(b))):
        if var == 0:  # e.g. both seeds 173 of 540 wrong: an estimate of 0, not a measured absence of variance
            notes.append(f"{family}'s {k} seeds have exactly the same error: its seed variance estimate is 0, "
                         "which few seeds cannot confirm")
    return Comparison(family_a, family_b, kind, attack, eps, "images",
                      "images only" if len(a) == len(b) == 1 else "seeds and images", names_a, names_b, n,
                      100 * float(per_a.mean()), 100 * float(per_b.mean()), 100 * difference,
                      (100 * interval[0], 100 * interval[1]), resamples, seed, p, MCNEMAR, pairs,
                      100 * detectable, seeds_needed, images_needed, alpha, power,
                      verdict_of(interval, p, alpha), tuple(notes))


def per_image_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image: the share of A's seeds that got it wrong minus B's (the paired difference d_i)."""
    return a.mean(0) - b.mean(0)


def image_variance(a: np.ndarray, b: np.ndarray) -> float:
    """τ²: the per-image variance of the paired difference that more seeds would not average away.

    Var_i(d_i) holds two parts: the families' own per-image difference (τ_fam²) and each model's own
    per-image noise, τ_m² (how much two seeds of one family disagree image by image), averaged over the
    seeds: Var_i(d_i) ≈ τ_fam² + τ_mA²/k_A + τ_mB²/k_B. The model part is already inside the between-seed
    variance s² (a seed's error on these images carries it), so counting it again here would be counting it
    twice; it is taken out when both families have two seeds or more (τ_m² = the mean over images of the
    variance over seeds), and τ_fam² is clipped at 0. With one seed, Var_i(d_i) as it is (conservative)."""
    n = a.shape[1]
    if n < 2:
        return 0.0
    raw = float(np.var(per_image_difference(a, b), ddof=1))
    if len(a) < 2 or len(b) < 2:
        return raw
    model_a, model_b = float(np.var(a, axis=0, ddof=1).mean()), float(np.var(b, axis=0, ddof=1).mean())
    return max(0.0, raw - model_a / len(a) - model_b / len(b))


def compare_values(a, b, *, seeds_a=None, seeds_b=None, family_a="A", family_b="B", kind="noise", attack=None,
                   eps=None, resamples: int = RESAMPLES, seed: int = 0, alpha: float = 0.05,
                   power: float = 0.8) -> Comparison:
    """Compare seed-level numbers (fractions, one per seed: e.g. label-noise runs' last-epoch test error).
    Seeds that both families ran are paired (a sign-flip test); otherwise a two-sample permutation test."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if len(a) == 0 or len(b) == 0 or resamples < 1:
        raise StatisticsError(f"no seed-level numbers for {family_a if len(a) == 0 else family_b}; "
                              "pick a family and spec that ran, with resamples ≥ 1")
    seeds_a = tuple(seeds_a if seeds_a is not None else range(len(a)))
    seeds_b = tuple(seeds_b if seeds_b is not None else range(len(b)))
    difference = float(a.mean() - b.mean())
    notes = ["no per-image results for this cell: seed-level numbers only (images are not resampled)"]
    paired = sorted(seeds_a) == sorted(seeds_b)
    if len(a) == 1 or len(b) == 1:
        interval, p, test = None, None, PERMUTATION
        notes.append("one seed in a family: no interval or test can be computed from seed-level numbers; run more seeds")
    else:
        interval = percentile_interval(bootstrap_values(a, b, resamples, seed), alpha)
        if paired:
            order_a, order_b = np.argsort(seeds_a), np.argsort(seeds_b)
            p, test = permutation_p(a[order_a], b[order_b], True, seed), PERMUTATION_PAIRED
        else:
            p, test = permutation_p(a, b, False, seed), PERMUTATION
    detectable, seeds_needed, _ = power_numbers(difference, (sample_var(a), sample_var(b)), (len(a), len(b)), 0.0,
                                                None, alpha, power)
    fewest = fewest_seeds_for_a_verdict(paired, alpha)
    if seeds_needed is not None:
        seeds_needed = max(seeds_needed, fewest)  # the normal approximation's count, but never below the exact test's floor
    if min(len(a), len(b)) < fewest:
        notes.append(f"with {min(len(a), len(b))} seeds the exact test cannot give p below {smallest_p(min(len(a), len(b)), paired):.2g}, "
                     f"whatever the numbers: a verdict at p < {alpha:g} needs at least {fewest} seeds per family")
    return Comparison(family_a, family_b, kind, attack, eps, "seeds", "nothing" if interval is None else "seeds only",
                      tuple(str(s) for s in seeds_a), tuple(str(s) for s in seeds_b), None,
                      100 * float(a.mean()), 100 * float(b.mean()), 100 * difference,
                      None if interval is None else (100 * interval[0], 100 * interval[1]), resamples, seed, p, test,
                      (), None if interval is None else 100 * detectable, seeds_needed, None, alpha, power,
                      verdict_of(interval, p, alpha), tuple(notes))


# --- results.json --------------------------------------------------------------------------------


def unpack(text: str, n: int) -> np.ndarray:
    """attacks/metrics.py's ``pack_bits`` read back: ``n`` booleans."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def pack(bits: np.ndarray) -> str:
    """``unpack``'s inverse, as attacks/metrics.py's ``pack_bits`` writes it (numpy.packbits, base64)."""
    return base64.b64encode(np.packbits(np.asarray(bits, bool)).tobytes()).decode("ascii")


def with_unit_bits(results: dict, run_dir: str | Path) -> dict:
    """A copy of ``results`` whose attack cells and clean records carry ``wrong_bits``, read from the run
    directory's attack units (results.json keeps the counts only). A unit's bits are taken for a cell when
    attack, ε, source, target and image count match and they count the cell's ``wrong`` images."""
    attacks = results.get("attacks")
    if not attacks:
        return results
    n, named = attacks["n"], former_attack_names(results.get("schema_version", 0))  # units keep former names
    found_cells: dict[tuple, set[str]] = {}
    found_clean: dict[tuple, set[str]] = {}
    units = attack_unit_results(run_dir)
    for result in units:
        if result.get("n") != n or "images" in result:  # another image set (or a headline subset)
            continue
        for c in result.get("cells", []):
            if c.get("wrong_bits"):
                key = (named.get(c["attack"], c["attack"]), c["eps"], c["source"], c["target"], c["wrong"])
                found_cells.setdefault(key, set()).add(c["wrong_bits"])
        for target, c in result.get("clean", {}).items():
            if c.get("wrong_bits"):
                found_clean.setdefault((target, c["wrong"]), set()).add(c["wrong_bits"])

    def pick(found: set[str] | None, what: str) -> str | None:
        if not found:
            return None
        if len(found) > 1:
            raise StatisticsError(f"the units of {run_dir} hold {len(found)} different per-image results for {what}; "
                                  "rerun the run into a fresh --out directory")
        return next(iter(found))

    cells = []
    for c in attacks["cells"]:
        bits = pick(found_cells.get((c["attack"], c["eps"], c["source"], c["target"], c["wrong"])),
                    f"{c['attack']} at ε={c['eps']:g} from {c['source']} on {c['target']}")
        cells.append(c if bits is None else {**c, "wrong_bits": bits})
    clean = {}
    for target, c in attacks["clean"].items():
        bits = pick(found_clean.get((target, c["wrong"])), f"{target} clean")
        clean[target] = c if bits is None else {**c, "wrong_bits": bits}
    out = {**attacks, "cells": cells, "clean": clean}
    out["worst_case"] = headline_bits_from_units(out, units, named)
    return {**results, "attacks": out}


def attack_unit_results(run_dir: str | Path) -> list[dict]:
    """The result of each readable attack unit in ``run_dir/units``, in file-name order (an unreadable unit holds
    no bits we can trust: the cells it would fill stay empty)."""
    out = []
    for path in sorted(Path(run_dir, "units").glob("attack-*.json")):
        try:
            out.append(json.loads(path.read_text())["result"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def headline_bits_from_units(attacks: dict, units: list[dict], named: dict[str, str] | None = None) -> dict | None:
    """``attacks.worst_case`` whose headline part carries ``images_bits`` and the headline-only attacks' rows
    their ``wrong_bits`` (that attack or a clean mistake, on the headline's images), read from the run's
    worst-case ``units`` (their ``images`` mask and white-box cells); as it is where they do not match."""
    worst = attacks.get("worst_case")
    head = (worst or {}).get("headline")
    if not head or not head.get("headline_attacks") or head.get("images_bits"):
        return worst
    n, found, masks = attacks["n"], {}, set()
    for result in units:
        if "images" not in result or result.get("n") != head["n"]:
            continue
        masks.add(result["images"])
        for c in result.get("cells", []):
            attack = (named or {}).get(c["attack"], c["attack"])  # a unit's former name (former_attack_names)
            if c.get("wrong_bits") and c["source"] == c["target"] and attack in head["headline_attacks"] \
                    and float(c["eps"]) == float(head["eps"]):
                found[(attack, c["target"])] = c["wrong_bits"]
    images = next(iter(masks)) if len(masks) == 1 else None
    mask = None if images is None else unpack(images, n)
    if mask is None or int(mask.sum()) != head["n"]:
        return worst  # no unit, or units of different subsets: the headline part stays without bits
    rows = []
    for row in head["cells"]:
        bits, clean = found.get((row["kind"], row["target"])), attacks["clean"].get(row["target"], {})
        if bits is not None and clean.get("wrong_bits"):
            union = unpack(bits, head["n"]) | unpack(clean["wrong_bits"], n)[mask]
            if int(union.sum()) == row["wrong"]:
                row = {**row, "wrong_bits": pack(union)}
        rows.append(row)
    return {**worst, "headline": {**head, "images_bits": images, "cells": rows}}


def models_of(results: dict, name: str) -> list[str]:
    """The models of family ``name`` ordered by seed, or ``[name]`` when it names one model."""
    models = results.get("models") or {}
    if name in models:
        return [name]
    found = sorted((m for m, r in models.items() if r.get("family") == name),
                   key=lambda m: (models[m].get("seed") is None, models[m].get("seed") or 0, m))
    if not found:
        names = sorted({r.get("family") for r in models.values()} | set(models))
        raise StatisticsError(f"no family or model {name!r} in these results; pick one of: {', '.join(names) or 'none'}")
    return found


def bits_of(record: dict, n: int, what: str) -> np.ndarray:
    if not record.get("wrong_bits"):
        raise StatisticsError(f"{what} has no per-image results (wrong_bits); load them from the run directory with "
                              "robustness.statistics.with_unit_bits(results, run_dir)")
    return unpack(record["wrong_bits"], n)


def cell_index(results: dict) -> dict[tuple, dict]:
    return {(c["attack"], float(c["eps"]), c["source"], c["target"]): c for c in results["attacks"]["cells"]}


def find_cell(cells: dict, attack: str, eps: float, source: str, target: str) -> dict:
    key = (attack, float(eps), source, target)
    if key not in cells:
        attacks = sorted({k[0] for k in cells})
        eps_list = sorted({k[1] for k in cells})
        raise StatisticsError(f"no {attack} cell at ε={eps:g} from {source} on {target}; attacks: {', '.join(attacks)}; "
                              f"ε: {', '.join(f'{e:g}' for e in eps_list)}")
    return cells[key]


def model_bits(results: dict, model: str, kind: str, attack: str | None, eps: float | None,
               part: str = "sweep") -> np.ndarray:
    """One model's per-image wrong bits for a cell kind (see ``compare``)."""
    section = results["attacks"]
    n = section["n"]
    clean = bits_of(section["clean"][model], n, f"{model}'s clean record")
    if kind == "clean":
        return clean
    cells = cell_index(results)
    if kind == "worst-case" and part == "headline":
        return headline_bits(results, model, attack or "all", clean, cells)
    if kind == "white-box":
        return bits_of(find_cell(cells, attack, eps, model, model), n, f"{attack} at ε={eps:g} on {model}")
    if kind == "transfer":
        sources = [k[2] for k in cells if k[0] == attack and k[1] == float(eps) and k[3] == model and k[2] != model]
        if not sources:
            raise StatisticsError(f"no transfer cell of {attack} at ε={eps:g} into {model}; transfer needs two models or more")
        out = np.zeros(n, bool)
        for s in sources:  # broken by the attack crafted on any other model
            out |= bits_of(cells[(attack, float(eps), s, model)], n, f"{attack} at ε={eps:g} from {s} on {model}")
        return out
    # worst case: the union the suite's sweep row names (its attacks and sources), plus clean mistakes
    group = attack or "all"
    rows = [r for r in (section.get("worst_case") or {}).get("sweep", [])
            if r["target"] == model and float(r["eps"]) == float(eps) and r["kind"] == group]
    if not rows:
        raise StatisticsError(f"no worst-case row ({group}) at ε={eps:g} for {model}; groups: {', '.join(WORST_GROUPS)}")
    out = clean.copy()
    for (a, e, s, t), c in cells.items():
        if t == model and e == float(eps) and a in rows[0]["attacks"] and s in rows[0]["sources"] and \
                (group != "white-box" or s == model) and (group != "transfer" or s != model):
            out |= bits_of(c, n, f"{a} at ε={eps:g} from {s} on {model}")
    if int(out.sum()) != rows[0]["wrong"]:
        raise StatisticsError(f"the per-image results of {model} do not add up to its worst case at ε={eps:g} "
                              f"({int(out.sum())} vs {rows[0]['wrong']} wrong); rerun the run into a fresh --out directory")
    return out


def headline_images(results: dict) -> np.ndarray:
    """Which test images the headline part of the worst case ran on (``worst_case.headline.images_bits``;
    every image when the run kept no mask)."""
    section = results["attacks"]
    head = section["worst_case"]["headline"]
    n = section["n"]
    if not head.get("images_bits"):
        if head["n"] != n:
            raise StatisticsError("the run kept no record of the worst-case subset's images (images_bits); "
                                  "rerun it into a fresh --out directory to compare on them")
        return np.ones(n, bool)
    return unpack(head["images_bits"], n)


def headline_bits(results: dict, model: str, kind: str, clean: np.ndarray, cells: dict) -> np.ndarray:
    """One model's wrong bits on the headline's images (``attacks.worst_case.headline``): ``kind`` an attack
    (its white-box row: that attack or a clean mistake) or ``all`` (every attack and source there, as
    ``attacks.worst_case``'s row of that kind). Attacks of the sweep come from their cells, restricted to the
    images; the headline-only attacks (AutoAttack, Square) from their rows' own bits."""
    head = results["attacks"]["worst_case"]["headline"]
    eps = float(head["eps"])
    mask = headline_images(results)
    rows = {r["kind"]: r for r in head["cells"] if r["target"] == model}
    if kind not in rows:
        raise StatisticsError(f"no worst-case row {kind!r} at the headline ε for {model}; rows: {', '.join(rows)}")

    def own_row(name: str) -> np.ndarray:
        return bits_of(rows[name], head["n"], f"{name}'s worst-case row on {model}")

    out = clean[mask].copy()
    if kind == "all":
        for (a, e, s, t), c in cells.items():
            if t == model and e == eps:
                out |= bits_of(c, len(mask), f"{a} at ε={eps:g} from {s} on {model}")[mask]
        for name in head.get("headline_attacks", []):
            if name in rows:
                out |= own_row(name)
    elif kind in head.get("headline_attacks", []):
        out |= own_row(kind)
    else:
        out |= bits_of(find_cell(cells, kind, eps, model, model), len(mask), f"{kind} at ε={eps:g} on {model}")[mask]
    if int(out.sum()) != rows[kind]["wrong"]:
        raise StatisticsError(f"the per-image results of {model} do not add up to its headline worst-case row {kind!r} "
                              f"({int(out.sum())} vs {rows[kind]['wrong']} wrong); rerun the run into a fresh --out directory")
    return out


def noise_values(results: dict, family: str, spec: str, metric: str) -> tuple[list[float], list[int]]:
    """Per seed of ``family`` (or one method) under ``spec``: ``metric`` (``fitted_share`` = 1 − the corrupted
    labels' training error against their noisy labels: the share of corrupted labels the model fitted)."""
    runs = [r for r in (results.get("noise") or {}).get("runs", [])
            if r["spec"] == spec and (r["family"] == family or r["method"] == family)]
    if not runs:
        specs = sorted({r["spec"] for r in (results.get("noise") or {}).get("runs", [])})
        raise StatisticsError(f"no label-noise runs of {family!r} under {spec!r}; "
                              f"specs: {', '.join(specs) or 'none (run with noise)'}")
    methods = sorted({r["method"] for r in runs})
    if len(methods) > 1:
        raise StatisticsError(f"{family!r} ran {len(methods)} methods under {spec!r} ({', '.join(methods)}); name one method")
    key = "last_train_error_corrupted" if metric == "fitted_share" else metric
    values = [r[key] for r in runs]
    if any(v is None for v in values):
        raise StatisticsError(f"{metric} is undefined under {spec!r} (nothing was corrupted); pick another metric")
    return [1 - v for v in values] if metric == "fitted_share" else values, [r["seed"] for r in runs]


def compare(results: dict, family_a: str, family_b: str, kind: str, attack: str | None = None,
            eps: float | None = None, *, spec: str | None = None, metric: str = "last_test_error",
            part: str = "sweep", resamples: int = RESAMPLES, seed: int = 0, alpha: float = 0.05,
            power: float = 0.8) -> Comparison:
    """Family (or model) ``family_a`` against ``family_b`` in a loaded results.json (with per-image bits: a
    schema-6 file keeps them; for an older one see ``with_unit_bits``). ``kind``: ``clean``; ``white-box``
    and ``transfer`` (``attack`` and ``eps``; transfer: broken by the attack crafted on any other model);
    ``worst-case`` (``eps``, ``attack`` = the group: ``all`` by default, ``white-box`` or ``transfer``, as in
    ``attacks.worst_case.sweep``; with ``part="headline"``: at the headline ε on the headline's images, as
    in ``attacks.worst_case.headline``, ``attack`` = ``all`` or one attack's row, e.g. ``fgsm``); ``noise``
    (``spec``, ``metric`` in ``NOISE_METRICS``, kept in the record's ``attack``; seed-level numbers only)."""
    if kind not in KINDS:
        raise StatisticsError(f"unknown comparison kind {kind!r}; kinds: {', '.join(KINDS)}")
    if family_a == family_b:
        raise StatisticsError(f"compare {family_a!r} with another family or model, not with itself")
    options = dict(family_a=family_a, family_b=family_b, kind=kind, resamples=resamples, seed=seed, alpha=alpha,
                   power=power)
    if kind == "noise":
        if spec is None or metric not in NOISE_METRICS:
            raise StatisticsError(f"a noise comparison needs spec= (e.g. 'uniform:0.5') and metric= one of "
                                  f"{', '.join(NOISE_METRICS)}")
        (a, sa), (b, sb) = noise_values(results, family_a, spec, metric), noise_values(results, family_b, spec, metric)
        return compare_values(a, b, seeds_a=sa, seeds_b=sb, attack=metric, eps=None, **options)
    if not results.get("attacks"):
        raise StatisticsError("these results have no attack stage; compare kind='noise' or run the attacks")
    if kind in ("white-box", "transfer") and (attack is None or eps is None):
        raise StatisticsError(f"a {kind} comparison needs attack= and eps=, e.g. attack='pgd', eps=0.1")
    if part not in PARTS or (part == "headline" and kind != "worst-case"):
        raise StatisticsError(f"part {part!r} is for worst-case comparisons only, one of {', '.join(PARTS)}")
    if kind == "worst-case" and part == "headline":
        if not (results["attacks"].get("worst_case") or {}).get("headline"):
            raise StatisticsError("this run has no headline worst case; compare part='sweep'")
        eps = results["attacks"]["worst_case"]["headline"]["eps"]
    elif kind == "worst-case":
        if attack not in (None, *WORST_GROUPS):
            raise StatisticsError(f"worst-case group {attack!r} unknown; groups: {', '.join(WORST_GROUPS)}")
        eps = results["attacks"].get("heatmap_eps") if eps is None else eps
    ma, mb = models_of(results, family_a), models_of(results, family_b)
    a = np.stack([model_bits(results, m, kind, attack, eps, part) for m in ma])
    b = np.stack([model_bits(results, m, kind, attack, eps, part) for m in mb])
    group = (attack or "all") if kind == "worst-case" else attack
    return compare_bits(a, b, names_a=ma, names_b=mb, attack=group, eps=eps, **options)


def robustness_table(results: dict, baseline: str = "erm", eps: float | None = None, *,
                     resamples: int = RESAMPLES, seed: int = 0, alpha: float = 0.05) -> list[dict]:
    """The rows of "Is it really more robust?": per family against ``baseline``, clean, FGSM and PGD white box
    and the worst case (all attacks) at the headline ε (``eps``, default ``attacks.heatmap_eps``), each a
    ``Comparison.to_dict()`` with ``row``, the row's label. Attacks the run did not run are left out."""
    section = results.get("attacks") or {}
    eps = section.get("heatmap_eps") if eps is None else eps
    families = list(dict.fromkeys(r.get("family") for r in (results.get("models") or {}).values()))
    if baseline not in families:
        raise StatisticsError(f"no {baseline!r} models to compare against; families: {', '.join(map(str, families))}")
    ran = {c["attack"] for c in section.get("cells", [])}
    asks = [("clean", "clean", None)] + [(a.upper(), "white-box", a) for a in ("fgsm", "pgd") if a in ran]
    if section.get("worst_case"):
        asks.append(("worst case", "worst-case", "all"))
    rows = []
    for family in families:
        if family == baseline:
            continue
        for label, kind, attack in asks:
            c = compare(results, family, baseline, kind, attack, None if kind == "clean" else eps,
                        resamples=resamples, seed=seed, alpha=alpha)
            rows.append({"row": label, **c.to_dict()})
    return rows


# --- results.json's ``statistics`` section ---------------------------------------------------------

MAX_NEEDED = 10**9  # seeds or images "needed" beyond this are reported as None: that axis alone will not get there


def capped(row: dict) -> dict:
    for key in ("seeds_needed", "images_needed"):
        if row[key] is not None and row[key] > MAX_NEEDED:
            row[key] = None
    return row


def family_asks(results: dict) -> list[tuple[str, str | None, str]]:
    """(kind, attack, part) of every comparison of a family with the baseline at the headline ε: clean, each
    white-box attack in the run's order, the worst case over the sweep, and, where the headline ran attacks of
    its own (AutoAttack, Square), FGSM and the worst case on the headline's images."""
    section = results["attacks"]
    ran = list(dict.fromkeys(c["attack"] for c in section["cells"]))
    asks = [("clean", None, "sweep")] + [("white-box", a, "sweep") for a in ran]
    worst = section.get("worst_case")
    if worst:
        asks.append(("worst-case", "all", "sweep"))
        head = worst.get("headline")
        if head and head.get("headline_attacks"):
            asks += [("worst-case", "fgsm", "headline")] * ("fgsm" in ran) + [("worst-case", "all", "headline")]
    return asks


def ask_words(kind: str, attack: str | None, part: str) -> str:
    if kind == "clean":
        return "clean"
    if kind == "worst-case":
        return f"{'headline ' if part == 'headline' else ''}worst case ({attack})"
    return f"{kind} {attack}"


def family_comparisons(results: dict, baseline: str, options: dict) -> tuple[list[dict], list[str]]:
    """Every family of ``results["models"]`` against ``baseline`` (``family_asks``), and what was left out."""
    section = results["attacks"]
    families = list(dict.fromkeys(r.get("family") for r in (results.get("models") or {}).values()))
    if baseline not in families:
        return [], [f"no {baseline!r} models in this run: nothing to compare the families with (statistics.baseline)"]
    if not all(c.get("wrong_bits") for c in section["clean"].values()):
        return [], ["no per-image results (wrong_bits) in results.json or the run's units: the attack comparisons "
                    "need them; rerun the run (finished units are reused) to keep them"]
    rows, left = [], []
    eps = section["heatmap_eps"]
    for family in families:
        if family == baseline:
            continue
        for kind, attack, part in family_asks(results):
            try:
                c = compare(results, family, baseline, kind, attack, None if kind == "clean" else eps, part=part,
                            **options)
            except StatisticsError as err:
                left.append(f"{family} against {baseline}, {ask_words(kind, attack, part)}: {err}")
                continue
            rows.append(capped({"part": part if kind == "worst-case" else None, **c.to_dict()}))
    return rows, left


def noise_comparisons(results: dict, baseline: str, options: dict) -> tuple[list[dict], list[str]]:
    """Per noise spec, every method of the label-noise grid against the baseline's method (``baseline``, or
    the one method of that family): last-epoch test error and the share of corrupted labels fitted."""
    noise = results.get("noise")
    if not noise:
        return [], []
    runs = noise["runs"]
    base = {r["method"] for r in runs if r["method"] == baseline} or {r["method"] for r in runs if r["family"] == baseline}
    if len(base) != 1:
        return [], [f"label noise: {'no' if not base else 'more than one'} {baseline!r} method in the grid to compare "
                    "the methods with (statistics.baseline)"]
    base_method = base.pop()
    rows, left = [], []
    for spec in noise["specs"]:
        here = [r for r in runs if r["spec"] == spec]
        methods = list(dict.fromkeys(r["method"] for r in here))
        corrupted = all(r["last_train_error_corrupted"] is not None for r in here)
        for method in methods:
            if method == base_method:
                continue
            for metric in ("last_test_error", "fitted_share") if corrupted else ("last_test_error",):
                try:
                    c = compare(results, method, base_method, "noise", spec=spec, metric=metric, **options)
                except StatisticsError as err:
                    left.append(f"label noise {spec}, {method} against {base_method}, {metric}: {err}")
                    continue
                rows.append(capped({"spec": spec, "metric": metric, **c.to_dict()}))
    return rows, left


def statistics_section(results: dict, baseline: str = "erm", resamples: int = RESAMPLES, seed: int = 0,
                       alpha: float = 0.05, power: float = 0.8) -> dict:
    """results.json's ``statistics``: every family against ``baseline`` at the headline ε (``families``; clean,
    each white-box attack, the worst case), every label-noise method against the baseline's method
    (``noise``), each row a ``Comparison.to_dict()``, and a line for each comparison that could not be made
    (``left_out``). Computed once, by the pipeline at the end of a run (and by ``with_statistics`` for a run
    of an older schema); the report, the leaderboard and ``robustness.evaluate`` read it."""
    options = dict(resamples=resamples, seed=seed, alpha=alpha, power=power)
    families, left = family_comparisons(results, baseline, options) if results.get("attacks") else ([], [])
    noise, left_noise = noise_comparisons(results, baseline, options)
    return {"baseline": baseline, "eps": (results.get("attacks") or {}).get("heatmap_eps"), **options,
            "families": families, "noise": noise, "left_out": left + left_noise}


def with_statistics(results: dict, run_dir: str | Path) -> dict:
    """``results`` with its ``statistics``: as stored (schema 6 on), or, for a run of an older schema, computed
    now from the per-image bits of the run's units (``with_unit_bits``) with its configuration's
    ``[statistics]`` settings (defaults where it had none). Nothing is rerun and nothing is written."""
    if results.get("statistics") is not None:
        return results
    settings = dict((results.get("config") or {}).get("statistics") or {})
    try:
        loaded, note = with_unit_bits(results, run_dir), []
    except StatisticsError as err:
        loaded, note = results, [f"the run's units could not be read for per-image results: {err}"]
    section = statistics_section(loaded, **settings)
    section["left_out"] = note + section["left_out"]
    return {**loaded, "statistics": section}

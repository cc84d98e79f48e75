"""The suite's AutoAttack against Croce & Hein's reference code (the ``pyautoattack`` package of the ``test`` extra,
whose attack files are fra31/auto-attack's): the same images, ε and seed, on an undefended and an adversarially
trained digits model. Skipped when pyautoattack is not installed.

Both sides run the standard version's four parts in the same order at a reduced budget (5 iterations instead of
100, Square with 100 queries instead of 5,000), so that the file runs in seconds; at the full budget the two were
measured equal image for image (docs/attacks.md, bench/bench_autoattack.py)."""

import logging

import pytest
import torch

from attacks import make_attack
from robustness.config import AttackConfig
from robustness.seeding import seeded
from robustness.train import predict

pyautoattack = pytest.importorskip("pyautoattack")

CPU = torch.device("cpu")
IMAGES = 200  # the first test images, one batch on both sides (the reference batches 250 at a time)
EPS = 0.1  # L∞, pixels in [0, 1]: the digits presets' headline ε
SEED = 5
STEPS, QUERIES, EOT = 5, 100, 2  # each side's reduced budget (the reference's: 100, 5,000, 20)
TOLERANCE = 0.01  # robust accuracies may differ by 1 point: APGD's random start is rounded differently (docs/attacks.md)


def reference(model, x, y, version: str, steps: int, queries: int | None = None, eot: int | None = None) -> torch.Tensor:
    """The reference AutoAttack's adversarial images, with its parts' budgets set to ``steps`` (and Square's queries,
    APGD's EOT passes) as its own constructor derives them from ``n_iter``."""
    aa = pyautoattack.AutoAttack(model, eps=EPS, seed=SEED, version=version, device="cpu")
    for apgd in (aa.apgd, aa.apgd_targeted):
        apgd.n_iter = steps
        apgd.n_iter_2, apgd.n_iter_min, apgd.size_decr = (max(int(share * steps), 1) for share in (0.22, 0.06, 0.03))
    aa.fab.n_iter = steps
    if queries:
        aa.square.n_queries = queries
    if eot:
        aa.apgd.eot_iter = eot
    logging.getLogger("auto-attack").setLevel(logging.ERROR)  # its checks' notes: the suite's own checks are tested elsewhere
    return aa.run_standard_evaluation(x, y, batch_size=len(x))[0]


def ours(model, x, y, name: str, settings: dict) -> torch.Tensor:
    with seeded(SEED, CPU):  # what the attack stage does around every crafting call
        return make_attack(name, AttackConfig(settings={name: settings})).build(model, EPS, SEED)(x, y)


def agreement(model, x, y, mine: torch.Tensor, theirs: torch.Tensor) -> tuple[float, str]:
    """The gap in robust accuracy, and a message naming the images broken by one side and not the other."""
    wrong_mine, wrong_theirs = predict(model, mine) != y, predict(model, theirs) != y
    gap = abs(wrong_mine.float().mean() - wrong_theirs.float().mean()).item()
    only_mine = (wrong_mine & ~wrong_theirs).nonzero().flatten().tolist()
    only_theirs = (wrong_theirs & ~wrong_mine).nonzero().flatten().tolist()
    return gap, (f"robust accuracy: suite {1 - wrong_mine.float().mean():.3f}, reference {1 - wrong_theirs.float().mean():.3f}; "
                 f"broken only by the suite: {only_mine}; only by the reference: {only_theirs}")


@pytest.mark.parametrize("which", ["erm", "pgd_at"])
def test_autoattack_agrees_with_the_reference_image_by_image(which, tiny_models, robust_model, digits, one_thread):
    model = tiny_models["erm_s0"].eval() if which == "erm" else robust_model
    x, y = digits.test_x[:IMAGES], digits.test_y[:IMAGES]
    mine = ours(model, x, y, "autoattack", {"steps": STEPS, "queries": QUERIES})
    theirs = reference(model, x, y, "standard", STEPS, QUERIES)
    gap, sets = agreement(model, x, y, mine, theirs)
    assert gap <= TOLERANCE, sets
    assert (predict(model, mine) != y).sum() > (predict(model, x) != y).sum(), "the attack broke nothing: " + sets
    assert (mine - x).abs().max() <= EPS + 1e-6


def test_autoattack_rand_agrees_with_the_reference_rand_version(robust_model, digits, one_thread):
    x, y = digits.test_x[:IMAGES], digits.test_y[:IMAGES]
    mine = ours(robust_model, x, y, "autoattack-rand", {"steps": STEPS, "eot": EOT})
    theirs = reference(robust_model, x, y, "rand", STEPS, eot=EOT)
    gap, sets = agreement(robust_model, x, y, mine, theirs)
    assert gap <= TOLERANCE, sets

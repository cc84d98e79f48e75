"""The transfer matrix (attacks/transfer.py) against the naive loop (attacks/naive.py) and by hand."""

import threading

import pytest
import torch

from attacks import make_attack
from attacks.naive import naive_matrix
from attacks.transfer import craft, transfer_matrix
from robustness.config import AttackConfig
from robustness.train import predict

CPU = torch.device("cpu")


def test_diagonal_is_white_box_and_off_diagonal_is_transfer(tiny_models, batch):
    x, y = batch
    # Deterministic attacks only: PGD's random start is seeded per batch (tested against the naive loop instead).
    cfg = AttackConfig(attacks=("fgsm", "ifgsm"), eps=(0.0, 0.1), batch_size=50, settings={"ifgsm": {"steps": 3}})  # ragged last batch
    result = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False)
    names = list(tiny_models)
    assert len(result["cells"]) == len(cfg.attacks) * len(cfg.eps) * len(names) ** 2
    for cell in result["cells"]:
        source, target = tiny_models[cell["source"]], tiny_models[cell["target"]]
        adv = make_attack(cell["attack"], cfg).build(source, cell["eps"])(x, y)
        assert cell["wrong"] == int((predict(target, adv) != y).sum())
        assert cell["error"] == cell["wrong"] / len(y)
    for name in names:
        assert result["clean"][name]["wrong"] == int((predict(tiny_models[name], x) != y).sum())


def test_streamed_matrix_equals_the_naive_loop_exactly(tiny_models, batch):
    x, y = batch[0][:50], batch[1][:50]
    cfg = AttackConfig(eps=(0.0, 0.05, 0.15), batch_size=20, settings={"ifgsm": {"steps": 2}, "pgd": {"steps": 2}})  # ragged last batch
    naive = naive_matrix(tiny_models, x, y, cfg, CPU)
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False) == naive
    # Every optimisation switched off gives the same numbers too.
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False, fuse=(), freeze_weights=False) == naive


def test_seeded_torchattacks_attacks_in_the_matrix_equal_the_naive_loop(tiny_models, batch):
    """DI-FGSM draws from torch's generator, Square from its own seed argument, MI-FGSM from nothing: the
    streamed matrix and the naive loop must still agree exactly, Square's queries included."""
    x, y = batch[0][:40], batch[1][:40]
    cfg = AttackConfig(attacks=("mifgsm", "difgsm", "square"), eps=(0.0, 0.1), batch_size=16,
                       settings={"mifgsm": {"steps": 2}, "difgsm": {"steps": 2}, "square": {"queries": 20}})
    streamed = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False)
    assert streamed == naive_matrix(tiny_models, x, y, cfg, CPU)
    assert [c["source"] == c["target"] for c in streamed["cells"] if "queries" in c] == [True] * 2


def test_pgd_restarts_in_the_matrix_equal_the_naive_loop(tiny_models, batch):
    x, y = batch[0][:40], batch[1][:40]
    cfg = AttackConfig(attacks=("pgd",), eps=(0.0, 0.1), batch_size=20, settings={"pgd": {"steps": 2, "restarts": 2}})
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False) == naive_matrix(tiny_models, x, y, cfg, CPU)


def test_one_source_gives_that_row_of_the_matrix(tiny_models, batch):
    x, y = batch[0][:40], batch[1][:40]
    cfg = AttackConfig(attacks=("fgsm",), eps=(0.0, 0.1), batch_size=20)
    whole = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False)
    row = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False, sources=["mixup_a1_s0"])
    assert row["cells"] == [c for c in whole["cells"] if c["source"] == "mixup_a1_s0"]
    assert row["clean"] == whole["clean"]


def test_attack_stage_leaves_models_as_it_found_them(tiny_models, batch):
    x, y = batch
    model = tiny_models["erm_s0"]
    model.train()
    try:
        transfer_matrix({"m": model}, x, y, AttackConfig(eps=(0.1,), attacks=("fgsm",)), CPU, progress=False)
        assert model.training and all(p.requires_grad for p in model.parameters())
    finally:
        model.eval()


def test_cells_carry_top5_success_rate_and_intervals(tiny_models, batch):
    x, y = batch
    cfg = AttackConfig(eps=(0.0, 0.2), attacks=("fgsm",), batch_size=40)
    result = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False)
    for cell in result["cells"]:
        target = tiny_models[cell["target"]]
        assert cell["correct_clean"] == int((predict(target, x) == y).sum())
        assert cell["top5_wrong"] <= cell["wrong"] and 0 <= cell["flipped"] <= cell["correct_clean"]
        assert cell["success_rate"] == cell["flipped"] / cell["correct_clean"]
        for key in ("error", "top5_error", "success_rate"):
            low, high = cell[f"{key}_ci"]
            assert low <= cell[key] <= high
        if cell["eps"] == 0:
            assert cell["flipped"] == 0 and cell["wrong"] == result["clean"][cell["target"]]["wrong"]


@pytest.mark.parametrize("fuse", [True, False])
def test_eps_zero_is_the_clean_batch_whether_fused_or_not(tiny_models, batch, fuse):
    x, y = batch[0][:32], batch[1][:32]
    cfg = AttackConfig(attacks=("ifgsm",), eps=(0.0, 0.1), fuse_epsilons=fuse, settings={"ifgsm": {"steps": 2}})
    result = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False)
    for cell in (c for c in result["cells"] if c["eps"] == 0):
        assert cell["wrong"] == result["clean"][cell["target"]]["wrong"]


class CleanLooks(torch.nn.Module):
    """A model that counts the clean images it scores (forward passes without gradients), chunked or not
    (chunks of 8: no chunk is a lone image)."""

    def __init__(self, model: torch.nn.Module, clean: torch.Tensor):
        super().__init__()
        self.model, self.clean, self.rows, self.lock = model, clean.flatten(1), 0, threading.Lock()

    def forward(self, x):
        if not torch.is_grad_enabled() and len(x) > 1:  # not the one-image probe of the class count
            clean_rows = int((x.flatten(1)[:, None] == self.clean[None]).all(-1).any(1).sum())
            with self.lock:  # chunks are scored on worker threads
                self.rows += clean_rows
        return self.model(x)


@pytest.mark.parametrize("chunk", [0, 8])
def test_clean_batch_is_scored_twice_whatever_the_attacks_and_sources(tiny_models, batch, chunk):
    """Once for the clean predictions, once more for every attack's and source's ε = 0 cells (a model whose
    two passes disagree shows there); the cells still equal the naive loop's."""
    x, y = batch[0][:32], batch[1][:32]
    cfg = AttackConfig(eps=(0.0, 0.1), chunk_images=chunk, settings={"ifgsm": {"steps": 2}, "pgd": {"steps": 2}})
    models = {name: CleanLooks(model, x) for name, model in tiny_models.items()}
    result = transfer_matrix(models, x, y, cfg, CPU, progress=False)
    assert result == naive_matrix(tiny_models, x, y, cfg, CPU)
    assert [m.rows for m in models.values()] == [2 * len(x)] * len(models)


@pytest.mark.parametrize("budget", [20, 40, 0])
def test_fused_passes_keep_to_the_image_budget_and_the_numbers(tiny_models, batch, budget):
    """ε are stacked only as far as ``fuse_images`` allows (FGSM's one gradient always serves all), same numbers."""
    x, y = batch[0][:40], batch[1][:40]
    cfg = AttackConfig(eps=(0.0, 0.05, 0.1, 0.15), batch_size=20, fuse_images=budget,
                       settings={"ifgsm": {"steps": 2}, "pgd": {"steps": 2}})
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False) == naive_matrix(tiny_models, x, y, cfg, CPU)
    model = tiny_models["erm_s0"]
    for name, expected in [("ifgsm", {20: [1, 1, 1], 40: [2, 1], 0: [3]}[budget]), ("fgsm", [3])]:
        groups = [len(g) for g, _, _, _ in craft(make_attack(name, cfg), model, "m", x[:20], y[:20], 0, cfg.eps, 0, True, budget)]
        assert groups == expected, name

"""The attacks (attacks/fgsm.py, ifgsm.py, pgd.py, base.py, registry.py): invariants, settings, every-ε crafting."""

import dataclasses

import pytest
import torch

from attacks import ATTACKS, make_attack
from attacks.base import Attack
from attacks.seeding import craft_seed, seeded
from robustness.config import AttackConfig
from robustness.errors import SuiteError
from robustness.train import predict

CPU = torch.device("cpu")


def craft(name: str, model, eps: float, x, y, settings: AttackConfig | None = None):
    return make_attack(name, settings).build(model, eps)(x, y)


def test_every_registered_attack_is_an_attack_object():
    for name, cls in ATTACKS.items():
        attack = make_attack(name)
        assert isinstance(attack, Attack) and type(attack) is cls and attack.name == name
        assert attack.step_size(0.1) > 0


def test_unknown_attack_lists_the_valid_ones():
    with pytest.raises(SuiteError, match="unknown attack 'cw'; choose one of: fgsm, ifgsm, pgd"):
        make_attack("cw")


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize("eps", [0.03, 0.1, 0.3])
def test_attack_stays_in_the_eps_ball_and_in_pixel_range(name, eps, tiny_models, batch):
    x, y = batch
    adv = craft(name, tiny_models["erm_s0"], eps, x, y)
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() > 0  # it did move


@pytest.mark.parametrize("name", list(ATTACKS))
def test_eps_zero_changes_nothing(name, tiny_models, batch):
    x, y = batch
    assert torch.equal(craft(name, tiny_models["erm_s0"], 0.0, x, y), x)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_raises_error(name, tiny_models, batch):
    x, y = batch
    model = tiny_models["erm_s0"]
    adv = craft(name, model, 0.2, x, y)
    assert (predict(model, adv) != y).float().mean() > (predict(model, x) != y).float().mean()


def test_ifgsm_with_one_step_of_eps_equals_fgsm(tiny_models, batch):
    x, y = batch
    model = tiny_models["mixup_a1_s0"]
    fgsm = craft("fgsm", model, 0.1, x, y)
    ifgsm = craft("ifgsm", model, 0.1, x, y, AttackConfig(ifgsm_steps=1))
    assert torch.allclose(fgsm, ifgsm, atol=1e-7)


def test_ifgsm_uses_equal_steps_of_eps_over_steps(tiny_models):
    attack = make_attack("ifgsm", AttackConfig(ifgsm_steps=10))
    built = attack.build(tiny_models["erm_s0"], 0.1)
    assert attack.step_size(0.1) == pytest.approx(0.01)
    assert built.steps == 10 and built.alpha == pytest.approx(0.01) and built.eps == 0.1


def test_only_pgd_draws_random_numbers():
    assert {name for name, cls in ATTACKS.items() if cls.random} == {"pgd"}


def test_pgd_without_random_start_and_with_bims_steps_matches_bim(tiny_models, batch):
    x, y = batch
    cfg = AttackConfig(ifgsm_steps=7, pgd_steps=7, pgd_step_factor=1.0, pgd_random_start=False)
    for eps in (0.05, 0.2):
        bim, pgd = craft("ifgsm", tiny_models["erm_s0"], eps, x, y, cfg), craft("pgd", tiny_models["erm_s0"], eps, x, y, cfg)
        assert (bim - pgd).abs().max() <= 1e-6


def test_pgd_settings_reach_torchattacks(tiny_models):
    cfg = AttackConfig(pgd_steps=20, pgd_step_factor=2.5, pgd_random_start=False)
    attack = make_attack("pgd", cfg)
    built = attack.build(tiny_models["erm_s0"], 0.1)
    assert (built.steps, built.random_start) == (20, False) and built.alpha == pytest.approx(2.5 * 0.1 / 20)
    assert attack.step_size(0.1) == built.alpha
    restarts = make_attack("pgd", dataclasses.replace(cfg, pgd_restarts=3)).build(tiny_models["erm_s0"], 0.1)
    assert len(restarts.attacks) == 3


def test_pgd_random_start_is_seeded_and_restarts_only_add_errors(tiny_models, batch):
    x, y = batch
    model = tiny_models["mixup_a1_s0"]
    cfg = AttackConfig(pgd_steps=2)
    runs = []
    for _ in range(2):
        with seeded(7, CPU):
            runs.append(craft("pgd", model, 0.1, x, y, cfg))
    assert torch.equal(*runs)
    with seeded(7, CPU):
        more = craft("pgd", model, 0.1, x, y, dataclasses.replace(cfg, pgd_restarts=3))
    assert (predict(model, more) != y).sum() >= (predict(model, runs[0]) != y).sum()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_eps_at_once_is_bit_identical_to_torchattacks_per_eps(name, tiny_models, batch):
    x, y = batch[0][:96], batch[1][:96]
    eps = [0.0, 0.03, 0.1, 0.25]
    attack = make_attack(name, AttackConfig(eps=tuple(eps), ifgsm_steps=3, pgd_steps=3))
    seeds = [craft_seed(0, name, e, "m", 0) for e in eps]
    fused = attack.craft_every_eps(tiny_models["erm_s0"], x, y, eps, seeds)
    assert fused.shape == (len(eps), *x.shape)
    for k, (e, seed) in enumerate(zip(eps, seeds)):
        with seeded(seed, CPU):
            assert torch.equal(fused[k], attack.build(tiny_models["erm_s0"], e)(x, y)), (name, e)


def test_pgd_with_restarts_cannot_craft_every_eps_at_once(tiny_models, batch):
    x, y = batch
    attack = make_attack("pgd", AttackConfig(pgd_restarts=2))
    assert attack.craft_every_eps(tiny_models["erm_s0"], x, y, [0.1, 0.2], [1, 2]) is None


def test_every_gradient_attack_is_blind_on_a_masked_model(masked_model, batch):
    """The checks' warnings on such a model are tested in test_checks.py; here: why they must fire."""
    x, y = batch
    for name in ATTACKS:
        adv = craft(name, masked_model, 0.1, x, y, AttackConfig(pgd_random_start=False))
        assert torch.equal(adv, x), name  # sign(0) = 0: nothing moves

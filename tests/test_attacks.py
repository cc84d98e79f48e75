"""The attacks (attacks/*.py: one object per attack, base.py, registry.py, generic.py): invariants, settings,
every-ε crafting, each adapter against torchattacks called directly, the L2 threat model."""

import dataclasses
import sys

import pytest
import torch
import torchattacks

from attacks import ATTACKS, make_attack
from attacks.autoattack import ReferenceAPGDT
from attacks.base import Attack
from attacks.seeding import craft_seed
from robustness.config import AttackConfig
from robustness.errors import SuiteError
from robustness.seeding import seeded
from robustness.train import predict

CPU = torch.device("cpu")
# Small budgets keep the tests quick; AutoAttack-fast's budget is fixed (its Square spends 5,000 queries on every
# image it cannot break), so it gets few images.
CHEAP = AttackConfig(settings={"ifgsm": {"steps": 3}, "pgd": {"steps": 3}, "apgd_ce": {"steps": 5}, "apgd_dlr": {"steps": 5},
                               "fab": {"steps": 5}, "square": {"queries": 50}, "mifgsm": {"steps": 3}, "difgsm": {"steps": 3},
                               "autoattack": {"steps": 5, "queries": 50}, "autoattack-rand": {"steps": 5, "eot": 2}})
FEW = {"autoattack": 16, "autoattack-fast": 4, "autoattack-rand": 16}
ENSEMBLES = [name for name, cls in ATTACKS.items() if cls.part_names]  # AutoAttack and its variants


def craft(name: str, model, eps: float, x, y, settings: AttackConfig | None = None, seed: int = 0):
    with seeded(seed, CPU):
        return make_attack(name, settings or CHEAP).build(model, eps, seed)(x, y)


def sample(name: str, batch):
    x, y = batch
    return x[: FEW.get(name, len(x))], y[: FEW.get(name, len(y))]


def test_every_registered_attack_is_an_attack_object():
    for name, cls in ATTACKS.items():
        attack = make_attack(name)
        assert isinstance(attack, Attack) and type(attack) is cls and attack.name == name
        assert attack.step_size(0.1) > 0 and "linf" in cls.norms
        assert cls.__module__ == f"attacks.{name.replace('-', '_')}" and "Example::" in sys.modules[cls.__module__].__doc__  # autoattack-fast: autoattack_fast.py


def test_unknown_attack_lists_the_valid_ones():
    with pytest.raises(SuiteError, match="unknown attack 'cw'; choose one of: apgd_ce, apgd_dlr, autoattack, .*pgd, square, "
                                         "or torchattacks:NAME"):
        make_attack("cw")


@pytest.mark.parametrize("name, eps", [(n, e) for n in ATTACKS for e in (0.03, 0.1, 0.3)
                                       if not (n == "autoattack-fast" and e < 0.3)])  # 5,000 queries per robust image
def test_attack_stays_in_the_eps_ball_and_in_pixel_range(name, eps, tiny_models, batch):
    x, y = sample(name, batch)
    adv = craft(name, tiny_models["erm_s0"], eps, x, y)
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() > 0  # it did move (APGD, FAB, Square, AutoAttack: it broke an image)


@pytest.mark.parametrize("name", [n for n in ATTACKS if n not in ENSEMBLES])  # never crafted at ε = 0 (transfer.craft)
def test_eps_zero_changes_nothing(name, tiny_models, batch):
    x, y = sample(name, batch)
    x, y = (x[:4], y[:4]) if name in ("square", "fab") else (x, y)  # they spend their whole budget on nothing
    assert torch.equal(craft(name, tiny_models["erm_s0"], 0.0, x, y), x)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_raises_error(name, tiny_models, batch):
    x, y = sample(name, batch)
    model = tiny_models["erm_s0"]
    adv = craft(name, model, 0.2, x, y)
    assert (predict(model, adv) != y).float().mean() > (predict(model, x) != y).float().mean()


# What a user of torchattacks writes, with CHEAP's settings: each adapter must give exactly these images.
DIRECT = {
    "fgsm": lambda m, e, s: torchattacks.FGSM(m, eps=e),
    "ifgsm": lambda m, e, s: torchattacks.BIM(m, eps=e, alpha=e / 3, steps=3),
    "pgd": lambda m, e, s: torchattacks.PGD(m, eps=e, alpha=2.5 * e / 3, steps=3, random_start=True),
    # The reference's strength from torchattacks' parts, with CHEAP's budget (tests/test_autoattack_reference.py holds it
    # against the reference itself): APGD-T with the reference's loss rounding.
    "autoattack": lambda m, e, s: torchattacks.MultiAttack([
        torchattacks.APGD(m, norm="Linf", eps=e, steps=5, n_restarts=1, seed=s, loss="ce"),
        ReferenceAPGDT(m, norm="Linf", eps=e, steps=5, n_restarts=1, seed=s, n_classes=10),
        torchattacks.FAB(m, norm="Linf", eps=e, steps=5, n_restarts=1, seed=s, multi_targeted=True, n_classes=10),
        torchattacks.Square(m, norm="Linf", eps=e, n_queries=50, n_restarts=1, seed=s, p_init=0.8, resc_schedule=False)]),
    "autoattack-fast": lambda m, e, s: torchattacks.AutoAttack(m, norm="Linf", eps=e, version="standard", n_classes=10,
                                                               seed=s),
    "autoattack-rand": lambda m, e, s: torchattacks.MultiAttack([
        torchattacks.APGD(m, norm="Linf", eps=e, steps=5, n_restarts=1, seed=s, loss=loss, eot_iter=2) for loss in ("ce", "dlr")]),
    "apgd_ce": lambda m, e, s: torchattacks.APGD(m, norm="Linf", eps=e, steps=5, seed=s, loss="ce"),
    "apgd_dlr": lambda m, e, s: torchattacks.APGD(m, norm="Linf", eps=e, steps=5, seed=s, loss="dlr"),
    "fab": lambda m, e, s: torchattacks.FAB(m, norm="Linf", eps=e, steps=5, seed=s),
    "square": lambda m, e, s: torchattacks.Square(m, norm="Linf", eps=e, n_queries=50, seed=s),
    "mifgsm": lambda m, e, s: torchattacks.MIFGSM(m, eps=e, alpha=e / 3, steps=3, decay=1.0),
    "difgsm": lambda m, e, s: torchattacks.DIFGSM(m, eps=e, alpha=e / 3, steps=3, diversity_prob=0.5),
    "torchattacks:NIFGSM,steps=3,step_size=0.02": lambda m, e, s: torchattacks.NIFGSM(m, eps=e, alpha=0.02, steps=3),
    "torchattacks:APGDT,steps=4": lambda m, e, s: torchattacks.APGDT(m, norm="Linf", eps=e, steps=4, seed=s, n_classes=10),
}


def test_every_registered_attack_has_a_direct_counterpart_here():
    assert set(ATTACKS) <= set(DIRECT)


@pytest.mark.parametrize("name", list(DIRECT))
def test_each_adapter_equals_calling_torchattacks_directly(name, tiny_models, batch):
    x, y = sample(name, batch)
    x, y = x[:32], y[:32]
    model, eps, seed = tiny_models["mixup_a1_s0"], 0.15, 1234
    ours = craft(name, model, eps, x, y, seed=seed)
    with seeded(seed, CPU):  # what the attack stage does around every crafting call
        theirs = DIRECT[name](model, eps, seed)(x, y)
    assert torch.equal(ours, theirs)
    if name in ATTACKS and ATTACKS[name].random and name not in ("fab", *ENSEMBLES):  # FAB's one run starts at x
        with seeded(seed + 1, CPU):
            other = make_attack(name, CHEAP).build(model, eps, seed + 1)(x, y)
        assert not torch.equal(other, ours)  # the seed reaches the attack


def test_ifgsm_with_one_step_of_eps_equals_fgsm(tiny_models, batch):
    x, y = batch
    model = tiny_models["mixup_a1_s0"]
    fgsm = craft("fgsm", model, 0.1, x, y)
    ifgsm = craft("ifgsm", model, 0.1, x, y, AttackConfig(settings={"ifgsm": {"steps": 1}}))
    assert torch.allclose(fgsm, ifgsm, atol=1e-7)


def test_ifgsm_uses_equal_steps_of_eps_over_steps(tiny_models):
    attack = make_attack("ifgsm", AttackConfig(settings={"ifgsm": {"steps": 10}}))
    built = attack.build(tiny_models["erm_s0"], 0.1)
    assert attack.step_size(0.1) == pytest.approx(0.01)
    assert built.steps == 10 and built.alpha == pytest.approx(0.01) and built.eps == 0.1


def test_the_attacks_that_draw_random_numbers_say_so():
    assert {name for name, cls in ATTACKS.items() if cls.random} == {"pgd", "autoattack", "autoattack-fast", "autoattack-rand",
                                                                     "apgd_ce", "apgd_dlr", "fab", "square", "difgsm"}
    assert {name for name, cls in ATTACKS.items() if not cls.gradients} == {"square"}


def test_pgd_without_random_start_and_with_bims_steps_matches_bim(tiny_models, batch):
    x, y = batch
    cfg = AttackConfig(settings={"ifgsm": {"steps": 7}, "pgd": {"steps": 7, "step_factor": 1.0, "random_start": False}})
    for eps in (0.05, 0.2):
        bim, pgd = craft("ifgsm", tiny_models["erm_s0"], eps, x, y, cfg), craft("pgd", tiny_models["erm_s0"], eps, x, y, cfg)
        assert (bim - pgd).abs().max() <= 1e-6


def test_pgd_settings_reach_torchattacks(tiny_models):
    cfg = AttackConfig(settings={"pgd": {"steps": 20, "step_factor": 2.5, "random_start": False}})
    attack = make_attack("pgd", cfg)
    built = attack.build(tiny_models["erm_s0"], 0.1)
    assert (built.steps, built.random_start) == (20, False) and built.alpha == pytest.approx(2.5 * 0.1 / 20)
    assert attack.step_size(0.1) == built.alpha
    restarts = make_attack("pgd", cfg.tune("pgd", restarts=3)).build(tiny_models["erm_s0"], 0.1)
    assert len(restarts.attacks) == 3


def test_pgd_random_start_is_seeded_and_restarts_only_add_errors(tiny_models, batch):
    x, y = batch
    model = tiny_models["mixup_a1_s0"]
    cfg = AttackConfig(settings={"pgd": {"steps": 2}})
    runs = []
    for _ in range(2):
        with seeded(7, CPU):
            runs.append(craft("pgd", model, 0.1, x, y, cfg))
    assert torch.equal(*runs)
    with seeded(7, CPU):
        more = craft("pgd", model, 0.1, x, y, cfg.tune("pgd", restarts=3))
    assert (predict(model, more) != y).sum() >= (predict(model, runs[0]) != y).sum()


@pytest.mark.parametrize("name", ["fgsm", "ifgsm", "pgd"])
def test_every_eps_at_once_is_bit_identical_to_torchattacks_per_eps(name, tiny_models, batch):
    x, y = batch[0][:96], batch[1][:96]
    eps = [0.0, 0.03, 0.1, 0.25]
    attack = make_attack(name, AttackConfig(eps=tuple(eps), settings={"ifgsm": {"steps": 3}, "pgd": {"steps": 3}}))
    seeds = [craft_seed(0, name, e, "m", 0) for e in eps]
    fused = attack.craft_every_eps(tiny_models["erm_s0"], x, y, eps, seeds)
    assert fused.shape == (len(eps), *x.shape)
    for k, (e, seed) in enumerate(zip(eps, seeds)):
        with seeded(seed, CPU):
            assert torch.equal(fused[k], attack.build(tiny_models["erm_s0"], e)(x, y)), (name, e)


def test_only_fgsm_ifgsm_and_pgd_craft_every_eps_at_once(tiny_models, batch):
    x, y = batch[0][:8], batch[1][:8]
    for name in ATTACKS:
        fused = make_attack(name, CHEAP).craft_every_eps(tiny_models["erm_s0"], x, y, [0.1], [1])
        assert (fused is not None) == (name in ("fgsm", "ifgsm", "pgd")), name
    l2 = dataclasses.replace(CHEAP, norm="l2")
    assert all(make_attack(n, l2).craft_every_eps(tiny_models["erm_s0"], x, y, [0.5], [1]) is None for n in ("fgsm", "ifgsm", "pgd"))


def test_pgd_with_restarts_cannot_craft_every_eps_at_once(tiny_models, batch):
    x, y = batch
    attack = make_attack("pgd", AttackConfig(settings={"pgd": {"restarts": 2}}))
    assert attack.craft_every_eps(tiny_models["erm_s0"], x, y, [0.1, 0.2], [1, 2]) is None


def test_every_gradient_attack_is_blind_on_a_masked_model(masked_model, batch):
    """The checks' warnings on such a model are tested in test_checks.py; here: why they must fire."""
    x, y = batch
    for name in ("fgsm", "ifgsm", "pgd", "mifgsm", "difgsm"):
        adv = craft(name, masked_model, 0.1, x, y, CHEAP.tune("pgd", random_start=False))
        assert torch.equal(adv, x), name  # sign(0) = 0 (MI-FGSM's 0/0 too): nothing moves
    square = craft("square", masked_model, 0.1, x, y)  # it needs no gradient: the masking does not stop it
    assert (predict(masked_model, square) != y).sum() > (predict(masked_model, x) != y).sum()


# --- the L2 threat model -------------------------------------------------------------------------------

L2_DIRECT = {
    "fgsm": lambda m, e, s: torchattacks.PGDL2(m, eps=e, alpha=e, steps=1, random_start=False),
    "ifgsm": lambda m, e, s: torchattacks.PGDL2(m, eps=e, alpha=e / 3, steps=3, random_start=False),
    "pgd": lambda m, e, s: torchattacks.PGDL2(m, eps=e, alpha=2.5 * e / 3, steps=3, random_start=True),
    "autoattack-fast": lambda m, e, s: torchattacks.AutoAttack(m, norm="L2", eps=e, version="standard", n_classes=10, seed=s),
    "square": lambda m, e, s: torchattacks.Square(m, norm="L2", eps=e, n_queries=50, seed=s),
}


@pytest.mark.parametrize("name, eps", [(n, e) for n, cls in ATTACKS.items() if "l2" in cls.norms for e in (0.5, 1.5)
                                       if not (n == "autoattack-fast" and e < 1)])  # 5,000 queries per robust image
def test_l2_attacks_stay_in_the_l2_ball(name, eps, tiny_models, batch):
    x, y = sample(name, batch)
    x, y = x[:32], y[:32]
    adv = craft(name, tiny_models["erm_s0"], eps, x, y, dataclasses.replace(CHEAP, norm="l2"))
    assert (adv - x).flatten(1).norm(dim=1).max() <= eps * (1 + 1e-5)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() > 0
    if name in L2_DIRECT:
        with seeded(0, CPU):
            assert torch.equal(adv, L2_DIRECT[name](tiny_models["erm_s0"], eps, 0)(x, y)), name


def test_attacks_without_an_l2_version_say_which_have_one():
    with pytest.raises(SuiteError, match="attack 'mifgsm' has no L2 version; with attack.norm = 'l2' choose from: "
                                         "apgd_ce, apgd_dlr, autoattack, autoattack-fast, autoattack-rand, fab, fgsm, ifgsm, pgd, square"):
        make_attack("mifgsm", AttackConfig(norm="l2"))
    with pytest.raises(SuiteError, match="'torchattacks:MIFGSM' has no L2 version"):
        make_attack("torchattacks:MIFGSM", AttackConfig(norm="l2"))


# --- torchattacks:NAME,KEY=VALUE ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec, message", [
    ("torchattacks:CW", "unknown torchattacks attack 'CW' in 'torchattacks:CW'; L∞ attacks: FGSM, BIM, RFGSM, PGD"),
    ("torchattacks:MIFGSM,stpes=3", "torchattacks.MIFGSM has no argument 'stpes' (in 'torchattacks:MIFGSM,stpes=3'); "
                                    "valid: step_size, steps, decay"),
    ("torchattacks:MIFGSM,alpha=0.01", "write step_size= for torchattacks' alpha"),
    ("torchattacks:MIFGSM,eps=0.3", "sets eps, which the suite sets from attack.eps"),
    ("torchattacks:APGD,seed=3", "sets seed, which the suite sets from attack.seed"),
    ("torchattacks:MIFGSM,steps", "'steps' in attack 'torchattacks:MIFGSM,steps' is not KEY=VALUE"),
    ("torchattacks:MIFGSM,steps=many", "argument steps of attack 'torchattacks:MIFGSM,steps=many' must be a number"),
])
def test_bad_torchattacks_specs_give_one_line_errors(spec, message):
    with pytest.raises(SuiteError) as err:
        make_attack(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_torchattacks_spec_passes_its_arguments_and_the_suites():
    attack = make_attack("torchattacks:APGDT,steps=4,rho=0.5", num_classes=3)
    built = attack.build(torch.nn.Linear(2, 3), 0.1, seed=9)
    assert (built.steps, built.thr_decr, built.seed, built.eps, built.norm, built.n_target_classes) == (4, 0.5, 9, 0.1, "Linf", 2)
    assert make_attack("torchattacks:MIFGSM,step_size=2/255").step_size(0.1) == pytest.approx(2 / 255)
    assert make_attack("torchattacks:FGSM").step_size(0.1) == 0.1

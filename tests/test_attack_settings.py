"""Each attack owns its settings (attacks/base.py ``Settings``, ``check``, ``title``, ``describe``, ``strength``,
``shortfall``): TOML tables ``[attack.NAME]``, their one-line errors, the old flat keys, the generated docs and help,
and a throwaway attack in one file run end to end without touching any other file."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import torch
import torchattacks

import robustness
from attacks import ATTACKS, describe_attacks, make_attack, settings_help, settings_table
from attacks.base import setting_notes
from attacks.checks import dominance_pairs
from robustness.cli import parser
from robustness.config import AttackConfig, override, to_dict
from robustness.errors import SuiteError
from robustness.formatting import ATTACK_NAMES, attack_name
from robustness.presets import PRESETS, build_config
from robustness.validation import load_config

# A whole attack in one file: FGSM with a step of scale·ε. With scale = 1 it is FGSM, image for image.
PLUGIN = '''
"""Scaled FGSM: one signed-gradient step of scale · ε (a throwaway attack for the tests)."""

from dataclasses import dataclass

import torchattacks

from attacks.base import Attack
from attacks.registry import register_attack
from robustness.errors import SuiteError


@register_attack("scaled_fgsm")
class ScaledFGSM(Attack):
    @dataclass(frozen=True)
    class Settings:
        scale: float = 0.5  # the step as a share of ε, in (0, 1]

    title = "Scaled FGSM"

    def check(self) -> None:
        if not 0 < self.settings.scale <= 1:
            raise SuiteError(f"{self.where('scale')} must be in (0, 1]; 1 is FGSM")

    def describe(self) -> str:
        return f"Scaled FGSM: one step of {self.settings.scale:g}·ε"

    def build(self, model, eps, seed=0):
        return torchattacks.FGSM(model, eps=self.settings.scale * eps)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The attack above, written to its own file and imported as a plug-in module; unregistered afterwards."""
    (tmp_path / "scaled_fgsm_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    attacks, names = dict(ATTACKS), dict(ATTACK_NAMES)
    importlib.import_module("scaled_fgsm_plugin")
    yield "scaled_fgsm"
    sys.modules.pop("scaled_fgsm_plugin", None)
    ATTACKS.clear()
    ATTACKS.update(attacks)
    ATTACK_NAMES.clear()
    ATTACK_NAMES.update(names)


ROOT = Path(__file__).resolve().parents[1]


def config_error(toml_text: str, tmp_path, preset: str = "tiny") -> str:
    path = tmp_path / "run.toml"
    path.write_text(textwrap.dedent(toml_text))
    with pytest.raises(SuiteError) as err:
        load_config(preset, path)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_throwaway_attack_in_one_file_runs_end_to_end_with_its_toml_table(plugin, tiny_models, tmp_path):
    model = {"erm_s0": tiny_models["erm_s0"]}
    toml = tomllib.loads("[attack.scaled_fgsm]\nscale = 1.0\n")  # what --config FILE.toml gives
    run = dict(attacks=["fgsm", plugin], eps=[0, 0.1], preset="tiny", progress=False, device="cpu")
    with_table = robustness.evaluate(model, "digits", overrides=toml, **run)
    default = robustness.evaluate(model, "digits", **run)

    def cell(results, attack):  # every number of the white-box cell at ε = 0.1
        found = next(c for c in results["attacks"]["cells"] if c["attack"] == attack and c["eps"] == 0.1)
        return {k: v for k, v in found.items() if k != "attack"}

    assert with_table["config"]["attack"]["settings"] == {**PRESETS["tiny"].attack.tables(), plugin: {"scale": 1.0}}
    assert cell(with_table, plugin) == cell(with_table, "fgsm")  # scale 1 is FGSM: the same numbers
    assert cell(default, plugin)["wrong"] < cell(default, "fgsm")["wrong"]  # half of ε breaks fewer digits
    assert "Scaled FGSM: one step of 1·ε" in describe_attacks(with_table["config"]["attack"])
    assert attack_name(plugin) == "Scaled FGSM"
    assert f"[attack.{plugin}]  scale = 0.5" in settings_help()
    assert f"| `{plugin}` (Scaled FGSM) | `scale` | `0.5` | the step as a share of ε, in (0, 1] |" in settings_table()


def test_a_throwaway_attacks_own_check_runs_before_anything(plugin, tmp_path):
    message = config_error(f"[attack]\nattacks = [\"{plugin}\"]\n[attack.{plugin}]\nscale = 2\n", tmp_path)
    assert message == "attack.scaled_fgsm.scale must be in (0, 1]; 1 is FGSM"


@pytest.mark.parametrize("old, new", [
    ("pgd_steps = 40", "attack.pgd_steps is now attack.pgd.steps: write [attack.pgd] steps = 40 in TOML"),
    ("pgd_random_start = false", "write [attack.pgd] random_start = false in TOML"),
    ("square_queries = 500", "attack.square_queries is now attack.square.queries: write [attack.square] queries = 500"),
    ("apgd_steps = 100", "write [attack.apgd_ce] steps = 100 and [attack.apgd_dlr] steps = 100 in TOML"),
    ("difgsm_diversity_prob = 0.7", "write [attack.difgsm] diversity_prob = 0.7 in TOML"),
])
def test_an_old_flat_key_names_its_new_table_and_key(old, new, tmp_path):
    assert new in config_error(f"[attack]\n{old}\n", tmp_path)


@pytest.mark.parametrize("toml, message", [
    ("[attack.pgdd]\nsteps = 3\n", "unknown attack table [attack.pgdd]; tables are for: apgd_ce, apgd_dlr, autoattack, "
                                   "autoattack-fast, autoattack-rand, difgsm, fab, fgsm, ifgsm, mifgsm, pgd, square"),
    ("[attack.pgd]\nstep = 3\n", "unknown key [attack.pgd] step; valid keys: steps, step_factor, random_start, restarts"),
    ("[attack.fgsm]\nsteps = 3\n", "unknown key [attack.fgsm] steps; fgsm has no settings of its own"),
    ("[attack.pgd]\nsteps = 2.5\n", "attack.pgd.steps must be a whole number, not 2.5"),
    ("[attack.pgd]\nrandom_start = 1\n", "attack.pgd.random_start must be true or false, not 1"),
    ("[attack.pgd]\nsteps = 0\n", "attack.pgd.steps must be at least 1"),
    ("[attack.pgd]\nstep_factor = 0\n", "attack.pgd.step_factor must be positive"),
    ("[attack.square]\nqueries = 0\n", "attack.square.queries must be at least 1"),
    ("[attack.apgd_dlr]\nsteps = 1000000000\n", "attack.apgd_dlr.steps is 1000000000, above the ceiling of 100,000"),
    ("[attack.difgsm]\ndiversity_prob = 2\n", "attack.difgsm.diversity_prob must be in [0, 1]"),
    ("[attack.pgd.inner]\nsteps = 3\n", "attack.pgd.inner must be a number, true/false or text"),
    ("[attack]\npgd = 3\n", "unknown key attack.pgd; valid keys: attacks, norm, eps"),
])
def test_a_bad_attack_table_is_one_line_listing_what_to_write(toml, message, tmp_path):
    assert message in config_error(toml, tmp_path)


def test_a_table_for_an_attack_that_does_not_run_is_still_checked(tmp_path):
    assert "attack.mifgsm.decay must be ≥ 0" in config_error('[attack]\nattacks = ["fgsm"]\n[attack.mifgsm]\ndecay = -1\n',
                                                            tmp_path)


def test_toml_tables_merge_key_by_key_over_the_preset(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[attack.pgd]\nrestarts = 2\n[attack.fab]\nsteps = 20\n")
    config = load_config("tiny", path)
    assert config.attack.settings_of("pgd") == {"steps": 3, "restarts": 2}  # the preset's steps stay
    assert make_attack("pgd", config.attack).settings == make_attack("pgd").Settings(steps=3, restarts=2)
    assert make_attack("fab", config.attack).settings.steps == 20
    assert make_attack("ifgsm", config.attack).settings.steps == 3


def test_settings_are_hashable_and_survive_config_json(tmp_path):
    config = build_config("tiny", None, {"attack": {"pgd": {"steps": 7, "random_start": False}}})
    hash(config.attack)
    saved = to_dict(config)
    assert saved["attack"]["settings"]["pgd"] == {"steps": 7, "random_start": False}
    assert override(PRESETS[saved.pop("preset")], saved) == config  # what a resumed run reads back
    assert override(AttackConfig(), to_dict(config.attack)) == config.attack  # what an attack unit reads back


def test_every_attack_declares_its_settings_name_and_description():
    for name, cls in ATTACKS.items():
        assert cls.title and ATTACK_NAMES[name] == cls.title, name
        assert dataclasses.is_dataclass(cls.Settings) and cls.Settings.__dataclass_params__.frozen, name
        notes = setting_notes(cls)
        for f in dataclasses.fields(cls.Settings):
            assert notes.get(f.name), f"{name}.Settings.{f.name} needs its unit and range in a comment"
        attack = make_attack(name)
        assert attack.settings == cls.Settings() and attack.describe().startswith(cls.title), name


def test_the_descriptions_at_the_defaults_are_the_reports_sentences():
    text = describe_attacks({"attacks": ["fgsm", "ifgsm", "pgd", "square", "mifgsm", "difgsm", "apgd_dlr", "fab"]})
    assert text == ("FGSM: one step of ε; I-FGSM: 10 steps of 1·ε/10, no random start; "
                    "PGD: 10 steps of 2.5·ε/10, random start, 1 restart(s); "
                    "Square: score-based, at most 5000 queries per image; MI-FGSM: 10 steps of ε/10, momentum 1; "
                    "DI-FGSM: 10 steps of ε/10, input diversity with p = 0.5; APGD-DLR: 10 steps; FAB: 10 steps.")
    assert describe_attacks({"attacks": ["pgd"], "settings": {"pgd": {"steps": 40, "random_start": False}}}) == \
        "PGD: 40 steps of 2.5·ε/40, no random start, 1 restart(s)."


def test_the_strength_checks_come_from_the_classes():
    pairs = [(weak, strong, check) for weak, strong, check, _ in dominance_pairs()]
    assert pairs == [("fgsm", "ifgsm", "I-FGSM ≥ FGSM"), ("ifgsm", "pgd", "PGD ≥ I-FGSM"),
                     ("pgd", "autoattack", "AutoAttack ≥ PGD"), ("pgd", "autoattack-fast", "AutoAttack-fast (10 steps) ≥ PGD")]
    assert all(cause == ATTACKS[strong].shortfall for _, strong, _, cause in dominance_pairs())


def test_configuration_md_holds_the_table_the_classes_render():
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert settings_table() in text, "docs/configuration.md's attack settings are stale: paste attacks.settings_table()"


def test_help_lists_every_attacks_settings():
    text = parser().format_help()
    for line in settings_help().splitlines()[1:]:
        assert line in text
    assert "[attack.pgd]  steps = 10, step_factor = 2.5, random_start = true, restarts = 1" in text


def test_settings_reach_torchattacks_as_given(tiny_models, batch):
    """The same images as the old flat fields gave: a Settings value is only where the number comes from."""
    x, y = batch[0][:16], batch[1][:16]
    attack = make_attack("pgd", AttackConfig(settings={"pgd": {"steps": 4, "step_factor": 1.5, "random_start": False}}))
    built = attack.build(tiny_models["erm_s0"], 0.1)
    assert (built.steps, built.random_start) == (4, False) and built.alpha == pytest.approx(1.5 * 0.1 / 4)
    theirs = torchattacks.PGD(tiny_models["erm_s0"], eps=0.1, alpha=1.5 * 0.1 / 4, steps=4, random_start=False)(x, y)
    assert torch.equal(built(x, y), theirs)

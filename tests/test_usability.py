"""Issue 19's usability traps and the last tracebacks: ε fractions, non-UTF-8 file names, names with mathtext in
figures, the near-chance warning, a model random in eval mode, evaluate() running only the attacks asked for, the
--no-train report header, custom formats kept apart, and docs/methods.md's plug-in example."""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import robustness
from attacks.checks import CHANCE_Z, chance_error_threshold, check_above_chance
from robustness import comparison
from robustness.config import DataConfig, parse_eps
from robustness.presets import build_config
from robustness.data import load
from robustness.errors import SuiteError
from robustness.methods import Batch
from robustness.methods.base import MethodStreams
from robustness.probe import probe_model
from robustness.report import setup_blocks, what_ran

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
ODD_NAME = r"$\badcmd$ <b>x</b>"  # mathtext that matplotlib cannot parse, and HTML that must stay text


# --- ε fractions -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("25.5/255", 0.1), ("8/255", 8 / 255), (" 2.5 / 255 ", 2.5 / 255), ("0.03", 0.03)])
def test_an_eps_fraction_may_have_a_decimal_numerator(text, value):
    assert parse_eps(text) == pytest.approx(value, rel=1e-12)


def test_the_report_spelling_of_eps_is_accepted_on_the_command_line_and_in_toml():
    assert build_config("tiny", flags={"attack": {"eps": ["0", "25.5/255"]}}).attack.eps == (0.0, parse_eps("25.5/255"))


@pytest.mark.parametrize("text", ["25.5/0", "a/255", "25.5/", "1/2/3"])
def test_a_broken_fraction_is_one_line(text):
    with pytest.raises(SuiteError, match="is not a number") as caught:
        parse_eps(text)
    assert "\n" not in str(caught.value)


# --- file names that are not UTF-8 ------------------------------------------------------------

def image_folder(root: Path, classes=("cat", "dog")) -> Path:
    for part in ("train", "test"):
        for k, name in enumerate(classes):
            folder = os.path.join(os.fsencode(root), b"%s" % part.encode(), os.fsencode(name))
            os.makedirs(folder, exist_ok=True)
            for i in range(4):
                Image.fromarray(np.full((8, 8, 3), 40 * k + 10 * i, dtype=np.uint8)).save(
                    os.fsdecode(os.path.join(folder, b"%d.png" % i)))
    return root


@pytest.mark.skipif(os.fsencode("\udcff") != b"\xff", reason="needs a file system encoding that keeps raw bytes")
def test_an_image_whose_name_is_not_utf8_loads(tmp_path):
    root = image_folder(tmp_path / "images")
    Image.fromarray(np.full((8, 8, 3), 7, dtype=np.uint8)).save(os.fsdecode(os.fsencode(root) + b"/train/cat/bad\xff.png"))
    split = load(DataConfig(name=f"imagefolder:{root}"))
    assert split.summary()["n_train"] == 9


@pytest.mark.skipif(os.fsencode("\udcff") != b"\xff", reason="needs a file system encoding that keeps raw bytes")
def test_an_unreadable_image_whose_name_is_not_utf8_is_named_in_one_line(tmp_path):
    root = image_folder(tmp_path / "images")
    (Path(os.fsdecode(os.fsencode(root) + b"/train/dog/junk\xfe.png"))).write_bytes(b"not an image")
    with pytest.raises(SuiteError) as caught:
        load(DataConfig(name=f"imagefolder:{root}"))
    message = str(caught.value)
    assert "train/dog/junk\\xfe.png cannot be read" in message and "\n" not in message
    message.encode("utf-8")  # printable: no surrogate left to break stderr or a report


@pytest.mark.skipif(os.fsencode("\udcff") != b"\xff", reason="needs a file system encoding that keeps raw bytes")
def test_a_class_folder_whose_name_is_not_utf8_becomes_a_printable_class_name(tmp_path):
    root = image_folder(tmp_path / "images", classes=("cat", os.fsdecode(b"d\xf6g")))
    split = load(DataConfig(name=f"imagefolder:{root}"))
    assert list(split.classes) == ["cat", "d\\xf6g"]


# --- evaluate(): only the attacks asked for, near chance, names in figures -------------------------------

class Constant(nn.Module):
    """Predicts class 0 for every digit (a bias far above tiny weights): a model at chance with a live gradient."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 10)
        with torch.no_grad():
            self.linear.weight.mul_(1e-3)
            self.linear.bias.zero_()
            self.linear.bias[0] = 10.0

    def forward(self, x):
        return self.linear(x.flatten(1))


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory):
    """evaluate() on a constant model whose family is ``ODD_NAME``, with the quick preset's attacks narrowed to FGSM,
    and its report written: (results, report folder, stderr)."""
    capture = pytest.MonkeyPatch()
    torch.manual_seed(0)
    import io
    import sys

    err = io.StringIO()
    capture.setattr(sys, "stderr", err)
    try:
        results = robustness.evaluate({"const": Constant()}, "digits", ["fgsm"], [0, 0.1], families={"const": ODD_NAME},
                                      overrides={"attack": {"between_pairs": 10}}, progress=False)
        out = tmp_path_factory.mktemp("odd")
        robustness.write_report(results, out)
    finally:
        capture.undo()
    return results, out, err.getvalue()


def test_evaluate_runs_only_the_attacks_it_is_asked_for(odd_run):
    results, _, _ = odd_run
    assert results["config"]["attack"]["attacks"] == ["fgsm"]
    assert results["config"]["attack"]["worst_case_attacks"] == []  # quick's AutoAttack and Square did not run
    assert {c["attack"] for c in results["attacks"]["cells"]} == {"fgsm"}
    assert not results["attacks"]["worst_case"]["headline"]["headline_attacks"]


def test_evaluate_runs_worst_case_attacks_when_asked():
    flags = robustness.api._flags("digits", ["fgsm"], None, {"attack": {"worst_case_attacks": ["square"]}}, False, (), "cpu")
    assert flags["attack"]["worst_case_attacks"] == ["square"]
    preset_default = robustness.api._flags("digits", None, None, None, False, (), "cpu")
    assert "worst_case_attacks" not in preset_default["attack"]  # no attacks given: the preset's, as documented


def test_a_model_at_chance_warns_in_the_console_the_checks_and_the_report(odd_run):
    results, out, stderr = odd_run
    check = next(c for c in results["checks"] if c["check"] == "clean error below chance" and c["model"] == "const")
    assert check["status"] == "warn" and "near chance (90.0% for 10 classes" in check["detail"]
    assert "warning: model const: clean error" in stderr
    report = (out / "report.md").read_text()
    clean_section = report.split("## Clean models", 1)[1].split("\n## ", 1)[0]
    assert "**Warning**: model const: clean error" in clean_section


def test_names_with_mathtext_and_html_reach_every_figure_and_stay_text(odd_run):
    results, out, _ = odd_run
    assert results["models"]["const"]["family"] == ODD_NAME
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"whitebox.png", "worst_case.png", "transfer_fgsm.png", "between_points.png"} <= set(figures)
    html = (out / "report.html").read_text()
    assert r"$\badcmd$ &lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_a_figure_drawn_without_the_guard_fails_on_that_name(odd_run, tmp_path):
    """The guard is what makes the previous test pass: matplotlib itself still refuses the name."""
    from robustness import figures

    results, _, _ = odd_run
    with pytest.raises(ValueError, match="badcmd"):
        figures.between_points.__wrapped__(results, tmp_path / "b.png")  # its legend names the family


def test_the_chance_threshold_flags_guessers_and_passes_a_model_that_learned():
    rng, n, k = np.random.default_rng(0), 540, 10
    guessers = 1 - rng.binomial(n, 1 / k, size=20_000) / n  # the clean errors of models that guess
    threshold = chance_error_threshold(k, n)
    flagged = float(np.mean(guessers >= threshold))
    assert flagged > 0.99  # one-sided 3σ: 99.87% in the normal approximation
    attacks = {"n": n, "clean": {"guess": {"error": float(np.median(guessers))}, "learned": {"error": 0.5}}}
    status = {c["model"]: c["status"] for c in check_above_chance(attacks, ["guess", "learned"], k)}
    assert status == {"guess": "warn", "learned": "pass"}
    assert threshold == pytest.approx(1 - 1 / k - CHANCE_Z * math.sqrt(0.1 * 0.9 / n))


def test_too_few_test_images_to_tell_anything_from_chance_makes_no_claim():
    assert check_above_chance({"n": 8, "clean": {"m": {"error": 0.0}}}, ["m"], 2) == []


# --- the report header and custom formats ---------------------------------------------------------

def test_a_no_train_header_names_no_epochs_or_seeds(odd_run):
    results, _, _ = odd_run
    setup = setup_blocks(results)[1][1]
    assert "no model trained; 1 given model evaluated: const (custom (in-memory))" in setup
    assert "epochs" not in setup and "seeds" not in setup
    trained = copy.deepcopy(results)
    trained["config"]["clean"]["enabled"] = True
    assert f"{trained['config']['train']['epochs']} epochs clean" in what_ran(trained)
    assert "under label noise" not in what_ran(trained)  # no label-noise stage ran


def test_custom_models_of_different_formats_get_one_row_each(odd_run):
    results = copy.deepcopy(odd_run[0])
    results["models"]["const"]["family"] = "custom"
    second = copy.deepcopy(results["models"]["const"]) | {"display": "custom (torchscript)"}
    results["models"]["other"] = second
    results["attacks"]["cells"] += [c | {"source": "other", "target": "other"} for c in results["attacks"]["cells"]
                                    if c["source"] == c["target"] == "const"]
    rows = comparison.family_rows(results)
    assert [(r["display"], r["models"]) for r in rows] == [("custom (in-memory)", 1), ("custom (torchscript)", 1)]


# --- the probe ----------------------------------------------------------------------------------

class AlwaysDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        return self.linear(nn.functional.dropout(x.flatten(1), 0.5, training=True))  # on even in eval mode


def test_the_probe_warns_at_once_on_a_model_random_in_eval_mode(digits, capsys):
    torch.manual_seed(0)
    found = probe_model("dropper", AlwaysDropout(), digits, CPU)
    err = capsys.readouterr().err
    assert found["random_in_eval"] is True
    assert err.startswith("warning: model 'dropper' gives different outputs for the same images in eval mode")
    assert err.count("\n") == 1


def test_the_probe_is_quiet_on_a_deterministic_model_and_leaves_the_generator_alone(digits, capsys):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10))  # dropout, but eval mode turns it off
    state = torch.get_rng_state()
    found = probe_model("steady", model, digits, CPU)
    assert found["random_in_eval"] is False and capsys.readouterr().err == ""
    assert torch.equal(torch.get_rng_state(), state)


# --- docs/methods.md's plug-in example ----------------------------------------------------------------

@pytest.fixture
def doc_plugin(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "methods.md").read_text()
    source = re.search(r"```python\n(# my_tricks\.py.*?)```", text, re.DOTALL).group(1)
    spec = re.search(r'"my_tricks:make_cutout:([0-9.]+)"', text).group(1)
    path = tmp_path / "doc_tricks.py"
    path.write_text(source)
    module_spec = importlib.util.spec_from_file_location("doc_tricks", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module, float(spec)


@pytest.mark.parametrize("side", [8, 32])
def test_the_docs_cutout_keeps_most_of_a_digits_image(doc_plugin, side):
    module, param = doc_plugin
    x = torch.ones(16, 1, side, side)
    batch = Batch(x, ((1.0, torch.zeros(16, dtype=torch.int64)),))
    out = module.make_cutout(param).transform(batch, None, MethodStreams.for_method(0, 0)).inputs
    blanked = float((out == 0).float().mean())
    assert 0 < blanked <= 0.3  # the old example (8 pixels on 8×8 digits) blanked all of it


def test_the_docs_cutout_refuses_a_fraction_that_blanks_the_image(doc_plugin):
    module, _ = doc_plugin
    with pytest.raises(SuiteError, match="must be in"):
        module.make_cutout(1.0).check()

"""robustness.evaluate / write_report: the suite's attack stage from Python, same structure as results.json."""

import doctest
import json
import re
from dataclasses import replace

import pytest
import torch
from torch import nn

import robustness
import robustness.api
from robustness import statistics
from robustness.errors import SuiteError
from robustness.results import REQUIRED_KEYS
from robustness.train import predict


@pytest.fixture(scope="module")
def api_results(tiny_models, tmp_path_factory):
    """The fixture's ERM model twice: once in memory, once as the state_dict the suite would save."""
    model = tiny_models["erm_s0"]
    path = tmp_path_factory.mktemp("api") / "erm.pt"
    torch.save(model.state_dict(), path)
    return robustness.evaluate(
        {"mine": model, "saved": f"digits_cnn:{path}"}, "digits", ["fgsm", "ifgsm"], [0, "4/255", 0.1],
        preset="tiny", families={"mine": "erm"}, device="cpu", progress=False,
    )


def test_returns_the_results_json_structure(api_results, digits, tiny_models):
    assert set(api_results) == set(REQUIRED_KEYS)  # what run_all.py's results.json holds, between points included
    assert set(api_results["between_points"]["models"]) == {"mine", "saved"}
    assert api_results["config"]["attack"]["eps"] == [0.0, 4 / 255, 0.1]  # "4/255" parsed as the CLI does
    assert api_results["config"]["attack"]["heatmap_eps"] == 0.1 and api_results["noise"] is None
    assert api_results["data"]["name"] == "digits" and api_results["environment"]["device"] == "cpu"
    mine, saved = api_results["models"]["mine"], api_results["models"]["saved"]
    assert (mine["family"], saved["family"]) == ("erm", "custom")
    assert mine["checkpoint"]["format"] == "in-memory" and saved["checkpoint"]["format"] == "state_dict"
    wrong = int((predict(tiny_models["erm_s0"], digits.test_x) != digits.test_y).sum())
    assert mine["clean_error"] == saved["clean_error"] == wrong / len(digits.test_y)
    assert {c["check"] for c in api_results["checks"]} >= {"ε = 0 equals clean", "non-zero input gradient"}


def test_returns_the_comparisons_as_data(api_results):
    """Each family against ERM at the headline ε (statistics.families): here ERM's model and a saved copy of it,
    so every per-image result agrees: a difference of exactly 0 with a zero-width interval, and no verdict."""
    rows = api_results["statistics"]["families"]
    assert api_results["statistics"]["baseline"] == "erm" and api_results["statistics"]["eps"] == 0.1
    assert [(r["family_a"], r["family_b"], r["kind"], r["attack"]) for r in rows] == [
        ("custom", "erm", "clean", None), ("custom", "erm", "white-box", "fgsm"),
        ("custom", "erm", "white-box", "ifgsm"), ("custom", "erm", "worst-case", "all")]
    assert all(r["difference"] == 0 and r["interval"] == [0.0, 0.0] and r["verdict"] == "not settled" for r in rows)
    again = statistics.compare(api_results, "saved", "mine", "white-box", "ifgsm", 0.1).to_dict()
    assert {k: again[k] for k in ("difference", "interval", "p_value", "verdict")} == \
        {k: rows[2][k] for k in ("difference", "interval", "p_value", "verdict")}  # the same numbers, from the data


def test_two_copies_of_one_model_transfer_exactly_as_white_box(api_results):
    grid = {(c["attack"], c["eps"], c["source"], c["target"]): c["wrong"] for c in api_results["attacks"]["cells"]}
    for attack in ("fgsm", "ifgsm"):
        for eps in api_results["config"]["attack"]["eps"]:
            white = grid[attack, eps, "mine", "mine"]
            assert white == grid[attack, eps, "saved", "saved"] == grid[attack, eps, "mine", "saved"] == grid[attack, eps, "saved", "mine"]
    assert grid["fgsm", 0.1, "mine", "mine"] > grid["fgsm", 0.0, "mine", "mine"]


def test_write_report_writes_results_and_report(api_results, tmp_path):
    report = robustness.write_report(api_results, tmp_path / "out")
    assert report == tmp_path / "out" / "report.md"
    assert json.loads((tmp_path / "out" / "results.json").read_text())["models"].keys() == {"mine", "saved"}
    text = report.read_text()
    assert "custom (in-memory)" in text and "custom (state_dict)" in text
    assert (tmp_path / "out" / "report.html").stat().st_size > 0


def test_same_call_same_numbers(api_results, tiny_models):
    again = robustness.evaluate({"mine": tiny_models["erm_s0"]}, "digits", ["fgsm"], [0.1], preset="tiny",
                                device="cpu", progress=False)
    first = [c["wrong"] for c in api_results["attacks"]["cells"] if (c["attack"], c["eps"], c["source"], c["target"]) == ("fgsm", 0.1, "mine", "mine")]
    assert [c["wrong"] for c in again["attacks"]["cells"]] == first


def test_images_outside_unit_range_are_refused(digits):
    eight_bit = replace(digits, test_images=digits.test_x * 255)
    with pytest.raises(SuiteError, match=r"pixels in \[0, 255\], not \[0, 1\]; divide 8-bit images by 255"):
        robustness.evaluate({"m": nn.Sequential(nn.Flatten(), nn.Linear(64, 10))}, eight_bit, ["fgsm"], [0.1], progress=False)


def test_bad_arguments_are_one_line_errors():
    linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    for kwargs, message in [
        ({"models": {}}, "evaluate() got no models"),
        ({"models": {"m": linear}, "attacks": ["nope"]}, "unknown attack 'nope'"),
        ({"models": {"m": linear}, "eps": [9]}, "outside [0, 1]"),
        ({"models": {"m": nn.Sequential(nn.Flatten(), nn.Linear(64, 3))}}, "returns 3 scores per image but the data set has 10"),
        ({"models": {"m": linear}, "dataset": "cifar99"}, "unknown data set 'cifar99'"),
        ({"models": {"erm_s0": linear}, "train_baselines": ["erm"], "overrides": {"clean": {"seeds": [0]}}},
         "model name 'erm_s0' is also the name of a trained baseline"),
    ]:
        with pytest.raises(SuiteError, match=re.escape(message)):
            robustness.evaluate(progress=False, preset="tiny", **kwargs)


def test_docstring_example_runs():
    assert doctest.testmod(robustness.api, raise_on_error=True).attempted >= 3


PLUGIN = '''
import torch
from robustness.methods import Method


class Flip(Method):
    """Train on mirrored images half the time: a user's trick in a few lines."""

    name, title, random, add_on = "flip", "random flips", True, True

    def transform(self, batch, trainee, streams):
        flip = torch.rand(len(batch.inputs), generator=streams.torch) < 0.5
        inputs = torch.where(flip[:, None, None, None].to(batch.inputs.device), batch.inputs.flip(3), batch.inputs)
        return batch.replace(inputs=inputs)


def make():
    return Flip()
'''


def test_your_own_training_method_trains_beside_the_baselines_and_is_named_by_its_family(tmp_path, monkeypatch, tiny_models):
    (tmp_path / "my_flips.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    results = robustness.evaluate({"mine": tiny_models["erm_s0"]}, "digits", ["fgsm"], [0, 0.1], preset="tiny",
                                  train_baselines=["erm", "my_flips:make"], overrides={"clean": {"seeds": [0]}},
                                  device="cpu", progress=False)
    flip = results["models"]["flip_s0"]
    assert (flip["method"], flip["family"], flip["display"]) == ("my_flips:make", "flip", "ERM + random flips")
    assert list(results["models"]) == ["erm_s0", "flip_s0", "mine"]
    assert {c["source"] for c in results["attacks"]["cells"]} == {"erm_s0", "flip_s0", "mine"}

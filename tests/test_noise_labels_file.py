"""``labels:FILE.pt:KEY``: CIFAR-N's layout (a dict of label arrays), read safely, its clean labels checked
against the training split's order; on files the tests write."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from noise import check_spec, corrupt
from robustness.config import override
from robustness.presets import PRESETS
from robustness.errors import SuiteError
from robustness.methods import parse_method
from robustness.stages.train import TrainRecipe

ROOT = Path(__file__).resolve().parents[1]
C = 10
KEYS = ("clean_label", "aggre_label", "worse_label", "random_label1", "random_label2", "random_label3")


def human_file(path: Path, clean: np.ndarray, seed: int = 0, as_tensors: bool = False) -> dict[str, np.ndarray]:
    """A CIFAR-N-shaped file: clean labels plus five noisy annotations of them (numpy arrays, as CIFAR-N saves)."""
    rng = np.random.default_rng(seed)
    table = {"clean_label": clean.copy()}
    for key in KEYS[1:]:
        noisy = clean.copy()
        flip = rng.random(len(clean)) < 0.3
        noisy[flip] = rng.integers(0, C, int(flip.sum()))
        table[key] = noisy
    torch.save({k: torch.as_tensor(v) for k, v in table.items()} if as_tensors else table, path)
    return table


def labels(n=500):
    return torch.as_tensor(np.random.default_rng(1).integers(0, C, n))


@pytest.mark.parametrize("as_tensors", [False, True])
def test_the_right_file_is_accepted_and_each_key_read(tmp_path, as_tensors):
    y = labels()
    table = human_file(tmp_path / "CIFAR-10_human.pt", y.numpy(), as_tensors=as_tensors)
    for key in KEYS[1:]:
        noisy = corrupt(y, f"labels:{tmp_path / 'CIFAR-10_human.pt'}:{key}", C, seed=0)
        assert torch.equal(noisy.labels, torch.as_tensor(table[key]))
        assert torch.equal(noisy.replaced, noisy.labels != y)
    assert corrupt(y, f"labels:{tmp_path / 'CIFAR-10_human.pt'}:clean_label", C, seed=0).realized_rate == 0


def test_a_shuffled_file_is_refused_in_one_line_that_says_how_to_fix_it(tmp_path):
    y = labels()
    order = np.random.default_rng(2).permutation(len(y))  # the same images, another order (e.g. a JPEG copy)
    human_file(tmp_path / "h.pt", y.numpy()[order])
    with pytest.raises(SuiteError) as err:
        corrupt(y, f"labels:{tmp_path / 'h.pt'}:worse_label", C, seed=0)
    message = str(err.value)
    differ = int((y.numpy()[order] != y.numpy()).sum())
    assert "\n" not in message and f"at {differ:,} of {len(y):,}" in message
    assert "order" in message and 'data.name = "cifar10"' in message


def test_clean_labels_of_another_length_are_refused(tmp_path):
    y = labels()
    human_file(tmp_path / "h.pt", y.numpy()[:-1])
    with pytest.raises(SuiteError, match=f"has {len(y) - 1:,} labels but the training split has {len(y):,}"):
        corrupt(y, f"labels:{tmp_path / 'h.pt'}:aggre_label", C, seed=0)


def test_a_wrong_length_without_clean_labels_is_refused(tmp_path):
    y = labels()
    torch.save({"worse_label": y.numpy()[:100]}, tmp_path / "w.pt")
    with pytest.raises(SuiteError, match="has 100 labels but the training split has 500.*train_subset = 0"):
        corrupt(y, f"labels:{tmp_path / 'w.pt'}:worse_label", C, seed=0)


def test_a_missing_key_lists_the_keys_there_are_before_anything_trains(tmp_path):
    human_file(tmp_path / "h.pt", labels().numpy())
    with pytest.raises(SuiteError) as err:
        check_spec(f"labels:{tmp_path / 'h.pt'}:worst_label")  # validation: labels=None, nothing trained
    assert "no key 'worst_label'" in str(err.value) and ", ".join(KEYS) in str(err.value)
    with pytest.raises(SuiteError, match="holds several label arrays .* name one, e.g. labels:.*h.pt:clean_label"):
        check_spec(f"labels:{tmp_path / 'h.pt'}")
    np.save(tmp_path / "flat.npy", labels().numpy())
    with pytest.raises(SuiteError, match="holds one label array, not named ones"):
        check_spec(f"labels:{tmp_path / 'flat.npy'}:worse_label")
    with pytest.raises(SuiteError, match="file .*nowhere.pt not found"):
        check_spec(f"labels:{tmp_path / 'nowhere.pt'}:worse_label")


def test_npz_files_are_read_without_pickles(tmp_path):
    y = labels()
    table = {"clean_label": y.numpy(), "worse_label": (y.numpy() + 1) % C}
    np.savez(tmp_path / "h.npz", **table)
    assert torch.equal(corrupt(y, f"labels:{tmp_path / 'h.npz'}:worse_label", C, 0).labels, torch.as_tensor(table["worse_label"]))
    np.savez(tmp_path / "s.npz", clean_label=y.numpy()[::-1].copy(), worse_label=table["worse_label"])
    with pytest.raises(SuiteError, match="not in the split's order"):
        corrupt(y, f"labels:{tmp_path / 's.npz'}:worse_label", C, 0)


class Payload:
    """An object whose unpickling would run code: a file holding one must be refused, not loaded."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_a_file_that_needs_arbitrary_unpickling_is_refused(tmp_path, capsys):
    torch.save({"worse_label": labels().numpy(), "extra": Payload()}, tmp_path / "evil.pt", pickle_module=pickle)
    with pytest.raises(SuiteError, match="cannot be read safely"):
        check_spec(f"labels:{tmp_path / 'evil.pt'}:worse_label")
    assert "unpickled!" not in capsys.readouterr().out
    torch.save({"worse_label": np.array(["a", "b"], dtype=object)}, tmp_path / "objects.pt")
    with pytest.raises(SuiteError):
        check_spec(f"labels:{tmp_path / 'objects.pt'}:worse_label")


def test_the_unit_recipe_hashes_the_file_and_names_the_key(tmp_path):
    human_file(tmp_path / "h.pt", labels().numpy())
    config = override(PRESETS["tiny"], {"noise": {"specs": [f"labels:{tmp_path / 'h.pt'}:worse_label"]}})
    spec = f"labels:{tmp_path / 'h.pt'}:worse_label"
    first = TrainRecipe.of(config, parse_method("erm"), 0, noise_spec=spec)
    assert first.noise.file_sha256 and first.noise.spec == spec and first.to_json()["noise"]["file_sha256"]
    human_file(tmp_path / "h.pt", labels().numpy(), seed=5)  # other annotations in the same file name: another unit
    assert TrainRecipe.of(config, parse_method("erm"), 0, noise_spec=spec).key != first.key


def run_noise_cli(*args):
    return subprocess.run([sys.executable, "-m", "noise", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_python_m_noise_trains_on_a_human_file_and_refuses_a_shuffled_one(tmp_path, digits):
    y = digits.train_y.numpy()
    (tmp_path / "mlp.toml").write_text('[train]\narch = "mlp"\n')
    common = ["--preset", "tiny", "--config", str(tmp_path / "mlp.toml"), "--levels", "--methods", "erm",
              "--epochs", "1", "--out", str(tmp_path / "out"), "--quiet"]
    human_file(tmp_path / "shuffled.pt", y[np.random.default_rng(0).permutation(len(y))])
    done = run_noise_cli(*common, "--specs", f"labels:{tmp_path / 'shuffled.pt'}:worse_label", "--run-id", "bad")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not in the split's order" in done.stderr and not (tmp_path / "out" / "bad" / "results.json").exists()
    table = human_file(tmp_path / "human.pt", y)
    done = run_noise_cli(*common, "--specs", f"labels:{tmp_path / 'human.pt'}:worse_label", "--run-id", "good")
    assert done.returncode == 0, done.stderr
    noise = json.loads((tmp_path / "out" / "good" / "results.json").read_text())["noise"]
    (corruption,) = noise["corruptions"]
    assert corruption["realized_rate"] == pytest.approx(float((table["worse_label"] != y).mean()))

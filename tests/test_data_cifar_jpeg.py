"""Integration on real CIFAR-10 images (../shared/data/cifar10-jpeg.tar.gz; skipped when absent):
load a stratified few thousand as an image folder, train the CPU network briefly with the
device augmentation, and attack it."""

import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from attacks.evaluate import evaluate_models
from robustness.config import AttackConfig, DataConfig
from robustness.presets import PRESETS
from robustness.data import load
from robustness.methods import parse_method
from robustness.train import fit

ARCHIVE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-jpeg.tar.gz"
PER_CLASS = {"train": 200, "test": 50}  # 2,000 training and 500 test images


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    if not ARCHIVE.is_file():
        pytest.skip(f"real CIFAR-10 archive not found at {ARCHIVE}")
    root = tmp_path_factory.mktemp("cifar10-jpeg")
    taken: dict[tuple[str, str], int] = {}

    def wanted(member: tarfile.TarInfo) -> bool:
        parts = Path(member.name).parts
        if not member.isfile() or len(parts) != 3:
            return False
        key = (parts[0], parts[1])  # (train|test, class)
        taken[key] = taken.get(key, 0) + 1
        return taken[key] <= PER_CLASS.get(parts[0], 0)

    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(root, members=[m for m in archive if wanted(m)], filter="data")
    return root


def test_real_cifar10_trains_above_chance_and_attacks_run(cifar_folder, one_thread):
    split = load(DataConfig(name=f"imagefolder:{cifar_folder}"))
    assert (len(split.train_y), len(split.test_y), split.input_shape) == (2000, 500, (3, 32, 32))
    assert torch.bincount(split.train_y).tolist() == [200] * 10
    assert split.classes[:3] == ("airplane", "automobile", "bird")
    assert 0.4 < split.mean[0] < 0.55 and 0.2 < split.std[0] < 0.3  # CIFAR-10's red channel: 0.49, 0.25

    # The CPU preset's network, schedule and augmentation; batches of 64, not 256, so that 2,000 images give enough
    # steps (at 256, 16 steps leave the net at chance).
    train = replace(PRESETS["cifar10-cpu"].train, batch_size=64)
    cpu = torch.device("cpu")
    trained = fit(train.arch, parse_method("erm"), split, 0, train, cpu, epochs=3)
    assert trained.history[-1]["test_error"] < 0.78  # chance is 0.9 (measured: 0.60)

    config = AttackConfig(attacks=("fgsm",), eps=(0.0, 8 / 255), heatmap_eps=8 / 255, batch_size=500)
    result = evaluate_models({"erm_s0": trained.model}, {"erm_s0": "erm"}, split, config, cpu, progress=False)
    errors = {c["eps"]: c["error"] for c in result["attacks"]["cells"]}
    assert errors[0.0] == result["attacks"]["clean"]["erm_s0"]["error"] == trained.history[-1]["test_error"]
    assert errors[8 / 255] > errors[0.0] + 0.2  # the attack works on real images

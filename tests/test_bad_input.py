"""The catalogue of bad input: each a one-line error naming the problem and the fix, and no partial output.

(Checkpoint files, --model NAME=SPEC, and a data root without data belong to
the checkpoint and data-set work and are tested there.)
"""

import errno
import json
import os
import shutil

import numpy as np
import pytest
import torch

from robustness.cli import main
from robustness.data import DATASETS, make_split
from robustness.errors import SuiteError


def one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("run_all.py: error: ") and err.strip().count("\n") == 0, err
    return err


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[attack]\neps = [-0.1]\nheatmap_eps = -0.1\n", "ε -0.1 is outside [0, 1]"),
        ("[attack]\neps = [0, 1.5]\n", "ε 1.5 is outside [0, 1]"),
        ('[data]\nname = "mnist-typo"\n', "unknown data set 'mnist-typo'; choose one of: cifar10, cifar100, digits"),
        ('[train]\narch = "resnet1000"\n', "unknown model 'resnet1000'; choose one of:"),
        ('[attack]\nattacks = ["pgd-typo"]\n', "unknown attack 'pgd-typo'; choose one of:"),
        ('[noise]\nnoise_model = "gaussian-typo"\n', "unknown noise model 'gaussian-typo'; choose one of:"),
        ('[clean]\nmethods = ["cutmix-typo"]\n', "unknown training method 'cutmix-typo'; choose one of:"),
        ('[noise]\nmethods = ["mixup:x"]\n', "has a parameter that is not a number; write e.g. mixup:8"),
        ('preset = "huge"\n', "unknown preset 'huge'; choose one of:"),
        ("[train\nepochs = 3\n", "is not valid TOML"),
        ("[train]\nepoch = 3\n", "unknown key train.epoch; valid keys:"),
        ('[train]\nepochs = "many"\n', "train.epochs must be a number, not 'many'"),
    ],
)
def test_bad_configuration(tmp_path, capsys, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    assert message in one_line_error(["--config", str(path), "--out", str(tmp_path / "out")], capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("eps", ["-0.1", "2", "8"])
def test_eps_flag_out_of_range(tmp_path, capsys, eps):
    assert "is outside [0, 1]" in one_line_error(["--eps", "0", eps, "--out", str(tmp_path / "out")], capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("pixels, message", [(np.nan, "contains NaN or infinite pixels"), (2.0, ", 2], not [0, 1]; divide 8-bit images by 255")])
def test_images_outside_unit_range_or_nan_through_the_data_path(tmp_path, capsys, monkeypatch, pixels, message):
    def bad_digits(config):
        images = np.random.default_rng(0).random((60, 1, 4, 4)).astype(np.float32)
        images[3, 0, 1, 1] = pixels
        return make_split("bad", images, np.arange(60) % 3, ["a", "b", "c"], config)

    monkeypatch.setitem(DATASETS, "bad", bad_digits)
    path = tmp_path / "bad.toml"
    path.write_text('preset = "tiny"\n[data]\nname = "bad"\n')
    err = one_line_error(["--config", str(path), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert message in err and "data set 'bad'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_device_cuda_without_cuda(tmp_path, capsys):
    err = one_line_error(["--preset", "tiny", "--device", "cuda", "--out", str(tmp_path / "out")], capsys)
    assert "CUDA is not available here; use --device cpu or auto" in err
    assert not (tmp_path / "out").exists()


def test_out_that_cannot_hold_a_directory(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = one_line_error(["--preset", "tiny", "--out", str(blocker / "reports"), "--quiet"], capsys)
    assert "cannot create run directory" in err and "pass a writable --out" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_read_only_out(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir(mode=0o555)
    err = one_line_error(["--preset", "tiny", "--out", str(out), "--quiet"], capsys)
    assert "pass a writable --out" in err and not list(out.iterdir())


def test_run_id_naming_a_directory_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "out" / "mine").mkdir(parents=True)
    (tmp_path / "out" / "mine" / "thesis.tex").write_text("keep me")
    err = one_line_error(["--preset", "tiny", "--out", str(tmp_path / "out"), "--run-id", "mine", "--quiet"], capsys)
    assert "exists and is not a run directory; pass another --run-id" in err
    assert [p.name for p in (tmp_path / "out" / "mine").iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--preset", "tiny"], "drop --preset, --config, --out and --run-id"),
        ([], "has no config.json, so it is not a run directory to resume"),
    ],
)
def test_bad_resume(tmp_path, capsys, argv, message):
    assert message in one_line_error(["--resume", str(tmp_path), *argv], capsys)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name the file being written")
def test_disk_full_while_writing_keeps_finished_units_and_leaves_no_half_file(tmp_path, monkeypatch, small_run):
    from robustness.suite import run_suite, saved_config
    from robustness.units import UnitStore

    run_dir = tmp_path / "small"
    shutil.copytree(small_run / "units", run_dir / "units", ignore=shutil.ignore_patterns("attack-*"))
    shutil.copy(small_run / "config.json", run_dir / "config.json")
    config = saved_config(run_dir)
    real_fsync, attack_writes = os.fsync, []

    def fsync_filling_the_disk(fd):
        if "/units/.attack-" in os.readlink(f"/proc/self/fd/{fd}"):
            attack_writes.append(fd)
            if len(attack_writes) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_filling_the_disk)
    with pytest.raises(SuiteError) as caught:
        run_suite(config, progress=False, run_dir=run_dir)
    message = str(caught.value)
    assert "\n" not in message and "No space left on device" in message and "rerun the same command" in message
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / "results.json").exists()
    store = UnitStore(run_dir)
    finished = [json.loads(p.read_text())["recipe"] for p in (run_dir / "units").glob("attack-*.json")]
    finished += [torch.load(p, weights_only=True)["recipe"] for p in (run_dir / "units").glob("train-*.pt")]
    assert len(finished) == 1 + 3 and all(store.load(recipe) is not None for recipe in finished)

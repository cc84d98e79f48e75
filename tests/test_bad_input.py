"""The catalogue of bad input: each case a one-line error that names the problem and the fix, exit status 2,
and nothing written. The README's bad-input paragraph lists every case by its label (checked below)."""

import errno
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_hostile_files import Net, declaring, in_sizes, rewritten

from robustness.cli import main
from robustness.config import to_dict
from robustness.presets import PRESETS
from robustness.results import write_json, write_marker
from robustness.stages import recipe_from_json
from robustness.units import LOCK_NAME
from robustness.data import CACHE_NAME, DATASETS, make_split
from robustness.errors import SuiteError

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    label: str  # as the README's bad-input paragraph names it
    argv: list[str]  # "{tmp}" stands for the test's folder; --out {tmp}/out is added unless the case resumes
    message: str  # the start of what follows "run_all.py: error: ", or a part of it after "…"
    toml: str | None = None  # written to {tmp}/bad.toml and passed as --config
    setup: str | None = None  # a function of SETUPS that prepares {tmp}
    skip: bool = False  # not testable on this machine


def image_folder(root: Path, classes=("cat", "dog"), size=8, per_class=4) -> Path:
    for part in ("train", "test"):
        for k, name in enumerate(classes):
            (root / part / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = np.full((size, size, 3), 40 * k + 10 * i, dtype=np.uint8)
                Image.fromarray(pixels).save(root / part / name / f"{i}.png")
    return root


def not_a_run(tmp: Path, monkeypatch) -> None:
    (tmp / "out" / "mine").mkdir(parents=True)
    (tmp / "out" / "mine" / "thesis.tex").write_text("keep me")


def unreadable_image(tmp: Path, monkeypatch) -> None:
    image_folder(tmp / "images")
    (tmp / "images" / "train" / "dog" / "garbage.png").write_bytes(b"not an image at all")


def one_class(tmp: Path, monkeypatch) -> None:
    image_folder(tmp / "images", classes=("cat",))


def big_images(tmp: Path, monkeypatch) -> None:
    image_folder(tmp / "images", size=32)


def out_is_a_file(tmp: Path, monkeypatch) -> None:
    (tmp / "blocker").write_text("")


def pixels(value: float):
    def setup(tmp: Path, monkeypatch) -> None:
        def load(config):
            images = np.random.default_rng(0).random((60, 1, 4, 4)).astype(np.float32)
            images[3, 0, 1, 1] = value
            return make_split("bad", images, np.arange(60) % 3, ["a", "b", "c"], config)

        monkeypatch.setitem(DATASETS, "bad", load)

    return setup


def hostile_export(tmp: Path, monkeypatch) -> None:
    """The issue's .pt2: a Symbol(...) in model.json replaced by code that would create {tmp}/PWNED."""
    torch.manual_seed(0)
    program = torch.export.export(Net().eval(), (torch.rand(4, 1, 8, 8),), dynamic_shapes=({0: torch.export.Dim("batch", min=3)},))
    torch.export.save(program, tmp / "clean.pt2")
    rewritten(tmp / "clean.pt2", tmp / "evil.pt2", in_sizes(tmp / "PWNED"))
    (tmp / "clean.pt2").unlink()


def zip_bomb(tmp: Path, monkeypatch) -> None:
    declaring(tmp / "bomb.pt2", "net/data/weights/weight_0", 2**31)


def pk_but_not_zip(tmp: Path, monkeypatch) -> None:
    (tmp / "fake.pt").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 16)


def users_project(tmp: Path, monkeypatch) -> None:
    proj = tmp / "out" / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "config.json").write_text('{"name": "my project", "lr": 0.1}\n')
    (proj / "sub" / ".notes.tmp").write_text("half-written notes\n")


def lock_is_a_symlink(tmp: Path, monkeypatch) -> None:
    run = tmp / "run"
    run.mkdir()
    write_json(run / "config.json", to_dict(replace(PRESETS["tiny"], out=str(tmp))))
    write_marker(run)
    (tmp / "victim.txt").write_text("a file of the user's\n")
    (run / LOCK_NAME).symlink_to(tmp / "victim.txt")


SETUPS = {"not_a_run": not_a_run, "unreadable_image": unreadable_image, "one_class": one_class, "big_images": big_images,
          "out_is_a_file": out_is_a_file, "nan_pixels": pixels(np.nan), "pixels_above_one": pixels(2.0),
          "hostile_export": hostile_export, "zip_bomb": zip_bomb, "pk_but_not_zip": pk_but_not_zip,
          "users_project": users_project, "lock_is_a_symlink": lock_is_a_symlink}
NO_CUDA = not torch.cuda.is_available()

CATALOGUE = [
    # configuration
    Case("an unknown preset", ["--preset", "huge"], "unknown preset 'huge'; choose one of: quick, tiny"),
    Case("a --config that does not exist", ["--config", "{tmp}/missing.toml"], "config file {tmp}/missing.toml does not exist"),
    Case("a --config that is a directory", ["--config", "{tmp}"], "config file {tmp} is a directory"),
    Case("TOML nested too deeply to parse", [], "is not valid TOML", toml="x = " + "[" * 100_000 + "]" * 100_000 + "\n"),
    Case("malformed TOML", [], "config file {tmp}/bad.toml is not valid TOML", toml="[train\nepochs = 3\n"),
    Case("an unknown TOML key", [], "unknown key train.epoch; valid keys: arch, epochs", toml="[train]\nepoch = 3\n"),
    Case("a value of the wrong type", [], "train.epochs must be a number, not 'many'", toml='[train]\nepochs = "many"\n'),
    Case("epochs that are not a whole number", [], "train.epochs must be a whole number, not 2.5", toml="[train]\nepochs = 2.5\n"),
    Case("epochs given as true/false", [], "train.epochs must be a number, not True", toml="[train]\nepochs = true\n"),
    Case("a learning rate that is NaN", [], "train.lr must be a finite number, not nan", toml="[train]\nlr = nan\n"),
    Case("a negative learning rate", [], "train.lr must be positive, not -1", toml="[train]\nlr = -1\n"),
    Case("a negative seed", ["--seeds", "-1"], "clean.seeds must be ≥ 0, not -1"),
    Case("a seed given twice", ["--seeds", "0", "0"], "clean.seeds lists seed 0 twice"),
    Case("a seed above 2³² − 1", ["--seeds", "99999999999999999999"], "clean.seeds must be at most 4294967295"),
    Case("a label-noise seed above 2³² − 1", ["--noise-seeds", "0", "4294967296"], "noise.seeds must be at most 4294967295"),
    Case("a data split seed above 2³² − 1 in TOML", [], "data.split_seed must be at most 4294967295",
         toml="[data]\nsplit_seed = 99999999999999999999\n"),
    Case("an attack seed above 2³² − 1 in TOML", [], "attack.seed must be at most 4294967295", toml="[attack]\nseed = 4294967296\n"),
    Case("epochs above the ceiling", ["--epochs", "1000000000"], "train.epochs is 1000000000, above the ceiling of 10,000"),
    Case("label-noise epochs above the ceiling", ["--noise-epochs", "1000000000"], "noise.epochs is 1000000000, above the ceiling"),
    Case("attack steps above the ceiling", [], "attack.pgd.steps is 1000000000, above the ceiling of 100,000",
         toml="[attack.pgd]\nsteps = 1000000000\n"),
    Case("Square queries above the ceiling", [], "attack.square.queries is 1000000000, above the ceiling of 1,000,000",
         toml="[attack.square]\nqueries = 1000000000\n"),
    Case("PGD restarts above the ceiling", [], "attack.pgd.restarts is 1000000000, above the ceiling of 1,000",
         toml="[attack.pgd]\nrestarts = 1000000000\n"),
    Case("an empty attack list", [], "attack.attacks must not be empty", toml="[attack]\nattacks = []\n"),
    Case("an ε outside [0, 1]", ["--eps", "0", "8"], "ε 8 is outside [0, 1]"),
    Case("a negative ε", ["--eps", "0", "-0.1"], "ε '-0.1' is not a radius ≥ 0"),
    Case("an L2 ε larger than any two images are apart", ["--eps", "0", "9"],
         "L2 ε 9 exceeds 8, the largest L2 distance between two 1×8×8 images", toml='[attack]\nnorm = "l2"\n'),
    Case("an ε that is not a number", ["--eps", "0", "eight"], "ε 'eight' is not a number"),
    Case("an ε given twice", ["--eps", "0", "0.1", "0.1"], "attack.eps lists ε 0.1 twice; give each radius once"),
    Case("an ε given twice in two spellings", ["--eps", "0", "0.1", "25.5/255"], "attack.eps lists ε 0.1 twice"),
    Case("a heatmap ε not among the ε", ["--eps", "0", "0.1", "--heatmap-eps", "0.2"],
         "attack.heatmap_eps 0.2 is not one of attack.eps"),
    Case("an unknown data set", ["--dataset", "mnist-typo"], "unknown data set 'mnist-typo'; choose one of:"),
    Case("an unknown model", [], "unknown model 'resnet1000'; choose one of:", toml='[train]\narch = "resnet1000"\n'),
    Case("an unknown training method", [], "unknown training method 'cutmix-typo'; choose one of:",
         toml='[clean]\nmethods = ["cutmix-typo"]\n'),
    Case("a method parameter that is not a number", [], "training method 'mixup:x' has a parameter that is not a number",
         toml='[noise]\nmethods = ["mixup:x"]\n'),
    Case("a method option that does not exist", [], "training method 'mixup' has no option 'colour'",
         toml='[clean]\nmethods = ["mixup:1,colour=red"]\n'),
    Case("a training method that cannot be imported", [], "training method 'no_such_module:make': cannot import no_such_module",
         toml='[clean]\nmethods = ["no_such_module:make"]\n'),
    Case("an unknown attack", [], "unknown attack 'pgd-typo'; choose one of:", toml='[attack]\nattacks = ["pgd-typo"]\n'),
    Case("an unknown torchattacks attack", [], "unknown torchattacks attack 'CW' in 'torchattacks:CW'; L∞ attacks: FGSM",
         toml='[attack]\nattacks = ["torchattacks:CW"]\n'),
    Case("an unknown torchattacks argument", [], "torchattacks.MIFGSM has no argument 'stpes'",
         toml='[attack]\nattacks = ["torchattacks:MIFGSM,stpes=3"]\n'),
    Case("an attack without an L2 version", [], "attack 'mifgsm' has no L2 version; with attack.norm = 'l2' choose from:",
         toml='[attack]\nnorm = "l2"\nattacks = ["pgd", "mifgsm"]\n'),
    Case("an unknown worst-case attack", [], "unknown attack 'autoatack'; choose one of:",
         toml='[attack]\nworst_case_attacks = ["autoatack"]\n'),
    Case("an unknown noise model", [], "unknown noise model 'gaussian-typo'; choose one of:",
         toml='[noise]\nnoise_model = "gaussian-typo"\n'),
    Case("a noise rate outside [0, 1]", [], "noise uniform:1.5 has p outside [0, 1]", toml='[noise]\nspecs = ["uniform:1.5"]\n'),
    Case("a missing noise file", [], "noise labels:{tmp}/y.npy: file not found", toml='[noise]\nspecs = ["labels:{tmp}/y.npy"]\n'),
    # where the run goes
    Case("a --run-id naming a folder of the user's with its own config.json", ["--run-id", "proj"],
         "{tmp}/out/proj exists and is not a run directory this suite wrote", setup="users_project"),
    Case("a run directory whose .lock is a symbolic link", ["--resume", "{tmp}/run"],
         "is a symbolic link, not the suite's lock file", setup="lock_is_a_symlink"),
    Case("a run id that is not a plain folder name", ["--run-id", "../escape"], "run id '../escape' must be a plain folder name"),
    Case("a run id longer than 255 bytes", ["--run-id", "r" * 256], "run id rrrrrrrrrrrrrrrrrrrr… is 256 bytes long"),
    Case("an --out with a folder name longer than 255 bytes", ["--out", "{tmp}/" + "d" * 300],
         "--out has a folder name of 300 bytes"),
    Case("a run directory path longer than 4096 bytes", ["--out", "{tmp}/" + "/".join(["d" * 250] * 17)],
         "the run directory's path is"),
    Case("a --run-id naming a folder that is not a run", ["--run-id", "mine"], "{tmp}/out/mine exists and is not a run directory",
         setup="not_a_run"),
    Case("an --out that cannot be written", ["--out", "{tmp}/blocker/reports"], "cannot create run directory", setup="out_is_a_file"),
    Case("--resume with --preset", ["--resume", "{tmp}", "--preset", "tiny"], "--resume takes the configuration and place"),
    Case("--resume of a folder that is not a run", ["--resume", "{tmp}"], "{tmp} has no config.json, so it is not a run"),
    Case("--ray-address without --executor ray", ["--ray-address", "auto"], "--ray-address needs --executor ray"),
    Case("--device cuda without CUDA", ["--device", "cuda"], "--device cuda was asked for but CUDA is not available here",
         skip=not NO_CUDA),
    # models
    Case("--no-train without --model", ["--no-train"], "--no-train (clean.enabled = false) leaves nothing to evaluate"),
    Case("a malformed --model", ["--model", "mine"], "model spec 'mine' has no NAME="),
    Case("a .pt2 whose model.json holds code", ["--no-train", "--model", "evil={tmp}/evil.pt2"],
         "models/model.json", setup="hostile_export"),
    Case("a checkpoint declaring a 2 GiB member (a zip bomb)", ["--no-train", "--model", "m={tmp}/bomb.pt2"],
         "zip bomb", setup="zip_bomb"),
    Case("a checkpoint that starts like a zip archive but is not one", ["--no-train", "--model", "m={tmp}/fake.pt"],
         "a corrupt zip archive", setup="pk_but_not_zip"),
    Case("a missing checkpoint", ["--model", "m=missing.pt2"], "model 'm': checkpoint missing.pt2 does not exist"),
    Case("a model name used twice", ["--model", "erm_s0=x.pt2"], "model name 'erm_s0' is used twice"),
    # data
    Case("a data set whose files are missing", [], "data set 'cifar10' is missing or corrupted in {tmp}/cifar-10-batches-py",
         toml='[data]\nname = "cifar10"\nroot = "{tmp}"\ndownload = false\n'),
    Case("images with NaN", ["--dataset", "bad"], "data set 'bad' contains NaN or infinite pixels", setup="nan_pixels"),
    Case("images outside [0, 1]", ["--dataset", "bad"], "data set 'bad' has pixels in [", setup="pixels_above_one"),
    Case("an image folder with one class", ["--dataset", "imagefolder:{tmp}/images"], "data set 'imagefolder:images' has 1 class",
         setup="one_class"),
    Case("an unreadable image", ["--dataset", "imagefolder:{tmp}/images"], "image folder {tmp}/images: train/dog/garbage.png cannot be read",
         setup="unreadable_image"),
    Case("images too large for the preset's model", ["--preset", "quick", "--dataset", "imagefolder:{tmp}/images"],
         "data set 'imagefolder:images' has 32×32 images but train.arch digits_cnn is made for images up to 16×16",
         setup="big_images"),
]


def fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` but an image folder's decode cache, which belongs to the data, not the run."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != CACHE_NAME}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.label, marks=pytest.mark.skipif(c.skip, reason="not here")) for c in CATALOGUE])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys, monkeypatch):
    if case.setup:
        SETUPS[case.setup](tmp_path, monkeypatch)
    argv = ["--quiet"] + [fill(a, tmp_path) for a in case.argv]
    if "--resume" not in case.argv and "--preset" not in case.argv:
        argv += ["--preset", "tiny"]
    if case.toml is not None:
        (tmp_path / "bad.toml").write_text(fill(case.toml, tmp_path))
        argv += ["--config", str(tmp_path / "bad.toml")]
    if "--resume" not in case.argv and "--out" not in case.argv:
        argv += ["--out", str(tmp_path / "out")]
    before = snapshot(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("run_all.py: error: ") and err.count("\n") == 1, err
    assert fill(case.message, tmp_path) in err
    assert snapshot(tmp_path) == before  # --out untouched: nothing written anywhere


def test_the_readme_lists_every_case():
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("<!-- bad-input:start -->"):readme.index("<!-- bad-input:end -->")]
    missing = [c.label for c in CATALOGUE if c.label not in " ".join(paragraph.split())]
    assert not missing, f"add to the README's bad-input paragraph: {missing}"
    listed = {" ".join(item.split()) for item in paragraph.split("(each tested):", 1)[1].split(";")}
    extra = sorted(item for item in listed if item and item.rstrip(".") not in {c.label for c in CATALOGUE})
    assert not extra, f"the README lists cases the catalogue does not test: {extra}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_read_only_out(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir(mode=0o555)
    assert main(["--preset", "tiny", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "pass a writable --out" in err and not list(out.iterdir())



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
    assert len(finished) == 1 + 3 and all(store.load(recipe_from_json(r)) is not None for r in finished)


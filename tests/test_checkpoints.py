"""Custom checkpoints: every format round-trips, joins the transfer matrix, and every bad input is one line."""

import argparse
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from robustness import checkpoints
from robustness.checkpoints import _is_binary, file_format, load_custom_models, load_model, parse_model_spec
from robustness.errors import SuiteError
from robustness.models import build_model
from robustness.validation import load_config

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


def export(model: nn.Module, path: Path, shape=(1, 8, 8), dynamic=True) -> Path:
    example = (torch.rand(4, *shape),)
    program = torch.export.export(model, example, dynamic_shapes=({0: torch.export.Dim("batch")},) if dynamic else None)
    torch.export.save(program, path)
    return path


def script(model: nn.Module, path: Path) -> Path:
    with pytest.warns(Warning):  # torch.jit is deprecated since 2.14, and still what many people have
        torch.jit.save(torch.jit.script(model), str(path))
    return path


@pytest.fixture(scope="module")
def saved(tiny_models, tmp_path_factory):
    """The trained ERM digits model in every format, and its reference logits."""
    model = tiny_models["erm_s0"].eval()
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.save(model.state_dict(), folder / "full_state.pt")  # as the suite saves reports/<run>/models/*.pt
    torch.save(model[1].state_dict(), folder / "body_state.pt")  # without the Normalize in front
    torch.save(model, folder / "whole_pickle.pt")
    return {
        "model": model,
        "export": export(model, folder / "net.pt2"),
        "torchscript": script(model, folder / "net.ts"),
        "full_state": folder / "full_state.pt",
        "body_state": folder / "body_state.pt",
        "pickle": folder / "whole_pickle.pt",
        "folder": folder,
    }


def round_trip_specs(saved) -> dict[str, str]:
    return {
        "export": f"{saved['export']}",
        "torchscript": f"{saved['torchscript']}",
        "arch": f"digits_cnn:{saved['full_state']}",
        "arch_body": f"digits_cnn:{saved['body_state']},norm=data",
        "factory": f"robustness.models:digits_cnn:{saved['body_state']},norm=data",
    }


@pytest.mark.parametrize("kind", ["export", "torchscript", "arch", "arch_body", "factory"])
def test_every_format_round_trips_to_the_same_logits(saved, digits, kind):
    spec = parse_model_spec(f"mine={round_trip_specs(saved)[kind]}")
    model, source = load_model(spec, digits, CPU)
    with torch.no_grad():
        expected, got = saved["model"](digits.test_x), model(digits.test_x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert source["format"] == {"export": "export", "torchscript": "torchscript"}.get(kind, "state_dict")
    assert len(source["sha256"]) == 64 and Path(source["path"]).is_absolute()
    norm = source["normalization"]
    if kind in ("export", "torchscript"):
        assert norm == "none"  # the model normalizes inside itself
    else:  # the data set's statistics, saved in the checkpoint or put in front
        assert norm["mean"] == pytest.approx(list(digits.mean)) and norm["std"] == pytest.approx(list(digits.std))
    assert not any(p.requires_grad for p in model.parameters())  # attacks need input gradients only


def test_format_is_read_from_the_archive_not_the_extension(saved, tmp_path):
    renamed = tmp_path / "looks_like_weights.pt"
    renamed.write_bytes(saved["export"].read_bytes())
    assert file_format(renamed) == "export"
    assert file_format(saved["torchscript"]) == "torchscript"
    assert file_format(saved["full_state"]) == "torch.save"


def test_pickled_model_is_refused_without_trust_and_loads_with_it(saved, digits):
    spec = parse_model_spec(f"mine={saved['pickle']}")
    with pytest.raises(SuiteError, match=r"weights_only=True\) refuses.*--trust-checkpoint"):
        load_model(spec, digits, CPU)
    model, source = load_model(spec, digits, CPU, trust=True)
    assert source["format"] == "pickle" and source["trusted"] is True
    with torch.no_grad():
        torch.testing.assert_close(model(digits.test_x[:50]), saved["model"](digits.test_x[:50]))


def test_nested_training_checkpoint_and_dataparallel_prefix_load(saved, digits, tmp_path):
    state = {f"module.{k}": v for k, v in saved["model"].state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "ckpt.pt")
    model, _ = load_model(parse_model_spec(f"m=digits_cnn:{tmp_path / 'ckpt.pt'}"), digits, CPU)
    with torch.no_grad():
        torch.testing.assert_close(model(digits.test_x[:50]), saved["model"](digits.test_x[:50]))


def test_load_custom_models_probes_and_records(saved, digits):
    specs = (f"a={saved['export']}", f"b=digits_cnn:{saved['full_state']},family=erm")
    loaded = load_custom_models(specs, digits, CPU)
    assert list(loaded) == ["a", "b"]
    assert loaded["a"].family == "custom" and loaded["b"].family == "erm"
    assert loaded["a"].probe["outputs"] == "logits" and loaded["a"].probe["input_grad_norm"] > 0
    assert loaded["b"].probe["output_shape"] == [32, 10]
    assert loaded["a"].source["spec"] == specs[0]


# --- native code inside archives ------------------------------------------------------------------


@pytest.fixture(scope="module")
def marker_library(tmp_path_factory):
    """A shared library whose constructor writes a marker file: if the file appears, loading ran native code."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no C compiler (gcc) to build a shared library with")
    folder = tmp_path_factory.mktemp("native")
    marker = folder / "ran.txt"
    (folder / "evil.c").write_text(f"""#include <stdio.h>
__attribute__((constructor)) static void run_on_load(void) {{
    FILE *f = fopen({json.dumps(str(marker))}, "w");
    if (f) {{ fputs("ran", f); fclose(f); }}
}}
""")
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(folder / "evil.so"), str(folder / "evil.c")], check=True, capture_output=True)
    return folder / "evil.so", marker


def with_members(source: Path, target: Path, members: dict[str, bytes]) -> Path:
    """A copy of the zip archive ``source`` (a real checkpoint) with ``members`` added under its root folder."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as out:
        root = original.namelist()[0].split("/")[0]
        for info in original.infolist():
            out.writestr(info, original.read(info))
        for name, data in members.items():
            out.writestr(f"{root}/{name}", data)
    return target


AOTI = "data/aotinductor/model/evil.wrapper"  # the layout aoti_compile_and_package writes: *.wrapper.so and its metadata


def native_contents(marker_library) -> dict[str, bytes]:
    return {
        "library": marker_library[0].read_bytes(),
        "metadata": json.dumps({"AOTI_DEVICE_KEY": "cpu"}).encode(),
        "cpp": b"int main(void) { return 0; }",
        "executable": Path(sys.executable).read_bytes()[:4096],  # this platform's binary format, under an innocent name
    }


def aotinductor_archive(saved, marker_library, target: Path) -> Path:
    """The exported program plus an AOTInductor package whose library writes the marker: torch.export.load extracts
    it and dlopens it."""
    contents = native_contents(marker_library)
    return with_members(saved["export"], target, {f"{AOTI}.so": contents["library"], f"{AOTI}_metadata.json": contents["metadata"]})


def test_the_aotinductor_archive_runs_its_library_when_trusted(saved, marker_library, digits, tmp_path):
    """The attack the next tests refuse is real: trusted, the loader runs the library, then fails on the archive."""
    evil, marker = aotinductor_archive(saved, marker_library, tmp_path / "evil.pt2"), marker_library[1]
    marker.unlink(missing_ok=True)
    assert "truncated or not a PyTorch checkpoint" in error_of(f"x={evil}", digits, trust=True)
    assert marker.exists()
    marker.unlink()


@pytest.mark.parametrize(
    "source, route, members",
    [
        ("export", "", {f"{AOTI}.so": "library", f"{AOTI}_metadata.json": "metadata"}),
        ("export", "", {f"{AOTI}.cpp": "cpp"}),  # compiled on loading, with a compiler command read from the archive
        ("torchscript", "", {"extra/evil.so": "library"}),
        ("full_state", "digits_cnn:", {"data/blob": "executable"}),  # found by its magic bytes
    ],
    ids=["export_so", "export_cpp", "torchscript_so", "state_binary"],
)
def test_archive_member_with_native_code_is_refused_before_it_runs(saved, marker_library, digits, tmp_path, source, route, members):
    contents = native_contents(marker_library)
    archive = with_members(saved[source], tmp_path / "evil", {name: contents[kind] for name, kind in members.items()})
    marker = marker_library[1]
    marker.unlink(missing_ok=True)
    with pytest.raises(SuiteError) as info:
        load_custom_models((f"x={route}{archive}",), digits, CPU)
    message = str(info.value)
    assert "\n" not in message and f"/{next(iter(members))}, native code that would run as the file loads" in message
    assert "or pass --trust-checkpoint only if you trust where the file came from" in message
    assert ("re-export the model as a plain program (torch.export.save, not aoti_compile_and_package)" in message) == (source == "export")
    assert not marker.exists()  # refused from the member list: no loader opened the file


PE = b"MZ" + bytes(0x3A) + (0x80).to_bytes(4, "little") + bytes(0x80 - 0x40) + b"PE\0\0"  # a DOS stub's pointer to "PE\0\0"


@pytest.mark.parametrize(
    "head, binary",
    [(b"\x7fELF\x02\x01", True), (b"\xcf\xfa\xed\xfe\x07", True), (b"\xfe\xed\xfa\xce", True), (PE, True),
     (b"MZ" + bytes(200), False), (PE[:-4] + b"PX\0\0", False), (torch.arange(64.0).numpy().tobytes(), False), (b"", False)],
    ids=["elf", "macho64", "macho32", "pe", "mz_only", "mz_other", "tensor", "empty"],
)
def test_binary_formats_are_known_by_their_magic_bytes(head, binary):
    assert _is_binary(head) is binary


def test_cli_refuses_native_code_before_it_runs(saved, marker_library, tmp_path):
    evil, marker = aotinductor_archive(saved, marker_library, tmp_path / "evil.pt2"), marker_library[1]
    marker.unlink(missing_ok=True)
    done = run_all("--preset", "tiny", "--no-train", "--model", f"x={evil}", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "evil.wrapper.so, native code that would run as the file loads" in done.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_trusted_archive_skips_the_native_code_check(saved, digits, tmp_path):
    """--trust-checkpoint loads as before: TorchScript ignores a member it does not know."""
    extra = with_members(saved["torchscript"], tmp_path / "extra.ts", {"extra/lib.so": Path(sys.executable).read_bytes()[:4096]})
    model, source = load_model(parse_model_spec(f"x={extra}"), digits, CPU, trust=True)
    assert source["format"] == "torchscript" and source["unwrapped"] is None
    with torch.no_grad():
        torch.testing.assert_close(model(digits.test_x[:50]), saved["model"](digits.test_x[:50]))


def test_every_archive_the_loader_opens_is_closed_again(saved, digits, tmp_path, monkeypatch):
    """Each zipfile.ZipFile that robustness/checkpoints.py opens is closed when the load ends, loaded or refused
    (an archive left open holds its file: on Windows it cannot be replaced or deleted until garbage collection)."""
    opened = []

    class Tracked(zipfile.ZipFile):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)  # also keeps it alive: ZipFile.__del__ would close it

    monkeypatch.setattr(checkpoints, "zipfile", SimpleNamespace(**(vars(zipfile) | {"ZipFile": Tracked})))
    load_model(parse_model_spec(f"m={saved['export']}"), digits, CPU)
    loaded = len(opened)
    pickled = io.BytesIO()
    torch.save(argparse.Namespace(epoch=3), pickled)  # an object weights_only refuses
    refused = with_members(saved["export"], tmp_path / "pickled.pt2", {"data/extra.pt": pickled.getvalue()})
    assert "holds pickled objects (" in error_of(f"m={refused}", digits)
    assert loaded >= 3 and len(opened) >= 2 * loaded  # file_format, checked_format, the export pickles: each time
    assert [archive.fp for archive in opened] == [None] * len(opened)


# --- checkpoints from training scripts ------------------------------------------------------------


def paper_checkpoint(net, path: Path) -> Path:
    """What facebookresearch/mixup-cifar10's train.py writes (``net`` is DataParallel(model) there, on a GPU;
    ``acc`` and ``rng_state`` are tensors, so this is no state_dict)."""
    torch.save({"net": net, "acc": torch.tensor(90.0), "epoch": 3, "rng_state": torch.get_rng_state()}, path)
    return path


def explicit_norm(digits) -> str:
    """The data set's statistics as explicit options: the paper's models normalize outside the network."""
    return f"mean={'/'.join(map(str, digits.mean))},std={'/'.join(map(str, digits.std))}"


def saved_as(obj, path: Path) -> Path:
    torch.save(obj, path)
    return path


def training_checkpoints(saved, folder: Path) -> dict[str, Path]:
    body = saved["model"][1]  # the trained network without its Normalize
    return {
        "paper": paper_checkpoint(nn.DataParallel(body), folder / "ckpt.t7"),
        "paper_cpu": paper_checkpoint(body, folder / "ckpt_cpu.t7"),  # train.py without CUDA: no DataParallel
        "paper_state": paper_checkpoint(nn.DataParallel(body).state_dict(), folder / "ckpt_state.t7"),
        "dataparallel": saved_as(nn.DataParallel(body), folder / "dp.pt"),
        "model_state_dict": saved_as({"model_state_dict": body.state_dict(), "optimizer": {}}, folder / "msd.pt"),
    }


@pytest.mark.parametrize(
    "file, route, trust, unwrapped",
    [
        ("paper", "", True, "net.module"),
        ("paper_cpu", "", True, "net"),
        ("dataparallel", "", True, "module"),
        ("paper", "digits_cnn:", True, "net.module"),  # a whole model's weights for an architecture
        ("paper_state", "robustness.models:digits_cnn:", False, "net.module"),
        ("paper_state", "digits_cnn:", False, "net.module"),
        ("model_state_dict", "digits_cnn:", False, "model_state_dict"),
    ],
)
def test_training_checkpoints_load_to_the_same_logits(saved, digits, tmp_path, file, route, trust, unwrapped):
    spec = f"paper={route}{training_checkpoints(saved, tmp_path)[file]},{explicit_norm(digits)}"
    loaded = load_custom_models((spec,), digits, CPU, trust)["paper"]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(digits.test_x), saved["model"](digits.test_x))
    source = loaded.source
    assert source["unwrapped"] == unwrapped and source["format"] == ("pickle" if not route else "state_dict")
    assert source["normalization"] == {"from": "explicit", "mean": list(digits.mean), "std": list(digits.std)}


def test_paper_checkpoint_needs_trust_and_plain_files_record_no_unwrapping(saved, digits, tmp_path):
    paper = training_checkpoints(saved, tmp_path)["paper"]
    message = error_of(f"paper={paper},{explicit_norm(digits)}", digits)
    assert "is a pickle of arbitrary Python objects" in message and "--trust-checkpoint" in message
    loaded = load_custom_models((f"plain=digits_cnn:{saved['full_state']}",), digits, CPU)
    assert loaded["plain"].source["unwrapped"] is None


def test_trusted_pickle_of_classes_that_cannot_be_imported(tmp_path, monkeypatch, digits):
    """The paper's checkpoints pickle models.PreActResNet: loading needs that code importable, and says so."""
    (tmp_path / "paper_nets.py").write_text("from torch import nn\n\n\nclass Net(nn.Sequential):\n"
                                            "    def __init__(self):\n        super().__init__(nn.Flatten(), nn.Linear(64, 10))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import paper_nets

    net = paper_nets.Net().eval()
    path = paper_checkpoint(nn.DataParallel(net), tmp_path / "ckpt.t7")
    monkeypatch.delitem(sys.modules, "paper_nets")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    message = error_of(f"p={path}", digits, trust=True)
    assert "is a pickle of classes that cannot be imported here (ModuleNotFoundError: No module named 'paper_nets')" in message
    assert "put the code that defined the model on PYTHONPATH" in message
    sys.path.insert(0, str(tmp_path))  # the fix the message names
    model, source = load_model(parse_model_spec(f"p={path}"), digits, CPU, trust=True)
    assert type(model).__name__ == "Net" and source["unwrapped"] == "net.module"
    with torch.no_grad():
        torch.testing.assert_close(model(digits.test_x[:50]), net(digits.test_x[:50]))


# --- one-line errors ------------------------------------------------------------------------------


def error_of(spec: str, digits, trust=False) -> str:
    with pytest.raises(SuiteError) as info:
        load_model(parse_model_spec(spec), digits, CPU, trust)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_truncated_and_junk_files(saved, digits, tmp_path):
    assert "checkpoint nope.pt2 does not exist; check the path" in error_of("m=nope.pt2", digits)
    for source in ("export", "torchscript", "full_state"):
        broken = tmp_path / f"broken_{source}"
        data = Path(saved[source]).read_bytes()
        broken.write_bytes(data[: len(data) // 2])
        spec = f"m=digits_cnn:{broken}" if source == "full_state" else f"m={broken}"
        assert "is truncated or not a PyTorch checkpoint" in error_of(spec, digits)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all" * 10)
    assert "'m': " in error_of(f"m={junk}", digits) and "truncated or not a PyTorch checkpoint" in error_of(f"m={junk}", digits)


def test_state_dict_that_does_not_fit_the_architecture(saved, digits, tmp_path):
    message = error_of(f"m=mlp:{saved['full_state']}", digits)
    assert "the state_dict does not fit mlp for digits: missing keys" in message and "unexpected keys" in message
    five = build_model("digits_cnn", (1, 8, 8), 5, digits.mean, digits.std)
    torch.save(five.state_dict(), tmp_path / "five.pt")
    message = error_of(f"m=digits_cnn:{tmp_path / 'five.pt'}", digits)
    assert "shape mismatch 1.9.weight [5, 128] vs [10, 128] expected" in message


def test_state_dict_without_architecture_and_program_with_one(saved, digits):
    assert "holds a state_dict, not a whole model; name its architecture: m=ARCH:" in error_of(f"m={saved['full_state']}", digits)
    assert "is a export program, not a state_dict" in error_of(f"m=digits_cnn:{saved['export']}", digits)
    assert "carries its own normalization" in error_of(f"m=digits_cnn:{saved['full_state']},norm=data", digits)


def test_checkpoint_without_model_or_state_dict_lists_its_keys(digits, tmp_path):
    junk = {"acc": 90.0, "epoch": 3, "optimizer": {"lr": 0.1}, "args": "x", "net": "resnet", "seed": 0, "best": [1]}
    torch.save(junk, tmp_path / "junk.pt")
    keys = "a dict with keys acc, epoch, optimizer, args, net (+2 more)"
    looked = "(looked under net, model, module, state_dict, model_state_dict too)"
    assert f"holds {keys}, neither a model nor a state_dict {looked}; save the model" in error_of(f"m={tmp_path / 'junk.pt'}", digits)
    assert f"holds {keys}, not a state_dict of tensors {looked}" in error_of(f"m=digits_cnn:{tmp_path / 'junk.pt'}", digits)
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    assert "holds a list, neither a model nor a state_dict" in error_of(f"m={tmp_path / 'list.pt'}", digits)


def test_factory_errors(saved, digits):
    assert "cannot import no_such_pkg" in error_of(f"m=no_such_pkg.nets:make:{saved['body_state']}", digits)
    assert "has no function 'nope'" in error_of(f"m=robustness.models:nope:{saved['body_state']}", digits)
    assert "robustness.presets:preset() failed with TypeError" in error_of(f"m=robustness.presets:preset:{saved['body_state']}", digits)
    assert "returned a SuiteConfig, not an nn.Module" in error_of(f"m=robustness.config:SuiteConfig:{saved['body_state']}", digits)


def test_exported_program_with_wrong_shape_or_fixed_batch(saved, digits, tmp_path):
    wide = build_model("digits_cnn", (1, 16, 16), 10, digits.mean, digits.std).eval()
    message = error_of(f"m={export(wide, tmp_path / 'wide.pt2', shape=(1, 16, 16))}", digits)
    assert "exported for input N×1×16×16 but the data set's images are N×1×8×8" in message
    fixed = export(saved["model"], tmp_path / "fixed.pt2", dynamic=False)
    assert "exported with a fixed batch size of 4; export again with dynamic_shapes" in error_of(f"m={fixed}", digits)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("mine", "has no NAME="),
        ("bad name=x.pt", "may hold only letters"),
        ("m=x.pt,colour=red", "unknown option 'colour=red'"),
        ("m=x.pt,mean=0.5", "give mean= and std= together"),
        ("m=x.pt,norm=zscore", "norm=zscore is unknown"),
        ("m=resnet99:x.pt", "'resnet99' is not a registered architecture; choose one of: airbench_cpu, digits_cnn, fast_resnet"),
    ],
)
def test_spec_syntax_errors(spec, message):
    with pytest.raises(SuiteError, match=message):
        parse_model_spec(spec)


def test_spec_syntax():
    assert parse_model_spec("a=dir/net.pt2").kind == "file"
    spec = parse_model_spec("a=digits_cnn:run/erm_s0.pt,family=erm")
    assert (spec.kind, spec.arch, spec.path, spec.family, spec.norm) == ("arch", "digits_cnn", "run/erm_s0.pt", "erm", None)
    spec = parse_model_spec("a=pkg.nets:make_net:w.pt,mean=0.1/0.2/0.3,std=0.4/0.5/0.6")
    assert (spec.factory, spec.path, spec.norm, spec.mean, spec.std) == ("pkg.nets:make_net", "w.pt", "explicit", (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))


# --- configuration and the command line -----------------------------------------------------------


def test_toml_models_key_and_name_clashes(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('preset = "tiny"\nmodels = ["a=x.pt2", "b=digits_cnn:y.pt"]\n[clean]\nenabled = false\n')
    config = load_config(None, toml)
    assert config.models == ("a=x.pt2", "b=digits_cnn:y.pt") and config.clean.enabled is False
    with pytest.raises(SuiteError, match="model name 'erm_s0' is used twice"):
        load_config("tiny", None, {"models": ["erm_s0=x.pt2"]})
    with pytest.raises(SuiteError, match="model name 'a' is used twice"):
        load_config("tiny", None, {"models": ["a=x.pt2", "a=y.pt2"]})


def run_all(*args):
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "m=missing.pt2"], "model 'm': checkpoint missing.pt2 does not exist"),
        (["--no-train"], "--no-train (clean.enabled = false) leaves nothing to evaluate"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    done = run_all("--preset", "tiny", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_pickle_without_trust(saved, tmp_path):
    done = run_all("--preset", "tiny", "--no-train", "--model", f"p={saved['pickle']}", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "--trust-checkpoint" in done.stderr and done.stderr.strip().count("\n") == 0


@pytest.fixture(scope="module")
def run_with_custom(saved, tmp_path_factory):
    """tiny preset, one seed, one epoch, plus an exported and a scripted copy of the fixture's ERM model."""
    out = tmp_path_factory.mktemp("reports")
    done = run_all("--preset", "tiny", "--no-noise", "--seeds", "0", "--epochs", "1", "--out", str(out), "--run-id", "r",
                   "--quiet", "--model", f"exp={saved['export']}", "--model", f"ts={saved['torchscript']}")
    assert done.returncode == 0, done.stderr
    return json.loads((out / "r" / "results.json").read_text()), out / "r"


def test_custom_models_join_the_matrix_beside_trained_ones(run_with_custom):
    results, run_dir = run_with_custom
    names = ["erm_s0", "mixup_a1_s0", "exp", "ts"]
    assert list(results["models"]) == names and results["config"]["models"][0].startswith("exp=")
    for attack in ("fgsm", "ifgsm"):
        for eps in results["config"]["attack"]["eps"]:
            grid = {(c["source"], c["target"]): c["wrong"] for c in results["attacks"]["cells"]
                    if c["attack"] == attack and c["eps"] == eps}
            assert set(grid) == {(s, t) for s in names for t in names}
            # exp and ts are the same network: crafted on one, the other errs exactly as under white box.
            assert grid["exp", "ts"] == grid["ts", "ts"] and grid["ts", "exp"] == grid["exp", "exp"]
    for name in ("exp", "ts"):
        record = results["models"][name]
        assert record["family"] == "custom" and record["checkpoint"]["format"] in ("export", "torchscript")
        assert record["clean_error"] == results["attacks"]["clean"][name]["error"]
        assert results["diagnostics"][name]["input_grad_norm"] > 0
    assert results["models"]["exp"]["clean_error"] == results["models"]["ts"]["clean_error"]
    assert "custom (export)" in (run_dir / "report.md").read_text()


def test_no_train_evaluates_only_checkpoints_and_reproduces_a_saved_model(run_with_custom, saved, tmp_path):
    first, run_dir = run_with_custom
    toml = tmp_path / "again.toml"  # the models key in TOML; FGSM only, to keep the test short
    toml.write_text(f"""models = ["erm_again=digits_cnn:{run_dir / 'models' / 'erm_s0.pt'},family=erm",
                               "fac=robustness.models:digits_cnn:{saved['body_state']},norm=data"]\n[attack]\nattacks = ["fgsm"]\n""")
    done = run_all("--preset", "tiny", "--config", str(toml), "--no-train", "--out", str(tmp_path), "--run-id", "again", "--quiet")
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "again" / "results.json").read_text())
    assert list(results["models"]) == ["erm_again", "fac"] and results["noise"] is None
    assert not (tmp_path / "again" / "models").exists()  # nothing was trained
    # The suite's own checkpoint, loaded back, gives the trained model's numbers exactly.
    assert results["models"]["erm_again"]["clean_error"] == first["models"]["erm_s0"]["clean_error"]
    white = lambda res, m: {c["eps"]: c["wrong"] for c in res["attacks"]["cells"] if c["source"] == c["target"] == m and c["attack"] == "fgsm"}
    assert white(results, "erm_again") == white(first, "erm_s0")
    assert white(results, "fac") == white(first, "exp")  # the fixture model, by a third route

"""Hostile files: no checkpoint runs code without --trust-checkpoint, and no archive is decompressed before its
declared sizes are checked. Each attack is shown to be real where torch would run it (trusted), then refused.

The torch.export payloads follow issue 19: a freshly exported model with a dynamic batch dimension, one string in its
models/model.json replaced. Each evaluating place in torch 2.14's deserializer gets its own payload."""

import json
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from noise.labels_file import load_labels
from robustness.archives import ZIP_LIMITS, ZipLimits, check_zip_limits
from robustness.checkpoints import (ExportTextError, check_guard, check_operator_name, check_sym_expr, checked_format, load_model, parse_model_spec)
from robustness.config import DataConfig
from robustness.data import load as load_data
from robustness.errors import SuiteError
from robustness.validation import load_config

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
SYMBOL = "Symbol('s77', positive=True, integer=True)"


class Net(nn.Module):
    """Digits-sized (1×8×8 → 10), with shape arithmetic on the batch dimension so that model.json holds FloorDiv,
    Mod, Add and Mul expressions and sym_int nodes besides the bare Symbol."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        n = x.shape[0]
        doubled = torch.cat([x, x], 0).reshape(2 * n, -1)  # Mul(Integer(2), Symbol)
        extra = x.new_zeros(n // 2 + n % 3 + 1).sum() * 0  # FloorDiv, Mod, Add; _operator.* sym nodes
        return self.fc(torch.relu(self.conv(x)).flatten(1)) + doubled[:n].sum() * 0 + extra


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = Net().eval()
    path = tmp_path_factory.mktemp("export") / "net.pt2"
    program = torch.export.export(model, (torch.rand(4, 1, 8, 8),), dynamic_shapes=({0: torch.export.Dim("batch", min=3)},))
    torch.export.save(program, path)
    return model, path


def model_json(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(next(n for n in archive.namelist() if n.endswith("models/model.json"))))


def rewritten(source: Path, target: Path, edit) -> Path:
    """A copy of the export archive with ``edit(document)`` applied to its models/model.json."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as out:
        for info in original.infolist():
            data = original.read(info)
            if info.filename.endswith("models/model.json"):
                document = json.loads(data)
                edit(document)
                data = json.dumps(document).encode()
            out.writestr(info, data)
    return target


def payload(marker: Path) -> str:
    """Python that creates ``marker`` when evaluated."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def in_sizes(marker):
    def edit(doc):
        sizes = doc["graph_module"]["graph"]["tensor_values"]["x"]["sizes"]
        assert sizes[0]["as_expr"]["expr_str"] == SYMBOL  # the string the issue's attack replaces
        sizes[0]["as_expr"]["expr_str"] = f"({payload(marker)}, {SYMBOL})[1]"
    return edit


def in_sym_int_values(marker):
    def edit(doc):
        values = doc["graph_module"]["graph"]["sym_int_values"]
        name = next(k for k, v in values.items() if "as_expr" in v)
        values[name]["as_expr"]["expr_str"] = f"({payload(marker)}, {values[name]['as_expr']['expr_str']})[1]"
    return edit


def in_strides(marker):
    def edit(doc):
        strides = doc["graph_module"]["graph"]["tensor_values"]["x"]["strides"]
        strides[0] = {"as_expr": {"expr_str": f"({payload(marker)}, Integer(64))[1]", "hint": {"as_int": 64}}}
    return edit


def in_guards(marker):
    def edit(doc):
        doc["guards_code"] = [f"{payload(marker)} is None"]
    return edit


def in_operator(marker):
    """A node calling torch.os.system, the second route the issue names (torch.os is the os module)."""
    def edit(doc):
        graph = doc["graph_module"]["graph"]
        graph["tensor_values"]["evil_out"] = graph["tensor_values"]["x"]
        graph["nodes"].insert(0, {"target": "torch.os.system", "name": "evil", "metadata": {}, "is_hop_single_tensor_return": None,
                                  "inputs": [{"name": "command", "arg": {"as_string": f"touch {marker}"}, "kind": 1}],
                                  "outputs": [{"as_tensor": {"name": "evil_out"}}]})
    return edit


def in_source_fn(marker):
    def edit(doc):
        doc["graph_module"]["graph"]["nodes"][0]["metadata"]["source_fn_stack"] = "conv2d,torch.os.system"
    return edit


# Where each payload is evaluated when trusted: "load" (torch.export.load), "forward" (the model's guards function),
# or None (torch 2.14 resolves the name but its verifier refuses the node / nothing calls it).
PLACES = {"sizes": (in_sizes, "load"), "sym_int_values": (in_sym_int_values, "load"), "strides": (in_strides, "load"),
          "guards_code": (in_guards, "forward"), "operator": (in_operator, None), "source_fn_stack": (in_source_fn, None)}


def load(path: Path, digits, trust=False):
    return load_model(parse_model_spec(f"evil={path}"), digits, CPU, trust)


@pytest.mark.parametrize("place", list(PLACES))
def test_payload_in_model_json_is_refused_before_it_runs(exported, digits, tmp_path, place):
    marker = tmp_path / "MARKER"
    evil = rewritten(exported[1], tmp_path / "evil.pt2", PLACES[place][0](marker))
    with pytest.raises(SuiteError) as info:
        load(evil, digits)
    message = str(info.value)
    assert "\n" not in message and "models/model.json" in message
    assert "re-export the model with torch.export.save, or pass --trust-checkpoint" in message
    assert not marker.exists()


@pytest.mark.parametrize("place", list(PLACES))
def test_what_trust_does_with_the_payload(exported, digits, tmp_path, place):
    """--trust-checkpoint hands the file to torch as it is: the payload runs where torch evaluates it (documented in
    docs/custom-models.md). This shows each refused payload is a real attack, or (operator, source_fn_stack) that
    torch 2.14 stops it itself."""
    marker = tmp_path / "MARKER"
    evil = rewritten(exported[1], tmp_path / "evil.pt2", PLACES[place][0](marker))
    runs_at = PLACES[place][1]
    try:
        model, _ = load(evil, digits, trust=True)
        assert marker.exists() == (runs_at == "load")
        with torch.no_grad():
            model(digits.test_x[:5])
    except SuiteError as err:  # torch's verifier refuses a node that is not an operator: a one-line "corrupt"
        assert place == "operator" and "<built-in function system>' is not an allowed operator" in str(err) and "\n" not in str(err)
    assert marker.exists() == (runs_at is not None)


def test_cli_refuses_the_issue_payload_in_one_line(exported, tmp_path):
    marker = tmp_path / "MARKER"
    evil = rewritten(exported[1], tmp_path / "evil.pt2", in_sizes(marker))
    done = subprocess.run([sys.executable, str(ROOT / "run_all.py"), "--preset", "tiny", "--no-train", "--model", f"evil={evil}",
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "--trust-checkpoint" in done.stderr and "models/model.json" in done.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_legitimate_export_with_dynamic_dims_loads(exported, digits):
    model, path = exported
    document = json.dumps(model_json(path))
    assert all(f in document for f in ("FloorDiv(", "Mod(", "Add(", "Mul(", "_operator.")), "the model must exercise the grammar"
    loaded, source = load(path, digits)
    assert source["format"] == "export"
    with torch.no_grad():
        torch.testing.assert_close(loaded(digits.test_x[:7]), model(digits.test_x[:7]))


@pytest.mark.parametrize("text", [
    SYMBOL, "Add(FloorDiv(Symbol('s77', positive=True, integer=True), Integer(2)), Integer(1))",
    "Mul(Integer(-2), Symbol('u0', integer=True))", "Max(Integer(1), Symbol('s0', positive=True, integer=True))",
    "StrictLessThan(Symbol('s0', positive=True, integer=True), Integer(64))", "Float('1.5', precision=53)",
    "Pow(Symbol('s0', positive=True, integer=True), Integer(2))", "Rational(1, 2)", "int_oo", "-int_oo", "true",
    "s0 + 2*s1", "Mod(s0, 3) >= 1", "s0//2 - 1",  # the infix form of older torch versions
])
def test_the_expression_grammar_admits_what_torch_writes(text):
    check_sym_expr(text)


@pytest.mark.parametrize("text", [
    f"({payload(Path('/tmp/x'))}, {SYMBOL})[1]", "Symbol('s0').__class__", "Symbol(s0)", "Symbol('s0', **{'positive': True})",
    "Symbol('a b')", "lambda: 1", "Integer(2)**Integer(10**9)", "Pow(Integer(10), Integer(1000000000))",
    "Pow(Pow(Pow(Integer(2), Integer(64)), Integer(64)), Integer(64))", "((2**64)**64)**64", "PowByNatural(Add(Pow(s0, 2), 1), 3)",
    "eval('1')", "exec", "Integer('1')", "[Integer(1)]", "Symbol('s0', positive=print)", "Float('nan; import os')",
    "-" * 100 + "s0", "(" * 1000 + "1" + ")" * 1000, "Add(" * 100 + "1" + ")" * 100, "s0 if s0 else s1", 42, None,
])
def test_the_expression_grammar_refuses_anything_else(text):
    with pytest.raises(ExportTextError):
        check_sym_expr(text)


def test_guard_and_operator_grammars():
    for guard in ("(L['x'].size()[0] % 2) == 0", "L['x'].size()[0] <= 64", "((64*L['x'].size()[0]) // 2) != 1",
                  "L['flat_args'][0].size()[0] >= 2 and L['x'].stride()[0] == 64", "Max(1, L['x'].size()[0]) > 0"):
        check_guard(guard)
    for guard in ("L['x'].__class__", "L['x'].size.__self__", "open('f')", "L.x.size()[0]", "L['x'].size()[0] == 'a'",
                  "[1][0]", "L['x'].size(dim=0)[0] == 1", "math.system(1)", "L[print]"):
        with pytest.raises(ExportTextError):
            check_guard(guard)
    for target in ("torch.ops.aten.conv2d.default", "torch.ops.aten._to_copy.default", "torch.ops.higher_order.cond",
                   "torch.ops.my_lib.custom_op.default", "_operator.add", "torch.sym_max", "math.trunc"):
        check_operator_name(target)
    for target in ("torch.os.system", "torch.ops.aten.add.__call__", "torch.ops.__class__.x", "_operator.call",
                   "builtins.eval", "torch.load", "torch.ops.aten", "#ns:op"):
        with pytest.raises(ExportTextError):
            check_operator_name(target)


# --- zip archives: declared sizes ---------------------------------------------------------------------------------


def declaring(path: Path, member: str, declared: int, data: bytes = bytes(2 * 2**20)) -> Path:
    """A ~2 MB-at-most zip whose ``member`` holds ``data`` deflated, with its declared size patched to ``declared``
    in the central directory and the local header (what a zip bomb shows before it is unpacked)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("net/archive_format", "pt2")
        out.writestr(member, data)
        out.writestr("net/filler", os.urandom(2 * 2**20 - 10_000), compress_type=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    name = member.encode()
    for signature, offset, name_at in ((b"PK\x01\x02", 24, 46), (b"PK\x03\x04", 22, 30)):
        at = raw.find(signature)
        while raw[at + name_at:at + name_at + len(name)] != name:
            at = raw.find(signature, at + 1)
        raw[at + offset:at + offset + 4] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("trust", [False, True])
def test_a_zip_bomb_is_refused_before_anything_is_decompressed(tmp_path, digits, monkeypatch, trust):
    bomb = declaring(tmp_path / "bomb.pt2", "net/data/weights/weight_0", 2**31)
    assert bomb.stat().st_size < 2.1 * 2**20 and zipfile.ZipFile(bomb).getinfo("net/data/weights/weight_0").file_size == 2**31

    def no_reading(*args, **kwargs):
        raise AssertionError("a member was opened")
    monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
    tracemalloc.start()
    try:
        with pytest.raises(SuiteError) as info:
            load(bomb, digits, trust=trust)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and "weight_0 as 2.0 GiB unpacked from" in message and "zip bomb" in message
    assert "trust-checkpoint" not in message and "pickle" not in message  # the flag would not help
    assert peak < 32 * 2**20  # the file is 2 MB; reading it whole would already be more than the directory


def test_each_zip_limit_names_its_cause(tmp_path):
    archive = declaring(tmp_path / "big.pt2", "net/data/weights/weight_0", 3 * 2**30, data=bytes(100))
    with zipfile.ZipFile(archive) as opened:  # a small member declaring 3 GiB: the ratio limit, then the size limit
        with pytest.raises(SuiteError, match=r"weight_0 as 3\.0 GiB unpacked from .* over the limit of 100×"):
            check_zip_limits("m", archive, opened)
        with pytest.raises(SuiteError, match=r"declares member net/data/weights/weight_0 as 3\.0 GiB, over the limit of 1\.0 GiB"):
            check_zip_limits("m", archive, opened, ZipLimits(member_bytes=2**30))
        with pytest.raises(SuiteError, match=r"declares 3\.0 GiB in all, over the limit of 2\.0 GiB"):
            check_zip_limits("m", archive, opened, ZipLimits(total_bytes=2 * 2**30, ratio=1e12))
        with pytest.raises(SuiteError, match=r"declares 3 members, over the limit of 2"):
            check_zip_limits("m", archive, opened, ZipLimits(members=2))
    assert ZIP_LIMITS.member_bytes >= 2**33  # room for real models: a WideResNet-70-16 is 1.1 GB


def test_a_small_compressible_member_is_not_a_bomb(tmp_path):
    path = tmp_path / "small.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("net/model.json", b" " * 2**20)  # 1 MiB of spaces deflates ~1000×, under ratio_from_bytes
    with zipfile.ZipFile(path) as opened:
        check_zip_limits("m", path, opened)


def test_a_file_that_starts_with_pk_is_called_a_broken_archive(tmp_path, digits):
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"PK\x03\x04" + os.urandom(4000))
    for spec in (f"m={fake}", f"m=digits_cnn:{fake}"):
        with pytest.raises(SuiteError) as info:
            load_model(parse_model_spec(spec), digits, CPU)
        message = str(info.value)
        assert "truncated or not a PyTorch checkpoint (a corrupt zip archive" in message and "save or copy it again" in message
        assert "pickle" not in message and "trust-checkpoint" not in message


def test_lying_and_duplicate_members_are_broken_archives(exported, tmp_path):
    source = exported[1]
    twice = tmp_path / "twice.pt2"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(twice, "w") as out:
        for info in original.infolist():
            out.writestr(info, original.read(info))
        with pytest.warns(UserWarning, match="Duplicate name"):
            out.writestr(original.infolist()[-1], b"x")
    with pytest.raises(SuiteError, match="a corrupt zip archive: two members are named"):
        checked_format("m", twice, trust=True)
    stored = tmp_path / "stored.pt2"
    with zipfile.ZipFile(stored, "w") as out:  # stored, then its declared size patched
        out.writestr("net/a", b"x" * 10)
    raw = bytearray(stored.read_bytes())
    at = raw.find(b"PK\x01\x02")
    raw[at + 24:at + 28] = (10**6).to_bytes(4, "little")
    stored.write_bytes(bytes(raw))
    with pytest.raises(SuiteError, match="stored member net/a declares 1000000 bytes in 10"):
        checked_format("m", stored, trust=False)


def test_loading_an_export_leaves_no_zip_file_open(exported, digits, monkeypatch):
    """checkpoints.py closes every ZipFile it opens (one was left for the garbage collector before): each is kept
    alive here, so one left open would still hold its file."""
    opened = []

    class Recorded(zipfile.ZipFile):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)
    monkeypatch.setattr(zipfile, "ZipFile", Recorded)
    load(exported[1], digits)
    assert opened and all(archive.fp is None for archive in opened)


# --- the audit: one row of docs/custom-models.md's table each -------------------------------------------------------


class Touch:
    """A pickle payload: unpickling it creates ``marker`` (through pathlib, no shell)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_torchscript_archive_never_unpickles_python_objects(tmp_path, digits):
    """torch.jit.load reads data.pkl with TorchScript's own unpickler, which knows no Python globals: even trusted,
    the payload does not run (the archive's TorchScript code runs only as the model's forward, on tensors)."""
    marker = tmp_path / "MARKER"
    with pytest.warns(Warning):  # torch.jit is deprecated since 2.14
        torch.jit.save(torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(64, 10))), str(tmp_path / "net.ts"))
    evil = tmp_path / "evil.ts"
    with zipfile.ZipFile(tmp_path / "net.ts") as original, zipfile.ZipFile(evil, "w") as out:
        for info in original.infolist():
            out.writestr(info, pickle.dumps(Touch(marker), protocol=2) if info.filename.endswith("/data.pkl")
                         else original.read(info))
    for trust in (False, True):
        with pytest.raises(SuiteError, match="truncated or not a PyTorch checkpoint") as info:
            load(evil, digits, trust=trust)
        assert "\n" not in str(info.value) and not marker.exists()


@pytest.mark.parametrize("route", ["", "digits_cnn:"], ids=["whole_model", "state_dict"])
def test_a_pickle_payload_runs_only_with_trust(tmp_path, digits, route):
    """torch.load(weights_only=True) refuses the payload; --trust-checkpoint unpickles it, and it runs: the user's
    choice, as the flag's help says."""
    marker = tmp_path / "MARKER"
    torch.save({"state_dict": Touch(marker)}, tmp_path / "evil.pt")
    with pytest.raises(SuiteError, match=r"weights_only=True\) refuses because unpickling can run code.*--trust-checkpoint") as info:
        load_model(parse_model_spec(f"m={route}{tmp_path / 'evil.pt'}"), digits, CPU)
    assert "\n" not in str(info.value) and not marker.exists()
    with pytest.raises(SuiteError):  # unpickled (the payload ran), then found to hold no model
        load_model(parse_model_spec(f"m={route}{tmp_path / 'evil.pt'}"), digits, CPU, trust=True)
    assert marker.exists()


def test_a_factory_plug_in_runs_the_code_it_names(tmp_path, digits, monkeypatch):
    """``package.module:factory:FILE`` imports and calls the user's code, by design: the table says so."""
    marker = tmp_path / "MARKER"
    (tmp_path / "plugin_19a.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
                                            "from robustness.models import digits_cnn as make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).state_dict(), tmp_path / "w.pt")
    with pytest.raises(SuiteError, match="does not fit"):  # imported (ran), then the weights do not fit
        load_model(parse_model_spec(f"m=plugin_19a:make:{tmp_path / 'w.pt'}"), digits, CPU)
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".npy", ".pt"])
def test_label_files_never_unpickle(tmp_path, suffix):
    """labels:FILE reads .npy with allow_pickle=False and .pt with weights_only=True: an object array or a pickle is
    refused in one line, and its payload does not run."""
    marker = tmp_path / "MARKER"
    path = tmp_path / f"labels{suffix}"
    if suffix == ".npy":
        np.save(path, np.array([Touch(marker), 1], dtype=object), allow_pickle=True)
    else:
        torch.save([Touch(marker)], path)
    with pytest.raises(SuiteError) as info:
        load_labels(str(path))
    assert "\n" not in str(info.value) and "cannot be read" in str(info.value) and not marker.exists()


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_a_label_file_zip_bomb_is_refused_before_anything_is_decompressed(tmp_path, monkeypatch, suffix):
    """torch.save's .pt and numpy's .npz are zip archives: held to the checkpoints' limits before torch.load or
    np.load unpacks a member (torch unpacked a 512 MB member of such a file before refusing it)."""
    bomb = declaring(tmp_path / f"labels{suffix}", "labels/data/0", 2**31)

    def no_reading(*args, **kwargs):
        raise AssertionError("a member was opened")
    monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
    with pytest.raises(SuiteError) as info:
        load_labels(f"{bomb}:aggre_label")
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"noise labels:{bomb}") and "zip bomb" in message


def test_a_csv_label_file_is_parsed_as_numbers_only(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("label\n__import__('os').system('true')\n")
    with pytest.raises(SuiteError, match="cannot be read"):
        load_labels(str(path))


def test_toml_is_data_only_and_deep_nesting_is_one_line(tmp_path):
    """tomllib builds dicts, lists and scalars; a string of Python stays a string (here: an unknown preset), and
    nesting deep enough to exhaust Python's stack is a one-line error, not a RecursionError."""
    toml = tmp_path / "c.toml"
    toml.write_text("preset = \"__import__('os').system('touch MARKER')\"\n")
    with pytest.raises(SuiteError) as info:
        load_config(None, toml)
    assert "\n" not in str(info.value) and not (tmp_path / "MARKER").exists()
    toml.write_text("models = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(SuiteError, match="not valid TOML"):
        load_config(None, toml)


def test_an_image_decompression_bomb_is_an_unreadable_image(tmp_path):
    """Pillow refuses an image declaring more than 2×MAX_IMAGE_PIXELS with DecompressionBombError (not an OSError):
    the folder loader names it like any unreadable image, in one line."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    side = int((2 * Image.MAX_IMAGE_PIXELS) ** 0.5) + 10
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)) + chunk(
        b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")
    for part in ("train", "test"):
        for label in ("a", "b"):
            folder = tmp_path / "imgs" / part / label
            folder.mkdir(parents=True)
            Image.new("L", (8, 8), 40 if label == "a" else 200).save(folder / "ok.png")
    (tmp_path / "imgs" / "train" / "a" / "bomb.png").write_bytes(bomb)
    with pytest.raises(SuiteError) as info:
        load_data(DataConfig(name=f"imagefolder:{tmp_path / 'imgs'}"))
    assert "\n" not in str(info.value) and "bomb.png" in str(info.value) and "decompression bomb" in str(info.value)

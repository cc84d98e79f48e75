"""Training methods (robustness/methods/): specs, the composition rule, each method's defining property,
bit-identity with the code before methods were objects, and users' own methods."""

import hashlib
import json
import math
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import single_thread
from robustness.config import TrainConfig
from robustness.presets import PRESETS
from robustness.errors import SuiteError
from robustness.methods import METHODS, Batch, MethodStreams, Trainee, parse_method, weighted_cross_entropy
from robustness.methods.cutmix import cut_box
from robustness.methods.mixup import in_batch_partners, nearest_neighbours
from robustness.models import build_model, mix_points
from robustness.train import fit

CPU = torch.device("cpu")

# sha256 (first 16 hex digits) of the weights and history of digits_cnn, 2 epochs, seed 0, one thread, trained by
# robustness/methods.py as it was before methods became objects (commit 86162c5), with torch 2.14.1 on the CPU.
DIGESTS = {"erm": "c1c5ab8e31bc7ba0", "mixup:1": "ad41c4ef7a4e9597", "dropout:0.5": "efd6b990a815b138",
           "mixup:8+dropout:0.5": "0263d79ad2e3d657"}
DIGEST_TORCH = "2.14.1"
# The CPU kernels they ran on (torch.backends.cpu.get_cpu_capability()): oneDNN and MKL pick other kernels on another
# instruction set (AVX2 against AVX512), and their sums round differently, so the digests hold per capability. One CI
# run on another CPU trained ERM to other bits with the same torch (the code unchanged).
DIGEST_CPU = "AVX512"
# The recipe the digests were taken with (the defaults of that time): step schedule, lr 0.05, plain momentum, every
# training image evaluated each epoch, NCHW.
DIGEST_RECIPE = TrainConfig(epochs=2, lr=0.05, schedule="step", nesterov=False, train_eval_images=0, channels_last="off")


def digest(trained) -> str:
    h = hashlib.sha256()
    for key, value in trained.model.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().contiguous().numpy().tobytes())
    rows = [{k: r[k] for k in ("epoch", "loss", "test_error", "train_error_real")} for r in trained.history]
    h.update(json.dumps(rows).encode())
    return h.hexdigest()[:16]


def weights(trained) -> list[torch.Tensor]:
    return list(trained.model.state_dict().values())


def trainee_for(model, images, labels) -> Trainee:
    return Trainee(model, mix_points(model), images, labels)


# --- specs and the composition rule --------------------------------------------------------------


def test_every_registered_method_parses_and_names_itself():
    for name, cls in METHODS.items():
        method = parse_method(name)
        assert isinstance(method, cls) and method.name == name and method.spec.startswith(name)
        assert method.family and method.label and method.display
        assert parse_method(method.spec).spec == method.spec  # the canonical spec reads back


@pytest.mark.parametrize("spec, label, family, display, params", [
    ("erm", "erm", "erm", "ERM", {}),
    ("mixup", "mixup_a1", "mixup", "mixup (α=1)", {"mixup_alpha": 1.0}),
    ("mixup:8", "mixup_a8", "mixup", "mixup (α=8)", {"mixup_alpha": 8.0}),
    ("dropout:0.7", "dropout_p0.7", "dropout", "ERM + dropout (p=0.7)", {"dropout": 0.7}),
    ("mixup:8+dropout:0.5", "mixup_a8_dropout_p0.5", "mixup+dropout", "mixup (α=8) + dropout (p=0.5)",
     {"mixup_alpha": 8.0, "dropout": 0.5}),
    ("mixup:1,partners=same_class", "mixup_a1_partners-same_class", "mixup/partners=same_class",
     "mixup (α=1, partners=same_class)", {"mixup_alpha": 1.0, "mixup_partners": "same_class"}),
    ("label_smoothing:0.1", "label_smoothing_e0.1", "label_smoothing", "ERM + label smoothing (ε=0.1)", {"label_smoothing": 0.1}),
    ("manifold_mixup:2,layers=0/1", "manifold_mixup_a2_layers-0-1", "manifold_mixup/layers=0/1",
     "manifold mixup (α=2, layers=0/1)", {"manifold_mixup_alpha": 2.0, "manifold_mixup_layers": "0/1"}),
])
def test_specs_give_labels_families_displays_and_params(spec, label, family, display, params):
    method = parse_method(spec)
    assert (method.label, method.family, method.display, method.params) == (label, family, display, params)


def test_a_combination_has_one_family_whichever_order_and_merges_options():
    assert parse_method("dropout:0.5+mixup:8").family == "mixup+dropout"
    both = parse_method("label_smoothing:0.1+dropout:0.3+cutmix:1")
    assert both.model_options == {"dropout": 0.3} and both.loss_options == {"label_smoothing": 0.1}
    assert [step.name for step in both.steps()] == ["label_smoothing", "dropout", "cutmix"]


@pytest.mark.parametrize("spec, message", [
    ("mixup:big", "has a parameter that is not a number"),
    ("erm:2", "takes no parameter"),
    ("mixup:-1", "must be ≥ 0"),
    ("dropout:1", r"\[0, 1\)"),
    ("erm+dropout:0.5", "adds erm"),
    ("mixup:1+mixup:2", "names mixup twice"),
    ("mixup:1,colour=red", "has no option 'colour'; its options: partners, pairing, k, mix, layer"),
    ("mixup:1,partners=friends", "partners=friends is unknown; choose one of: all, same_class"),
    ("mixup:1,k=many", "option k='many' must be a int"),
    ("mixup:1,pairing=knn,layer=1", "cannot mix at a layer"),
    ("mixup:8+cutout", "unknown training method 'cutout'"),
    ("manifold_mixup:2,layers=a/b", "must be 'all' or indices"),
    ("pgd_at:2", r"must be in \[0, 1\]"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(SuiteError, match=message) as err:
        parse_method(spec)
    assert "\n" not in str(err.value)


# --- bit-identity and ERM equalities ---------------------------------------------------------------


@pytest.mark.skipif(torch.__version__.split("+")[0] != DIGEST_TORCH, reason=f"digests were stored with torch {DIGEST_TORCH}")
@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() != DIGEST_CPU, reason=f"digests were stored on {DIGEST_CPU} kernels")
@pytest.mark.parametrize("spec", list(DIGESTS))
def test_erm_mixup_and_dropout_train_bit_identically_to_before(spec, digits):
    with single_thread():
        trained = fit("digits_cnn", parse_method(spec), digits, 0, DIGEST_RECIPE, CPU)
    assert digest(trained) == DIGESTS[spec]


@pytest.mark.parametrize("spec", ["mixup:0", "pgd_at:0", "mixup:0,partners=same_class"])
def test_methods_that_reduce_to_erm_train_exactly_like_erm(spec, digits):
    cfg = TrainConfig(epochs=1)
    with single_thread():
        erm = fit("digits_cnn", parse_method("erm"), digits, 3, cfg, CPU)
        same = fit("digits_cnn", parse_method(spec), digits, 3, cfg, CPU)
    assert all(torch.equal(a, b) for a, b in zip(weights(erm), weights(same)))
    assert erm.history == same.history


def test_mixup_with_positive_alpha_differs_from_erm(digits):
    cfg = TrainConfig(epochs=1)
    with single_thread():
        erm = fit("digits_cnn", parse_method("erm"), digits, 3, cfg, CPU)
        mix = fit("digits_cnn", parse_method("mixup:1"), digits, 3, cfg, CPU)
    assert not torch.equal(erm.model[1][0].weight, mix.model[1][0].weight)


def test_manifold_mixup_at_the_input_layer_is_mixup_bit_for_bit(digits):
    cfg = TrainConfig(epochs=1)
    with single_thread():
        mixup = fit("digits_cnn", parse_method("mixup:2"), digits, 1, cfg, CPU)
        manifold = fit("digits_cnn", parse_method("manifold_mixup:2,layers=0"), digits, 1, cfg, CPU)
    assert all(torch.equal(a, b) for a, b in zip(weights(mixup), weights(manifold)))


def test_dropout_reaches_the_model_and_changes_training(digits):
    cfg = PRESETS["tiny"].train
    with single_thread():
        plain = fit("mlp", parse_method("erm"), digits, 0, cfg, CPU, epochs=1)
        dropped = fit("mlp", parse_method("dropout:0.9"), digits, 0, cfg, CPU, epochs=1)
        same = fit("mlp", parse_method("mixup:0+dropout:0.9"), digits, 0, cfg, CPU, epochs=1)
    assert [m.p for m in dropped.model.modules() if isinstance(m, nn.Dropout)] == [0.9]
    assert plain.history[0]["loss"] != dropped.history[0]["loss"]
    assert same.history == dropped.history  # mixup with α = 0 mixes nothing


# --- each method's defining property --------------------------------------------------------------


@pytest.fixture
def batch_of_four_classes():
    torch.manual_seed(0)
    x, y = torch.rand(32, 1, 8, 8), torch.arange(32) % 4
    return Batch(x, ((1.0, y),), torch.arange(32))


def test_weighted_cross_entropy_is_cross_entropy_against_the_mixed_one_hot():
    torch.manual_seed(0)
    logits = torch.randn(16, 10)
    y_a, y_b = torch.randint(0, 10, (16,)), torch.randint(0, 10, (16,))
    lam = 0.3
    target = lam * F.one_hot(y_a, 10).float() + (1 - lam) * F.one_hot(y_b, 10).float()
    soft = -(target * F.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(weighted_cross_entropy(logits, ((lam, y_a), (1 - lam, y_b))), soft, atol=1e-6)


def test_mixup_is_a_convex_combination_with_an_in_batch_partner(batch_of_four_classes):
    batch = batch_of_four_classes
    streams = MethodStreams.for_method(0, 0)
    lam = float(np.random.default_rng(0).beta(1.0, 1.0))
    perm = torch.randperm(32, generator=torch.Generator().manual_seed(1_000_003))
    mixed = parse_method("mixup:1").transform(batch, None, streams)
    assert torch.equal(mixed.inputs, lam * batch.inputs + (1 - lam) * batch.inputs[perm])
    assert mixed.targets[0][0] == lam and torch.equal(mixed.targets[1][1], batch.labels[perm])


def test_same_class_partners_share_labels(batch_of_four_classes):
    batch = batch_of_four_classes
    mixed = parse_method("mixup:1,partners=same_class").transform(batch, None, MethodStreams.for_method(0, 0))
    (_, own), (_, partners) = mixed.targets
    assert torch.equal(own, partners)
    perm = in_batch_partners(batch.labels, MethodStreams.for_method(5, 0), same_class=True)
    assert sorted(perm.tolist()) == list(range(32)) and torch.equal(batch.labels[perm], batch.labels)


@pytest.mark.parametrize("what, inputs_mixed, labels_mixed", [("inputs", True, False), ("labels", False, True)])
def test_mixing_inputs_only_or_labels_only(batch_of_four_classes, what, inputs_mixed, labels_mixed):
    batch = batch_of_four_classes
    mixed = parse_method(f"mixup:1,mix={what}").transform(batch, None, MethodStreams.for_method(0, 0))
    assert (not torch.equal(mixed.inputs, batch.inputs)) == inputs_mixed
    assert (len(mixed.targets) == 2) == labels_mixed


def test_nearest_neighbour_partners_are_near_and_of_the_same_class_when_asked(digits):
    trainee = trainee_for(nn.Identity(), digits.train_images, digits.train_y)
    table = nearest_neighbours(trainee, 5, same_class=True)
    assert table.shape == (len(digits.train_y), 5)
    assert torch.equal(digits.train_y[table], digits.train_y[:, None].expand(-1, 5))
    x = digits.train_x.flatten(1)
    i = 17
    distances = (x - x[i]).norm(dim=1)
    distances[i] = float("inf")
    same = digits.train_y == digits.train_y[i]
    assert set(table[i].tolist()) == set(torch.where(same, distances, torch.tensor(float("inf"))).topk(5, largest=False).indices.tolist())
    batch = Batch(digits.train_x[:16], ((1.0, digits.train_y[:16]),), torch.arange(16))
    mixed = parse_method("mixup:1,pairing=knn,k=5,partners=same_class").transform(batch, trainee, MethodStreams.for_method(0, 0))
    assert torch.equal(mixed.targets[0][1], mixed.targets[1][1])


def test_cutmix_pastes_a_box_whose_area_is_one_minus_lambda(batch_of_four_classes):
    batch = batch_of_four_classes
    streams = MethodStreams.for_method(0, 0)
    mixed = parse_method("cutmix:1").transform(batch, None, streams)
    lam = mixed.targets[0][0]
    changed = (mixed.inputs != batch.inputs).any(0).any(0)  # pixels pasted in some image
    rows, cols = torch.where((mixed.inputs != batch.inputs).flatten(0, 1).any(0))
    if len(rows):
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 1 - lam == pytest.approx(int(box) / 64) and int(changed.sum()) <= int(box)
    assert mixed.targets[1][0] == pytest.approx(1 - lam)
    top, bottom, left, right = cut_box(32, 32, 0.75, np.random.default_rng(0))
    assert 0 <= top <= bottom <= 32 and 0 <= left <= right <= 32
    assert (bottom - top) * (right - left) <= math.ceil(0.25 * 32 * 32)


def test_label_smoothing_loss_is_the_smoothed_target_formula():
    torch.manual_seed(0)
    logits, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    eps = 0.1
    method = parse_method(f"label_smoothing:{eps}")
    loss = weighted_cross_entropy(logits, ((1.0, y),), **method.loss_options)
    logp = F.log_softmax(logits, 1)
    formula = ((1 - eps) * -logp.gather(1, y[:, None]).squeeze(1) + eps * -logp.mean(1)).mean()
    assert torch.allclose(loss, formula, atol=1e-6)


def test_gaussian_noise_has_the_asked_spread_and_stays_in_pixel_range():
    x = torch.full((64, 1, 16, 16), 0.5)
    noisy = parse_method("gaussian_noise:0.1").transform(Batch(x, ((1.0, torch.zeros(64, dtype=torch.long)),)), None,
                                                         MethodStreams.for_method(0, 0))
    assert noisy.inputs.min() >= 0 and noisy.inputs.max() <= 1
    assert (noisy.inputs - x).std().item() == pytest.approx(0.1, abs=0.005)


def test_pgd_at_trains_on_examples_in_the_eps_ball_that_raise_the_loss(tiny_models, batch):
    x, y = batch
    model = tiny_models["erm_s0"]
    trainee = trainee_for(model, x, y)
    adv = parse_method("pgd_at:0.1,steps=5").transform(Batch(x, ((1.0, y),)), trainee, MethodStreams.for_method(0, 0))
    assert (adv.inputs - x).abs().max() <= 0.1 + 1e-6 and adv.inputs.min() >= 0 and adv.inputs.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(adv.inputs), y) > F.cross_entropy(model(x), y)
    assert not model.training  # left as it was found (the fixture's models are in eval mode)


def test_every_architecture_declares_mix_points_that_a_hidden_mix_can_use(digits):
    from robustness.models import MODELS

    for arch in MODELS:
        shape = (1, 8, 8) if arch in ("digits_cnn", "mlp") else (3, 32, 32)
        model = build_model(arch, shape, 10, [0.5] * shape[0], [0.25] * shape[0])
        points = mix_points(model)
        assert points[0] == "input" and len(points) >= 2, arch
        names = dict(model.named_modules())
        assert all(point in names for point in points[1:]), arch
        x, y = torch.rand(4, *shape), torch.arange(4)
        batch = Batch(x, ((1.0, y),))
        for layer in range(1, len(points)):
            mixed = parse_method(f"mixup:1,layer={layer}").transform(batch, trainee_for(model, x, y),
                                                                      MethodStreams.for_method(0, 0))
            assert mixed.hidden_mix.layer == points[layer]
            logits = parse_method("erm").loss(trainee_for(model, x, y), mixed, [])
            assert logits.dim() == 0 and torch.isfinite(logits)


# --- your own method --------------------------------------------------------------------------------

TRICK = '''
import torch
from robustness.methods import Method


class Cutout(Method):
    """Cutout (DeVries & Taylor, 2017): a random square of each image set to zero."""

    name, title, param_name, param_default = "cutout", "cutout", "cutout_size", 2
    random, add_on = True, True

    def transform(self, batch, trainee, streams):
        n, _, h, w = batch.inputs.shape
        size = int(self.param)
        top = torch.randint(0, h - size + 1, (1,), generator=streams.torch).item()
        left = torch.randint(0, w - size + 1, (1,), generator=streams.torch).item()
        inputs = batch.inputs.clone()
        inputs[:, :, top:top + size, left:left + size] = 0
        return batch.replace(inputs=inputs)


def make(size=None):
    return Cutout(size)


def broken():
    return "not a method"


class Nan(Method):
    name = "nan"

    def custom_loss(self, logits, batch):
        return logits.sum() * float("nan")


def nan():
    return Nan()


def explodes(size):
    raise RuntimeError("my bug")
'''


@pytest.fixture
def trick_module(tmp_path, monkeypatch):
    name = f"my_tricks_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(TRICK))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_plugin_parses_trains_and_keeps_its_spec(trick_module, digits):
    method = parse_method(f"{trick_module}:make:3")
    assert (method.spec, method.family, method.display) == (f"{trick_module}:make:3", "cutout", "ERM + cutout (p=3)")
    with single_thread():
        trained = fit("digits_cnn", method, digits, 0, TrainConfig(epochs=1), CPU)
    assert math.isfinite(trained.history[0]["loss"])
    assert parse_method(f"{trick_module}:make:3+dropout:0.5").model_options == {"dropout": 0.5}


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:make", "cannot import no_such_module_xyz"),
    ("{m}:absent", "has no function 'absent'"),
    ("{m}:broken", "returned a str, not a robustness.methods.Method"),
    ("{m}:broken:3", "cannot take a parameter"),
    ("{m}:explodes:1", "failed with RuntimeError: my bug"),
])
def test_a_bad_plugin_is_a_one_line_error(trick_module, spec, message):
    with pytest.raises(SuiteError, match=message) as err:
        parse_method(spec.format(m=trick_module))
    assert "\n" not in str(err.value)

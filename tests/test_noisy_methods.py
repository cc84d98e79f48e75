"""The noisy-label training methods (robustness/methods/: gce, sce, bootstrap, forward, coteaching, elr): each
one's defining property, bit for bit where it is exact, its one-line errors, and training on tiny digits."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import single_thread
from robustness.config import TrainConfig
from robustness.errors import SuiteError
from robustness.methods import METHODS, Batch, Trainee, parse_method
from robustness.methods.coteaching import forget_rate_at
from robustness.methods.forward_correction import estimate_matrix
from robustness.methods.gce import gce_loss
from robustness.methods.sce import reverse_cross_entropy
from robustness.models import build_model, mix_points
from robustness.train import DevicePlan, fit

CPU = torch.device("cpu")
NOISY = ("gce", "sce", "bootstrap", "forward", "coteaching", "elr")
ONE_EPOCH = TrainConfig(epochs=1)
TWO_EPOCHS = TrainConfig(epochs=2)


def weights(trained) -> list[torch.Tensor]:
    return list(trained.model.state_dict().values())


def assert_same_training(a, b, skip=()):
    """Bit for bit: every weight, and every number of every epoch's history both have (but ``skip``)."""
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))
    for row_a, row_b in zip(a.history, b.history, strict=True):
        shared = (set(row_a) & set(row_b)) - set(skip)
        assert {k: row_a[k] for k in shared} == {k: row_b[k] for k in shared}


@pytest.fixture(scope="module")
def erm_run(digits):
    with single_thread():
        return fit("digits_cnn", parse_method("erm"), digits, 3, ONE_EPOCH, CPU)


def logits_and_labels(n=64, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(n, classes, generator=g)).requires_grad_(), torch.randint(classes, (n,), generator=g)


def grad(loss, logits):
    return torch.autograd.grad(loss, logits)[0]


def probe_batch(digits, spec):
    """A method's loss on 32 training images through a fresh model, as the training loop calls it."""
    method = parse_method(spec)
    model = build_model("digits_cnn", digits.input_shape, digits.num_classes, digits.mean, digits.std).train()
    trainee = Trainee(model, mix_points(model), digits.train_images, digits.train_y)
    x, y = digits.train_x[:32], digits.train_y[:32]
    return method, trainee, Batch(x, ((1.0, y),), torch.arange(32))


# --- registered, parsed, trained ---------------------------------------------------------------------


def test_every_noisy_method_is_registered_and_its_spec_reads_back():
    for name in NOISY:
        assert name in METHODS
        method = parse_method(name)
        assert parse_method(method.spec).spec == method.spec


@pytest.mark.parametrize("spec", ["gce:0.7", "sce:0.1,beta=1", "bootstrap:0.95", "bootstrap:0.8,mode=hard",
                                  "forward:estimate", "coteaching:0.5,k=2", "elr:3,beta=0.7", "mixup:1+gce:0.7",
                                  "mixup:1+coteaching:0.2,k=1", "dropout:0.5+elr:3", "cutmix:1+forward"])
def test_each_method_trains_on_tiny_digits_and_learns(digits, spec):
    with single_thread():
        trained = fit("digits_cnn", parse_method(spec), digits, 0, TWO_EPOCHS, CPU)
    last = trained.history[-1]
    assert np.isfinite(last["loss"]) and last["test_error"] < 0.5  # chance is 0.9


# --- one-line errors before anything trains -------------------------------------------------------------


@pytest.mark.parametrize("spec, message", [
    ("gce:0", r"q must be in \(0, 1\]"), ("gce:1.5", r"q must be in \(0, 1\]"),
    ("sce:-1", "α ≥ 0 and beta ≥ 0"), ("sce:0,beta=0", "not both 0"), ("sce:0.1,A=2", "must be < 0"),
    ("bootstrap:0", r"β must be in \(0, 1\]"), ("bootstrap:0.9,mode=medium", "mode=medium is unknown"),
    ("forward:no_such_file.npy", "no transition-matrix file"), ("forward,split=1", r"split must be in \(0, 1\)"),
    ("coteaching:1", r"forget_rate must be in \[0, 1\)"), ("coteaching:0.2,k=0", "k .* must be ≥ 1"),
    ("elr:-1", "λ must be ≥ 0"), ("elr:3,beta=1", r"beta .* must be in \[0, 1\)"),
    ("gce+elr", "each compute their own loss"), ("sce+label_smoothing:0.1", "label_smoothing cannot change it"),
])
def test_bad_parameters_are_one_line_errors(spec, message):
    with pytest.raises(SuiteError, match=message) as err:
        parse_method(spec)
    assert "\n" not in str(err.value)


def write(path, array):
    np.save(path, array, allow_pickle=True)
    return str(path)


@pytest.mark.parametrize("array, message", [
    (np.ones((3, 4)) / 4, "shape"), (np.full((3, 3), 0.5), "must sum to 1"),
    (np.array([[1.5, -0.5], [0.0, 1.0]]), "negative"), (np.array([{"T": 1}], dtype=object), "not a .npy array"),
])
def test_a_bad_transition_matrix_file_is_one_line(tmp_path, array, message):
    with pytest.raises(SuiteError, match=message) as err:
        parse_method(f"forward:{write(tmp_path / 'T.npy', array)}")
    assert "\n" not in str(err.value)


def test_a_transition_matrix_of_the_wrong_size_stops_at_the_first_batch(tmp_path, digits):
    method, trainee, batch = probe_batch(digits, f"forward:{write(tmp_path / 'T.npy', np.eye(3))}")
    with pytest.raises(SuiteError, match="T is 3×3 but the data has 10 classes"):
        method.loss(trainee, batch, [])


# --- GCE ------------------------------------------------------------------------------------------------


def test_gce_tends_to_cross_entropy_as_q_goes_to_zero():
    logits, labels = logits_and_labels()
    ce = F.cross_entropy(logits, labels)
    gce = gce_loss(logits, labels, 1e-6)
    assert torch.allclose(gce, ce, rtol=1e-4)
    assert torch.allclose(grad(gce, logits), grad(ce, logits), rtol=1e-3, atol=1e-7)
    assert not torch.allclose(gce_loss(logits, labels, 0.7), ce, rtol=1e-2)


@pytest.mark.parametrize("q", [0.3, 0.7, 1.0])
def test_gce_weights_cross_entropys_gradient_by_p_y_to_the_q(q):
    logits, labels = logits_and_labels()
    p_y = F.softmax(logits, 1).gather(1, labels[:, None]).detach()
    expected = p_y ** q * grad(F.cross_entropy(logits, labels), logits)
    assert torch.allclose(grad(gce_loss(logits, labels, q), logits), expected, rtol=1e-4, atol=1e-8)


def test_gce_at_q_one_is_the_mean_absolute_error():
    logits, labels = logits_and_labels()
    mae = (F.one_hot(labels, 10) - F.softmax(logits, 1)).abs().sum(1).mean()
    assert torch.allclose(gce_loss(logits, labels, 1.0), mae / 2, atol=1e-6)
    assert torch.allclose(grad(gce_loss(logits, labels, 1.0), logits), grad(mae / 2, logits), atol=1e-7)


# --- SCE ------------------------------------------------------------------------------------------------


def test_sce_with_beta_zero_is_alpha_times_cross_entropy_bit_for_bit(digits):
    method, trainee, batch = probe_batch(digits, "sce:0.1,beta=0")
    logits = trainee.model(batch.inputs)
    ours, expected = method.custom_loss(logits, batch), 0.1 * F.cross_entropy(logits, batch.labels)
    assert torch.equal(ours, expected)
    assert torch.equal(grad(ours, logits), grad(expected, logits))


def test_sce_with_alpha_one_and_beta_zero_trains_exactly_like_erm(digits, erm_run):
    with single_thread():
        assert_same_training(erm_run, fit("digits_cnn", parse_method("sce:1,beta=0"), digits, 3, ONE_EPOCH, CPU))


def test_reverse_cross_entropy_is_minus_a_times_the_mass_off_the_label():
    logits, labels = logits_and_labels()
    p = F.softmax(logits, 1)
    one_hot = F.one_hot(labels, 10).float()
    log_q = torch.where(one_hot > 0, torch.zeros_like(p), torch.full_like(p, -4.0))  # log 1 = 0, log 0 = A = −4
    assert torch.allclose(reverse_cross_entropy(logits, labels, -4.0), -(p * log_q).sum(1).mean(), atol=1e-6)


# --- bootstrap ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["bootstrap:1", "bootstrap:1,mode=hard"])
def test_bootstrap_with_beta_one_trains_exactly_like_erm(digits, erm_run, spec):
    with single_thread():
        assert_same_training(erm_run, fit("digits_cnn", parse_method(spec), digits, 3, ONE_EPOCH, CPU))


def test_bootstrap_mixes_the_label_with_the_models_own_prediction(digits):
    for mode, own in (("soft", lambda p: p), ("hard", lambda p: F.one_hot(p.argmax(1), 10).float())):
        method, trainee, batch = probe_batch(digits, f"bootstrap:0.6,mode={mode}")
        logits = trainee.model(batch.inputs)
        p = F.softmax(logits, 1)
        target = 0.6 * F.one_hot(batch.labels, 10) + 0.4 * own(p)  # soft: the prediction itself, not detached
        expected = -(target * F.log_softmax(logits, 1)).sum(1).mean()
        assert torch.allclose(method.custom_loss(logits, batch), expected, atol=1e-6)
    assert parse_method("bootstrap").param == 0.95 and parse_method("bootstrap,mode=hard").param == 0.8


# --- forward correction ---------------------------------------------------------------------------------


def test_forward_with_the_identity_trains_exactly_like_erm(digits, erm_run, tmp_path):
    spec = f"forward:{write(tmp_path / 'I.npy', np.eye(10))}"
    with single_thread():
        assert_same_training(erm_run, fit("digits_cnn", parse_method(spec), digits, 3, ONE_EPOCH, CPU))


def test_forward_is_the_cross_entropy_of_the_noisy_prediction(digits, tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.dirichlet(np.ones(10), size=10) * 0.5 + np.eye(10) * 0.5
    method, trainee, batch = probe_batch(digits, f"forward:{write(tmp_path / 'T.npy', matrix)}")
    logits = trainee.model(batch.inputs)
    noisy = F.softmax(logits.double(), 1) @ torch.as_tensor(matrix)
    expected = -torch.log(noisy.gather(1, batch.labels[:, None])).mean()
    assert torch.allclose(method.loss(trainee, batch, []).double(), expected, atol=1e-5)


def test_the_estimator_finds_each_classs_anchor_below_the_97th_percentile():
    rng = np.random.default_rng(0)
    true = 0.6 * np.eye(4) + 0.4 * rng.dirichlet(np.ones(4), size=4)
    classes = rng.integers(4, size=4000)
    clean = np.eye(4)[classes] * rng.uniform(0.9, 1.0, size=(4000, 1))  # confident, not certain
    clean[np.arange(4000), (classes + 1) % 4] += 1 - clean.max(1)
    estimated = estimate_matrix(clean @ true)  # what a model of the noisy labels predicts: p_clean ᵀ T
    assert np.allclose(estimated.sum(1), 1)
    assert np.abs(estimated - true).max() < 0.02
    outlier = np.vstack([clean @ true, [[0.0, 1.0, 0.0, 0.0]]])  # one example certain of class 1
    assert np.abs(estimate_matrix(outlier) - true).max() < 0.02  # filtered out by the percentile


def test_forward_estimate_trains_plain_then_corrected(digits):
    cfg = TrainConfig(epochs=2)
    with single_thread():
        erm = fit("digits_cnn", parse_method("erm"), digits, 1, cfg, CPU)
        est = fit("digits_cnn", parse_method("forward:estimate"), digits, 1, cfg, CPU)
    assert est.history[0] == erm.history[0]  # epoch 1 of 2 (split 0.5): plain cross-entropy
    assert est.history[1]["loss"] != erm.history[1]["loss"]  # epoch 2: corrected by the estimated T
    assert parse_method("forward").estimate_epoch(10) == 5 and parse_method("forward,split=0.9").estimate_epoch(2) == 1


# --- co-teaching ----------------------------------------------------------------------------------------


def test_coteaching_with_forget_rate_zero_trains_its_first_network_exactly_like_erm(digits, erm_run):
    with single_thread():
        co = fit("digits_cnn", parse_method("coteaching:0"), digits, 3, ONE_EPOCH, CPU)
    assert_same_training(erm_run, co, skip=("loss",))  # co-teaching's loss is both networks' summed
    assert "peer_test_error" in co.history[-1] and 0 <= co.history[-1]["peer_test_error"] < 0.5


def test_the_forget_rate_ramps_up_over_k_epochs_as_the_authors_linspace():
    assert [forget_rate_at(t, 0.5, 5) for t in range(1, 8)] == pytest.approx(list(np.linspace(0, 0.5, 5)) + [0.5, 0.5])
    assert forget_rate_at(1, 0.5, 1) == 0.5


def test_each_network_learns_from_the_examples_its_peer_kept(digits):
    method, trainee, batch = probe_batch(digits, "coteaching:0.5,k=1")
    peer = build_model("digits_cnn", digits.input_shape, 10, digits.mean, digits.std).train()
    trainee.peers, trainee.epoch = (peer,), 1
    a, b = trainee.model(batch.inputs), peer(batch.inputs)
    y = batch.labels
    small = lambda z: torch.argsort(F.cross_entropy(z, y, reduction="none"))[:16]  # noqa: E731
    expected = F.cross_entropy(a[small(b)], y[small(b)]) + F.cross_entropy(b[small(a)], y[small(a)])
    assert torch.allclose(method.loss(trainee, batch, []), expected, atol=1e-6)
    assert not torch.allclose(expected, F.cross_entropy(a, y) + F.cross_entropy(b, y))


# --- ELR ------------------------------------------------------------------------------------------------


def test_elr_with_lambda_zero_trains_exactly_like_erm(digits, erm_run):
    with single_thread():
        assert_same_training(erm_run, fit("digits_cnn", parse_method("elr:0"), digits, 3, ONE_EPOCH, CPU))


def test_elr_keeps_a_temporal_ensemble_per_example_and_regularizes_towards_it(digits):
    method, trainee, batch = probe_batch(digits, "elr:3,beta=0.7")
    logits = trainee.model(batch.inputs)
    p = F.softmax(logits, 1).clamp(1e-4, 1 - 1e-4).detach()
    first = 0.3 * p / p.sum(1, keepdim=True)
    ce = F.cross_entropy(logits, batch.labels)
    loss = method.trainee_loss(logits, batch, trainee)
    targets = trainee.cache["elr_targets"]
    assert torch.allclose(targets[:32], first) and not targets[32:].any()  # only this batch's examples
    assert torch.allclose(loss, ce + 3 * torch.log(1 - (first * p).sum(1)).mean(), atol=1e-6)
    method.trainee_loss(logits, batch, trainee)
    assert torch.allclose(targets[:32], 0.7 * first + first, atol=1e-7)  # β·t + (1−β)·p̂, p̂ the same
    with single_thread():
        elr = fit("digits_cnn", parse_method("elr:3"), digits, 3, ONE_EPOCH, CPU)
        erm = fit("digits_cnn", parse_method("erm"), digits, 3, ONE_EPOCH, CPU)
    assert not all(torch.equal(a, b) for a, b in zip(weights(elr), weights(erm)))


@pytest.mark.parametrize("spec", ["gce", "sce", "bootstrap:0.8,mode=hard", "forward", "coteaching:0.5,k=1", "elr"])
def test_each_method_trains_under_bf16_autocast_and_channels_last(digits, spec):
    """The CUDA step's plan (bf16 autocast, channels_last), run on the CPU."""
    plan = DevicePlan(autocast_dtype=torch.bfloat16, memory_format=torch.channels_last)
    with single_thread():
        trained = fit("digits_cnn", parse_method(spec), digits, 0, TWO_EPOCHS, CPU, plan=plan)
    assert all(np.isfinite(row["loss"]) for row in trained.history) and trained.history[-1]["test_error"] < 0.5

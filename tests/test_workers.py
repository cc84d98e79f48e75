"""Chunked crafting on worker threads (attacks/workers.py): same numbers as whole batches, rows in order."""

import threading

import pytest
import torch
import torchattacks
from conftest import torch_threads

from attacks import make_attack
from attacks.metrics import score
from attacks.naive import naive_matrix
from attacks.transfer import transfer_matrix
from attacks.workers import INLINE, Workers
from robustness.config import AttackConfig
from robustness.models import MODELS, build_model

CPU = torch.device("cpu")
SETTINGS = AttackConfig(settings={"ifgsm": {"steps": 2}, "pgd": {"steps": 2}})


@pytest.fixture
def two_threads():
    """Torch on two threads, as on the 2-core machines the suite is measured on: the workers then form a pool."""
    with torch_threads(2):
        yield


def test_map_covers_every_row_once_in_order_on_worker_threads():
    seen = []
    with Workers(chunk=3, threads=2) as workers:
        parts = workers.map(lambda rows: (seen.append(threading.current_thread().name), list(range(10))[rows])[1], 10)
    assert parts == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert all(name.startswith("craft") for name in seen)


def test_chunks_are_even_across_the_workers_and_never_larger_than_asked():
    with Workers(chunk=64, threads=2) as workers:
        assert [r.stop - r.start for r in workers.chunks(168)] == [42, 42, 42, 42]  # not 64, 64, 40: no worker waits
        assert [r.stop - r.start for r in workers.chunks(1536)] == [64] * 24
        assert [r.stop - r.start for r in workers.chunks(1)] == [1]
    assert [r.stop - r.start for r in Workers(chunk=64, threads=1).chunks(168)] == [56, 56, 56]  # no pool: fewest chunks


def test_workers_run_torch_on_one_thread_and_give_the_callers_count_back(two_threads):
    with Workers(chunk=1, threads=2) as workers:
        counts = workers.map(lambda rows: (torch.ones(64, 64).mm(torch.ones(64, 64)), torch.get_num_threads())[1], 4)
    assert counts == [1, 1, 1, 1]
    later = []  # a thread started after the pool: torch's default for new threads must be the caller's again
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert (torch.get_num_threads(), later) == (2, [2])


def test_without_chunks_one_call_runs_on_the_calling_thread():
    for workers in (INLINE, Workers.for_device(CPU, 0), Workers.for_device(torch.device("cuda"), 64)):
        with workers:
            assert workers.pool is None
            assert workers.map(lambda rows: (rows, threading.current_thread() is threading.main_thread()), 7) == [
                (slice(0, 7), True)]


def test_an_error_in_a_worker_reaches_the_caller():
    def fail(rows):
        raise ValueError(f"rows {rows.start}")

    with Workers(chunk=2, threads=2) as workers, pytest.raises(ValueError, match="rows 0"):
        workers.map(fail, 4)


def model_for(arch: str) -> tuple[torch.nn.Module, tuple[int, int, int]]:
    shape = (1, 8, 8) if arch == "digits_cnn" else (3, 32, 32)
    torch.manual_seed(0)
    model = build_model(arch, shape, 10, [0.5] * shape[0], [0.25] * shape[0])
    return model.to(memory_format=torch.channels_last).eval(), shape


@pytest.mark.parametrize("arch", list(MODELS))
def test_chunks_on_worker_threads_craft_what_torchattacks_crafts_on_the_whole_batch(arch, two_threads):
    """Every architecture: each image's gradient does not depend on the images beside it, bit for bit."""
    model, shape = model_for(arch)
    x = torch.rand(12, *shape, generator=torch.Generator().manual_seed(1))
    y = torch.arange(12) % 10
    eps, seeds = [0.03, 0.1], [5, 6]
    for name in ("fgsm", "ifgsm", "pgd"):
        attack = make_attack(name, SETTINGS)
        with Workers(chunk=5, threads=2) as workers:  # chunks of 5, 5 and 2 per ε
            chunked = attack.craft_every_eps(model, x, y, eps, seeds, workers)
        whole = attack.craft_every_eps(model, x, y, eps, seeds)
        assert torch.equal(chunked, whole), (arch, name)
        for k, (e, seed) in enumerate(zip(eps, seeds)):
            torch.manual_seed(seed)  # PGD's random start: as the attack stage seeds it (the fused one draws the same)
            assert torch.equal(chunked[k], attack.build(model, e, seed)(x, y)), (arch, name, e)


def test_chunked_scores_equal_whole_batch_scores(tiny_models, batch, two_threads):
    x, y = batch
    model = tiny_models["erm_s0"]
    with Workers(chunk=16, threads=2) as workers:
        assert all(torch.equal(a, b) for a, b in zip(score(model, x, y, workers), score(model, x, y)))


def test_attack_stage_on_worker_threads_equals_the_naive_loop(tiny_models, batch, two_threads):
    """The stage's pool at work (2 torch threads, chunks of 16 in batches of 40) against whole batches crafted by
    torchattacks on 2 intra-op threads: the numbers are the same."""
    x, y = batch[0][:100], batch[1][:100]
    cfg = AttackConfig(eps=(0.0, 0.05, 0.15), batch_size=40, chunk_images=16,
                       settings={"ifgsm": {"steps": 2}, "pgd": {"steps": 2}})
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False) == naive_matrix(tiny_models, x, y, cfg, CPU)
    assert torch.get_num_threads() == 2


def test_bim_projection_is_torchattacks_own(tiny_models, batch):
    """The fused I-FGSM's projection (max/min) against BIM's masked sums, at the edges of [0, 1] and the ball."""
    x, y = batch
    model = tiny_models["erm_s0"]
    for eps in (0.05, 0.5, 1.0):
        fused = make_attack("ifgsm", AttackConfig(settings={"ifgsm": {"steps": 3, "step_factor": 2.0}})).craft_every_eps(
            model, x, y, [eps])
        assert torch.equal(fused[0], torchattacks.BIM(model, eps=eps, alpha=2 * eps / 3, steps=3)(x, y)), eps


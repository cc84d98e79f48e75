"""Per-example scores, cell counts and Wilson intervals (attacks/metrics.py)."""

import pytest
import torch
from torch import nn

from attacks.metrics import Tally, pack_bits, score, wilson


def test_wilson_interval_known_values():
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson(0, 10)[0] == 0 and wilson(0, 10)[1] == pytest.approx(0.27753, abs=1e-5)
    assert wilson(10, 10) == [pytest.approx(0.72247, abs=1e-5), 1.0]
    assert wilson(0, 0) is None


def test_top5_only_with_more_than_five_classes():
    five = nn.Linear(4, 5)
    wrong1, wrong5 = score(five, torch.rand(8, 4), torch.zeros(8, dtype=torch.long))
    assert wrong5 is None and len(wrong1) == 8
    tally = Tally(8)
    tally.add(wrong1, wrong5)
    assert tally.clean_record()["top5_error"] is None


def test_tally_counts_flips_among_the_clean_correct():
    tally = Tally(4)
    wrong = torch.tensor([True, True, False, False])
    clean_wrong = torch.tensor([True, False, False, True])
    tally.add(wrong, None, clean_wrong)
    record = tally.cell_record()
    assert (record["wrong"], record["correct_clean"], record["flipped"]) == (2, 2, 1)
    assert record["success_rate"] == 0.5 and record["error"] == 0.5


def test_a_tally_counted_in_batches_equals_one_counted_at_once():
    """The flags of each batch land in order in the tally's one tensor; the record does not depend on batching."""
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.rand(n, generator=gen) < 0.4, torch.rand(n, generator=gen) < 0.1, torch.rand(n, generator=gen) < 0.2)
               for n in (256, 256, 28)]
    batched, whole = Tally(540), Tally(540)
    for wrong1, wrong5, clean in batches:
        batched.add(wrong1, wrong5, clean)
        assert torch.equal(batched.latest_flags(), wrong1)
    whole.add(*(torch.cat([b[k] for b in batches]) for k in range(3)))
    assert batched.cell_record() == whole.cell_record()
    assert batched.cell_record()["wrong_bits"] == pack_bits(torch.cat([b[0] for b in batches]))

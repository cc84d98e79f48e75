"""PreAct ResNet-18 as the paper's code, the fast networks, torchvision models by name."""

import pytest
import torch
from torch import nn

from robustness.errors import SuiteError
from robustness.models import MODELS, PreActBlock, build_model, model_builder
from robustness.validation import load_config


def preact(dropout: float = 0.0) -> nn.Module:
    return model_builder("preact_resnet18")((3, 32, 32), 10, dropout=dropout)


def test_preact_resnet18_has_the_papers_shape():
    net = preact()
    blocks = [m for m in net.modules() if isinstance(m, PreActBlock)]
    assert len(blocks) == 8  # [2, 2, 2, 2]
    assert [b.conv1.out_channels for b in blocks] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [b.conv1.stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1, 2, 1]
    # Projection shortcuts (1×1 conv, no BN) exactly where the shape changes, identity elsewhere.
    assert [len(b.shortcut) for b in blocks] == [0, 0, 1, 0, 1, 0, 1, 0]
    assert all(isinstance(b.shortcut[0], nn.Conv2d) and b.shortcut[0].kernel_size == (1, 1) for b in blocks if len(b.shortcut))
    assert sum(p.numel() for p in net.parameters()) == 11_171_274  # the paper code's ResNet18 on CIFAR-10
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())  # no dropout unless asked
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_preact_resnet18_takes_other_sizes_and_channels():
    net = model_builder("preact_resnet18")((1, 28, 28), 7)
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 7)


def test_dropout_sits_after_the_relu_between_the_two_convolutions():
    block = PreActBlock(8, 8, dropout=0.5)
    seen = {}
    block.dropout.register_forward_hook(lambda mod, inp, out: seen.update(inp=inp[0], out=out))
    block.conv2.register_forward_hook(lambda mod, inp, out: seen.update(conv2_in=inp[0]))
    block.train()
    x = torch.randn(4, 8, 6, 6)
    block(x)
    assert (seen["inp"] >= 0).all()  # after the ReLU
    assert torch.equal(seen["conv2_in"], seen["out"])  # and straight into the second convolution
    assert (seen["out"] == 0).float().mean() > 0.3  # dropping about half
    # Everything dropped: the block is its (pre-activated) shortcut alone.
    block.dropout.p = 1.0
    assert torch.allclose(block(x), torch.relu(block.bn1(x)))
    # Eval mode: no dropout.
    block.eval()
    assert torch.equal(block(x), block(x)) and not torch.allclose(block(x), torch.relu(block.bn1(x)))


def test_every_block_of_preact_resnet18_gets_one_dropout():
    net = preact(dropout=0.7)
    blocks = [m for m in net.modules() if isinstance(m, PreActBlock)]
    assert all(isinstance(b.dropout, nn.Dropout) and b.dropout.p == 0.7 for b in blocks)
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 8


@pytest.mark.parametrize("arch", list(MODELS))
def test_every_registered_model_maps_32x32_rgb_to_logits_and_trains(arch):
    torch.manual_seed(0)
    net = build_model(arch, (3, 32, 32), 10, (0.5,) * 3, (0.25,) * 3)
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_fast_resnet_widths():
    full = model_builder("fast_resnet")((3, 32, 32), 10)
    small = model_builder("fast_resnet_small")((3, 32, 32), 10)
    assert full.linear.in_features == 512 and small.linear.in_features == 128
    assert sum(p.numel() for p in full.parameters()) > 10 * sum(p.numel() for p in small.parameters())


def test_torchvision_models_by_name():
    net = build_model("torchvision:resnet18", (1, 32, 32), 5, (0.5,), (0.25,))  # grey input is repeated to RGB
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 5)
    assert load_config("quick", None, {"train": {"arch": "torchvision:resnet101"}}).train.arch == "torchvision:resnet101"
    with pytest.raises(SuiteError, match="unknown torchvision model 'resnet7'"):
        load_config("quick", None, {"train": {"arch": "torchvision:resnet7"}})
    with pytest.raises(SuiteError, match="no dropout"):
        model_builder("torchvision:resnet18")((3, 32, 32), 10, dropout=0.5)

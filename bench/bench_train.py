"""Training benchmarks, run on demand (not by pytest).

``loop``: training throughput (images/s) of our loop (the whole training set as a uint8
tensor on the device, crop + flip per batch on the device) against the ordinary
torchvision loop (a Dataset of uint8 images, PIL ``RandomCrop(padding=4)`` +
``RandomHorizontalFlip`` + ``ToTensor`` per image, a ``DataLoader``): the same model,
batch size, augmentation, optimizer and number of images, measured one after the
other in the same run, so the ratio holds even on a busy machine.

``stages``: the wall time of each stage of a preset (data, clean training, attacks,
label noise) on this device, from the run's own ``results.json``.

    python bench/bench_train.py loop --arch fast_resnet_small --images 2048 --batch-size 128
    python bench/bench_train.py loop --arch fast_resnet --device cuda --images 20000 --batch-size 512
    python bench/bench_train.py stages --preset cifar10-cpu --dataset imagefolder:data/cifar10-jpeg
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robustness.config import DataConfig, TrainConfig
from robustness.data import Split, finish_split, load
from robustness.methods import Trainee, parse_method
from robustness.models import build_model, mix_points
from robustness.train import Streams, device_plan, train_epoch
from robustness.validation import load_config


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def images_for(args) -> Split:
    """Real images when --dataset is given, else random uint8 CIFAR-sized ones (the loop's cost does not depend on content)."""
    if args.dataset:
        return load(DataConfig(name=args.dataset, root=args.data_root, train_subset=args.images))
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=gen)
    y = torch.arange(args.images) % 10
    return finish_split("random-uint8", (x, y), (x[:10], y[:10]), [str(i) for i in range(10)], DataConfig())


def new_model(args, split: Split, device: torch.device, memory_format=torch.contiguous_format):
    torch.manual_seed(0)
    model = build_model(args.arch, split.input_shape, split.num_classes, split.mean, split.std)
    model.to(device, memory_format=memory_format)
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)


def ours(args, split: Split, device: torch.device) -> float:
    """Images/s of robustness.train.train_epoch: uint8 set on the device, augmentation on the device."""
    config = TrainConfig(arch=args.arch, batch_size=args.batch_size, augment=True, compile=args.compile,
                         precision=args.precision)
    plan = device_plan(config, device)
    model, optimizer = new_model(args, split, device, plan.memory_format)
    forward = torch.compile(model) if plan.compile else model
    x, y = split.train_images.to(device), split.train_y.to(device)
    erm = parse_method("erm")
    streams = Streams.from_seed(0, erm)
    warm = slice(0, args.batch_size * 2)
    train_epoch(Trainee(forward, mix_points(model), x[warm], y[warm]), optimizer, erm, config, plan, streams)  # warm-up, compile
    synchronize(device)
    start = time.perf_counter()
    trainee = Trainee(forward, mix_points(model), x, y)
    for _ in range(args.epochs):
        train_epoch(trainee, optimizer, erm, config, plan, streams)
    synchronize(device)
    return args.epochs * len(x) / (time.perf_counter() - start)


class PilImages(torch.utils.data.Dataset):
    """What torchvision's CIFAR10 does per item: uint8 H×W×C array -> PIL image -> transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).numpy()  # N×H×W×C, as CIFAR10.data
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        image = self.images[i]
        return self.transform(Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)), self.labels[i]


def dataloader_baseline(args, split: Split, device: torch.device) -> float:
    """Images/s of the ordinary loop: per-image PIL transforms in DataLoader workers, fp32, NCHW."""
    from torchvision import transforms

    size = split.input_shape[1:]
    transform = transforms.Compose([transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor()])
    loader = torch.utils.data.DataLoader(
        PilImages(split.train_images, split.train_y, transform), batch_size=args.batch_size, shuffle=True,
        num_workers=args.workers, pin_memory=device.type == "cuda", persistent_workers=args.workers > 0,
    )
    model, optimizer = new_model(args, split, device)
    model.train()

    def epoch(limit: int | None = None) -> None:
        for step, (inputs, labels) in enumerate(loader):
            if limit is not None and step >= limit:
                break
            inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    epoch(limit=2)  # warm-up: workers started, kernels chosen
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.epochs):
        epoch()
    synchronize(device)
    return args.epochs * len(split.train_y) / (time.perf_counter() - start)


def data_only(args, split: Split, device: torch.device) -> tuple[float, float]:
    """Images/s of producing augmented float batches alone (no model): (DataLoader + PIL, ours)."""
    from torchvision import transforms

    from robustness.train import train_batch

    size = split.input_shape[1:]
    transform = transforms.Compose([transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor()])
    loader = torch.utils.data.DataLoader(PilImages(split.train_images, split.train_y, transform),
                                         batch_size=args.batch_size, shuffle=True, num_workers=args.workers)
    start = time.perf_counter()
    for inputs, labels in loader:
        inputs.to(device)
    synchronize(device)
    baseline = len(split.train_y) / (time.perf_counter() - start)
    config = TrainConfig(batch_size=args.batch_size, augment=True)
    plan, gen = device_plan(config, device), torch.Generator().manual_seed(0)
    x, y = split.train_images.to(device), split.train_y.to(device)
    start = time.perf_counter()
    order = torch.randperm(len(x), generator=gen).to(device)
    for i in range(0, len(x), args.batch_size):
        train_batch(x, y, order[i : i + args.batch_size], config, plan, gen)
    synchronize(device)
    return baseline, len(x) / (time.perf_counter() - start)


def run_loop(args) -> dict:
    device = torch.device(args.device)
    split = images_for(args)
    plan = device_plan(TrainConfig(compile=args.compile, precision=args.precision), device)
    baseline = dataloader_baseline(args, split, device)
    fast = ours(args, split, device)
    data_baseline, data_ours = data_only(args, split, device)
    row = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "arch": args.arch, "images": len(split.train_y), "batch_size": args.batch_size, "epochs": args.epochs,
        "workers": args.workers, "our_plan": f"{plan.autocast_dtype or 'fp32'}, {plan.memory_format}, compile={plan.compile}",
        "dataloader_img_per_s": round(baseline, 1), "ours_img_per_s": round(fast, 1), "ratio": round(fast / baseline, 2),
        "data_only_dataloader_img_per_s": round(data_baseline, 1), "data_only_ours_img_per_s": round(data_ours, 1),
        "data_only_ratio": round(data_ours / data_baseline, 2),
    }
    print(f"| device | model | batch | DataLoader + PIL transforms (img/s) | ours (img/s) | ratio |\n|---|---|---|---|---|---|\n"
          f"| {row['device']} | {args.arch} | {args.batch_size} | {baseline:.0f} | {fast:.0f} | **{fast / baseline:.2f}×** |\n"
          f"| {row['device']} | data only (no model) | {args.batch_size} | {data_baseline:.0f} | {data_ours:.0f} | "
          f"**{data_ours / data_baseline:.2f}×** |")
    return row


def run_stages(args) -> dict:
    from robustness.suite import run_suite

    flags: dict = {"out": args.out, "device": args.device}
    data = {k: v for k, v in {"name": args.dataset, "root": args.data_root, "train_subset": args.train_subset,
                              "test_subset": args.test_subset}.items() if v is not None}
    if data:
        flags["data"] = data
    config = load_config(args.preset, None, flags)
    run_dir = run_suite(config, progress=not args.quiet)
    results = json.loads((run_dir / "results.json").read_text())
    stages = results["timing"]["stages_s"]
    env = results["environment"]
    print(f"| stage (preset `{args.preset}`, {env['device']}: {env['device_name']}, {env['cpu_threads']} threads) | wall time (s) |")
    print("|---|---|")
    for name, seconds in stages.items():
        print(f"| {name} | {seconds:.1f} |")
    return {"preset": args.preset, "device": env["device_name"], "stages_s": stages, "run_dir": str(run_dir)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    loop = sub.add_parser("loop", help="images/s: our device loop vs DataLoader + PIL transforms")
    loop.add_argument("--arch", default="fast_resnet_small")
    loop.add_argument("--images", type=int, default=2048, help="training images per epoch")
    loop.add_argument("--batch-size", type=int, default=128)
    loop.add_argument("--epochs", type=int, default=1, help="timed epochs of each loop")
    loop.add_argument("--workers", type=int, default=2, help="DataLoader worker processes of the baseline")
    loop.add_argument("--compile", action="store_true", help="torch.compile our loop's model")
    loop.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                      help="our loop's precision (auto: bf16 on CUDA); fp32 isolates the loop's own gain")
    stages = sub.add_parser("stages", help="wall time of each stage of a preset")
    stages.add_argument("--preset", default="cifar10-cpu")
    stages.add_argument("--out", default="reports")
    stages.add_argument("--train-subset", type=int)
    stages.add_argument("--test-subset", type=int)
    stages.add_argument("--quiet", action="store_true")
    for p in (loop, stages):
        p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        p.add_argument("--dataset", help="e.g. imagefolder:data/cifar10-jpeg (loop: default random uint8 images)")
        p.add_argument("--data-root", default="data")
        p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
        p.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    row = run_loop(args) if args.mode == "loop" else run_stages(args)
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

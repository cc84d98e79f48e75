"""Reading and writing results.json, atomically, and the run's environment record."""

from __future__ import annotations

import io
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

from robustness.errors import SuiteError

SCHEMA_VERSION = 1


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode())


def save_state(path: Path, model: torch.nn.Module) -> None:
    """A model's state_dict, written atomically (load it with ``torch.load(weights_only=True)``)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    write_atomic(path, buffer.getvalue())


def read_results(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise SuiteError(f"{path} does not exist; pass a run directory written by run_all.py")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SuiteError(f"{path} is not valid JSON ({err}); rerun the suite to rewrite it") from None


def environment(device: torch.device) -> dict:
    """Library versions and the device, so a reader knows what produced the numbers."""
    import numpy
    import sklearn
    import torchattacks
    import torchvision

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torchattacks": torchattacks.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_threads": torch.get_num_threads(),
    }

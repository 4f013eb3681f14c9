"""The one device picker: explicit choice, else cuda, else mps, else cpu.

torch is imported only when a neural backend asks for a device, never at start-up.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import cache

from core.errors import BackendUnavailable

log = logging.getLogger(__name__)


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


@cache
def pick_device(explicit: str | None = "auto") -> str:
    """Return a torch device string such as "cpu", "cuda" or "cuda:1".

    `explicit` wins when given (anything but None/"auto"); an explicit GPU that is not
    there raises BackendUnavailable instead of silently running elsewhere.
    """
    choice = (explicit or "auto").strip().lower()
    if not torch_installed():
        if choice not in ("auto", "cpu"):
            raise BackendUnavailable(f"device {explicit!r} needs PyTorch, which is not installed")
        return "cpu"
    import torch

    if choice != "auto":
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(f"device {explicit!r} was asked for but no CUDA GPU is visible")
        if choice == "mps" and not torch.backends.mps.is_available():
            raise BackendUnavailable("device 'mps' was asked for but Apple MPS is not available")
        if not (choice == "cpu" or choice == "mps" or choice.startswith("cuda")):
            raise BackendUnavailable(f"unknown device {explicit!r}: use auto, cpu, cuda, cuda:N or mps")
        device = choice
    elif torch.cuda.is_available():
        device = "cuda"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    log.info("compute device: %s", device)
    return device


def _gpu_names_without_torch() -> list[str]:
    """NVIDIA GPUs the driver reports (no CUDA initialisation, no torch import)."""
    import glob

    names = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            with open(info, encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Model:"):
                        names.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return names


def describe_device(explicit: str | None = "auto") -> dict:
    """What the capabilities report says about compute. Cheap: torch is not imported for it
    (importing torch costs seconds and hundreds of MB); once a backend has imported it, it is asked."""
    import platform
    import sys

    if not torch_installed():
        return {"device": "cpu", "torch": None, "gpu": None, "note": "PyTorch not installed: neural backends off"}
    if "torch" in sys.modules:
        try:
            device = pick_device(explicit)
        except BackendUnavailable as e:
            return {"device": None, "torch": True, "gpu": None, "note": str(e)}
        torch = sys.modules["torch"]
        gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
        return {"device": device, "torch": torch.__version__, "gpu": gpu, "note": "" if gpu else "no GPU: CPU only"}
    gpus = _gpu_names_without_torch()
    apple = platform.system() == "Darwin" and platform.machine() == "arm64"
    choice = (explicit or "auto").lower()
    device = choice if choice != "auto" else ("cuda" if gpus else "mps" if apple else "cpu")
    return {"device": device, "torch": "installed (not loaded yet)", "gpu": gpus[0] if gpus else None,
            "note": "" if (gpus or apple) else "no GPU: CPU only"}


def ctranslate2_device(explicit: str | None = "auto") -> str:
    """The device for CTranslate2 models (speech recognition): the same choice as `pick_device`
    ("cuda", "cuda:N" or "cpu"; CTranslate2 has no MPS) without importing torch."""
    choice = (explicit or "auto").strip().lower()
    try:
        import ctranslate2

        gpus = ctranslate2.get_cuda_device_count()
    except Exception:  # not installed, or a CUDA runtime that cannot start
        gpus = 0
    if choice.startswith("cuda"):
        if not gpus:
            raise BackendUnavailable(f"device {explicit!r} was asked for but no CUDA GPU is visible")
        return choice
    if choice in ("cpu", "mps"):
        return "cpu"
    return "cuda" if gpus else "cpu"

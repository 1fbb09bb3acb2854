"""Where and how a trial computes: the device, the float precision, ``torch.compile``, and how many
trials share one device.

Everything device-specific in recscale goes through this module and ``torch.device``: no tensor is
moved by a CUDA-specific method anywhere, so the GPU code path is the CPU code path with another device string, and the
tests exercise it on the CPU (bf16 autocast and ``torch.compile`` included).

Numbers by precision (``TrainConfig.precision``):
    fp32: float32 everywhere, TF32 off. The default, and the one NE is reported in. On the CPU this
        is exactly the code path before precision options existed (bitwise the same numbers).
    tf32: float32 storage, TF32 tensor-core matmuls (CUDA only; about 10 bits of mantissa in the
        matmul inputs). Faster on Ampere and later; its effect on NE is not yet measured.
    bf16: ``torch.autocast`` to bfloat16 for the MLPs and the interaction; parameters, optimiser
        state, the loss and the embedding tables stay float32. Works on CPU and CUDA.

Torch is imported inside the functions, so ``recscale study run --help`` and spec checks stay fast.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from recscale.errors import RecscaleError

PRECISIONS = ("fp32", "tf32", "bf16")

# Concurrent trials per GPU when --trials-per-device is not given. Not yet measured on a GPU (no
# GPU was available when this was written): 1 is the safe choice until
# `benchmarks/study_throughput.py --device cuda` has been run on the target card (see
# benchmarks/RESULTS.md). On the CPU the default is one trial per `train.threads` cores.
GPU_TRIALS_PER_DEVICE = 1

# Backend for ``TrainConfig.compile``; tests switch it to "aot_eager" (no C++ compiler needed).
COMPILE_BACKEND = "inductor"


def resolve_device(device: str) -> str:
    """The torch device string for ``device``; "auto" means "cuda" when a GPU is visible, else "cpu".

    Raises:
        RecscaleError: If the string is not a torch device, or names a CUDA device that is not there.
    """
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise RecscaleError(f"--device must be auto, cpu, cuda or cuda:N; got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__} " + ("has no CUDA support" if torch.version.cuda is None else "sees no GPU")
            raise RecscaleError(f"--device {device}: {build}; use --device cpu (or auto), or install a CUDA build of torch")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RecscaleError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible (cuda:0..)")
    return device


def default_trials_per_device(device: str, threads: int) -> int:
    """Concurrent trials on one device when the user does not say.

    CPU: one trial per ``threads`` cores, which pays once the study's training time is well above
    the process pool's start-up (a few seconds; measurements in benchmarks/RESULTS.md). GPU:
    :data:`GPU_TRIALS_PER_DEVICE`.
    """
    if device.startswith("cuda"):
        return GPU_TRIALS_PER_DEVICE
    return max(1, (os.cpu_count() or 1) // max(1, threads))


def check_precision(precision: str, device: str) -> None:
    """Raise RecscaleError unless ``precision`` is one of :data:`PRECISIONS` and runs on ``device``."""
    if precision not in PRECISIONS:
        raise RecscaleError(f"--precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "tf32" and not device.startswith("cuda"):
        raise RecscaleError(f"--precision tf32 needs a CUDA device (TF32 is a GPU matmul mode); got --device {device}; use fp32 or bf16")


@contextlib.contextmanager
def precision_context(precision: str, device_type: str) -> Iterator[None]:
    """Compute inside this block in ``precision`` on a device of type ``device_type`` ("cpu", "cuda").

    fp32 on the CPU changes nothing. On CUDA, fp32 and tf32 set the TF32 matmul flag for the block
    (and restore it after), so a process-wide setting elsewhere cannot change the numbers.
    """
    if precision == "fp32" and device_type == "cpu":
        yield
        return
    import torch

    matmul = torch.backends.cuda.matmul
    old = matmul.allow_tf32
    matmul.allow_tf32 = precision == "tf32"
    try:
        if precision == "bf16":
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        matmul.allow_tf32 = old


def maybe_compile(fn: Callable[..., Any], enabled: bool) -> Callable[..., Any]:
    """``torch.compile(fn)`` when ``enabled`` (backend :data:`COMPILE_BACKEND`), else ``fn`` itself.

    Compiled kernels fuse element-wise work, so the last bits of the numbers may differ from eager.
    """
    if not enabled:
        return fn
    import torch

    return torch.compile(fn, backend=COMPILE_BACKEND)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run this block with ``n`` torch intra-op threads, then restore the process's count.

    The thread count is part of the numbers' identity (``TrainConfig.threads``), but it is process
    state: whoever runs a trial's steps sets it for their duration, no constructor sets it for good.
    """
    import torch

    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)

"""Check the device-agnostic GPU path on the CPU: device resolution, precision, compile, prefetch.

The tests marked ``cuda`` run only where a GPU is visible; everything else runs the same code with
``device="cpu"``, so CI without a GPU still exercises the GPU path's logic.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import recscale
from recscale.data.loader import _to_device, iter_batches, load_rows
from recscale.errors import RecscaleError
from recscale.model.config import DLRMConfig
from recscale.train import device as dev
from recscale.train.config import TrainConfig
from recscale.train.trainer import Trainer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _cfg(ds):
    return DLRMConfig(n_dense=ds.n_dense, cardinalities=tuple(ds.cardinalities), embedding_dim=8,
                      embedding_rows=2000, bottom_mlp=(16,), top_mlp=(16,))  # fmt: skip


def _ne(ds, n=4096, **train):
    tc = TrainConfig(batch_size=256, eval_rows=3000, **train)
    return [p.evaluation.ne for p in Trainer(_cfg(ds), tc, ds, seed=1).run([1024, n])]


# ---- device resolution and options ---------------------------------------------------------------


def test_auto_resolves_to_cuda_only_when_available(monkeypatch):
    """Check that --device auto means cuda when torch sees a GPU, else cpu; cpu never imports CUDA state."""
    assert dev.resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.resolve_device("auto") == "cuda"


def test_bad_devices_name_the_fix(monkeypatch):
    """Check the errors for a non-device string and for cuda without a GPU."""
    with pytest.raises(RecscaleError, match=r"--device must be auto, cpu, cuda or cuda:N; got 'gpu0'"):
        dev.resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RecscaleError, match=r"--device cuda: torch .* use --device cpu \(or auto\)"):
        dev.resolve_device("cuda")


def test_precision_checks():
    """Check that precisions are validated, and tf32 is refused off CUDA with the alternatives named."""
    dev.check_precision("fp32", "cpu")
    dev.check_precision("bf16", "cpu")
    dev.check_precision("tf32", "cuda:0")
    with pytest.raises(RecscaleError, match=r"--precision must be one of fp32, tf32, bf16; got 'fp16'"):
        dev.check_precision("fp16", "cpu")
    with pytest.raises(RecscaleError, match=r"--precision tf32 needs a CUDA device.*use fp32 or bf16"):
        dev.check_precision("tf32", "cpu")


def test_default_trials_per_device(monkeypatch):
    """Check the defaults: one trial per `threads` cores on a CPU, GPU_TRIALS_PER_DEVICE on a GPU."""
    monkeypatch.setattr(dev.os, "cpu_count", lambda: 8)
    assert dev.default_trials_per_device("cpu", threads=1) == 8
    assert dev.default_trials_per_device("cpu", threads=3) == 2
    assert dev.default_trials_per_device("cpu", threads=16) == 1
    assert dev.default_trials_per_device("cuda", threads=1) == dev.GPU_TRIALS_PER_DEVICE


def test_precision_context_sets_and_restores():
    """Check fp32-on-CPU is a no-op, bf16 autocasts matmuls, and the TF32 flag is restored."""
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    old = torch.backends.cuda.matmul.allow_tf32
    with dev.precision_context("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert lin(x).dtype == torch.float32
    with dev.precision_context("bf16", "cpu"):
        assert lin(x).dtype == torch.bfloat16
    with dev.precision_context("tf32", "cuda"):  # only flips a flag; no GPU needed
        assert torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32 == old
    assert not torch.is_autocast_enabled("cpu")


def test_no_device_specific_calls_in_the_package():
    """Check that devices go through torch.device only: no `.cuda(` calls anywhere in src/recscale."""
    root = Path(recscale.__file__).parent
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\.cuda\(", line)]  # fmt: skip
    assert offenders == []


# ---- the training path ---------------------------------------------------------------------------


def test_prefetch_gives_the_same_batches(small_synth):
    """Check that the background-prefetching iterator yields exactly the batches of the plain one."""
    split = small_synth.split("train")
    kw = dict(start=512, block_rows=1000)
    plain = list(iter_batches(split, 256, 5_000, **kw))
    pre = list(iter_batches(split, 256, 5_000, prefetch=True, **kw))
    assert len(pre) == len(plain) and len(pre[-1]) == (5_000 - 512) % 256
    for a, b in zip(plain, pre):
        assert torch.equal(a.dense, b.dense) and torch.equal(a.sparse, b.sparse) and torch.equal(a.labels, b.labels)
    assert list(iter_batches(split, 256, 512, start=512, prefetch=True)) == []


def test_to_device_copies_to_a_non_cpu_device(small_synth):
    """Check the non-CPU branch of the loader (the GPU's copy path) on the `meta` device."""
    b = _to_device(load_rows(small_synth.split("eval"), 0, 10), torch.device("meta"))
    assert b.dense.device.type == "meta" and b.sparse.dtype == torch.int64 and b.dense.shape == (10, small_synth.n_dense)


def test_auto_device_trains_like_cpu(small_synth):
    """Check that device="auto" on a GPU-less machine gives the CPU's numbers bit for bit."""
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: auto means cuda here")
    assert _ne(small_synth, device="auto") == _ne(small_synth, device="cpu")


def test_bf16_autocast_trains_close_to_fp32(small_synth):
    """Check that bf16 autocast (on the CPU here) changes the numbers a little, not the learning."""
    fp32, bf16 = np.array(_ne(small_synth)), np.array(_ne(small_synth, precision="bf16"))
    assert not np.array_equal(fp32, bf16)  # autocast really ran in bf16
    assert np.abs(fp32 - bf16).max() < 0.01
    assert bf16[-1] < bf16[0]


def test_compile_matches_eager(small_synth, monkeypatch):
    """Check that train.compile runs the step through torch.compile and keeps the numbers (to 1e-5)."""
    monkeypatch.setattr(dev, "COMPILE_BACKEND", "aot_eager")  # the dynamo path without a C++ compiler
    torch._dynamo.reset()
    calls = []
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(kw) or real(fn, **kw))
    compiled = np.array(_ne(small_synth, compile=True))
    assert calls == [{"backend": "aot_eager"}]
    np.testing.assert_allclose(compiled, np.array(_ne(small_synth)), atol=1e-5)


# ---- on a GPU only -------------------------------------------------------------------------------


@cuda
def test_cuda_matches_cpu_within_bound(small_synth):
    """Check GPU fp32 NE against the CPU's within the documented bound (docs/scale-out.md: 2e-3)."""
    gpu, cpu = np.array(_ne(small_synth, device="cuda")), np.array(_ne(small_synth))
    assert np.abs(gpu - cpu).max() < 2e-3


@cuda
@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_cuda_fast_precisions_run(small_synth, precision):
    """Check that tf32 and bf16 train on a GPU and stay near fp32."""
    fast, ref = np.array(_ne(small_synth, device="cuda", precision=precision)), np.array(_ne(small_synth, device="cuda"))
    assert np.abs(fast - ref).max() < 0.01


# ---- the benchmarks run (small sizes, CPU) -------------------------------------------------------

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    import importlib.util

    if str(BENCH) not in sys.path:  # benchmarks import their shared module, baselines.py
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_gpu_benchmark_runs_small_on_cpu(capsys):
    """Check that benchmarks/gpu_throughput.py --small runs on the CPU and ends with its summary line."""
    threads = torch.get_num_threads()
    try:
        _load("gpu_throughput").main(["--small", "--device", "cpu", "--steps", "1", "--warmup", "1"])
    finally:
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.strip().splitlines()
    assert "NOT a GPU measurement" in lines[0]
    assert re.fullmatch(r"gpu: \d+\.\d\dx baseline at 256, \d+\.\d\dx at 1024", lines[-1])


def test_study_benchmark_runs(tmp_path, capsys):
    """Check that benchmarks/study_throughput.py times a (tiny) study and ends with its summary line."""
    spec = tmp_path / "s.toml"
    spec.write_text(
        'name = "s"\n[data.synthetic]\nrows = 2048\neval_rows = 500\nmax_cardinality = 1000\ninteraction_max_cardinality = 100\n'
        "[train]\nbatch_size = 256\ncheckpoints = { start = 1024, stop = 2048 }\n"
        "[model]\nembedding_dim = 4\nembedding_rows = 500\nbottom_mlp = [8]\ntop_mlp = [8]\n[schemes]\nembedding_dim = [4]\n"
    )
    _load("study_throughput").main(["--spec", str(spec), "--device", "cpu", "--k", "1"])
    out = capsys.readouterr().out
    assert "max |dNE| vs K=1: 0.00e+00" in out
    assert re.search(r"^study: K=1 \d+\.\d s, best K=1 \d+\.\d s \(1\.00x\); default K on this device = \d+$", out, re.M)

"""How many CPU threads torch may use for training, fine-tuning and evaluation.

Measured on a 2-core machine (bench/bench_threads.py): a small LSTM gains little from a second
intra-op thread when the machine is idle, and loses many times over when another process wants a
core, because torch's OpenMP threads spin-wait for each other. So the default is one thread per two
available cores, at least one, at most 8; ``--threads`` overrides it. It is applied before torch does
any work, and exported to OMP/MKL for worker processes. Nothing on the daily path imports torch.
"""

from __future__ import annotations

import contextlib
import os

MAX_DEFAULT_THREADS = 8
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; a container's limit where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_threads(cores: int | None = None) -> int:
    """Half the available cores, at least 1, at most :data:`MAX_DEFAULT_THREADS`."""
    return max(1, min(MAX_DEFAULT_THREADS, (cores or available_cores()) // 2))


def set_torch_threads(threads: int | None = None) -> int:
    """Apply the thread policy (``threads`` or the default) to torch and to child processes; return it."""
    import torch

    n = default_threads() if threads is None else threads
    if n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # already set, or parallel work began: the intra-op limit holds
        torch.set_num_interop_threads(1)
    return n

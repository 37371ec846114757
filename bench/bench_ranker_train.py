"""Training steps per second of the neural ranker on CPU: ``python bench/bench_ranker_train.py``.

One step = one date's cross-section (every stock's window) through the patch encoder, the loss and an
AdamW update, exactly as :mod:`kabucast.ranker.neural` trains (without Lightning's bookkeeping). Random
normalised arrays (default 300 sessions x 4,000 stocks x 25 features, lookback 64) are written with the
loader's :func:`~kabucast.ranker.loader.write_arrays`; batches come from ``CrossSectionDataset``
in-process. The model is config/ranker/model.yaml's (d_model 192, depth 3, patch_len 16) unless told
otherwise. The first steps are left out. Machines differ: nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from bench_ranker_loader import random_arrays
from kabucast.ranker.loader import CrossSectionDataset, date_sampler, make_loader
from kabucast.ranker.losses import LossWeights, cross_section_loss
from kabucast.ranker.model import PatchModelSettings, build_model

WARMUP_STEPS = 2


def steps_per_second(model: torch.nn.Module, loader, n_steps: int) -> float:
    """Optimiser steps per second over ``n_steps`` cross-sections after :data:`WARMUP_STEPS`."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    weights, it = LossWeights(), iter(loader)
    start = time.perf_counter()
    for step in range(WARMUP_STEPS + n_steps):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        x, y = next(it)
        loss = cross_section_loss(model(x), y, weights)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return n_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=300)
    parser.add_argument("--stocks", type=int, nargs="+", default=[500, 4000])
    parser.add_argument("--features", type=int, default=25)
    parser.add_argument("--lookback", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=192)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--patch-len", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    settings = PatchModelSettings(patch_len=args.patch_len, d_model=args.d_model, depth=args.depth, dropout=0.1)
    for n_stocks in args.stocks:
        with tempfile.TemporaryDirectory(prefix="bench_ranker_train_") as directory:
            random_arrays(args.dates, n_stocks, args.features, 4, directory)
            rows = np.arange(args.lookback - 1, args.dates - 20)
            dataset = CrossSectionDataset(directory, rows, args.lookback)
            for threads in args.threads:
                torch.set_num_threads(threads)
                torch.manual_seed(0)
                model = build_model(args.features, args.lookback, (1, 5, 10, 20), settings).train()
                n_params = sum(p.numel() for p in model.parameters())
                rate = steps_per_second(model, make_loader(dataset, date_sampler(len(rows), True), 0), args.steps)
                print(
                    f"{n_stocks:>5} stocks x {args.lookback} x {args.features}, d_model {args.d_model} depth "
                    f"{args.depth} patch {args.patch_len} ({n_params:,} params), {threads} thread(s): "
                    f"{rate:6.2f} steps/s = {rate * n_stocks:>8,.0f} windows/s"
                )


if __name__ == "__main__":
    main()

"""Benchmark of ONNX Runtime inference: one default-size forecaster, 31 tickers (the Core30 universe).

Run: ``python bench/bench_onnx_predict.py [--threads 1 2] [--runs 50] [--kind bilstm ridge lightgbm momentum
cross_sectional]``.
Exports a randomly initialised default BiLSTM (timing does not depend on the weights), or a kind's shipped
recipe (config/train_<kind>.yaml, with its risk-scaled bands) fitted on a sample market of 31 names,
to a temporary folder, then measures prediction (with the quantiles when the model has them)
in a child process that never imports torch, as the daily Lambda does, so its peak RSS is the
Lambda's. Prints the model size, the median predict time per thread count and the peak RSS; asserts
nothing about time (machines differ).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_TICKERS = 31


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM first: ru_maxrss survives exec, so a child would
    report its parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def inputs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "weekly": rng.normal(size=(n, 156, 23)).astype(np.float32),
        "static": rng.normal(size=(n, 6)).astype(np.float32),
        "position": rng.uniform(size=(n, 2)).astype(np.float32),
        "sector_id": rng.integers(0, 12, n),
    }


def export_default(path: Path) -> float:
    """Export a default-config model to ``path``; returns the parity figure (max |ORT - torch|)."""
    import torch

    from kabucast.forecast.export import export_onnx
    from kabucast.forecast.model import BiLSTMForecaster, count_parameters

    torch.manual_seed(0)
    model = BiLSTMForecaster()
    print(f"default BiLSTMForecaster: {count_parameters(model):,} parameters")
    return export_onnx(model, path, inputs(4))


def export_kind(kind: str, path: Path) -> float:
    """Fit ``config/train_<kind>.yaml`` (bands included) on 31 names of the sample market and export it to ``path``."""
    import pandas as pd

    from kabucast.config import SectorSettings, TrainSettings, load_settings, resolve_config_path
    from kabucast.data.calendar import TradingCalendar
    from kabucast.data.sources.sample_market import SampleMarketSource
    from kabucast.features import PricePanel, weekly_feature_history
    from kabucast.forecast.dataset import build_samples
    from kabucast.forecast.interface import SampleSplit, calibrate_quantiles
    from kabucast.forecast.kinds import build_model

    recipe = load_settings(TrainSettings, resolve_config_path(f"train_{kind}.yaml"))
    tickers = [f"{1300 + i}.T" for i in range(N_TICKERS)]
    fetched = SampleMarketSource(tickers, ["Technology"] * N_TICKERS, seed=1).fetch_prices(
        tickers, pd.Timestamp("2015-01-05"), pd.Timestamp("2023-12-29")
    )
    panel = PricePanel.from_frames(dict(fetched.frames), tickers)
    sectors = load_settings(SectorSettings, resolve_config_path("sectors.yaml"))
    samples = build_samples(
        panel, weekly_feature_history(panel, panel.dates), {}, {}, sectors, TradingCalendar(), "none"
    )
    order = np.argsort(samples.date_pos, kind="stable")
    fit, calibrate = order[: len(order) // 2], order[len(order) // 2 :]
    training = recipe.training
    if kind == "cross_sectional":  # a torch recipe: one epoch, in this process (its predict time is the weights')
        training = {**training, "max_epochs": 1, "num_workers": 0}
    model = build_model(recipe.model, training, sectors.n_ids)
    split = SampleSplit(samples, fit, calibrate)
    model.fit(split, path.parent / "fit", progress=False)
    calibrate_quantiles(model, split, log=lambda line: None)
    return model.export(path, samples, calibrate[:64])


def time_predict(path: Path, threads: list[int], runs: int) -> None:
    """Child-process half: load the model without torch and time predict(31 samples) per thread count."""
    from kabucast.forecast.onnx_model import OnnxForecaster

    batch = inputs(N_TICKERS, seed=1)
    batch["weekly"][:, :, :] = np.abs(batch["weekly"])  # volatilities (the bands' scale) are >= 0
    for n in threads:
        start = time.perf_counter()
        forecaster = OnnxForecaster(path, intra_op_threads=n)
        load_ms = (time.perf_counter() - start) * 1e3
        predict = forecaster.predict_with_quantiles if forecaster.quantile_levels else forecaster.predict
        for _ in range(5):
            predict(**batch)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            predict(**batch)
            times.append(time.perf_counter() - start)
        median, p90 = np.median(times) * 1e3, np.percentile(times, 90) * 1e3
        what = f"predict {N_TICKERS}{' + quantiles' if forecaster.quantile_levels else ''}"
        timing = f"{what}: median {median:6.2f} ms, p90 {p90:6.2f} ms"
        print(f"intra_op_threads={n}: session {load_ms:6.1f} ms, {timing}")
    print(f"predict process (no torch: {'torch' not in sys.modules}): peak RSS {peak_rss_mb():.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts to time")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per thread count, after 5 warm-up runs")
    parser.add_argument("--kind", nargs="+", default=["bilstm"], help="bilstm (default size) or a recipe's kind")
    parser.add_argument("--predict-only", type=Path, help=argparse.SUPPRESS)  # the child process's mode
    args = parser.parse_args(argv)
    if args.predict_only:
        time_predict(args.predict_only, args.threads, args.runs)
        return
    for kind in args.kind:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            parity = export_default(path) if kind == "bilstm" else export_kind(kind, path)
            print(
                f"== {kind}: model.onnx {path.stat().st_size / 1e6:.2f} MB, parity max |ORT - in-process| {parity:.2e}"
            )
            print(f"export process: peak RSS {peak_rss_mb():.0f} MB")
            child = [sys.executable, __file__, "--predict-only", str(path), "--runs", str(args.runs), "--threads"]
            subprocess.run([*child, *map(str, args.threads)], check=True)


if __name__ == "__main__":
    main()

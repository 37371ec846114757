"""Training throughput by thread count, on an idle and on a loaded machine: torch and LightGBM.

Why the thread policy (kabucast/compute.py) is what it is, for both libraries that train here. For 1
and 2 threads, each in a fresh process, measures
- torch: training steps per second of the forecaster in config/train_demo.yaml (batch 256 x 156
  weeks x 23 features);
- lightgbm: boosting rounds per second of the ranker's baseline (config/ranker/model.yaml's
  parameters) on 87,000 rows x 25 features, the size of the real-data test's folds;
first with nothing else running, then beside a CPU-bound busy loop (another process wanting a core,
as on a shared laptop or CI machine). Prints each of REPEATS runs and the median; asserts nothing.

    python bench/bench_threads.py [torch|lightgbm ...]
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import subprocess
import sys
import time

REPEATS = 3
STEPS = 12

STEP = """
import sys, time, torch
from kabucast.compute import set_torch_threads
from kabucast.config import TrainSettings, load_settings, resolve_config_path
from kabucast.forecast.model import BiLSTMForecaster, ForecasterConfig
set_torch_threads(int(sys.argv[1]))
cfg = load_settings(TrainSettings, resolve_config_path("train_demo.yaml"))
model = BiLSTMForecaster(ForecasterConfig.from_dict({**cfg.model, "n_sectors": 11}))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
b = cfg.training["batch_size"]
x, s, p = torch.randn(b, 156, 23), torch.randn(b, 6), torch.randn(b, 2)
sec, y = torch.randint(0, 11, (b,)), torch.randn(b, 12)
def step():
    opt.zero_grad(); loss = torch.nn.functional.mse_loss(model(x, s, p, sec), y); loss.backward(); opt.step()
step()
t = time.perf_counter()
for _ in range(int(sys.argv[2])):
    step()
print(int(sys.argv[2]) / (time.perf_counter() - t))
"""

LIGHTGBM_ROUNDS = """
import sys, time, lightgbm, numpy as np
from kabucast.ranker.baseline import BaselineSettings
b = BaselineSettings()
rng = np.random.default_rng(0)
x, y = rng.normal(size=(87_000, 25)).astype(np.float32), rng.normal(size=87_000).astype(np.float32)
params = {"objective": "regression", "learning_rate": b.learning_rate, "num_leaves": b.num_leaves,
          "min_data_in_leaf": b.min_child_samples, "bagging_fraction": b.subsample, "bagging_freq": 1,
          "feature_fraction": b.colsample_bytree, "num_threads": int(sys.argv[1]), "seed": 0,
          "deterministic": True, "force_row_wise": True, "verbose": -1}
data = lightgbm.Dataset(x, y, free_raw_data=False)
lightgbm.train(params, data, num_boost_round=2)
t = time.perf_counter()
lightgbm.train(params, data, num_boost_round=int(sys.argv[2]))
print(int(sys.argv[2]) / (time.perf_counter() - t))
"""

WORKLOADS = {
    "torch": (STEP, STEPS, "training steps/s of the demo model (batch 256)"),
    "lightgbm": (LIGHTGBM_ROUNDS, 30, "boosting rounds/s of the ranker baseline (87,000 x 25)"),
}


def busy(stop: float) -> None:
    while time.monotonic() < stop:
        pass


def steps_per_second(workload: str, threads: int) -> float:
    script, steps, _ = WORKLOADS[workload]
    out = subprocess.run([sys.executable, "-c", script, str(threads), str(steps)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return float(out.stdout.strip())


def main() -> None:
    for workload in sys.argv[1:] or list(WORKLOADS):
        measure(workload)


def measure(workload: str) -> None:
    print(f"{WORKLOADS[workload][2]}, {REPEATS} runs each")
    results: dict[tuple[str, int], float] = {}
    for load in ("idle", "loaded"):
        for threads in (1, 2):
            runs = []
            for _ in range(REPEATS):
                hog = None
                if load == "loaded":
                    hog = mp.Process(target=busy, args=(time.monotonic() + 600,))
                    hog.start()
                try:
                    runs.append(steps_per_second(workload, threads))
                finally:
                    if hog is not None:
                        hog.terminate()
                        hog.join()
            results[load, threads] = statistics.median(runs)
            shown = ", ".join(f"{r:.2f}" for r in runs)
            print(f"{load:<7} {threads} thread(s): median {results[load, threads]:.2f}/s  (runs: {shown})")
    for load in ("idle", "loaded"):
        print(f"{load}: 2 threads / 1 thread = {results[load, 2] / results[load, 1]:.2f}x")
    print(f"1 thread, loaded / idle = {results['loaded', 1] / results['idle', 1]:.2f}x")


if __name__ == "__main__":
    main()

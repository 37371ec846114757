"""Training throughput of the demo's model by torch thread count, on an idle and on a loaded machine.

Why the thread policy (kabucast/compute.py) is what it is. For 1 and 2 intra-op threads, each in a
fresh process, measures training steps per second of the forecaster in config/train_demo.yaml
(batch 256 x 156 weeks x 23 features), first with nothing else running, then beside a CPU-bound
busy loop (another process wanting a core, as on a shared laptop or CI machine). Prints each of
REPEATS runs and the median; asserts nothing.
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


def busy(stop: float) -> None:
    while time.monotonic() < stop:
        pass


def steps_per_second(threads: int) -> float:
    out = subprocess.run([sys.executable, "-c", STEP, str(threads), str(STEPS)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return float(out.stdout.strip())


def main() -> None:
    print(f"training steps/s of the demo model (batch 256), {STEPS} steps, {REPEATS} runs each")
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
                    runs.append(steps_per_second(threads))
                finally:
                    if hog is not None:
                        hog.terminate()
                        hog.join()
            results[load, threads] = statistics.median(runs)
            shown = ", ".join(f"{r:.2f}" for r in runs)
            print(f"{load:<7} {threads} thread(s): median {results[load, threads]:.2f} steps/s  (runs: {shown})")
    for load in ("idle", "loaded"):
        print(f"{load}: 2 threads / 1 thread = {results[load, 2] / results[load, 1]:.2f}x")
    print(f"1 thread, loaded / idle = {results['loaded', 1] / results['idle', 1]:.2f}x")


if __name__ == "__main__":
    main()

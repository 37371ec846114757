"""``kabucast sweep grid``: every combination of a few loss weights, trained for a few epochs, in parallel.

The default is the seed's stability grid (SEEDS_DIGEST section 4): TURNOVER_WEIGHT {0, 0.025, 0.05} x
PRED_VAR_WEIGHT {0.5, 0.8, 1.0} x OUTPUT_NOISE_STD {0.02, 0.03} x RANKIC_WEIGHT {0.2, 0.3} = 36
configs of 5 epochs, 4 at a time. (``turnover_weight`` is a ranker term: for the forecaster its three
levels train identical models, which shows as repeated rows.) Each config writes
``sweeps/<name>/configs/<id>/metrics.json`` (its meta: parameters, scores, per-epoch diagnostics) and
``report.md`` (its log, per epoch) in the store; ``kabucast sweep evaluate`` judges them.

Parallel configs run in ``spawn``ed worker processes, each loading the data once and using
``threads`` torch threads (oversubscribed threads slow small LSTMs down by an order of magnitude).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from kabucast.data.calendar import TradingCalendar
from kabucast.progress import progress
from kabucast.storage import Store, open_store
from kabucast.sweeps.evaluate import EvaluateSettings
from kabucast.sweeps.objective import Objective, TrialSettings, make_objective
from kabucast.sweeps.report import write_trial
from kabucast.sweeps.space import config_id, grid_configs

SEED_GRID: dict[str, list[Any]] = {
    "turnover_weight": [0.0, 0.025, 0.05],
    "pred_var_weight": [0.5, 0.8, 1.0],
    "output_noise_std": [0.02, 0.03],
    "rankic_weight": [0.2, 0.3],
}


@dataclass(frozen=True)
class GridSettings:
    """``config/sweep/stability_grid.yaml``: the grid, its trials, and how ``evaluate`` judges them."""

    name: str = "stability_grid"
    trial: TrialSettings = field(default_factory=TrialSettings)
    epochs: int = 5
    parallel: int = 4
    threads: int = 1  # torch threads per worker process
    axes: dict[str, list[Any]] = field(default_factory=lambda: dict(SEED_GRID))
    fixed: dict[str, Any] = field(default_factory=dict)  # laid under every config
    extra: list[dict[str, Any]] = field(default_factory=list)  # configs beyond the grid (e.g. a forced collapse)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)

    def configs(self) -> dict[str, dict[str, Any]]:
        """Config id -> parameters, the grid first, then the extra configs."""
        params = grid_configs(self.axes, self.fixed) + [{**self.fixed, **e} for e in self.extra]
        return {config_id(i, p): p for i, p in enumerate(params)}


def config_prefix(name: str, cid: str) -> str:
    return f"sweeps/{name}/configs/{cid}/"


def run_grid(
    settings: GridSettings, store: Store, calendar: TradingCalendar, as_of: pd.Timestamp, work_dir: Path, parallel: int
) -> list[dict[str, Any]]:
    """Train every config (``parallel`` processes; 1 runs in this process); one summary row per config."""
    configs = settings.configs()
    job = (settings, store.url, calendar, as_of, work_dir)
    if parallel <= 1:
        threads = torch.get_num_threads()
        try:
            _init_worker(*job)
            rows = [_run_config(cid, params) for cid, params in progress(configs.items(), "grid", "configs")]
        finally:
            torch.set_num_threads(threads)
    else:
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(parallel, mp_context=context, initializer=_init_worker, initargs=job) as pool:
            futures = [pool.submit(_run_config, cid, params) for cid, params in configs.items()]
            done = progress(cf.as_completed(futures), "grid", "configs", total=len(futures))
            rows = [f.result() for f in done]
    return sorted(rows, key=lambda r: r["config_id"])


_WORKER: dict[str, Any] = {}
"""The process's objective and settings, built once by :func:`_init_worker` (a process pool needs a global)."""


def _init_worker(
    settings: GridSettings, store_url: str, calendar: TradingCalendar, as_of: pd.Timestamp, work_dir: Path
) -> None:
    torch.set_num_threads(settings.threads)
    store = open_store(store_url)
    objective: Objective = make_objective(settings.trial, store, calendar, as_of)
    _WORKER.update(settings=settings, store=store, objective=objective, work_dir=work_dir)


def _run_config(cid: str, params: dict[str, Any]) -> dict[str, Any]:
    settings: GridSettings = _WORKER["settings"]
    run: Callable[..., Any] = _WORKER["objective"].run
    outcome = run(params, settings.epochs, _WORKER["work_dir"] / cid)
    write_trial(_WORKER["store"], config_prefix(settings.name, cid), outcome, {"config_id": cid})
    return {"config_id": cid, "collapsed": outcome.collapsed, **outcome.metrics}

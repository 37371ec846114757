"""Evaluation: cross-sectional and return metrics, the cost-aware backtest, (separately) reports.

Prediction histories to backtest (stored forecasts, or a model's scores) are kabucast.experiments.predictions.

``kabucast.evaluation.report`` needs matplotlib (the ``report`` extra) and is not imported here, so
metrics and the backtest stay importable on a minimal install.
"""

from __future__ import annotations

from kabucast.evaluation.backtest import (
    BacktestInputError,
    BacktestResult,
    InvalidRunId,
    average_daily_value,
    backtest_from_store,
    compare_backtests,
    load_summary,
    next_day_returns,
    run_backtest,
    write_backtest,
)

__all__ = [
    "BacktestInputError",
    "BacktestResult",
    "InvalidRunId",
    "average_daily_value",
    "backtest_from_store",
    "compare_backtests",
    "load_summary",
    "next_day_returns",
    "run_backtest",
    "write_backtest",
]

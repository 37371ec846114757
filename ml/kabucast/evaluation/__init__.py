"""Evaluation: cross-sectional and return metrics, the cost-aware backtest, prediction histories, (separately) reports.

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
from kabucast.evaluation.predictions import NoPredictions, load_prediction_history, model_prediction_frame

__all__ = [
    "BacktestInputError",
    "BacktestResult",
    "InvalidRunId",
    "NoPredictions",
    "average_daily_value",
    "backtest_from_store",
    "compare_backtests",
    "load_prediction_history",
    "load_summary",
    "model_prediction_frame",
    "next_day_returns",
    "run_backtest",
    "write_backtest",
]

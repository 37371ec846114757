"""Cost-aware long-short backtest of daily cross-sectional scores, vectorised over dates and tickers.

Alignment (no lookahead): row ``t`` of ``predictions`` is a score known at the close of session
``t``; row ``t`` of ``returns`` is the simple return from the close of ``t`` to the close of the next
session (:func:`next_day_returns` builds it from prices). The book chosen at the close of ``t`` earns
row ``t`` of ``returns`` and pays for its trades on row ``t``.

The book: on each rebalance date (every ``rebalance_days`` sessions from the first one), long the top
``quantile`` of the finite scores and short the bottom ``quantile``, equal weight, each leg sized to
the whole notional (weights +1/n_long and -1/n_short); ``long_only`` drops the short leg. The optional
``max_weight`` / ``max_sector`` caps (shares of a leg) bind through the one portfolio-construction
function, kabucast.evaluation.portfolio. Between rebalances the weights are held as they are (no drift).
A held ticker without a return that day contributes 0. Costs, as a fraction of the notional, on the
trades ``dw = w(t) - w(t-1)``::

    cost(t) = sum|dw| * (base_bps + slippage_bps) / 1e4
            + sum |dw| * impact_k_bps / 1e4 * sqrt(notional * |dw| / ADV)

with ADV the ticker's mean daily traded value (close x volume, in the universe's currency) over
``adv_days`` sessions up to ``t``, and ``notional`` the leg size in that currency
(``BacktestSettings.notional[currency]``); a trade in a ticker without ADV is charged participation 1.
The ``benchmark`` column is the equal-weight universe: each day, the mean next-session return of every
ticker on the grid that has one (no costs). The daily frame and the summary are documented in
docs/EVALUATION.md.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kabucast.config import BacktestSettings
from kabucast.data.ingest import load_prices
from kabucast.errors import ConfigError, KabucastError
from kabucast.evaluation.metrics import (
    TRADING_DAYS,
    ic_summary,
    return_metrics,
    row_corr,
    row_ranks,
    to_wide,
    weight_changes,
)
from kabucast.evaluation.portfolio import PortfolioRules, rebalanced_weights
from kabucast.evaluation.uncertainty import sharpe_estimate
from kabucast.features import PricePanel
from kabucast.storage.base import Store

DAILY_COLUMNS = (
    "gross",
    "cost",
    "net",
    "turnover",
    "long_ret",
    "short_ret",
    "n_long",
    "n_short",
    "ic",
    "rankic",
    "benchmark",
)
"""Columns of :attr:`BacktestResult.daily` (indexed by ``date``)."""

_RUN_ID = re.compile(r"[A-Za-z0-9._-]+")


class BacktestInputError(KabucastError):
    """The predictions and returns given to a backtest cannot be lined up."""


class InvalidRunId(KabucastError):
    """A run id that cannot name a folder under ``reports/``."""


@dataclass(frozen=True)
class BacktestResult:
    """``daily``: one row per session (index ``date``), :data:`DAILY_COLUMNS`; ``summary``: metric -> value.

    ``failures``: tickers left out of the backtest, with the reason (e.g. no stored prices).
    ``weights``: date x ticker, the book held from each close (what the daily portfolio publishes).
    """

    daily: pd.DataFrame
    summary: dict[str, float]
    failures: dict[str, str] = field(default_factory=dict)
    weights: pd.DataFrame | None = None


def next_day_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Date x ticker simple returns from each session's close to the next one's, labelled by the first.

    ``prices`` are (dividend-)adjusted closes; the last row is NaN (its next session is unknown).
    """
    return prices.shift(-1) / prices - 1.0


def average_daily_value(close: pd.DataFrame, volume: pd.DataFrame, window: int) -> pd.DataFrame:
    """Date x ticker mean traded value (close x volume, the prices' currency) over ``window`` sessions to each date."""
    return (close * volume).rolling(window, min_periods=1).mean()


def run_backtest(
    predictions: pd.DataFrame | pd.Series | None,
    returns: pd.DataFrame,
    settings: BacktestSettings,
    adv: pd.DataFrame | None = None,
    currency: str = "JPY",
    sectors: dict[str, str] | None = None,
) -> BacktestResult:
    """Trade ``predictions`` (date x ticker scores) against ``returns`` (:func:`next_day_returns`).

    ``sectors``: ticker -> sector, needed with ``max_sector`` (a ticker without one is its own sector).

    Only dates and tickers present in both are used (``days`` then keeps the most recent sessions).
    ``adv`` (date x ticker, :func:`average_daily_value`) is needed when ``impact_k_bps > 0``; it and the
    leg size are in ``currency`` (the universe's).
    ``predictions`` may be None in ``fast_mode``. Raises :class:`BacktestInputError` or ConfigError.
    """
    check_settings(settings)
    notional = notional_for(settings, currency)
    scores_frame, fwd_frame, adv_frame = _aligned(predictions, returns, adv, settings)
    scores, fwd = scores_frame.to_numpy(dtype=np.float64), fwd_frame.to_numpy(dtype=np.float64)  # (T, N)
    labels = None if sectors is None else np.array([sectors.get(t, t) for t in scores_frame.columns], dtype=object)
    if settings.max_sector is not None and labels is None:
        raise ConfigError("backtest settings: max_sector needs the universe's sectors (run_backtest(sectors=...))")
    weights = rebalanced_weights(scores, portfolio_rules(settings), settings.rebalance_days or 1, labels)  # (T, N)
    r = np.nan_to_num(fwd, nan=0.0)
    long_ret = (np.maximum(weights, 0.0) * r).sum(axis=1)
    short_ret = (np.maximum(-weights, 0.0) * r).sum(axis=1)
    trades = weight_changes(weights)
    cost = trading_costs(trades, adv_frame.to_numpy(dtype=np.float64), settings, notional)
    both = np.isfinite(scores) & np.isfinite(fwd)
    x, y = np.where(both, scores, np.nan), np.where(both, fwd, np.nan)
    daily = pd.DataFrame(
        {
            "gross": long_ret - short_ret,
            "cost": cost,
            "net": long_ret - short_ret - cost,
            "turnover": np.abs(trades).sum(axis=1),
            "long_ret": long_ret,
            "short_ret": short_ret,
            "n_long": (weights > 0).sum(axis=1),
            "n_short": (weights < 0).sum(axis=1),
            "ic": row_corr(x, y),
            "rankic": row_corr(row_ranks(x), row_ranks(y)),
            "benchmark": _row_mean(fwd),
        },
        index=scores_frame.index,
    )
    book = pd.DataFrame(weights, index=scores_frame.index, columns=scores_frame.columns)
    return BacktestResult(daily=daily, summary=summarise(daily), weights=book)


def check_settings(settings: BacktestSettings) -> None:
    """Raise ConfigError for a value the backtest cannot use."""
    problems = portfolio_rules(settings).problems()
    at_least_one = [settings.adv_days, settings.rebalance_days or 1, settings.days or 1]
    if min(at_least_one) < 1:
        problems.append("rebalance_days, adv_days and days must be >= 1")
    if min(settings.base_bps, settings.slippage_bps, settings.impact_k_bps) < 0:
        problems.append("costs must be >= 0")
    if not settings.notional or min(settings.notional.values()) <= 0:
        problems.append("notional must give each currency a leg size > 0 (e.g. notional: {JPY: 1.0e9})")
    if problems:
        raise ConfigError(f"backtest settings: {'; '.join(problems)}")


def portfolio_rules(settings: BacktestSettings) -> PortfolioRules:
    """The portfolio-construction rules a backtest's settings name (kabucast.evaluation.portfolio)."""
    return PortfolioRules(settings.quantile, settings.long_only, settings.max_weight, settings.max_sector)


def notional_for(settings: BacktestSettings, currency: str) -> float:
    """The leg size in ``currency``, or a ConfigError: no exchange rate is guessed."""
    if currency not in settings.notional:
        given = ", ".join(sorted(settings.notional))
        raise ConfigError(
            f"backtest settings give no notional for {currency} (only {given}): add `notional: {{{currency}: ...}}`, "
            "the leg size in the universe's currency"
        )
    return float(settings.notional[currency])


def trading_costs(
    trades: np.ndarray, adv: pd.DataFrame | np.ndarray, settings: BacktestSettings, notional: float
) -> np.ndarray:
    """(T,) cost of the (T, N) trades as a fraction of ``notional`` (the module docstring has the formula)."""
    traded = np.abs(trades)
    linear = traded.sum(axis=1) * (settings.base_bps + settings.slippage_bps) / 1e4
    if settings.impact_k_bps == 0:
        return linear
    value = np.asarray(adv, dtype=np.float64)
    liquid = np.isfinite(value) & (value > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        participation = np.where(liquid, notional * traded / value, 1.0)
    return linear + (traded * np.sqrt(participation)).sum(axis=1) * settings.impact_k_bps / 1e4


MIN_MEANINGFUL_DAYS = 60
"""A backtest shorter than this many sessions is reported with a warning: its figures are mostly noise."""


def sample_warning(n_days: int) -> str | None:
    """The warning of a backtest of ``n_days`` sessions, or None when it is long enough to read."""
    if n_days >= MIN_MEANINGFUL_DAYS:
        return None
    return (
        f"only {n_days} sessions: under {MIN_MEANINGFUL_DAYS}, a backtest's Sharpe and IC are mostly noise "
        "(see their 95 % intervals); backtest a longer period"
    )


def _row_mean(values: np.ndarray) -> np.ndarray:
    """(T,) mean of each row's finite values (0 for a row without one): the equal-weight universe's return."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    return np.where(count > 0, np.where(finite, values, 0.0).sum(axis=1) / np.maximum(count, 1), 0.0)


def summarise(daily: pd.DataFrame) -> dict[str, float]:
    """Net and gross return metrics, IC / RankIC mean and IR, mean daily turnover, cost drag in bps a year.

    Error bars (kabucast.evaluation.uncertainty): the mean IC and RankIC of next-session returns get a
    Newey-West standard error and 95 % interval, the net Sharpe ratio a circular block-bootstrap
    95 % interval (blocks of 21 sessions).
    """
    summary = {f"net_{k}": v for k, v in return_metrics(daily["net"]).items()}
    summary.update({f"gross_{k}": v for k, v in return_metrics(daily["gross"]).items()})
    summary.update({f"benchmark_{k}": v for k, v in return_metrics(daily["benchmark"]).items()})
    sharpe = sharpe_estimate(daily["net"].to_numpy(), TRADING_DAYS)
    summary.update({"net_sharpe_ci_low": sharpe.ci_low, "net_sharpe_ci_high": sharpe.ci_high})
    for name in ("ic", "rankic"):
        stats = ic_summary(daily[name], label_sessions=1)
        summary.update({f"mean_{name}": stats["mean"], f"{name}_ir": stats["ir"], f"{name}_se": stats["se"]})
        summary.update({f"{name}_ci_low": stats["ci_low"], f"{name}_ci_high": stats["ci_high"]})
    summary["mean_turnover"] = float(daily["turnover"].mean())
    summary["cost_drag_bps_per_year"] = float(daily["cost"].mean() * TRADING_DAYS * 1e4)
    summary["n_days"] = float(len(daily))
    return summary


def _aligned(
    predictions: pd.DataFrame | pd.Series | None,
    returns: pd.DataFrame,
    adv: pd.DataFrame | None,
    settings: BacktestSettings,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scores, returns and ADV on one grid: the common dates (the last ``days``) x the common tickers.

    Scores are not masked by the returns: which ticker has a return tomorrow is not known today.
    """
    if settings.fast_mode:
        predictions = returns
    if predictions is None:
        raise BacktestInputError("no predictions given; pass a date x ticker frame of scores or use fast_mode")
    if adv is None and settings.impact_k_bps > 0:
        raise BacktestInputError("market impact needs adv (see average_daily_value), or set impact_k_bps: 0")
    scores, fwd = to_wide(predictions), returns.dropna(how="all")
    dates = fwd.index.intersection(scores.index).sort_values()
    dates = dates[-settings.days :] if settings.days else dates
    tickers = fwd.columns.intersection(scores.columns).sort_values()  # the order the daily portfolio uses
    if not len(dates) or not len(tickers):
        raise BacktestInputError(f"predictions ({_span(scores)}) and returns ({_span(fwd)}) share no date and ticker")
    grid = {"index": pd.DatetimeIndex(dates, name="date"), "columns": tickers}
    adv_grid = adv.reindex(**grid) if adv is not None else pd.DataFrame(np.nan, **grid)
    return scores.reindex(**grid), fwd.reindex(**grid), adv_grid


def _span(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "empty"
    return f"{len(frame.columns)} tickers, {frame.index.min()}..{frame.index.max()}"


# --- storage -------------------------------------------------------------------------------------


def report_prefix(run_id: str) -> str:
    """Where a run's reports go: ``reports/<run-id>/``; a run id is letters, digits, ``.``, ``_`` and ``-``."""
    if not _RUN_ID.fullmatch(run_id) or set(run_id) == {"."}:
        raise InvalidRunId(f"run id {run_id!r}: use letters, digits, '.', '_' and '-' only (e.g. 2025-06-30_ab12)")
    return f"reports/{run_id}/"


def write_backtest(result: BacktestResult, store: Store, run_id: str) -> list[str]:
    """Write ``daily_results.csv`` and ``summary_metrics.csv`` (columns metric, value) under ``reports/<run-id>/``."""
    prefix = report_prefix(run_id)
    summary = pd.DataFrame({"metric": list(result.summary), "value": list(result.summary.values())})
    objects = {
        f"{prefix}daily_results.csv": result.daily.to_csv(index_label="date", date_format="%Y-%m-%d"),
        f"{prefix}summary_metrics.csv": summary.to_csv(index=False),
    }
    for key, text in objects.items():
        store.put_bytes(key, text.encode("utf-8"), content_type="text/csv")
    return list(objects)


def load_summary(store: Store, run_id: str) -> dict[str, float]:
    """The summary a :func:`write_backtest` stored for ``run_id``."""
    frame = pd.read_csv(io.BytesIO(store.get_bytes(f"{report_prefix(run_id)}summary_metrics.csv")))
    return dict(zip(frame["metric"], frame["value"].astype(float), strict=True))


def compare_backtests(
    a_summary: dict[str, float], b_summary: dict[str, float], names: tuple[str, str] = ("a", "b")
) -> pd.DataFrame:
    """Metric x (a, b, diff = b - a): an A/B comparison of two backtest summaries (metrics of either)."""
    frame = pd.DataFrame({names[0]: pd.Series(a_summary), names[1]: pd.Series(b_summary)})
    frame["diff"] = frame[names[1]] - frame[names[0]]
    return frame.rename_axis("metric")


def backtest_from_store(
    store: Store,
    predictions: pd.DataFrame | pd.Series | None,
    settings: BacktestSettings,
    tickers: Sequence[str] | None = None,
    currency: str = "JPY",
    sectors: dict[str, str] | None = None,
) -> BacktestResult:
    """:func:`run_backtest` of ``predictions`` against the stored prices of ``tickers`` (in ``currency``;
    ``sectors``: ticker -> sector, for ``max_sector``).

    ``tickers`` defaults to the predictions' tickers (give them in ``fast_mode`` without predictions).
    Returns come from ``adj_close``, ADV from ``close`` x ``volume`` (kabucast.data.prices). A ticker
    without stored prices is left out and listed in ``failures``.
    """
    if tickers is None:
        tickers = [] if predictions is None else list(to_wide(predictions).columns)
    failures: dict[str, str] = {}
    frames = load_prices(store, list(tickers), on_missing=failures.__setitem__)
    panel = PricePanel.from_frames(frames)

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=panel.dates, columns=list(panel.tickers))

    returns = next_day_returns(frame(panel.adj_close))
    adv = average_daily_value(frame(panel.close), frame(panel.volume), settings.adv_days)
    result = run_backtest(predictions, returns, settings, adv=adv, currency=currency, sectors=sectors)
    return dataclasses.replace(result, failures=failures)

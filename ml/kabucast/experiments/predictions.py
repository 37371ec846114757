"""Prediction histories for a backtest: a date x ticker frame of predicted simple returns for one horizon month.

Two sources give the same frame (row ``t`` is known at the close of session ``t``, the backtest's
alignment, docs/EVALUATION.md):

- :func:`load_prediction_history` reads the forecasts the daily job published
  (``predictions/<YYYY-MM-DD>.json``, schema in docs/FORECASTER.md), one row per document, dated by
  its ``data_as_of``;
- :func:`model_prediction_frame` scores a stored model (the champion by default) with ONNX Runtime
  on every session of a date range, so a backtest can run without a year of daily runs. It builds the
  inputs the way training does (one weekly feature history for every date, kabucast.forecast.dataset)
  and gives each day the static snapshot the daily job would have used: the newest one dated on or
  before it, and none (every static value missing, the fill policy of kabucast.features.static) before
  the first snapshot. Its rows match the daily job's documents (a test checks it).

Values are simple returns, ``exp(log_return) - 1``, as in the published documents.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

from kabucast.config import SectorSettings, UniverseSettings
from kabucast.data.calendar import TradingCalendar
from kabucast.data.enrich import STATIC_PREFIX
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.errors import KabucastError
from kabucast.features import static_features
from kabucast.features.registry import contract_groups
from kabucast.forecast.dataset import HORIZONS, ForecastSamples, load_samples
from kabucast.forecast.document import MissingHorizon, document_returns
from kabucast.forecast.onnx_model import OnnxModel
from kabucast.forecast.registry import ModelFiles, check_features, load_model
from kabucast.storage.base import Store

PREDICTIONS_PREFIX = "predictions/"
_DATED_KEY = re.compile(r"predictions/(\d{4}-\d{2}-\d{2})\.json")


class NoPredictions(KabucastError):
    """No prediction to backtest: nothing stored under ``predictions/``, or none in the range asked for."""


def prediction_keys(store: Store) -> list[str]:
    """The dated forecast documents ``predictions/<YYYY-MM-DD>.json`` in date order (``latest.json`` excluded)."""
    return sorted(k for k in store.list(PREDICTIONS_PREFIX) if _DATED_KEY.fullmatch(k))


def load_prediction_history(
    store: Store, horizon_month: int = 1, start: object | None = None, end: object | None = None
) -> pd.DataFrame:
    """Date x ticker predicted simple returns for ``horizon_month`` from the stored daily forecasts.

    A document's row is its ``data_as_of`` session (the close its forecast starts from); ``start``
    and ``end`` (JST dates, inclusive) keep part of the history. Raises :class:`NoPredictions` when
    nothing is left.
    """
    check_month(horizon_month)
    keys = prediction_keys(store)
    if not keys:
        raise NoPredictions(
            f"no predictions stored under {store.url}/{PREDICTIONS_PREFIX}: run `kabucast daily` "
            "(or `kabucast predict`) first, or use --predictions model"
        )
    rows: dict[pd.Timestamp, dict[str, float]] = {}
    for key in keys:
        document = store.get_json(key)
        day = pd.Timestamp(document.get("data_as_of") or _DATED_KEY.fullmatch(key).group(1))
        try:
            rows[day] = document_returns(document, horizon_month)  # a later key for the same session wins
        except MissingHorizon as exc:
            raise NoPredictions(str(exc)) from exc
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    frame = _between(frame, start, end)
    if frame.empty:
        raise NoPredictions(f"{len(keys)} stored forecasts, none between {start} and {end}; widen --days")
    return frame


def model_prediction_frame(
    store: Store,
    universe: UniverseSettings,
    sectors: SectorSettings,
    calendar: TradingCalendar,
    start: object,
    end: object,
    horizon_month: int = 1,
    model: ModelFiles | None = None,
) -> pd.DataFrame:
    """Date x ticker predicted simple returns of ``model`` (default: the champion) for every session in [start, end].

    A (session, ticker) is scored when the ticker was in the index that day (the universe's spells),
    traded, and has 156 weeks of history, as in the daily job. Raises ModelNotFound without a model,
    FeatureMismatch for a model trained on other features, :class:`NoPredictions` when no session in
    the range can be scored.
    """
    check_month(horizon_month)
    model = model or load_model(store)
    check_features(model)
    static_mode = model.meta.get("static_mode", "snapshot")
    groups = contract_groups(model.meta.get("features"))
    samples = load_samples(
        store, universe, sectors, calendar, pd.Timestamp(end), static_mode, min_labels=0, feature_groups=groups
    )
    idx = samples.members_only(np.flatnonzero(samples.dates >= pd.Timestamp(start)))  # the index as it was
    if not len(idx):
        raise NoPredictions(f"no session between {start} and {end} with 156 weeks of stored prices to score")
    samples = point_in_time_static(samples, first_snapshot(store))
    log_returns = OnnxModel.from_files(model).predict(samples, idx)[:, horizon_month - 1]
    scored = pd.Series(np.expm1(log_returns.astype(np.float64)), index=[samples.dates[idx], samples.tickers[idx]])
    frame = scored.unstack()
    frame.index.name, frame.columns.name = "date", None
    return frame.reindex(columns=[t for t in samples.history.tickers if t in frame.columns])


def first_snapshot(store: Store) -> pd.Timestamp | None:
    """The date of the oldest static snapshot ``data/static/<date>.parquet``, or None."""
    keys = sorted(k for k in store.list(STATIC_PREFIX) if k.endswith(".parquet"))
    return pd.Timestamp(keys[0].removeprefix(STATIC_PREFIX).removesuffix(".parquet")) if keys else None


def point_in_time_static(samples: ForecastSamples, first: pd.Timestamp | None) -> ForecastSamples:
    """``samples`` whose days before the ``first`` snapshot (all days without one) see no snapshot.

    Training gives those days the earliest snapshot (a look-ahead it counts); the daily job had no
    snapshot then, and every static value goes to the fill policy. This gives the daily job's inputs.
    """
    early = np.ones(len(samples), dtype=bool) if first is None else np.asarray(samples.dates < first)
    if not early.any():
        return samples
    missing = pd.DataFrame(index=pd.Index([], name="ticker"), columns=list(STATIC_INFO_KEYS), dtype="float64")
    static = samples.static.copy()
    static[early] = static_features(missing, list(samples.tickers[early]))
    return dataclasses.replace(samples, static=static, static_lookahead=0)


def check_month(horizon_month: int) -> None:
    """Raise :class:`NoPredictions` for a horizon outside 1..12."""
    if not 1 <= horizon_month <= HORIZONS:
        raise NoPredictions(f"horizon month {horizon_month}: the forecaster predicts months 1..{HORIZONS}")


def _between(frame: pd.DataFrame, start: object | None, end: object | None) -> pd.DataFrame:
    index = pd.DatetimeIndex(frame.index, name="date").as_unit("ns")  # the unit of the price panels
    keep = np.ones(len(index), dtype=bool)
    if start is not None:
        keep &= index >= pd.Timestamp(start)
    if end is not None:
        keep &= index <= pd.Timestamp(end)
    out = frame.loc[keep]
    out.index = index[keep]
    return out

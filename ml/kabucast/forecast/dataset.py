"""Training samples for the forecaster: one per (ticker, trading day) with 156 weeks of history and 12 known labels.

Labels are log returns of ``adj_close`` (dividend-adjusted JPY) from the as-of session to the
session ``21 * m`` panel rows later, m = 1..12 (month m = 21 trading days). A sample exists only
when its ticker traded on the as-of day and on all 12 label days, and has at least 156 weeks of
history. Windows are cut from kabucast.features' WeeklyFeatureHistory on demand, so 40,000 samples
never sit in memory as (40000, 156, 23).

Static features follow ``static_mode``: ``snapshot`` gives each sample the newest static snapshot
dated on or before its as-of day, and the earliest snapshot for days before the first one (a
look-ahead on real data, counted in ``static_lookahead``); ``point_in_time`` gives each sample the newest
snapshot dated on or before its as-of day and, before the first one, the features' neutral values (what the
daily job gives a day without a snapshot): never a later value, so 0 look-ahead. Built on the history of
``enrich --source jquants`` (kabucast.data.disclosures), it is the recipe without look-ahead. ``none`` zeroes them
in training and, through model.json, in serving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from kabucast.config import SectorSettings, TrainDataSettings, TrainSettings, UniverseSettings, load_universe
from kabucast.data.calendar import SESSIONS_PER_MONTH, TradingCalendar
from kabucast.data.enrich import STATIC_PREFIX
from kabucast.data.ingest import load_prices
from kabucast.data.slow_store import load_slow_groups
from kabucast.data.sources.base import STATIC_INFO_KEYS
from kabucast.data.sources.jquants_slow import check_groups
from kabucast.data.stored_universe import stored_universe
from kabucast.errors import ConfigError, KabucastError
from kabucast.features import (
    PricePanel,
    WeeklyFeatureHistory,
    position_features,
    sector_ids,
    static_features,
    weekly_feature_history,
)
from kabucast.features.registry import SEQ_WEEKS, STATIC_FEATURES
from kabucast.features.slow import slow_inputs
from kabucast.storage.base import Store

HORIZONS = 12
LONGEST_LABEL = HORIZONS * SESSIONS_PER_MONTH  # 252 sessions
StaticMode = Literal["snapshot", "point_in_time", "none"]
UNKNOWN_SECTOR = "Unknown"
"""The sector a universe file may name for a stock whose sector it does not know (the map's unknown id)."""


class NotEnoughData(KabucastError):
    """Too few labelled samples to train or validate."""


@dataclass(frozen=True, eq=False)
class ForecastSamples:
    """S samples over a WeeklyFeatureHistory; ``take(idx)`` materialises a batch of them."""

    history: WeeklyFeatureHistory
    date_pos: np.ndarray  # (S,) int64 row of history.as_of
    ticker_pos: np.ndarray  # (S,) int64 column of history.tickers
    static: np.ndarray  # (S, 6) float32 raw static features
    position: np.ndarray  # (S, 2) float32
    sector_id: np.ndarray  # (S,) int64
    target: np.ndarray  # (S, 12) float32 log returns 1..12 months ahead
    momentum_12m: np.ndarray  # (S,) float32 trailing 252-session log return (baseline input), 0 when unknown
    reversal_1m: np.ndarray  # (S,) float32 minus the trailing 21-session log return (baseline input), 0 when unknown
    static_lookahead: int  # samples whose static snapshot is dated after them
    member: np.ndarray | None = None  # (S,) bool: the ticker was in the index on the date (None: all were)
    trainable: np.ndarray | None = None  # (S,) bool: the ticker was in the training universe on the date (None: all)

    def __len__(self) -> int:
        return len(self.date_pos)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.history.as_of[self.date_pos]

    @property
    def tickers(self) -> np.ndarray:
        return np.asarray(self.history.tickers)[self.ticker_pos]

    def members_only(self, idx: np.ndarray) -> np.ndarray:
        """The samples of ``idx`` whose ticker was in the index on their date (evaluation's rows)."""
        return idx if self.member is None else idx[self.member[idx]]

    def training_pool(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The samples of ``idx`` (default: all) a model may train on: those of the training universe's names."""
        idx = np.arange(len(self)) if idx is None else np.asarray(idx)
        return idx if self.trainable is None else idx[self.trainable[idx]]

    def take(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """A batch as arrays: weekly (B, 156, 23), static (B, 6), position (B, 2), sector_id (B,), target (B, 12)."""
        return {
            "weekly": self.history.windows(self.date_pos[idx], self.ticker_pos[idx]),
            "static": self.static[idx],
            "position": self.position[idx],
            "sector_id": self.sector_id[idx],
            "target": self.target[idx],
        }


def label_matrix(panel: PricePanel) -> np.ndarray:
    """(T, N, 12) float64 log returns of adj_close m*21 rows ahead; NaN where either end is missing."""
    px = np.log(panel.adj_close)  # (T, N)
    t = len(panel.dates)
    out = np.full((t, px.shape[1], HORIZONS), np.nan)
    for m in range(1, HORIZONS + 1):
        k = m * SESSIONS_PER_MONTH
        if k < t:
            out[: t - k, :, m - 1] = px[k:] - px[: t - k]
    return out


def trailing_return(panel: PricePanel, sessions: int = LONGEST_LABEL) -> np.ndarray:
    """(T, N) float64 log return of adj_close over the previous ``sessions`` rows (NaN when unknown)."""
    px = np.log(panel.adj_close)
    out = np.full(px.shape, np.nan)
    out[sessions:] = px[sessions:] - px[:-sessions]
    return out


def static_by_date(
    snapshots: Mapping[pd.Timestamp, pd.DataFrame], dates: pd.DatetimeIndex, tickers: Sequence[str], mode: StaticMode
) -> tuple[np.ndarray, np.ndarray]:
    """(T, N, 6) float32 static features per date and (T,) bool 'snapshot is dated after this day'.

    Days before the first snapshot get the earliest one (``snapshot``: a look-ahead, flagged) or, with
    ``point_in_time``, the neutral values of a day without any (not flagged: nothing later is seen)."""
    out = np.zeros((len(dates), len(tickers), len(STATIC_FEATURES)), dtype=np.float32)
    after = np.zeros(len(dates), dtype=bool)
    if mode == "none" or (mode == "snapshot" and not snapshots):
        return out, after
    days = sorted(snapshots)
    frames = [snapshots[d] for d in days]
    if mode == "point_in_time":  # slot 0: the day without a snapshot (every value missing: the fill policy)
        frames.insert(0, pd.DataFrame(index=pd.Index([], name="ticker"), columns=list(STATIC_INFO_KEYS)))
    feats = np.stack([static_features(f, tickers) for f in frames])  # (K, N, 6)
    k = np.searchsorted(pd.DatetimeIndex(days), dates, side="right") - 1  # (T,) newest snapshot on or before
    if mode == "point_in_time":
        out[:] = feats[k + 1]
        return out, after
    after = k < 0
    out[:] = feats[np.maximum(k, 0)]
    return out, after


def build_samples(
    panel: PricePanel,
    history: WeeklyFeatureHistory,
    snapshots: Mapping[pd.Timestamp, pd.DataFrame],
    sectors_of: Mapping[str, str],
    sector_settings: SectorSettings,
    calendar: TradingCalendar,
    static_mode: StaticMode = "snapshot",
    min_labels: int = HORIZONS,
) -> ForecastSamples:
    """Every eligible (ticker, as-of day) of ``history`` whose first ``min_labels`` labels are known in ``panel``.

    Training uses the default (all 12 known). The promotion gate asks for 1: recent days whose
    longer labels are still in the future, kept as NaN targets.
    """
    rows = panel.dates.get_indexer(history.as_of)  # (D,) panel row of each as-of date
    if (rows < 0).any():
        raise ValueError("every as-of date of the feature history must be a panel date")
    labels = label_matrix(panel)[rows]  # (D, N, 12)
    traded = np.isfinite(panel.adj_close[rows])  # (D, N)
    ok = traded & np.isfinite(labels[..., :min_labels]).all(axis=2) & (history.weeks_available >= SEQ_WEEKS)
    date_pos, ticker_pos = np.nonzero(ok)  # row-major: sorted by date, then ticker
    static, after = static_by_date(snapshots, history.as_of, history.tickers, static_mode)
    momentum = np.nan_to_num(trailing_return(panel)[rows], nan=0.0)
    reversal = np.nan_to_num(-trailing_return(panel, SESSIONS_PER_MONTH)[rows], nan=0.0)
    return ForecastSamples(
        history=history,
        date_pos=date_pos.astype(np.int64),
        ticker_pos=ticker_pos.astype(np.int64),
        static=static[date_pos, ticker_pos],
        position=position_features(history.as_of, calendar)[date_pos],
        sector_id=sector_ids(history.tickers, sectors_of, sector_settings)[ticker_pos],
        target=labels[date_pos, ticker_pos].astype(np.float32),
        momentum_12m=momentum[date_pos, ticker_pos].astype(np.float32),
        reversal_1m=reversal[date_pos, ticker_pos].astype(np.float32),
        static_lookahead=int(after[date_pos].sum()),
    )


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # sample indices
    val: np.ndarray
    train_end: pd.Timestamp
    val_start: pd.Timestamp


def time_split(
    samples: ForecastSamples, val_fraction: float, purge_sessions: int, within: np.ndarray | None = None
) -> Split:
    """Time-forward split: the last ``val_fraction`` of dates validate; train ends ``purge_sessions`` earlier.

    ``purge_sessions`` must be at least the longest label (252 sessions) so that no training label
    window reaches into the validation period. ``within``: split only these sample indices (a
    walk-forward fold's training samples); default all.
    """
    if purge_sessions < LONGEST_LABEL:
        raise ValueError(f"purge gap {purge_sessions} sessions is shorter than the longest label ({LONGEST_LABEL})")
    pool = np.arange(len(samples.date_pos)) if within is None else np.asarray(within)
    date_pos = samples.date_pos[pool]
    dates = np.unique(date_pos)  # sorted as-of rows
    n_val = max(1, round(len(dates) * val_fraction))
    val_first = dates[-n_val]
    train_last = val_first - purge_sessions  # as-of rows are panel sessions when built from panel dates
    train = pool[date_pos < train_last]
    val = pool[date_pos >= val_first]
    if len(train) == 0:
        raise NotEnoughData(
            f"no training samples left before the purge gap ({len(dates)} dates, {n_val} for validation "
            f"and {purge_sessions} sessions of purge); backfill more history"
        )
    as_of = samples.history.as_of
    return Split(train=train, val=val, train_end=as_of[samples.date_pos[train].max()], val_start=as_of[val_first])


def cap_samples(idx: np.ndarray, most: int, rng: np.random.Generator, date_pos: np.ndarray | None = None) -> np.ndarray:
    """At most ``most`` of ``idx``, picked at random (sorted): how every training run caps its samples. With
    ``date_pos`` (every sample's date position) whole dates are picked instead, in a random order, while they fit."""
    if len(idx) <= most:
        return idx
    if date_pos is None:
        return np.sort(rng.choice(idx, size=most, replace=False))
    dates, counts = np.unique(date_pos[idx], return_counts=True)
    order = rng.permutation(len(dates))
    kept = dates[order[np.cumsum(counts[order]) <= most]]
    return idx[np.isin(date_pos[idx], kept)]


def split_samples(
    samples: ForecastSamples,
    data: TrainDataSettings,
    rng: np.random.Generator,
    min_train: int,
    within: np.ndarray | None = None,
    whole_dates: bool = False,
) -> tuple[np.ndarray, np.ndarray, Split]:
    """Training and validation sample indices of a training run, and the :func:`time_split` they came from.

    Time split (``val_fraction``, ``purge_sessions``) of ``within`` (default: every sample), then every
    ``as_of_stride``-th date, then a random cap on each side (training first, then validation, from
    ``rng``; of whole dates with ``whole_dates``). :class:`NotEnoughData` when fewer than ``min_train`` (a
    batch) training or 2 validation samples are left.
    """
    split = time_split(samples, data.val_fraction, data.purge_sessions, within)
    strided = samples.date_pos % data.as_of_stride == 0
    by_date = samples.date_pos if whole_dates else None
    train = cap_samples(split.train[strided[split.train]], data.max_train_samples, rng, by_date)
    val = cap_samples(split.val[strided[split.val]], data.max_val_samples, rng, by_date)
    if len(train) < min_train or len(val) < 2:
        raise NotEnoughData(f"{len(train)} training / {len(val)} validation samples; backfill more history")
    return train, val, split


@dataclass(frozen=True)
class ForecastData:
    """What a forecaster run works on: the store (prices, static snapshots, model versions), the universe,
    the sector ids and the exchange's calendar.

    ``universe`` is the served one (the daily job forecasts its members; without a training universe,
    models train on every name it ever listed, on all their stored dates). ``training_universe`` names
    the stocks models train on instead (train broad, serve narrow), point-in-time: a name on the dates
    it is a member. ``evaluation_universe``: the stocks validation, walk-forward and the gate score,
    members per date (None: the served universe).
    """

    store: Store
    universe: UniverseSettings
    sectors: SectorSettings
    calendar: TradingCalendar
    training_universe: UniverseSettings | None = None
    evaluation_universe: UniverseSettings | None = None
    feature_groups: tuple[str, ...] = ()  # the slow-data groups the weekly features gain (kabucast.features.slow)

    @property
    def trained_on(self) -> UniverseSettings:
        return self.training_universe or self.universe

    @property
    def scored_on(self) -> UniverseSettings:
        return self.evaluation_universe or self.universe

    def samples(self, as_of: pd.Timestamp, static_mode: StaticMode, min_labels: int = 12) -> ForecastSamples:
        """:func:`load_samples` of this data as of ``as_of``: the scored names and the training names."""
        trained_on = None if self.trained_on is self.scored_on else self.trained_on
        point_in_time = self.training_universe is not None  # the served names train on all their dates
        return load_samples(
            self.store, self.scored_on, self.sectors, self.calendar, as_of, static_mode, min_labels, trained_on,
            point_in_time, self.feature_groups,
        )  # fmt: skip

    def describe(self) -> dict[str, str]:
        """The universes' names, as model.json and reports record them."""
        return {"served": self.universe.name, "trained_on": self.trained_on.name, "scored_on": self.scored_on.name}


def load_samples(
    store: Store,
    universe: UniverseSettings,
    sectors: SectorSettings,
    calendar: TradingCalendar,
    as_of: pd.Timestamp,
    static_mode: StaticMode,
    min_labels: int = 12,
    trained_on: UniverseSettings | None = None,
    point_in_time: bool = True,
    feature_groups: Sequence[str] = (),
) -> ForecastSamples:
    """Every labelled sample the store's prices allow, as of ``as_of`` (nothing later is read).

    Samples of every name the universe ever listed, on all their stored dates (training uses them all);
    ``member`` marks those of a name that was in the index on the sample's date (evaluation uses only
    them). ``min_labels``: how many of the 12 monthly labels must be known (see ``build_samples``).
    ``trained_on``: a separate training universe; its names' samples are loaded too, and ``trainable``
    marks those training may draw from: of a name in it on the sample's date (``point_in_time``), or of
    any name it ever listed; ``member`` still follows ``universe``. ``feature_groups``: the stored slow-data groups
    the weekly features gain (kabucast.features.slow; none by default).
    """
    day = calendar.previous_session(as_of)
    names = list(universe.every_ticker)
    sectors_of = dict(universe.sectors_of)
    if trained_on is not None:
        names += [t for t in trained_on.every_ticker if t not in sectors_of]
        sectors_of = {**trained_on.sectors_of, **sectors_of}
    frames = load_prices(store, names)
    if not frames:
        raise NotEnoughData(f"no stored prices in {store.url}; run `kabucast backfill` first")
    panel = PricePanel.from_frames(frames, [t for t in names if t in frames]).until(day)
    stored = load_slow_groups(store, feature_groups)
    slow = slow_inputs(stored, calendar, sectors_of, sectors) if feature_groups else None
    history = weekly_feature_history(panel, panel.dates, slow)
    snapshots = {
        pd.Timestamp(k.removeprefix(STATIC_PREFIX).removesuffix(".parquet")): store.get_parquet(k)
        for k in store.list(STATIC_PREFIX)
        if k.endswith(".parquet") and k.removeprefix(STATIC_PREFIX) <= f"{day.date()}.parquet"
    }
    samples = build_samples(panel, history, snapshots, sectors_of, sectors, calendar, static_mode, min_labels)
    member = universe.membership(history.as_of, history.tickers)[samples.date_pos, samples.ticker_pos]
    trainable = None
    if trained_on is not None and point_in_time:
        trainable = trained_on.membership(history.as_of, history.tickers)[samples.date_pos, samples.ticker_pos]
    elif trained_on is not None:
        trainable = np.isin(np.asarray(history.tickers), trained_on.every_ticker)[samples.ticker_pos]
    return dataclasses.replace(samples, member=member, trainable=trainable)


def forecast_data(
    store: Store,
    calendar: TradingCalendar,
    recipe: TrainSettings,
    universe: UniverseSettings,
    sectors: SectorSettings,
    evaluation_universe: str | None = None,
) -> ForecastData:
    """The :class:`ForecastData` a recipe trains and is scored on: its served ``universe``, its
    ``training_universe`` file (if any) and an ``evaluation_universe`` file (walk-forward's; if any), each the
    store's synced copy when there is one (kabucast.data.stored_universe): train, evaluate and select read it here.

    A :class:`~kabucast.errors.ConfigError` when a universe trades on another exchange than the served
    one (one calendar) or lists a sector the sector map does not know (it would silently share the
    unknown sector's embedding); ``Unknown`` says so on purpose (e.g. a listing without sectors).
    """
    universe = stored_universe(store, universe)
    training, evaluation = (
        None if path is None else stored_universe(store, load_universe(path))
        for path in (recipe.training_universe, evaluation_universe)
    )
    for other in (training, evaluation):
        if other is None:
            continue
        if other.exchange != universe.exchange:
            raise ConfigError(
                f"universe {other.name} trades on {other.exchange}, the served {universe.name} on {universe.exchange}: "
                "a recipe's universes share one exchange calendar"
            )
        unknown = sorted({m.sector for m in other.members} - set(sectors.sectors) - {UNKNOWN_SECTOR})
        if unknown:
            raise ConfigError(
                f"universe {other.name} lists sectors the sector map does not know: {', '.join(unknown[:5])}; "
                "map them to the sector map's names (docs/FORECASTER.md, 'Train broad, serve narrow')"
            )
    groups = check_groups(recipe.data.feature_groups)
    return ForecastData(store, universe, sectors, calendar, training, evaluation, groups)

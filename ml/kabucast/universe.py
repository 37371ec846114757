"""A universe: the names a job works on, dated (``config/universes/*.yaml``, docs/UNIVERSE.md).

Each member is a *spell* ``{ticker, name, sector, since, until}``: the first and last session it
belongs to the index, both inclusive, as exchange-local ISO dates; no ``since`` means a member since
before ``history_from`` (the earliest date the file establishes), no ``until`` a member today. A
name that left and came back has two spells. Which members a job uses:

- :attr:`UniverseSettings.tickers`: today's members (the daily forecast, ``fetch``);
- :attr:`UniverseSettings.every_ticker`: every name ever listed (``backfill``, ``enrich``, training);
- :meth:`UniverseSettings.members_on` / :meth:`UniverseSettings.membership`: the members of each
  date (evaluation, the gate, backtests: no survivorship from today's list).

Dates are compared as ISO strings (``YYYY-MM-DD`` sorts as dates), so this module needs no calendar.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from kabucast.errors import ConfigError


@dataclass(frozen=True)
class UniverseMember:
    """One membership spell: ``since`` .. ``until`` (inclusive ISO dates; None = open-ended)."""

    ticker: str
    name: str
    sector: str
    since: str | None = None
    until: str | None = None

    def on(self, day: str) -> bool:
        """True when the spell covers ``day`` (an ISO date)."""
        return (self.since is None or self.since <= day) and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class UniverseSettings:
    """A dated list of tickers with their sectors, on one exchange, in one currency.

    ``exchange`` is an exchange_calendars code (XTKS: Tokyo; XNYS: New York; ...): the trading
    calendar of every job on this universe. ``currency`` is the ISO code its prices are in (the
    backtest sizes trades in it). ``reviewed`` is the date of the latest index review the file
    reflects; ``review_month`` the month the index is reviewed every year (10 for TOPIX; None: no
    periodic review), which :meth:`review_warning` checks. ``history_from``: before it, membership is
    not established and the membership of ``history_from`` stands in (docs/UNIVERSE.md).
    """

    env: Literal["local", "s3"]
    name: str
    description: str
    reviewed: str
    members: tuple[UniverseMember, ...]
    exchange: str = "XTKS"
    currency: str = "JPY"
    history_from: str | None = None
    review_month: int | None = None

    def __post_init__(self) -> None:
        where = f"universe {self.name}"
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ConfigError(f"{where}: currency must be an ISO code like JPY or USD, got {self.currency!r}")
        for label, value in (("reviewed", self.reviewed), ("history_from", self.history_from)):
            _check_date(value, f"{where}: {label}")
        if self.review_month is not None and not 1 <= self.review_month <= 12:
            raise ConfigError(f"{where}: review_month must be 1..12, got {self.review_month}")
        if not self.members:
            raise ConfigError(f"{where}: no members")
        spells: dict[str, list[UniverseMember]] = {}
        for m in self.members:
            _check_date(m.since, f"{where}: {m.ticker} since")
            _check_date(m.until, f"{where}: {m.ticker} until")
            if m.since and m.until and m.since > m.until:
                raise ConfigError(f"{where}: {m.ticker} leaves ({m.until}) before it joins ({m.since})")
            spells.setdefault(m.ticker, []).append(m)
        for ticker, own in spells.items():
            if len({m.sector for m in own}) > 1:
                raise ConfigError(f"{where}: {ticker} is listed with two sectors ({', '.join(m.sector for m in own)})")
            ordered = sorted(own, key=lambda m: m.since or "")
            for a, b in itertools.pairwise(ordered):
                if a.until is None or b.since is None or a.until >= b.since:
                    raise ConfigError(
                        f"{where}: {ticker} has overlapping spells ({a.since or '...'}..{a.until or '...'} and "
                        f"{b.since or '...'}..{b.until or '...'}): close the first with `until` before the next `since`"
                    )

    @property
    def every_ticker(self) -> tuple[str, ...]:
        """Every name ever listed, in the file's order (backfill, enrich and training use them all)."""
        return tuple(dict.fromkeys(m.ticker for m in self.members))

    @property
    def tickers(self) -> tuple[str, ...]:
        """Today's members: the names with an open-ended spell (the daily forecast and fetch)."""
        return tuple(dict.fromkeys(m.ticker for m in self.members if m.until is None))

    @property
    def sectors_of(self) -> dict[str, str]:
        """ticker -> sector of every name ever listed."""
        return {m.ticker: m.sector for m in self.members}

    def sector_of(self, ticker: str) -> str:
        return self.sectors_of[ticker]

    def spells_on(self, day: object) -> tuple[UniverseMember, ...]:
        """The spells covering ``day``; before ``history_from``, those covering ``history_from``."""
        iso = self._iso(day)
        return tuple(m for m in self.members if m.on(iso))

    def members_on(self, day: object) -> tuple[str, ...]:
        """The members on ``day`` (:meth:`spells_on`'s tickers)."""
        return tuple(dict.fromkeys(m.ticker for m in self.spells_on(day)))

    def membership(self, dates: Sequence[object] | pd.DatetimeIndex, tickers: Sequence[str]) -> np.ndarray:
        """(D, N) bool: was ``tickers[j]`` a member on ``dates[i]`` (a name not listed never is)."""
        days = pd.DatetimeIndex(dates).normalize().to_numpy()
        if self.history_from:
            days = np.maximum(days, np.datetime64(self.history_from))
        out = np.zeros((len(days), len(tickers)), dtype=bool)
        column = {t: j for j, t in enumerate(tickers)}
        for m in self.members:
            j = column.get(m.ticker)
            if j is None:
                continue
            inside = np.ones(len(days), dtype=bool)
            if m.since:
                inside &= days >= np.datetime64(m.since)
            if m.until:
                inside &= days <= np.datetime64(m.until)
            out[:, j] |= inside
        return out

    def changes(self) -> list[tuple[str, str, UniverseMember]]:
        """Every dated change, oldest first: ``(date, "joined" | "left", spell)``; "left" is dated by the
        last session as a member."""
        events = [(m.since, "joined", m) for m in self.members if m.since]
        events += [(m.until, "left", m) for m in self.members if m.until]
        return sorted(events, key=lambda e: (e[0], e[1] == "joined", e[2].ticker))  # type: ignore[return-value]

    def review_warning(self, today: object, latest_review: pd.Timestamp | None) -> str | None:
        """A warning when the index's periodic review ``latest_review`` (on or before ``today``) is after
        ``reviewed``: the file may miss its changes. None when up to date or without a review month."""
        if self.review_month is None or latest_review is None or str(latest_review.date()) <= self.reviewed:
            return None
        return (
            f"universe {self.name} reflects the review of {self.reviewed}, but the index was reviewed again on "
            f"{latest_review.date()} (every {_MONTHS[self.review_month - 1]}): run `kabucast universe sync --source "
            "jquants --write` to take the changes from the exchange's master into the store's copy (docs/UNIVERSE.md)"
        )

    def _iso(self, day: object) -> str:
        iso = str(pd.Timestamp(day).date())  # type: ignore[arg-type]
        return max(iso, self.history_from) if self.history_from else iso


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _check_date(value: str | None, what: str) -> None:
    if value is None:
        return
    try:
        datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a date like 2025-10-31, got {value!r}") from None

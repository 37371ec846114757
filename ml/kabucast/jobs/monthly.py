"""The monthly job: refresh the static snapshot, then fine-tune the champion into a challenger.

A source of statements (J-Quants) adds the month's point-in-time snapshots instead of one of today's values
(kabucast.data.enrich.enrich_point_in_time).

Pure orchestration: the fine-tune step is injected (it needs torch, which the monthly container has).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from kabucast.data.calendar import TradingCalendar, calendar_for
from kabucast.data.enrich import StatementSource, enrich, enrich_point_in_time
from kabucast.data.sources.base import PriceSource
from kabucast.storage.base import Store


class Finetuner(Protocol):
    """The fine-tune step (kabucast.jobs.wiring.FinetuneStep)."""

    def check(self, store: Store, today: pd.Timestamp) -> None:
        """Raise what would stop a fine-tune as of ``today`` (a JST date) before it starts; reads only."""

    def __call__(self, store: Store, today: pd.Timestamp) -> dict[str, Any]:
        """Fine-tune as of ``today`` (a JST date); a JSON-safe summary of the run."""


def run_monthly(
    store: Store,
    source: PriceSource,
    today: pd.Timestamp,
    tickers: Sequence[str],
    sectors_of: Mapping[str, str],
    finetune: Finetuner,
    skip_enrich: bool = False,
    calendar: TradingCalendar | None = None,
) -> dict[str, Any]:
    """Run the monthly job for ``today`` (a JST date) and return a JSON-safe summary.

    The fine-tune's precondition is checked first: an as-of too early to fine-tune (TooEarlyToFineTune,
    a usage error) fails before the source is asked for fundamentals or a static snapshot is written.
    ``calendar``: the exchange's, for the T+1 rule of statements (default: the JPX's).
    """
    finetune.check(store, today)
    summary: dict[str, Any] = {"date": str(today.date()), "status": "ok"}
    if skip_enrich:
        summary["enrich"] = "skipped"
    elif isinstance(source, StatementSource):
        calendar = calendar or calendar_for()
        summary["enrich"] = enrich_point_in_time(store, source, tickers, sectors_of, calendar, today).to_dict()
    else:
        summary["enrich"] = enrich(store, source, tickers, dict(sectors_of), today).to_dict()
    summary["finetune"] = finetune(store, today)
    return summary

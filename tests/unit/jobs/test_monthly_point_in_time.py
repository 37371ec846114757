"""The monthly job with a source of statements (J-Quants): it adds the point-in-time snapshots due since the last
run instead of one snapshot of today's values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tests.jquants_standin import MemorySource, statements_of

from kabucast.data.calendar import TradingCalendar
from kabucast.data.enrich import STATIC_PREFIX
from kabucast.jobs.monthly import run_monthly
from kabucast.storage import LocalStore
from kabucast.storage.base import Store

TICKERS = ("7203.T", "6758.T")


class NoFinetune:
    """The fine-tune step's place (kabucast.jobs.monthly.Finetuner): it only records that it ran."""

    def check(self, store: Store, today: pd.Timestamp) -> None:
        pass

    def __call__(self, store: Store, today: pd.Timestamp) -> dict[str, Any]:
        return {"ran": str(today.date())}


def test_the_monthly_job_adds_the_months_point_in_time_snapshots_and_nothing_twice(tmp_path: Path) -> None:
    # GIVEN statements of two companies since 2024 and their closes
    sessions = TradingCalendar().sessions("2023-12-01", "2025-03-31")
    closes = {t: pd.Series(1500.0 + np.arange(len(sessions)), sessions) for t in TICKERS}
    source = MemorySource({t: statements_of(t[:4] + "0", 2024, 2025) for t in TICKERS}, closes)
    store, sectors = LocalStore(tmp_path), {"7203.T": "Automobiles"}
    # WHEN the job runs at the end of January, then at the end of February
    january = run_monthly(store, source, pd.Timestamp("2025-01-31"), TICKERS, sectors, NoFinetune())
    february = run_monthly(store, source, pd.Timestamp("2025-02-28"), TICKERS, sectors, NoFinetune())
    # THEN the first writes the history to January, the second only February's sessions (Feb 5's T+1, Feb 3)
    assert january["enrich"]["written"][0] == "2024-02-06" and january["enrich"]["written"][-1] == "2025-01-06"
    assert february["enrich"]["written"] == ["2025-02-03", "2025-02-06"]
    assert february["enrich"]["already_stored"] == len(january["enrich"]["written"])
    assert february["finetune"] == {"ran": "2025-02-28"}
    assert len(store.list(STATIC_PREFIX)) == len(january["enrich"]["written"]) + 2

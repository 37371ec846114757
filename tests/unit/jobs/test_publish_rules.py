"""Publication rules: latest.json and the dated file never shrink, empty or move back in time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kabucast.errors import ConcurrentUpdate
from kabucast.forecast.document import forecast_document
from kabucast.jobs.publish import (
    FORECASTS,
    LATEST_KEY,
    PublicationRefused,
    PublishPolicy,
    adhoc_key,
    prediction_key,
    previous_document,
    publish_forecast,
)
from kabucast.storage import LocalStore

UNIVERSE = tuple(f"{1000 + i}.T" for i in range(10))


def doc(day: str, tickers: tuple[str, ...] = UNIVERSE, failed: tuple[str, ...] = (), version: str = "v1") -> dict:
    """A real forecast document for ``tickers`` (the ones in ``failed`` listed as failures instead)."""
    fresh = tuple(t for t in tickers if t not in failed)
    ts = pd.Timestamp(day)
    return forecast_document(
        fresh,
        np.full((len(fresh), 12), 0.01),
        {t: ts for t in fresh},
        {t: 100.0 for t in fresh},
        {},
        {t: "stale prices" for t in failed},
        version,
        ts,
    )


def publish(store, document, tickers=UNIVERSE, **policy) -> dict:
    return publish_forecast(store, document, UNIVERSE, tickers, PublishPolicy(**policy))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    s = LocalStore(tmp_path)
    publish(s, doc("2026-11-20"))
    return s


def snapshot(store: LocalStore) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list()}


def test_a_full_run_writes_the_dated_file_then_moves_the_pointer(store: LocalStore) -> None:
    out = publish(store, doc("2026-11-24"))
    assert out["latest"] == "replaced" and out["key"] == "predictions/2026-11-24.json"
    assert store.get_json(LATEST_KEY) == store.get_json("predictions/2026-11-24.json")
    assert publish(store, doc("2026-11-24"))["latest"] == "unchanged"  # a rerun writes nothing new


def test_a_subset_run_writes_only_its_own_key(store: LocalStore) -> None:
    before = snapshot(store)
    out = publish(store, doc("2026-11-20", UNIVERSE[:1]), tickers=UNIVERSE[:1])
    assert out["key"] == adhoc_key("2026-11-20", UNIVERSE[:1]) == "predictions/adhoc/2026-11-20/1000.T.json"
    assert {k: v for k, v in snapshot(store).items() if k != out["key"]} == before


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc("2026-11-24", failed=UNIVERSE), "no ticker was forecast"),
        (doc("2026-11-24", failed=UNIVERSE[:2]), r"only 8 of 10 tickers .*min_coverage 90%"),
        (doc("2026-11-20", failed=UNIVERSE[:1], version="v2"), "holds 10 forecasts, this run has only 9"),
    ],
    ids=["empty", "below-min-coverage", "same-date-shrink"],
)
def test_empty_thin_or_shrinking_documents_are_refused_and_nothing_changes(
    store: LocalStore, document: dict, message: str
) -> None:
    before = snapshot(store)
    with pytest.raises(PublicationRefused, match=message):
        publish(store, document)
    assert snapshot(store) == before


def test_a_later_date_with_fewer_tickers_publishes_and_moves_the_pointer(store: LocalStore) -> None:
    # GIVEN latest.json with all 10 forecasts; WHEN a later day forecasts 9 (90 %, min_coverage 0.9)
    out = publish(store, doc("2026-11-24", failed=UNIVERSE[:1]))
    # THEN its dated file is written and the pointer moves forward to it
    assert out["key"] == "predictions/2026-11-24.json" and out["latest"] == "replaced"
    assert store.get_bytes(LATEST_KEY) == store.get_bytes(prediction_key("2026-11-24"))
    assert store.get_json(LATEST_KEY)["num_predictions"] == 9
    # AND that date's file still refuses a smaller document of its own date
    with pytest.raises(PublicationRefused, match="holds 9 forecasts, this run has only 8"):
        publish(store, doc("2026-11-24", failed=UNIVERSE[:2]), min_coverage=0.8)


def test_force_replaces_a_smaller_document_but_never_publishes_an_empty_one(store: LocalStore) -> None:
    out = publish(store, doc("2026-11-20", failed=UNIVERSE[:3]), force=True)
    assert out["forced"] is True and store.get_json(LATEST_KEY)["forced"] is True
    assert store.get_json(LATEST_KEY)["num_predictions"] == 7
    with pytest.raises(PublicationRefused, match="no ticker"):
        publish(store, doc("2026-11-20", failed=UNIVERSE), force=True)


def test_a_past_date_fills_its_file_and_never_moves_the_pointer_back(store: LocalStore) -> None:
    out = publish(store, doc("2026-11-19"), force=True)
    assert out["latest"].startswith("kept: it holds newer data (2026-11-20)")
    assert store.get_json(LATEST_KEY)["data_as_of"] == "2026-11-20"
    assert store.get_json("predictions/2026-11-19.json")["data_as_of"] == "2026-11-19"


def test_a_corrupt_pointer_is_replaced_by_a_good_document(store: LocalStore) -> None:
    store.put_bytes(LATEST_KEY, b'{"truncat')
    publish(store, doc("2026-11-24"))
    assert store.get_json(LATEST_KEY)["data_as_of"] == "2026-11-24"


class RacingStore(LocalStore):
    """A LocalStore in which another run publishes right after this run has read the pointer."""

    def __init__(self, root: Path, rival: dict) -> None:
        super().__init__(root)
        self.rival, self.raced = rival, False

    def get_versioned(self, key: str):
        seen = super().get_versioned(key)
        if key == LATEST_KEY and not self.raced:
            self.raced = True
            publish(LocalStore(self.root), self.rival)
        return seen


def test_an_overlapping_run_fails_instead_of_interleaving(tmp_path: Path) -> None:
    publish(LocalStore(tmp_path), doc("2026-11-20"))
    racing = RacingStore(tmp_path, rival=doc("2026-11-24", version="rival"))
    with pytest.raises(ConcurrentUpdate):
        publish(racing, doc("2026-11-24", version="mine"))
    latest = racing.get_json(LATEST_KEY)
    assert latest["model_version"] == "rival" and latest == racing.get_json(prediction_key("2026-11-24"))


def test_a_rival_that_published_the_same_bytes_is_no_conflict(tmp_path: Path) -> None:
    publish(LocalStore(tmp_path), doc("2026-11-20"))
    racing = RacingStore(tmp_path, rival=doc("2026-11-24"))
    assert publish(racing, doc("2026-11-24"))["key"] == "predictions/2026-11-24.json"
    assert racing.get_json(LATEST_KEY) == doc("2026-11-24")


def test_the_summary_names_the_sha256_of_the_bytes_published(store: LocalStore) -> None:
    out = publish(store, doc("2026-11-24"))
    assert out["sha256"] == hashlib.sha256(store.get_bytes(prediction_key("2026-11-24"))).hexdigest()
    assert "forced" not in out and "forced" not in store.get_json(LATEST_KEY)


def test_the_previous_document_is_the_newest_dated_one_before_the_day(store: LocalStore) -> None:
    publish(store, doc("2026-11-24"))
    publish(store, doc("2026-11-19"))
    store.put_json(adhoc_key("2026-11-21", UNIVERSE[:1]), doc("2026-11-21", UNIVERSE[:1]))
    assert previous_document(store, FORECASTS, "2026-11-24")["data_as_of"] == "2026-11-20"
    assert previous_document(store, FORECASTS, "2026-11-25")["data_as_of"] == "2026-11-24"
    assert previous_document(store, FORECASTS, "2026-11-19") is None
    store.put_bytes(prediction_key("2026-11-24"), b'{"trunc')
    assert previous_document(store, FORECASTS, "2026-11-25") is None  # unreadable: no previous, not a failure

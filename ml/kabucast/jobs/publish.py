"""Publication rules: how a forecast document reaches ``predictions/<date>.json`` and ``latest.json``.

``latest.json`` is the product (a back-end reads it every day), so it only moves forward:

1. A run that forecast no ticker publishes nothing and fails.
2. A subset run (tickers that are not the whole universe) writes only its own key,
   ``predictions/adhoc/<date>/<tickers>.json``; it never touches the dated file or the pointer.
3. A full-universe run needs forecasts for at least ``min_coverage`` of the universe (the stale
   and failed tickers do not count); below that it publishes nothing and fails.
4. ``predictions/<date>.json`` is never replaced by a document with fewer forecasts or older data.
5. ``latest.json`` never moves to an older ``data_as_of``; for the same date it never takes a
   document with fewer forecasts. A full run for a past date fills that date's file and leaves the
   pointer where it is (that is how a missed day is backfilled).
6. Both objects are read once at the start; each write is conditional on what was read
   (:meth:`Store.put_if`), so an overlapping run makes this one fail with ``ConcurrentUpdate``
   instead of interleaving (unless the rival wrote the very same bytes), and the dated file is
   complete before the pointer names it.

``force`` lifts rules 3 and 4 and the same-date part of 5 (an operator replacing a bad document);
it never publishes an empty document and never moves the pointer back in time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kabucast.errors import ConcurrentUpdate, CorruptObject, JobFailure
from kabucast.storage.base import Store, Versioned, dumps_json, loads_json

LATEST_KEY = "predictions/latest.json"
ADHOC_PREFIX = "predictions/adhoc"
DEFAULT_MIN_COVERAGE = 0.9


class PublicationRefused(JobFailure):
    """Publishing this document would empty, shrink or move back a published forecast; nothing was written."""


@dataclass(frozen=True)
class PublishPolicy:
    min_coverage: float = DEFAULT_MIN_COVERAGE
    force: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage must be in (0, 1], got {self.min_coverage}")


def prediction_key(day: object) -> str:
    """``predictions/<YYYY-MM-DD>.json`` for a session (a date string or timestamp)."""
    return f"predictions/{pd.Timestamp(day).date()}.json"


def adhoc_key(day: str, tickers: Sequence[str]) -> str:
    """A subset run's own key: the tickers by name when few, else their count and a digest."""
    names = sorted(tickers)
    tag = "+".join(names) if len(names) <= 4 else f"{len(names)}-tickers-{_digest(names)}"
    return f"{ADHOC_PREFIX}/{day}/{tag}.json"


def publish_forecast(
    store: Store, doc: dict[str, Any], universe: Sequence[str], tickers: Sequence[str], policy: PublishPolicy
) -> dict[str, Any]:
    """Publish ``doc`` by the rules above; a summary of what was written, or :class:`PublicationRefused`."""
    n, day = int(doc["num_predictions"]), str(doc["data_as_of"])
    if n == 0:
        raise PublicationRefused(f"no ticker was forecast for {day}: nothing published. {_failures(doc)}")
    if set(tickers) != set(universe):
        key = adhoc_key(day, tickers)
        store.put_json(key, doc)
        return {"key": key, "scope": "adhoc", "latest": "untouched (subset run)"}
    coverage = n / len(universe)
    if coverage < policy.min_coverage and not policy.force:
        raise PublicationRefused(
            f"only {n} of {len(universe)} tickers forecast for {day} ({coverage:.0%}, min_coverage "
            f"{policy.min_coverage:.0%}): nothing published, latest.json kept. {_failures(doc)} "
            "(--force publishes it anyway)"
        )
    data = dumps_json(doc)
    dated_key = prediction_key(day)
    dated, latest = store.get_versioned(dated_key), store.get_versioned(LATEST_KEY)
    problem = _regression(_parsed(dated, dated_key), dated_key, doc)
    if problem and not policy.force:
        raise PublicationRefused(f"{problem}: kept as is, latest.json untouched (--force replaces it)")
    move = _pointer_move(latest, data, doc, policy.force)
    if dated is None or dated.data != data:
        _write(store, dated_key, data, dated)
    if move == "replaced":
        _write(store, LATEST_KEY, data, latest)
    return {"key": dated_key, "scope": "universe", "coverage": round(coverage, 4), "latest": move}


def _write(store: Store, key: str, data: bytes, seen: Versioned | None) -> None:
    """Replace ``key`` only if it is still what this run read; a rival that wrote the very same bytes
    (the same job for the same day) is no conflict."""
    try:
        store.put_if(key, data, None if seen is None else seen.etag)
    except ConcurrentUpdate:
        now = store.get_versioned(key)
        if now is None or now.data != data:
            raise


def _regression(old: dict[str, Any] | None, key: str, doc: dict[str, Any]) -> str | None:
    """Why ``doc`` would be a step back from ``old``, the document stored at ``key`` (None: it is not)."""
    if old is None:
        return None
    n_old, n_new = int(old.get("num_predictions", 0)), int(doc["num_predictions"])
    if str(old.get("data_as_of", "")) > str(doc["data_as_of"]):
        return f"{key} holds data as of {old['data_as_of']}, newer than this run's {doc['data_as_of']}"
    if n_new < n_old:
        return f"{key} holds {n_old} forecasts, this run has only {n_new}"
    return None


def _pointer_move(latest: Versioned | None, data: bytes, doc: dict[str, Any], force: bool) -> str:
    """``replaced``, ``unchanged``, or why the pointer stays (a past-date run); raises if it would shrink.

    ``data`` is ``doc`` serialised, the bytes that would be written."""
    old = _parsed(latest, LATEST_KEY)
    if old is None:
        return "replaced"
    if latest is not None and latest.data == data:
        return "unchanged"
    if str(old.get("data_as_of", "")) > str(doc["data_as_of"]):
        return f"kept: it holds newer data ({old['data_as_of']})"
    problem = _regression(old, LATEST_KEY, doc)
    if problem and not force:
        raise PublicationRefused(f"{problem}: nothing published (--force replaces it)")
    return "replaced"


def _parsed(current: Versioned | None, key: str) -> dict[str, Any] | None:
    """The stored document, or None when absent or unreadable (a corrupt document may be replaced)."""
    if current is None:
        return None
    try:
        old = loads_json(current.data, key)
    except CorruptObject:
        return None
    return old if isinstance(old, dict) else None


def _failures(doc: dict[str, Any], most: int = 3) -> str:
    failures = doc.get("failures", [])
    if not failures:
        return ""
    shown = "; ".join(f"{f['ticker']}: {f['reason']}" for f in failures[:most])
    more = f" and {len(failures) - most} more" if len(failures) > most else ""
    return f"Failures: {shown}{more}."


def _digest(names: Sequence[str]) -> str:
    return hashlib.sha256(",".join(names).encode()).hexdigest()[:10]

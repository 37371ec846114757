"""A trial's files in the store: ``metrics.json`` (everything) and ``report.md`` (the diagnostics, for people)."""

from __future__ import annotations

import math
from typing import Any

from kabucast.storage.base import Store, json_safe
from kabucast.sweeps.objective import TrialOutcome

SCORES = ("rankic", "rankic_1m", "ic", "pred_std", "pred_std_min", "sharpe")


def write_trial(store: Store, prefix: str, outcome: TrialOutcome, extra: dict[str, Any] | None = None) -> str:
    """Write ``<prefix>metrics.json`` and ``<prefix>report.md``; return the metrics key."""
    key = f"{prefix}metrics.json"
    store.put_json(key, json_safe({**outcome.to_dict(), **(extra or {})}))
    store.put_bytes(f"{prefix}report.md", trial_report(outcome).encode("utf-8"), content_type="text/markdown")
    return key


def trial_report(outcome: TrialOutcome) -> str:
    """Markdown: parameters, validation vs held-out scores, and the per-epoch collapse diagnostics."""
    lines = ["# sweep trial", "", "## parameters", ""]
    lines += [f"- {k}: {v}" for k, v in outcome.params.items()] or ["- (defaults)"]
    status = "pruned" if outcome.pruned else ("COLLAPSED" if outcome.collapsed else "finished")
    lines += ["", f"status: {status}" + (f" ({outcome.collapsed})" if outcome.collapsed else ""), ""]
    lines += ["## scores", "", "| score | validation | held-out |", "|---|---|---|"]
    m = outcome.metrics
    lines += [f"| {s} | {_fmt(m.get(f'val_{s}'))} | {_fmt(m.get(f'test_{s}'))} |" for s in SCORES]
    lines += ["", "## diagnostics per epoch", "", diagnostics_table(outcome.history)]
    return "\n".join(lines) + "\n"


def diagnostics_table(history: dict[str, list[Any]]) -> str:
    """One row per epoch: val score, min/mean prediction std over horizons, gradient norms, encoder stats."""
    columns = ("epoch", "val RankIC", "pred std min", "pred std mean", "grad encoder", "grad head")
    columns += ("enc mean", "enc std", "enc sat")
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for e, spread in enumerate(history.get("pred_std", [])):
        finite = [s for s in spread if math.isfinite(s)] or [math.nan]
        cells = [
            _at(history, "val_score", e),
            min(finite),
            sum(finite) / len(finite),
            *(_at(history, k, e) for k in ("grad_norm_encoder", "grad_norm_head")),
            *(_at(history, k, e) for k in ("encoder_mean", "encoder_std", "encoder_saturation")),
        ]
        rows.append(f"| {e} | " + " | ".join(_fmt(c) for c in cells) + " |")
    return "\n".join(rows)


def _at(history: dict[str, list[Any]], key: str, epoch: int) -> float | None:
    values = history.get(key, [])
    return values[epoch] if epoch < len(values) else None


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"

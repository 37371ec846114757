"""Errors of the ranker's data layer a user can meet; each says what is wrong and what to do."""

from __future__ import annotations

from kabucast.errors import KabucastError


class PanelNotFound(KabucastError):
    """No stored panel under ``ranker/panel/<name>/``."""


class EmptyPanel(KabucastError):
    """A source gave no usable bars for the requested tickers and dates."""


class AlreadyNormalized(KabucastError):
    """Cross-sectional normalisation was asked for a second time on the same arrays."""


class NotNormalized(KabucastError):
    """Raw features were given where normalised ones are required (e.g. the loader's arrays)."""


class DatasetValidationError(KabucastError):
    """The dataset failed validation; the message lists every problem and where the report is."""

    def __init__(self, problems: list[str], report_key: str) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the ranker dataset failed validation (report: {report_key}):\n{lines}")
        self.problems = problems
        self.report_key = report_key
